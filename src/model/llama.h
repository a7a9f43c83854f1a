// Llama-family decoder forward on a backend (Llama 2/3, Mistral, Qwen2, Qwen3, Phi-3: the
// same pre-norm SwiGLU decoder with optional q/k/v biases, q/k norms and a sliding window): prefill that streams per-token log-probs of
// the next token (never an L × vocab logits matrix), a KV cache, greedy decoding.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "formats/checkpoint.h"
#include "rope/rope.h"

namespace rb {

/// Timings of the last forward calls, per stage (seconds, wall clock).
struct ForwardStats {
    double projections = 0;  // QKV and O projections (+ rope, KV store)
    double attention = 0;
    double mlp = 0;          // norms, gate/up, SwiGLU, down
    double lm_head = 0;      // final norm, LM head, log-softmax
    double embed = 0;
    double total() const { return projections + attention + mlp + lm_head + embed; }
};

class LlamaModel;

/// One sequence being evaluated: KV cache (capacity fixed at creation), position, and the
/// RoPE state (fresh for every sequence, so dynamic scaling never leaks across documents).
class Session {
public:
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    int position() const { return m_pos; }
    int capacity() const { return m_cap; }
    /// Attention factor and inv_freq of the last call (for records).
    const RopeTables& last_rope() const { return m_last_rope; }
    /// The RoPE state as it is now (to hand back to truncate()).
    const RopeState& rope_state() const { return m_rope_state; }
    /// Forgets positions [len, position()) by length (no copy: the cache keeps [0, len) as it
    /// is and the next forward writes at `len`) and sets the RoPE state to `state` (the one
    /// the caller saved when the sequence was `len` long). Needs 0 <= len <= position().
    void truncate(int len, const RopeState& state);

private:
    friend class LlamaModel;
    Session(const LlamaModel& m, int capacity, const RopeConfig& rope);
    void ensure_scratch(int n);
    void release_scratch();

    const LlamaModel& m_model;
    backend::Backend& m_be;
    int m_cap;
    int m_pos = 0;
    RopeState m_rope_state;
    RopeTables m_last_rope;
    std::vector<float*> m_k, m_v;  // per layer: KV caches (backend buffers, Backend::store_kv's layout)
    // Scratch (backend buffers) sized for m_scratch_n rows.
    int m_scratch_n = 0;
    float *m_x = nullptr, *m_xn = nullptr, *m_qkv = nullptr, *m_att = nullptr, *m_tmp = nullptr, *m_gu = nullptr,
          *m_act = nullptr, *m_cos = nullptr, *m_sin = nullptr;
    std::vector<float> m_cos_host, m_sin_host;
};

class LlamaModel {
public:
    /// Loads every tensor of `ckpt` (converted to `wtype` and packed by the backend, once).
    /// Throws Error naming the file and tensor for a missing tensor or a wrong shape.
    LlamaModel(const Checkpoint& ckpt, backend::Backend& be, backend::WeightType wtype);
    ~LlamaModel();

    const ModelConfig& config() const { return m_cfg; }
    backend::Backend& backend() const { return m_be; }
    backend::WeightType weight_type() const { return m_wtype; }
    uint64_t parameter_count() const { return m_params; }
    uint64_t weight_bytes() const;
    /// Bytes of the weight matrices one token's forward pass reads (all but the embedding table).
    uint64_t matrix_weight_bytes() const;

    /// A new sequence with room for `capacity` tokens; throws Error if it cannot be allocated.
    std::unique_ptr<Session> new_session(int capacity, const RopeConfig& rope) const;

    /// Runs tokens[0..n) at positions s.position() .. +n-1 and appends them to the cache.
    /// For each i: logprob[i] = log p(targets[i] | tokens up to i) (targets[i] < 0: skipped),
    /// argmax[i] = the most likely next token; logits (optional, [n, vocab]) receives them all.
    /// Any of logprob/argmax/logits may be nullptr.
    void forward(Session& s, const int* tokens, int n, const int* targets, double* logprob, int* argmax,
                 float* logits) const;
    /// forward() with the RoPE tables of a call whose max position is rope_len − 1
    /// (rope_len >= s.position() + n) instead of s.position() + n − 1: a prefix computed
    /// ahead of the rest of its sequence gets the tables that one call over the whole
    /// sequence would use (dynamic and longrope choose them by the call's length).
    void forward_with_rope_len(Session& s, int rope_len, const int* tokens, int n, const int* targets, double* logprob,
                               int* argmax, float* logits) const;

    /// Greedy decoding: feeds `prompt`, then appends up to max_new argmax tokens (stops at EOS
    /// when stop_at_eos). Returns the new tokens.
    std::vector<int> generate_greedy(Session& s, const std::vector<int>& prompt, int max_new,
                                     bool stop_at_eos = true) const;

    ForwardStats& stats() const { return m_stats; }

private:
    friend class Session;
    struct Layer {
        float* attn_norm = nullptr;  // [hidden] backend buffer
        float* ffn_norm = nullptr;
        float* qkv_bias = nullptr;   // [(H + 2 KV) hd] (Qwen2), else nullptr
        float* q_norm = nullptr;     // [hd] per-head RMSNorm weights (Qwen3), else nullptr
        float* k_norm = nullptr;
        std::unique_ptr<backend::Matrix> wqkv;  // [(H + 2 KV) hd, hidden]
        std::unique_ptr<backend::Matrix> wo;    // [hidden, H hd]
        std::unique_ptr<backend::Matrix> wgu;   // [2 I, hidden] gate rows then up rows
        std::unique_ptr<backend::Matrix> wdown; // [hidden, I]
    };

    class Loader;  // the checkpoint's tensors as the constructor reads them (llama.cpp)
    void load_attention(Loader& ld, const std::string& prefix, Layer& L);
    void load_mlp(Loader& ld, const std::string& prefix, Layer& L);
    void load_head(Loader& ld, const std::vector<float>& embed);

    ModelConfig m_cfg;
    backend::Backend& m_be;
    backend::WeightType m_wtype;
    float* m_embed = nullptr;  // [vocab, hidden] backend buffer
    size_t m_embed_floats = 0;
    std::vector<Layer> m_layers;
    float* m_final_norm = nullptr;
    std::unique_ptr<backend::Matrix> m_lm_head;  // [vocab, hidden]
    uint64_t m_params = 0;
    mutable ForwardStats m_stats;
};

/// RopeGeometry from a model config (with optional --rope-theta override).
RopeGeometry rope_geometry(const ModelConfig& cfg);

}  // namespace rb
