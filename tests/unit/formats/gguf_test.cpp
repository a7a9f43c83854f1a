// GGUF reader on hand-built files: metadata types, name mapping, q/k un-permutation,
// F16/BF16 tensors, rope scaling keys, vocabulary.
#include <gtest/gtest.h>

#include <cstring>

#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "formats/dtype_convert.h"
#include "formats/gguf.h"
#include "formats_writers.h"

using namespace rb;

namespace {
std::unique_ptr<Checkpoint> open_mem(const std::string& bytes, const std::string& name = "mem.gguf") {
    return open_gguf_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

// llama.cpp's HF->GGUF permutation, written out literally:
// w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(rows, cols)
std::vector<float> hf_to_gguf(const std::vector<float>& w, int rows, int cols, int n_head) {
    const int half = rows / n_head / 2;
    std::vector<float> out(w.size());
    for (int h = 0; h < n_head; ++h)
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < half; ++b)
                for (int c = 0; c < cols; ++c)
                    // source index [h][a][b][c]; after swapaxes it sits at [h][b][a][c]
                    out[((h * half + b) * 2 + a) * cols + c] = w[((h * 2 + a) * half + b) * cols + c];
    return out;
}
}  // namespace

TEST(Gguf, NameMapping) {
    EXPECT_EQ(gguf_to_hf_name("token_embd.weight"), "model.embed_tokens.weight");
    EXPECT_EQ(gguf_to_hf_name("output_norm.weight"), "model.norm.weight");
    EXPECT_EQ(gguf_to_hf_name("output.weight"), "lm_head.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.12.attn_norm.weight"), "model.layers.12.input_layernorm.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.0.attn_q.weight"), "model.layers.0.self_attn.q_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.0.attn_k.weight"), "model.layers.0.self_attn.k_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.0.attn_v.weight"), "model.layers.0.self_attn.v_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.0.attn_output.weight"), "model.layers.0.self_attn.o_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.3.ffn_norm.weight"), "model.layers.3.post_attention_layernorm.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.3.ffn_gate.weight"), "model.layers.3.mlp.gate_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.3.ffn_up.weight"), "model.layers.3.mlp.up_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.3.ffn_down.weight"), "model.layers.3.mlp.down_proj.weight");
    EXPECT_EQ(gguf_to_hf_name("rope_freqs.weight"), "rope_freqs.weight");
    EXPECT_EQ(gguf_to_hf_name("blk.x.attn_q.weight"), "blk.x.attn_q.weight");
}

