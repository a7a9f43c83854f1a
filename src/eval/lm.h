// The evaluation-side view of a language model: score a fresh sequence, or continue one
// greedily. Protocols (perplexity, passkey, LongPPL) are written against this interface
// so tests can replace the model by a constructed one (an oracle, a table of losses).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "model/llama.h"
#include "rope/rope.h"

namespace rb {

class LanguageModel {
public:
    virtual ~LanguageModel() = default;
    /// Scores a fresh sequence tokens[0..n) at positions 0..n−1 (fresh RoPE state):
    /// lp[i] = log p(targets[i] | tokens[0..i]) for every i with targets[i] >= 0; other
    /// entries of lp are unspecified.
    virtual void score(const int* tokens, int n, const int* targets, double* lp) = 0;
    /// Greedy continuation of a fresh sequence `prompt` (KV cache): at most max_new new
    /// tokens, stopping at EOS (not returned). Returns the new tokens.
    virtual std::vector<int> generate(const std::vector<int>& prompt, int max_new) = 0;
    /// generate() for a run of prompts that share prefixes (passkey): the model may keep the
    /// KV cache of prompt[0..keep) after this call; a later prompt that starts with kept
    /// tokens and runs under the same RoPE tables (those of its full length) then computes
    /// only the rest. `capacity` bounds prompt + max_new over the run. Returns what
    /// generate() returns. The default shares nothing.
    virtual std::vector<int> generate_shared(const std::vector<int>& prompt, int max_new, int keep, int capacity) {
        (void)keep, (void)capacity;
        return generate(prompt, max_new);
    }
    /// Releases what generate_shared kept.
    virtual void end_shared() {}
    /// Tokens run through the model so far (prompt + generated, every scored window).
    int64_t tokens_processed() const { return m_tokens_processed; }

protected:
    int64_t m_tokens_processed = 0;
};

/// Sharing of work between metrics and experiments (prefix KV cache in passkey, log-probs
/// of a longer window for a shorter one): on unless switched off (the hidden test switch
/// ROPEBENCH_NO_SHARING=1, read by the CLI). Results are the same either way.
bool sharing_enabled();
void set_sharing_enabled(bool on);

/// The RoPE tables one fresh call of seq_len tokens runs with under `rope`.
RopeTables tables_for_length(const RopeConfig& rope, int seq_len);

/// Per-token log-probs of scored windows, kept so that a later window that is a prefix of
/// a stored one, under bitwise-equal RoPE tables, is answered without a forward pass (by
/// causality its log-probs are the stored ones): perplexity `truncate` at a smaller L,
/// LongPPL's evaluated-model pass (the perplexity window itself). One model per cache.
/// Bounded: the oldest windows go first beyond max_tokens stored tokens.
class ScoreCache {
public:
    static constexpr int64_t k_default_max_tokens = int64_t(1) << 22;  // 4M tokens, 48 MiB
    explicit ScoreCache(int64_t max_tokens = k_default_max_tokens) : m_max_tokens(max_tokens) {}
    /// Fills lp[i] for every i with targets[i] >= 0 from a stored window with the same
    /// tables that starts with tokens[0..n) and holds those targets; false when none does.
    bool lookup(const RopeTables& t, const int* tokens, int n, const int* targets, double* lp) const;
    /// Keeps window tokens[0..n) with next_lp[i] = log p(tokens[i+1] | tokens[0..i]), i < n−1.
    void store(const RopeTables& t, const int* tokens, int n, const double* next_lp);
    int64_t stored_tokens() const { return m_tokens; }
    /// Bytes the cache can hold at most (the memory plan adds them).
    static uint64_t max_bytes() { return k_default_max_tokens * (sizeof(int) + sizeof(double)); }

private:
    struct Entry {
        RopeTables tables;
        std::vector<int> tokens;
        std::vector<double> next_lp;  // [n − 1]
    };
    std::deque<Entry> m_entries;  // oldest first
    int64_t m_tokens = 0, m_max_tokens;
};

/// A LlamaModel under one RoPE configuration. score() and generate() open a new Session
/// each; generate_shared() keeps one sequence whose prefix survives between calls. With a
/// ScoreCache, score() answers windows the cache holds and stores the ones it computes.
class ModelLm : public LanguageModel {
public:
    ModelLm(const LlamaModel& model, const RopeConfig& rope, ScoreCache* cache = nullptr)
        : m_model(model), m_rope(rope), m_cache(cache) {}
    ~ModelLm() override;
    void score(const int* tokens, int n, const int* targets, double* lp) override;
    std::vector<int> generate(const std::vector<int>& prompt, int max_new) override;
    std::vector<int> generate_shared(const std::vector<int>& prompt, int max_new, int keep, int capacity) override;
    void end_shared() override;

private:
    const LlamaModel& m_model;
    RopeConfig m_rope;
    ScoreCache* m_cache;
    // generate_shared's sequence: the cache holds kept[0..) computed with `kept_tables`.
    std::unique_ptr<Session> m_shared;
    std::vector<int> m_kept;
    RopeTables m_kept_tables;
};

}  // namespace rb
