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
// convention, K, d, α, β). This is convention `ropebench` (the default).
//
// Key token spans on the evaluator side are Hugging Face character spans (hf_token_spans):
// each <0xXX> / byte-level piece of a split character gets the span of that character, as
// HF offset mappings give it, so a key found on a leading byte piece is kept.
//
// Convention `reference` reproduces compute_longppl of PKU-ML/LongPPL (longppl/longppl.py
// of the `longppl` 0.3.0 package: find_key_token, merge_intervals, cal_overlap,
// compute_longppl) and the aggregation of its perplexity/perplexity.py:
//   * evaluated text: the characters of the document's first L tokens (or of each L-token
//     segment with split); the evaluated model scores those L tokens without BOS
//     (add_special_tokens=False), L − 1 losses (loss_overall[k] = loss of token k + 1);
//   * evaluator: its tokenizer's default call (BOS iff Tokenizer::add_bos(), as
//     add_special_tokens=True does), the same K/d loop as above, the key tokens' HF spans
//     merged by merge_intervals (adjacent spans joined, nothing sorted or dropped);
//   * key tokens of the evaluated text by cal_overlap's two-pointer walk over the HF spans
//     of its tokens (a token inside the current key span is key; the walk moves the key
//     span on when a token starts at or after it without fitting); token i gives
//     loss_overall[i − 1] (i = 0 gives the last loss, Python's index −1);
//   * per document LongPPL_i = exp(mean key loss), PPL_i = exp(mean loss); over documents
//     LongPPL = Σ LongPPL_i·n_key_i / Σ n_key_i and PPL = Σ PPL_i·L / Σ L (documents
//     without key tokens add to PPL only);
//   * K = 4096, d = 1024 unless given (the reference's trunc_len / sliding_window).
// One deviation: when the last evaluator window holds exactly one token ((N − K) mod d = 1),
// the reference's .squeeze() makes its decision a 0-d tensor and the loop over it raises
// TypeError; here that token is decided like every other.
// Character offsets are replaced by byte offsets: every HF span begins and ends on a
// character boundary, and the character → byte map is strictly increasing, so every
// comparison the reference makes (containment, adjacency, order) has the same outcome.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "eval/documents.h"
#include "eval/lm.h"
#include "tokenizer/tokenizer.h"

namespace rb {

struct ByteSpan {
    size_t begin = 0, end = 0;
    bool operator==(const ByteSpan& o) const { return begin == o.begin && end == o.end; }
};

/// "ropebench" (default) or "reference"; FieldError "longppl.convention" otherwise.
void check_longppl_convention(const std::string& convention);
/// K and d of a convention when not given (0): ropebench 1024/512, reference 4096/1024.
int longppl_default_short_window(const std::string& convention);
int longppl_default_stride(const std::string& convention);

struct LongPplOptions {
    std::string convention = "ropebench";
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

/// merge_intervals: joins a span to the previous one when it starts where that one ends;
/// empty spans are dropped unless keep_empty (the reference keeps them).
std::vector<ByteSpan> merge_spans(const std::vector<ByteSpan>& spans, bool keep_empty = false);

/// Hugging Face character spans (as byte spans) of `spans` over `text`: a token with an
/// empty span whose bytes hold a non-ASCII byte (a leading <0xXX> or byte-level piece of a
/// split character) gets the span of the character starting there; every other span is
/// kept (the inserted dummy-prefix "▁" stays empty).
std::vector<ByteSpan> hf_token_spans(const Tokenizer& tok, std::string_view text, const std::vector<TokenSpan>& spans);

/// cal_overlap of the reference: the indices i (into `tok`) that its two-pointer walk marks
/// key, in order.
std::vector<int> cal_overlap(const std::vector<ByteSpan>& tok, const std::vector<ByteSpan>& keys);

/// Key flag per evaluated token (see the header comment).
std::vector<char> align_key_tokens(const std::vector<ByteSpan>& token_spans, const std::vector<ByteSpan>& key_spans);

struct KeySet {
    std::vector<ByteSpan> spans;    // merged key spans, bytes of the text
    int64_t evaluator_tokens = 0;   // N (with BOS)
    int64_t evaluator_key_tokens = 0;
    bool cache_hit = false;
    std::vector<int> evaluator_keys;  // key token indices into the evaluator's input (empty on a cache hit)
};

/// Key spans of `text` under the evaluator (ropebench: BOS + its tokens; reference: BOS
/// only when etok.add_bos()), merged, as HF spans; through the on-disk cache.
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
    std::vector<int> key_tokens;    // indices into the unit's evaluated tokens (reference: i, BOS-free)
    std::vector<int> evaluator_keys;   // KeySet::evaluator_keys (empty on a cache hit)
    std::vector<ByteSpan> key_spans;   // KeySet::spans, bytes of the unit's text
};

struct LongPplResult {
    std::string convention = "ropebench";
    std::vector<LongPplDoc> docs;   // documents used (with or without key tokens)
    std::vector<std::string> skipped;  // shorter than L − 1 tokens
    std::vector<std::string> without_key;
    int64_t n_key = 0;
    double nll_key_sum = 0;
    int cache_hits = 0, cache_misses = 0;
    int64_t tokens_processed = 0;          // evaluated model
    int64_t evaluator_tokens_processed = 0;
    double mean_nll() const { return n_key ? nll_key_sum / static_cast<double>(n_key) : 0; }
    /// The convention's LongPPL (ropebench: exp(mean_nll()); reference: the n_key-weighted
    /// mean of per-document LongPPL); 0 without key tokens.
    double longppl() const;
    /// The convention's all-token perplexity (ropebench: exp(Σ NLL / Σ tokens) over the
    /// scored tokens; reference: Σ PPL_i·n_token_i / Σ n_token_i, n_token_i = L).
    double ppl_all_tokens() const;
};

/// Runs LongPPL over `docs` at context opts.ctx: each document's first L−1 tokens (reference:
/// L tokens), or with split every consecutive segment of that many tokens; at most
/// max_units of them when > 0.
LongPplResult evaluate_longppl(LanguageModel& model, const Tokenizer& tok, LanguageModel& evaluator,
                               const Tokenizer& etok, const std::vector<Document>& docs, const LongPplOptions& opts,
                               bool split, int max_units,
                               const std::function<void(int64_t, int64_t)>& progress = {});

/// Validates K, d, α/β and ctx (FieldError naming the field: "longppl.short_window", ...).
void check_longppl_options(const LongPplOptions& opts);

}  // namespace rb
