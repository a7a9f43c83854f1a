#include "model/llama.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "util/error.h"

namespace rb {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Tensors a checkpoint may carry that the forward pass does not read: transformers' old
// rotary_emb.inv_freq buffers, and the GGUF rope factor tensors the checkpoint itself reads
// into rope_scaling.
bool ignorable(const std::string& name) {
    auto ends_with = [&](const char* suf) {
        const size_t n = std::strlen(suf);
        return name.size() >= n && name.compare(name.size() - n, n, suf) == 0;
    };
    return ends_with("rotary_emb.inv_freq") || name == "rope_freqs.weight" || name == "rope_factors_long.weight" ||
           name == "rope_factors_short.weight";
}

// A checkpoint with more tensors than its config accounts for (num_hidden_layers smaller than
// the layers stored, a family with extra weights) would run a different model: refuse it.
void check_all_used(const Checkpoint& ckpt, const std::set<std::string>& used) {
    std::vector<std::string> unused;
    for (const auto& t : ckpt.tensors())
        if (!used.count(t.name) && !ignorable(t.name)) unused.push_back(t.name);
    if (unused.empty()) return;
    std::string names;
    for (size_t i = 0; i < unused.size() && i < 4; ++i) names += (i ? ", '" : "'") + unused[i] + "'";
    if (unused.size() > 4) names += fmt::format(" and {} more", unused.size() - 4);
    const ModelConfig& c = ckpt.config();
    throw Error("{}: {} tensor(s) not used by the {}-layer {} that {} declares: {} (does num_hidden_layers match the "
                "checkpoint?)",
                ckpt.path(), unused.size(), c.num_layers, c.model_type, c.source, names);
}

}  // namespace

RopeGeometry rope_geometry(const ModelConfig& cfg) {
    RopeGeometry g;
    g.head_dim = cfg.head_dim;
    g.rope_theta = cfg.rope_theta;
    g.max_position_embeddings = cfg.max_position_embeddings;
    g.partial_rotary_factor = cfg.partial_rotary_factor;
    g.original_max_position_embeddings = cfg.original_max_position_embeddings;
    return g;
}

