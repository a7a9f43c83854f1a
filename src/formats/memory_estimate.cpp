#include "formats/memory_estimate.h"

#include <algorithm>

namespace rb {
namespace {

struct Widths {
    uint64_t h, inter, q, kv, vocab, layers;
};
Widths widths(const ModelConfig& c) {
    return {uint64_t(c.hidden_size), uint64_t(c.intermediate_size), uint64_t(c.num_heads) * uint64_t(c.head_dim),
            uint64_t(c.num_kv_heads) * uint64_t(c.head_dim), uint64_t(c.vocab_size), uint64_t(c.num_layers)};
}
uint64_t layer_matrices(const Widths& w) { return w.h * (w.q + 2 * w.kv) + w.q * w.h + 3 * w.h * w.inter; }
uint64_t layer_vectors(const ModelConfig& c, const Widths& w) {
    return 2 * w.h + (c.qkv_bias ? w.q + 2 * w.kv : 0) + (c.qk_norm ? 2 * uint64_t(c.head_dim) : 0);
}

}  // namespace

uint64_t matrix_parameter_count(const ModelConfig& c) {
    const Widths w = widths(c);
    return w.layers * layer_matrices(w) + w.vocab * w.h;
}

uint64_t parameter_count(const ModelConfig& c) {
    const Widths w = widths(c);
    return w.layers * (layer_matrices(w) + layer_vectors(c, w)) + w.h + w.vocab * w.h * (c.tie_word_embeddings ? 1 : 2);
}

MemoryEstimate estimate_forward_memory(const ModelConfig& c, int64_t ctx, int bytes_per_weight,
                                       double file_bytes_per_weight) {
    // What model/llama.cpp allocates:
    //   weights  = layer matrices and the LM head (a packed copy even when tied) in the compute
    //              type + the embedding table, norms and biases in f32 (host)
    //   kv_cache = K and V, f32, every layer, ctx positions: 2 * layers * ctx * kv_heads * head_dim * 4
    //   working  = the residual stream of the whole window (ctx * hidden), scratch for one block of
    //              256 rows (norm, qkv, attention out, projections, gate/up, act), cos/sin tables,
    //              the keys transposed once per attention call (ctx * kv width), one 128-row block
    //              of logits, plus 64 MiB (thread stacks, runtime, tokenizer, log-prob arrays)
    //   loading  = the largest tensor while it loads: mapped from the file + in f32 (+ the
    //              concatenated gate/up copy, the largest fused matrix)
    const Widths w = widths(c);
    const uint64_t L = ctx > 0 ? uint64_t(ctx) : 0, blk = std::min<uint64_t>(L, 256);
    MemoryEstimate m;
    m.weights = (w.layers * layer_matrices(w) + w.vocab * w.h) * uint64_t(bytes_per_weight) +
                (w.vocab * w.h + w.layers * layer_vectors(c, w) + w.h) * 4;
    m.kv_cache = 2 * w.layers * L * w.kv * 4;
    m.working = (L * w.h + blk * (3 * w.h + 2 * w.q + 2 * w.kv + 3 * w.inter) + L * (uint64_t(c.head_dim) + 2) +
                 L * w.kv + 128 * w.vocab) * 4 +
                (uint64_t(64) << 20);
    const double biggest = double(std::max(w.vocab * w.h, 2 * w.inter * w.h));
    const double gate_up = double(w.inter * w.h) * (file_bytes_per_weight + 4 + 4 + 8);  // g, u, cat copy
    const double lm = double(w.vocab * w.h) * (file_bytes_per_weight + 4);
    m.loading = uint64_t(std::max({gate_up, lm, biggest * 4}));
    return m;
}

}  // namespace rb
