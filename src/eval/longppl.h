// LongPPL (Fang et al., ICLR 2025, arXiv 2410.23771; reference PKU-ML/LongPPL
// longppl/longppl.py, methodology.md §1.2).
//
// Evaluator side (find_key_token): the text is tokenized with the evaluator's tokenizer
// with BOS first (where it adds one: Tokenizer::leading_bos()); one full pass gives loss_full[p] for every position p ≥ 1. For
// start = 0, d, 2d, … while start < N − K, the evaluator runs again on tokens
// [start, start + K + d) (the last window ends at N; windows after the first do not start
// with BOS, as in the reference) and positions p = start + K … start + K + d − 1 get
// loss_short[p] with a context of the K … K + d − 1 tokens before them. p is key iff
// loss_short − loss_full > α and loss_full < −β. The byte spans of key tokens are merged
// where one ends exactly where the next starts (merge_intervals; empty spans dropped).
//
// Evaluated side: the evaluated model sees the same window as perplexity `truncate`
// (BOS + the document's first L−1 tokens; the reference feeds no BOS — one convention
// for PPL, LongPPL and passkey, methodology §1.3.5; without a BOS in the tokenizer, the
// first L tokens, the first unscored). The evaluator gets the text those tokens cover. A token is key iff its byte span lies entirely inside one merged key span
// (cal_overlap); a token with an empty span (SentencePiece's dummy-prefix "▁", the earlier
// <0xXX> pieces of a split character) takes the decision of the next token with a
// non-empty span — the reference's HF offsets give such pieces the span of their character.
// Byte offsets instead of the reference's character offsets: both sides index the same
// UTF-8 string and spans begin/end on character boundaries, so containment is the same.
//
// LongPPL = exp(Σ key NLL / n_key) pooled over documents; documents without key tokens
// add nothing (listed). Key sets are cached on disk per (text hash, evaluator identity,
// K, d, α, β).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eval/documents.h"
#include "eval/lm.h"
#include "tokenizer/tokenizer.h"

namespace rb {

struct ByteSpan {
    size_t begin = 0, end = 0;
    bool operator==(const ByteSpan& o) const { return begin == o.begin && end == o.end; }
};

struct LongPplOptions {
    int ctx = 0;                    // L
    int short_window = 1024;        // K
    int stride = 512;               // d
    double alpha = 2.0;
    double beta = -2.0;             // key needs loss_full < −β
    std::string cache_dir;          // "" = no cache
    std::string evaluator_identity; // canonical JSON naming the evaluator (cache key)
};

/// Indices (into `tokens`, BOS at 0) of the evaluator's key tokens, by the reference loop.
std::vector<int> find_key_tokens(LanguageModel& evaluator, const std::vector<int>& tokens, int short_window,
                                 int stride, double alpha, double beta);

/// merge_intervals: sorted, non-overlapping spans; joins a span to the previous one when it
/// starts where that one ends; empty spans are dropped.
std::vector<ByteSpan> merge_spans(const std::vector<ByteSpan>& spans);

/// Key flag per evaluated token (see the header comment).
std::vector<char> align_key_tokens(const std::vector<ByteSpan>& token_spans, const std::vector<ByteSpan>& key_spans);

struct KeySet {
    std::vector<ByteSpan> spans;    // merged key spans, bytes of the text
    int64_t evaluator_tokens = 0;   // N (with BOS)
    int64_t evaluator_key_tokens = 0;
    bool cache_hit = false;
};

/// Key spans of `text` under the evaluator (BOS + its tokens), through the on-disk cache.
KeySet key_spans_for_text(LanguageModel& evaluator, const Tokenizer& etok, const std::string& text,
                          const LongPplOptions& opts);

struct LongPplDoc {
    std::string source;
    int64_t tokens = 0;             // evaluated tokens (L − 1)
    int64_t n_key = 0;
    double nll_key_sum = 0;
    double nll_sum = 0;             // over all L − 1 tokens (the reference's `ppl`)
    int64_t evaluator_tokens = 0;
    int64_t evaluator_key_tokens = 0;
    bool cache_hit = false;
};

struct LongPplResult {
    std::vector<LongPplDoc> docs;   // documents used (with or without key tokens)
    std::vector<std::string> skipped;  // shorter than L − 1 tokens
    std::vector<std::string> without_key;
    int64_t n_key = 0;
    double nll_key_sum = 0;
    int cache_hits = 0, cache_misses = 0;
    int64_t tokens_processed = 0;          // evaluated model
    int64_t evaluator_tokens_processed = 0;
    double mean_nll() const { return n_key ? nll_key_sum / static_cast<double>(n_key) : 0; }
};

/// Runs LongPPL over `docs` at context opts.ctx: each document's first L−1 tokens, or with
/// seg_split every consecutive (L−1)-token segment; at most max_units of them when > 0.
LongPplResult evaluate_longppl(LanguageModel& model, const Tokenizer& tok, LanguageModel& evaluator,
                               const Tokenizer& etok, const std::vector<Document>& docs, const LongPplOptions& opts,
                               bool split, int max_units,
                               const std::function<void(int64_t, int64_t)>& progress = {});

/// Validates K, d, α/β and ctx (UsageError naming the flag).
void check_longppl_options(const LongPplOptions& opts);

}  // namespace rb