namespace {

// Rows of `b` appended to those of `a` (fused matrices from separate tensors).
std::vector<float> cat_rows(std::vector<float> a, const std::vector<float>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

class LlamaModel::Loader {
public:
    Loader(const Checkpoint& ckpt, backend::Backend& be) : m_ckpt(ckpt), m_be(be) {}
    // Every tensor read is noted, so that one the config does not account for is an error, not dropped.
    std::vector<float> load(const std::string& name, const std::vector<int64_t>& shape) {
        m_used.insert(name);
        return m_ckpt.load_f32(name, shape);
    }
    bool has(const std::string& name) const { return m_ckpt.has_tensor(name); }
    float* upload_vec(const std::vector<float>& v) {
        float* p = m_be.alloc(v.size());
        m_be.upload(p, v.data(), v.size());
        return p;
    }
    const Checkpoint& checkpoint() const { return m_ckpt; }
    const std::set<std::string>& used() const { return m_used; }

private:
    const Checkpoint& m_ckpt;
    backend::Backend& m_be;
    std::set<std::string> m_used;
};

LlamaModel::LlamaModel(const Checkpoint& ckpt, backend::Backend& be, backend::WeightType wtype)
    : m_cfg(ckpt.config()), m_be(be), m_wtype(wtype) {
    const auto& c = m_cfg;
    if (c.num_heads % c.num_kv_heads != 0)
        throw Error("{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", c.source, c.num_heads,
                    c.num_kv_heads);
    Loader ld(ckpt, m_be);
    std::vector<float> embed = ld.load("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    m_embed_floats = embed.size();
    m_params += embed.size();
    m_layers.resize(c.num_layers);
    for (int l = 0; l < c.num_layers; l++) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        Layer& L = m_layers[l];
        auto an = ld.load(p + "input_layernorm.weight", {c.hidden_size});
        auto fn = ld.load(p + "post_attention_layernorm.weight", {c.hidden_size});
        L.attn_norm = ld.upload_vec(an);
        L.ffn_norm = ld.upload_vec(fn);
        m_params += an.size() + fn.size();
        load_attention(ld, p, L);
        load_mlp(ld, p, L);
    }
    load_head(ld, embed);
    check_all_used(ckpt, ld.used());
    // The table in backend memory, once (a device backend gathers rows where they live).
    m_embed = ld.upload_vec(embed);
}

// Phi-3 stores q/k/v fused (rows q then k then v): the layout the backend matrix uses anyway.
void LlamaModel::load_attention(Loader& ld, const std::string& p, Layer& L) {
    const auto& c = m_cfg;
    const int64_t hidden = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads;
    std::vector<float> qkv;
    if (ld.has(p + "self_attn.qkv_proj.weight")) {
        qkv = ld.load(p + "self_attn.qkv_proj.weight", {(H + 2 * KV) * hd, hidden});
    } else {
        auto q = ld.load(p + "self_attn.q_proj.weight", {H * hd, hidden});
        auto k = ld.load(p + "self_attn.k_proj.weight", {KV * hd, hidden});
        auto v = ld.load(p + "self_attn.v_proj.weight", {KV * hd, hidden});
        qkv = cat_rows(cat_rows(std::move(q), k), v);
    }
    L.wqkv = m_be.upload_matrix(qkv.data(), static_cast<int>((H + 2 * KV) * hd), static_cast<int>(hidden), m_wtype);
    if (c.qkv_bias) {
        auto b = cat_rows(cat_rows(ld.load(p + "self_attn.q_proj.bias", {H * hd}), ld.load(p + "self_attn.k_proj.bias", {KV * hd})),
                          ld.load(p + "self_attn.v_proj.bias", {KV * hd}));
        L.qkv_bias = ld.upload_vec(b);
        m_params += b.size();
    }
    if (c.qk_norm) {
        auto qn = ld.load(p + "self_attn.q_norm.weight", {hd});
        auto kn = ld.load(p + "self_attn.k_norm.weight", {hd});
        L.q_norm = ld.upload_vec(qn);
        L.k_norm = ld.upload_vec(kn);
        m_params += qn.size() + kn.size();
    }
    auto o = ld.load(p + "self_attn.o_proj.weight", {hidden, H * hd});
    L.wo = m_be.upload_matrix(o.data(), static_cast<int>(hidden), static_cast<int>(H * hd), m_wtype);
    m_params += qkv.size() + o.size();
}

// Phi-3 stores gate/up fused (gate rows first): the layout the backend matrix uses anyway.
void LlamaModel::load_mlp(Loader& ld, const std::string& p, Layer& L) {
    const int64_t hidden = m_cfg.hidden_size, I = m_cfg.intermediate_size;
    std::vector<float> gu;
    if (ld.has(p + "mlp.gate_up_proj.weight")) {
        gu = ld.load(p + "mlp.gate_up_proj.weight", {2 * I, hidden});
    } else {
        auto g = ld.load(p + "mlp.gate_proj.weight", {I, hidden});
        auto u = ld.load(p + "mlp.up_proj.weight", {I, hidden});
        gu = cat_rows(std::move(g), u);
    }
    L.wgu = m_be.upload_matrix(gu.data(), static_cast<int>(2 * I), static_cast<int>(hidden), m_wtype);
    auto d = ld.load(p + "mlp.down_proj.weight", {hidden, I});
    L.wdown = m_be.upload_matrix(d.data(), static_cast<int>(hidden), static_cast<int>(I), m_wtype);
    m_params += gu.size() + d.size();
}

// The final norm and the LM head (its own matrix, or the embedding table when tied).
void LlamaModel::load_head(Loader& ld, const std::vector<float>& embed) {
    const int64_t hidden = m_cfg.hidden_size, vocab = m_cfg.vocab_size;
    auto fnorm = ld.load("model.norm.weight", {hidden});
    m_final_norm = ld.upload_vec(fnorm);
    m_params += fnorm.size();
    if (ld.has("lm_head.weight")) {
        auto lm = ld.load("lm_head.weight", {vocab, hidden});
        m_lm_head = m_be.upload_matrix(lm.data(), static_cast<int>(vocab), static_cast<int>(hidden), m_wtype);
        m_params += lm.size();
    } else if (m_cfg.tie_word_embeddings) {
        // Tied (transformers' save_pretrained drops lm_head.weight for tied models; a GGUF
        // without output.weight means the same to llama.cpp).
        m_lm_head = m_be.upload_matrix(embed.data(), static_cast<int>(vocab), static_cast<int>(hidden), m_wtype);
    } else {
        throw Error("{}: tensor 'lm_head.weight' is missing and tie_word_embeddings is false", ld.checkpoint().path());
    }
}

LlamaModel::~LlamaModel() {
    for (auto& L : m_layers)
        for (float* p : {L.attn_norm, L.ffn_norm, L.qkv_bias, L.q_norm, L.k_norm})
            if (p) m_be.release(p);
    m_be.release(m_final_norm);
    m_be.release(m_embed);
}

uint64_t LlamaModel::weight_bytes() const {
    uint64_t b = m_embed_floats * sizeof(float) + m_lm_head->bytes();
    for (auto& L : m_layers) b += L.wqkv->bytes() + L.wo->bytes() + L.wgu->bytes() + L.wdown->bytes();
    return b;
}

uint64_t LlamaModel::matrix_weight_bytes() const { return weight_bytes() - m_embed_floats * sizeof(float); }

std::unique_ptr<Session> LlamaModel::new_session(int capacity, const RopeConfig& rope) const {
    if (capacity <= 0) throw Error("--ctx: context must be positive, got {}", capacity);
    return std::unique_ptr<Session>(new Session(*this, capacity, rope));
}

Session::Session(const LlamaModel& m, int capacity, const RopeConfig& rope)
    : m_model(m), m_be(m.backend()), m_cap(capacity), m_rope_state(rope) {
    const auto& c = m.config();
    const size_t per = m_be.kv_cache_floats(capacity, c.num_kv_heads, c.head_dim,
                                            m.weight_type() == backend::WeightType::bf16);
    try {
        for (int l = 0; l < c.num_layers; l++) {
            m_k.push_back(m_be.alloc(per));
            m_v.push_back(m_be.alloc(per));
        }
    } catch (const std::bad_alloc&) {
        for (float* p : m_k) m_be.release(p);
        for (float* p : m_v) m_be.release(p);
        throw Error("KV cache for {} tokens ({:.1f} GiB) does not fit in memory", capacity,
                    2.0 * c.num_layers * per * 4 / (1 << 30));
    }
}

Session::~Session() {
    for (float* p : m_k) m_be.release(p);
    for (float* p : m_v) m_be.release(p);
    release_scratch();
}

void Session::release_scratch() {
    for (float** p : {&m_x, &m_xn, &m_qkv, &m_att, &m_tmp, &m_gu, &m_act, &m_cos, &m_sin})
        if (*p) {
            m_be.release(*p);
            *p = nullptr;
        }
}

void Session::ensure_scratch(int n) {
    const auto& c = m_model.config();
    if (n <= m_scratch_n && m_x) return;
    release_scratch();
    const size_t hidden = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads,
                 I = c.intermediate_size;
    // Rows per block in prefill (bounds the working set): the backend's choice.
    const size_t blk = std::min(n, m_be.block_rows());
    const size_t half = static_cast<size_t>(c.head_dim) / 2 + 1;
    m_x = m_be.alloc(static_cast<size_t>(n) * hidden);  // the residual stream of the whole call
    m_xn = m_be.alloc(blk * hidden);
    m_qkv = m_be.alloc(blk * (H + 2 * KV) * hd);
    m_att = m_be.alloc(blk * H * hd);
    m_tmp = m_be.alloc(blk * hidden);
    m_gu = m_be.alloc(blk * 2 * I);
    m_act = m_be.alloc(blk * I);
    m_cos = m_be.alloc(static_cast<size_t>(n) * half);
    m_sin = m_be.alloc(static_cast<size_t>(n) * half);
    m_scratch_n = n;
}

void Session::truncate(int len, const RopeState& state) {
    RB_CHECK(len >= 0 && len <= m_pos, "truncate to {} of a {}-token sequence", len, m_pos);
    m_pos = len;
    m_rope_state = state;
}

void LlamaModel::forward(Session& s, const int* tokens, int n, const int* targets, double* logprob, int* argmax,
                         float* logits) const {
    forward_with_rope_len(s, s.m_pos + n, tokens, n, targets, logprob, argmax, logits);
}

// Long by nature: the forward pass, one sequence of backend calls per layer and row block over the session's scratch, timed per stage.
void LlamaModel::forward_with_rope_len(Session& s, int rope_len, const int* tokens, int n, const int* targets,
                                       double* logprob, int* argmax, float* logits) const {
    const auto& c = m_cfg;
    if (n <= 0) return;
    RB_CHECK(rope_len >= s.m_pos + n, "rope_len {} < {}", rope_len, s.m_pos + n);
    if (s.m_pos + n > s.m_cap)
        throw Error("sequence of {} tokens exceeds the session's capacity of {}", s.m_pos + n, s.m_cap);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
            throw Error("token id {} at position {} is outside the vocabulary (size {})", tokens[i], s.m_pos + i,
                        c.vocab_size);
    s.ensure_scratch(n);
    const int hidden = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads,
              I = c.intermediate_size;
    const int qkv_dim = (H + 2 * KV) * hd;
    const int pos0 = s.m_pos;
    const float eps = static_cast<float>(c.rms_norm_eps);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

    // RoPE tables for this call: the state sees max position + 1 (dynamic / longrope).
    const RopeTables& rt = s.m_rope_state.for_call(rope_len);
    s.m_last_rope = rt;
    const int rot = rt.rotary_dim, half = rot / 2;
    s.m_cos_host.resize(static_cast<size_t>(n) * half);
    s.m_sin_host.resize(static_cast<size_t>(n) * half);
    build_cos_sin(rt, pos0, n, s.m_cos_host.data(), s.m_sin_host.data());
    m_be.upload(s.m_cos, s.m_cos_host.data(), s.m_cos_host.size());
    m_be.upload(s.m_sin, s.m_sin_host.data(), s.m_sin_host.size());

    auto t0 = Clock::now();
    m_be.embed(m_embed, tokens, n, hidden, s.m_x);
    m_stats.embed += seconds_since(t0);

    const int block_rows = m_be.block_rows();
    for (int l = 0; l < c.num_layers; l++) {
        const Layer& L = m_layers[l];
        for (int b = 0; b < n; b += block_rows) {
            const int t = std::min(block_rows, n - b);
            float* x = s.m_x + static_cast<size_t>(b) * hidden;
            // Attention block.
            auto ta = Clock::now();
            m_be.rmsnorm(x, L.attn_norm, s.m_xn, t, hidden, eps);
            m_be.matmul(s.m_xn, t, hidden, *L.wqkv, s.m_qkv, qkv_dim);  // qkv [t, (H+2KV) hd]
            float* q = s.m_qkv;
            float* k = s.m_qkv + H * hd;
            float* v = s.m_qkv + (H + KV) * hd;
            if (L.qkv_bias) m_be.add_bias(s.m_qkv, t, qkv_dim, L.qkv_bias, qkv_dim);
            if (L.q_norm) {
                m_be.rmsnorm_heads(q, t, qkv_dim, H, hd, L.q_norm, eps);
                m_be.rmsnorm_heads(k, t, qkv_dim, KV, hd, L.k_norm, eps);
            }
            m_be.rope(q, t, qkv_dim, H, hd, rot, s.m_cos + static_cast<size_t>(b) * half,
                      s.m_sin + static_cast<size_t>(b) * half);
            m_be.rope(k, t, qkv_dim, KV, hd, rot, s.m_cos + static_cast<size_t>(b) * half,
                      s.m_sin + static_cast<size_t>(b) * half);
            m_be.store_kv(k, qkv_dim, v, qkv_dim, t, pos0 + b, s.m_k[l], s.m_v[l], s.m_cap, KV, hd,
                          m_wtype == backend::WeightType::bf16);
            auto tb = Clock::now();
            m_stats.projections += std::chrono::duration<double>(tb - ta).count();
            m_be.attention(q, qkv_dim, t, pos0 + b, s.m_k[l], s.m_v[l], s.m_cap, H, KV, hd, scale, s.m_att, H * hd,
                           m_wtype == backend::WeightType::bf16, c.sliding_window);
            auto tc = Clock::now();
            m_stats.attention += std::chrono::duration<double>(tc - tb).count();
            m_be.matmul(s.m_att, t, H * hd, *L.wo, s.m_tmp, hidden);
            m_be.add(x, s.m_tmp, static_cast<size_t>(t) * hidden);
            auto td = Clock::now();
            m_stats.projections += std::chrono::duration<double>(td - tc).count();
            // MLP block.
            m_be.rmsnorm(x, L.ffn_norm, s.m_xn, t, hidden, eps);
            m_be.matmul(s.m_xn, t, hidden, *L.wgu, s.m_gu, 2 * I);  // [t, 2I]
            m_be.swiglu(s.m_gu, s.m_act, t, I);                      // [t, I]
            m_be.matmul(s.m_act, t, I, *L.wdown, s.m_tmp, hidden);   // [t, hidden]
            m_be.add(x, s.m_tmp, static_cast<size_t>(t) * hidden);
            m_stats.mlp += seconds_since(td);
        }
    }
    auto te = Clock::now();
    // A prefix computed only for the cache (no output asked for) skips the head.
    const bool head = targets || logprob || argmax || logits;
    for (int b = 0; head && b < n; b += block_rows) {
        const int t = std::min(block_rows, n - b);
        m_be.rmsnorm(s.m_x + static_cast<size_t>(b) * hidden, m_final_norm, s.m_xn, t, hidden, eps);
        m_be.lm_head_logprobs(s.m_xn, t, *m_lm_head, targets ? targets + b : nullptr, logprob ? logprob + b : nullptr,
                              logits ? logits + static_cast<size_t>(b) * c.vocab_size : nullptr,
                              argmax ? argmax + b : nullptr);
    }
    m_stats.lm_head += seconds_since(te);
    s.m_pos += n;
}

std::vector<int> LlamaModel::generate_greedy(Session& s, const std::vector<int>& prompt, int max_new,
                                             bool stop_at_eos) const {
    std::vector<int> out;
    if (prompt.empty()) throw Error("generate: empty prompt (at least one token is needed)");
    // Only the last prompt row's argmax is used: the rows before it run without the LM head,
    // with the tables of one call over the whole prompt (dynamic and longrope choose them by
    // the call's length), so the cache and the first new token are those of a single call.
    const int n = static_cast<int>(prompt.size()), end = s.position() + n;
    if (n > 1) forward_with_rope_len(s, end, prompt.data(), n - 1, nullptr, nullptr, nullptr, nullptr);
    int next = 0;
    forward_with_rope_len(s, end, prompt.data() + n - 1, 1, nullptr, nullptr, &next, nullptr);
    for (int i = 0; i < max_new; i++) {
        if (stop_at_eos && next == m_cfg.eos_id) break;
        out.push_back(next);
        if (i + 1 == max_new || s.position() >= s.capacity()) break;
        int a = 0;
        forward(s, &next, 1, nullptr, nullptr, &a, nullptr);
        next = a;
    }
    return out;
}

}  // namespace rb
