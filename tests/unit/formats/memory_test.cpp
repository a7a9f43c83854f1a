// The memory estimate and parameter counts, by hand for stories260K's geometry.
#include <gtest/gtest.h>

#include "formats/memory_estimate.h"
#include "formats/model_config.h"

using namespace rb;

TEST(Memory, Stories260KByHand) {
    ModelConfig c;
    c.hidden_size = 64;
    c.intermediate_size = 172;
    c.num_layers = 5;
    c.num_heads = 8;
    c.num_kv_heads = 4;
    c.head_dim = 8;
    c.vocab_size = 512;
    c.tie_word_embeddings = true;
    // Per layer: q 64x64, k/v 32x64 each, o 64x64, gate/up/down 3x172x64 = 45312; 5 layers + head 512x64.
    EXPECT_EQ(matrix_parameter_count(c), 5u * 45312 + 512 * 64);
    EXPECT_EQ(parameter_count(c), 260032u);  // README parameter count (norms: 2x64 per layer + 64)
    MemoryEstimate m = estimate_forward_memory(c, 1024, 4);
    EXPECT_EQ(m.weights, (5u * 45312 + 512 * 64) * 4 + (512u * 64 + 5 * 128 + 64) * 4);  // + f32 embedding, norms
    EXPECT_EQ(m.kv_cache, 2u * 5 * 1024 * 4 * 8 * 4);                                   // K and V, f32
    EXPECT_EQ(m.working, (1024u * 64 + 256u * (3 * 64 + 2 * 64 + 2 * 32 + 3 * 172) + 1024u * 10 + 1024u * 32 +
                          128u * 512) * 4 + (64u << 20));
    EXPECT_EQ(m.total(), m.weights + std::max(m.loading, m.kv_cache + m.working));
    EXPECT_EQ(estimate_forward_memory(c, 1024, 2).weights, (5u * 45312 + 512 * 64) * 2 + (512u * 64 + 5 * 128 + 64) * 4);
    c.tie_word_embeddings = false;
    EXPECT_EQ(parameter_count(c), 260032u + 512 * 64);
    EXPECT_EQ(estimate_forward_memory(c, 1024, 4).weights, m.weights);  // the tied head is packed anyway
    // Qwen2 biases and Qwen3 q/k norms are parameters too.
    c.qkv_bias = true;
    EXPECT_EQ(parameter_count(c), 260032u + 512 * 64 + 5 * (64 + 2 * 32));
}
