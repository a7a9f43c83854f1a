// Implements model/memory.h (declared there, built here so that `info` and the sweep's
// dry run need only rb_formats).
#include "model/memory.h"

namespace rb {

MemoryEstimate estimate_forward_memory(const ModelConfig& c, int64_t ctx, int bytes_per_weight) {
    // An estimate, not an accounting of every allocation:
    //   weights  = parameter count (lm_head once when tied) x bytes_per_weight
    //   kv_cache = K and V, f32, every layer, ctx positions: 2 * layers * ctx * kv_heads * head_dim * 4
    //   working  = one layer's activations over the whole window (the forward runs layer by
    //              layer): ctx * (4*hidden + q+k+v widths + 2*intermediate) floats, plus 64 MiB
    //              of scratch (attention score tiles, per-thread buffers, log-prob chunks).
    const uint64_t h = uint64_t(c.hidden_size), inter = uint64_t(c.intermediate_size);
    const uint64_t q = uint64_t(c.num_heads) * uint64_t(c.head_dim);
    const uint64_t kv = uint64_t(c.num_kv_heads) * uint64_t(c.head_dim);
    const uint64_t per_layer = h * q + 2 * h * kv + q * h + 3 * h * inter + 2 * h;
    uint64_t params = uint64_t(c.vocab_size) * h + uint64_t(c.num_layers) * per_layer + h;
    if (!c.tie_word_embeddings) params += uint64_t(c.vocab_size) * h;
    const uint64_t L = ctx > 0 ? uint64_t(ctx) : 0;
    MemoryEstimate m;
    m.weights = params * uint64_t(bytes_per_weight);
    m.kv_cache = 2 * uint64_t(c.num_layers) * L * kv * 4;
    m.working = L * (h * 4 + q + 2 * kv + inter * 2) * 4 + (uint64_t(64) << 20);
    return m;
}

}  // namespace rb
