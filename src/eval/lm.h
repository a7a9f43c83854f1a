// The evaluation-side view of a language model: score a fresh sequence, or continue one
// greedily. Protocols (perplexity, passkey, LongPPL) are written against this interface
// so tests can replace the model by a constructed one (an oracle, a table of losses).
#pragma once
#include <cstdint>
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
    /// Tokens run through the model so far (prompt + generated, every scored window).
    int64_t tokens_processed() const { return m_tokens_processed; }

protected:
    int64_t m_tokens_processed = 0;
};

/// A LlamaModel under one RoPE configuration. Every call opens a new Session.
class ModelLm : public LanguageModel {
public:
    ModelLm(const LlamaModel& model, const RopeConfig& rope) : m_model(model), m_rope(rope) {}
    void score(const int* tokens, int n, const int* targets, double* lp) override;
    std::vector<int> generate(const std::vector<int>& prompt, int max_new) override;

private:
    const LlamaModel& m_model;
    RopeConfig m_rope;
};

}  // namespace rb
