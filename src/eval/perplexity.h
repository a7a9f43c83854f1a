// Perplexity protocols (DESIGN.md, shared/reference/methodology.md §2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "eval/documents.h"
#include "model/llama.h"
#include "rope/rope.h"
#include "tokenizer/tokenizer.h"

namespace rb {

struct PplOptions {
    int ctx = 0;                      // L
    std::string protocol = "truncate";
    int bucket = 256;                 // position bucket width for the NLL profile
};

struct PplDocResult {
    std::string source;
    double nll_sum = 0;
    int64_t tokens_scored = 0;
};

struct PplResult {
    std::string protocol;
    int ctx = 0;
    double nll_sum = 0;               // Σ −log p, double
    int64_t tokens_scored = 0;
    int documents_used = 0;
    int documents_skipped = 0;        // shorter than L (truncate)
    std::vector<PplDocResult> docs;
    int bucket = 256;
    std::vector<double> bucket_nll;   // by position of the predicted token (0-based in its window)
    std::vector<int64_t> bucket_count;
    int64_t tokens_processed = 0;     // forward-pass tokens
    double mean_nll() const { return tokens_scored ? nll_sum / tokens_scored : 0; }
    double ppl() const;
};

/// Protocol `truncate`: per document BOS + its first L−1 tokens, one forward pass, all L−1
/// predictions scored; documents with fewer than L−1 tokens are skipped and counted.
/// Pooled in log space: PPL = exp(ΣNLL / Σcount). Fresh session (and RoPE state) per document.
PplResult evaluate_perplexity(const LlamaModel& model, const Tokenizer& tok, const RopeConfig& rope,
                              const std::vector<Document>& docs, const PplOptions& opts);

}  // namespace rb
