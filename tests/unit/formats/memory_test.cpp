#include <gtest/gtest.h>

#include "formats/model_config.h"
#include "model/memory.h"

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
    MemoryEstimate m = estimate_forward_memory(c, 1024, 4);
    EXPECT_EQ(m.weights, 260032u * 4);                          // README parameter count
    EXPECT_EQ(m.kv_cache, 2u * 5 * 1024 * 4 * 8 * 4);            // K and V, f32
    EXPECT_EQ(m.working, 1024u * (64 * 4 + 64 + 32 + 32 + 172 * 2) * 4 + (64u << 20));
    EXPECT_EQ(m.total(), m.weights + m.kv_cache + m.working);
    EXPECT_EQ(estimate_forward_memory(c, 1024, 2).weights, 260032u * 2);
    c.tie_word_embeddings = false;
    EXPECT_EQ(estimate_forward_memory(c, 1024, 4).weights, (260032u + 512 * 64) * 4);
}