TEST(Gguf, SyntheticModelUnpermutesQK) {
    // dim 64, 2 heads of 32, 1 kv head: q [64, 64], k [32, 64].
    std::vector<float> q(64 * 64), k(32 * 64), embd(4 * 64), out(4 * 64);
    for (size_t i = 0; i < q.size(); ++i) q[i] = float(i);
    for (size_t i = 0; i < k.size(); ++i) k[i] = -float(i);
    for (size_t i = 0; i < embd.size(); ++i) embd[i] = 0.5f * float(i);
    for (size_t i = 0; i < out.size(); ++i) out[i] = 0.25f * float(i);
    std::string embd_f16, out_bf16;
    for (float x : embd) test::put_u16(embd_f16, f32_to_f16(x));  // exact: small multiples of 0.5
    for (float x : out) test::put_u16(out_bf16, f32_to_bf16(x));  // exact: <= 8 significant bits
    test::GgufWriter w;
    w.llama_keys();
    w.kv_str("llama.rope.scaling.type", "yarn");
    w.kv_f32("llama.rope.scaling.factor", 4.0f);
    w.kv_u32("llama.rope.scaling.original_context_length", 128);
    w.kv_nested("test.nested");
    w.kv_u64("general.file_type", 1);
    w.kv_str("tokenizer.ggml.model", "llama");
    w.kv_str_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a"});
    w.kv_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1.5f});
    w.kv_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1});
    w.kv_u32("tokenizer.ggml.bos_token_id", 1);
    w.kv_u32("tokenizer.ggml.eos_token_id", 2);
    w.kv_u32("tokenizer.ggml.unknown_token_id", 0);
    w.kv_bool("tokenizer.ggml.add_bos_token", false);
    w.kv_bool("tokenizer.ggml.add_space_prefix", true);
    w.tensor("blk.0.attn_q.weight", 0, {64, 64}, test::f32_bytes(hf_to_gguf(q, 64, 64, 2)));
    w.tensor("blk.0.attn_k.weight", 0, {64, 32}, test::f32_bytes(hf_to_gguf(k, 32, 64, 1)));
    w.tensor("token_embd.weight", 1, {64, 4}, embd_f16);
    w.tensor("output.weight", 30, {64, 4}, out_bf16);
    for (uint32_t version : {3u, 2u}) {
        SCOPED_TRACE(version);
        w.version = version;
        const std::string bytes = w.build();  // must outlive the checkpoint (borrowed)
        auto ck = open_mem(bytes);
        const ModelConfig& c = ck->config();
        EXPECT_EQ(c.hidden_size, 64);
        EXPECT_EQ(c.num_heads, 2);
        EXPECT_EQ(c.num_kv_heads, 1);
        EXPECT_EQ(c.head_dim, 32);
        EXPECT_EQ(c.intermediate_size, 96);
        EXPECT_EQ(c.max_position_embeddings, 128);
        EXPECT_EQ(c.vocab_size, 4);
        EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
        EXPECT_FALSE(c.tie_word_embeddings);
        EXPECT_EQ(c.torch_dtype, "float16");
        EXPECT_EQ(c.rope_scaling,
                  nlohmann::json({{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 128}}));
        EXPECT_EQ(c.original_max_position_embeddings, 128);
        EXPECT_EQ(ck->load_f32("model.layers.0.self_attn.q_proj.weight", {64, 64}), q);
        EXPECT_EQ(ck->load_f32("model.layers.0.self_attn.k_proj.weight", {32, 64}), k);
        EXPECT_EQ(ck->load_f32("model.embed_tokens.weight", {4, 64}), embd);
        EXPECT_EQ(ck->load_f32("lm_head.weight", {4, 64}), out);
        auto v = ck->gguf_vocab();
        ASSERT_TRUE(v.has_value());
        EXPECT_EQ(v->tokens.size(), 4u);
        EXPECT_EQ(v->tokens[3], "\xe2\x96\x81" "a");
        EXPECT_EQ(v->scores[3], -1.5f);
        EXPECT_EQ(v->token_types, (std::vector<int32_t>{2, 3, 3, 1}));
        EXPECT_FALSE(v->add_bos);
        EXPECT_EQ(v->add_space_prefix, std::optional<bool>(true));
        EXPECT_FALSE(v->remove_extra_whitespaces.has_value());
    }
}

TEST(Gguf, CustomAlignment) {
    test::GgufWriter w;
    w.alignment = 64;
    w.llama_keys();
    w.kv_u32("general.alignment", 64);
    w.tensor("output_norm.weight", 0, {3}, test::f32_bytes({1, 2, 3}));
    w.tensor("blk.0.ffn_norm.weight", 0, {2}, test::f32_bytes({4, 5}));
    const std::string bytes = w.build();
    GgufFile g = parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "a.gguf");
    EXPECT_EQ(g.alignment, 64u);
    EXPECT_EQ(g.data_start % 64, 0u);
    EXPECT_EQ(g.tensors[1].offset, 64u);
    auto ck = open_mem(bytes);
    EXPECT_EQ(ck->load_f32("model.layers.0.post_attention_layernorm.weight", {2}), (std::vector<float>{4, 5}));
    EXPECT_TRUE(ck->config().tie_word_embeddings);
}
