// Perplexity protocols (DESIGN.md, shared/reference/methodology.md §2).
//
// Every protocol works on token ids (no BOS) of a document and pools in log space:
// PPL = exp(Σ NLL / Σ count) over all scored tokens of all documents (NLL sums in double).
// Each protocol reads the stream [BOS] + tokens, BOS only where the model's tokenizer adds
// one (Tokenizer::leading_bos(); Qwen adds none). A document must fill at least one window
// (BOS + L−1 tokens, or L tokens without BOS) or it is skipped and counted.
//
//  truncate  the first L tokens of the stream, one pass, all L−1 predictions scored (YaRN /
//            LongRoPE `--truncate`: with BOS the first text token is predicted from BOS
//            alone; without BOS the first text token has no prediction and tokens 2 … L are
//            scored, as transformers' perplexity guide and lm-eval-harness do when the
//            tokenizer has no prefix token). L−1 tokens are scored either way.
//  chunks    llama.cpp `perplexity`: the stream is cut into n = ⌊len/L⌋ consecutive
//            L-token windows (remainder dropped); with BOS the first token of every window
//            is replaced by BOS (so one text token per window after the first is never
//            seen; llama.cpp does this only when the vocabulary adds BOS); predictions from
//            window positions L/2 … L−2 are scored, i.e. the last L − L/2 − 1 tokens of each
//            window.
//  sliding   Hugging Face "perplexity of fixed-length models" (Press-style strided window):
//            windows of L tokens over the stream starting at 0, S, 2S, …, until a window
//            reaches the end; each window scores only the tokens not scored by an earlier
//            one (all L−1 predictions of the first window, then the last ≤ S). Later windows
//            do not start with BOS, as in the HF recipe. Pooled token-weighted (the HF recipe
//            averages window means; that is not done here).
//
// NLL is also kept per position bucket: bucket b holds the predictions made at window
// position i (the position of the predicting token, i.e. context length − 1) with
// i / bucket == b, so bucket sums add up to the totals and positions ≥ the trained length
// can be read off.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eval/documents.h"
#include "eval/lm.h"
#include "model/llama.h"
#include "rope/rope.h"
#include "tokenizer/tokenizer.h"

namespace rb {

struct PplOptions {
    int ctx = 0;                      // L
    std::string protocol = "truncate";  // truncate | chunks | sliding
    int stride = 0;                   // sliding: S in [1, L−1]; 0 = L/2
    int bucket = 256;                 // position bucket width for the NLL profile
};

/// A tokenized document (ids without BOS) or a segment of one (--split).
struct TokenDoc {
    std::string source;               // "path", "path:line", "…#seg3" for segments
    std::vector<int> ids;
};

struct SplitInfo {
    int segments = 0;                 // documents produced by splitting
    int64_t tail_tokens_dropped = 0;  // tokens after the last full segment (documents cut completely)
};

/// Tokenizes `docs`. With seg_len > 0 every document is cut into consecutive segments of
/// seg_len tokens (each a document of its own; the shorter tail is dropped and counted in
/// `split`). Stops after max_units documents/segments when max_units > 0.
std::vector<TokenDoc> tokenize_documents(const Tokenizer& tok, const std::vector<Document>& docs, int seg_len,
                                         int max_units, SplitInfo* split = nullptr);

/// Tokens per segment for --split under a protocol at context L: one window of the stream,
/// L−1 with BOS (bos_id ≥ 0), L without, for every protocol.
int split_length(const PplOptions& opts, int bos_id);

struct PplDocResult {
    std::string source;
    double nll_sum = 0;
    int64_t tokens_scored = 0;
    int windows = 0;
};

struct PplResult {
    std::string protocol;
    int ctx = 0;
    int stride = 0;                   // sliding only (resolved)
    double nll_sum = 0;               // Σ −log p, double
    int64_t tokens_scored = 0;
    int documents_used = 0;
    int documents_skipped = 0;        // shorter than one window
    std::vector<std::string> skipped;  // their sources
    std::vector<PplDocResult> docs;
    int bucket = 256;
    std::vector<double> bucket_nll;   // by position of the predicting token in its window
    std::vector<int64_t> bucket_count;
    int64_t tokens_processed = 0;     // forward-pass tokens
    double mean_nll() const { return tokens_scored ? nll_sum / tokens_scored : 0; }
    double ppl() const;
};

/// Validates the options (FieldError naming the field: "ctx", "ppl.stride", ...) and returns the resolved stride.
int check_ppl_options(const PplOptions& opts);

/// Runs `opts.protocol` over tokenized documents; `bos_id` is the tokenizer's leading_bos()
/// (−1: no BOS in front of the stream). Throws Error when no document is long enough, or on
/// a non-finite log-probability.
/// `progress(done, total)` is called after each document.
PplResult evaluate_perplexity_tokens(LanguageModel& lm, int bos_id, const std::vector<TokenDoc>& docs,
                                     const PplOptions& opts,
                                     const std::function<void(int64_t, int64_t)>& progress = {});

/// Convenience: tokenizes `docs` (no split) and runs the protocol with `model` under `rope`.
PplResult evaluate_perplexity(const LlamaModel& model, const Tokenizer& tok, const RopeConfig& rope,
                              const std::vector<Document>& docs, const PplOptions& opts);

}  // namespace rb
