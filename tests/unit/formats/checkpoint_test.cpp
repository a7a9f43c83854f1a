// Real models: the folder (safetensors) and the .gguf of each shared model must load to the
// same config and bit-identical f32 tensors (the GGUF q/k rows come back un-permuted).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats_writers.h"
#include "util/error.h"
#include "util/mapped_file.h"

using namespace rb;
using rb::test::shared_path;

namespace {

struct ModelCase {
    const char* folder;
    const char* gguf;
    int dim, ffn, layers, heads, kv_heads, head_dim, vocab, ctx;
    uint64_t params;
};

// Values from shared/data/README.md ("Models" table).
const ModelCase k_models[] = {
    {"stories260K", "stories260K-f32.gguf", 64, 172, 5, 8, 4, 8, 512, 512, 260032},
    {"llama2xs-tok512-ctx256", "llama2xs-tok512-ctx256-f32.gguf", 64, 192, 5, 8, 4, 8, 512, 256, 279232},
    {"babyllama-tok105-ctx256", "babyllama-tok105-ctx256-f32.gguf", 128, 352, 5, 8, 4, 16, 105, 256, 936448},
};

class RealModel : public ::testing::TestWithParam<ModelCase> {};

void check_config(const ModelConfig& c, const ModelCase& m) {
    EXPECT_EQ(c.hidden_size, m.dim);
    EXPECT_EQ(c.intermediate_size, m.ffn);
    EXPECT_EQ(c.num_layers, m.layers);
    EXPECT_EQ(c.num_heads, m.heads);
    EXPECT_EQ(c.num_kv_heads, m.kv_heads);
    EXPECT_EQ(c.head_dim, m.head_dim);
    EXPECT_EQ(c.vocab_size, m.vocab);
    EXPECT_EQ(c.max_position_embeddings, m.ctx);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
    EXPECT_NEAR(c.rms_norm_eps, 1e-5, 1e-12);  // GGUF stores it as f32
    EXPECT_TRUE(c.rope_scaling.is_null());
    EXPECT_FALSE(c.partial_rotary_factor.has_value());
    EXPECT_EQ(c.bos_id, 1);
    EXPECT_EQ(c.eos_id, 2);
}

uint64_t count_params(const Checkpoint& ck) {
    uint64_t n = 0;
    for (const auto& t : ck.tensors()) {
        uint64_t e = 1;
        for (auto d : t.shape) e *= uint64_t(d);
        n += e;
    }
    return n;
}

}  // namespace

TEST_P(RealModel, FolderAndGgufAgree) {
    const ModelCase& m = GetParam();
    const std::string dir = shared_path(std::string("data/models/") + m.folder);
    const std::string gg = dir + "/" + m.gguf;
    auto hf = Checkpoint::open(dir);
    auto gf = Checkpoint::open(gg);
    EXPECT_EQ(hf->format(), "safetensors");
    EXPECT_EQ(gf->format(), "gguf");
    EXPECT_EQ(hf->config().architecture, "LlamaForCausalLM");
    EXPECT_EQ(gf->config().architecture, "llama");
    EXPECT_EQ(hf->config().torch_dtype, "float32");
    EXPECT_EQ(gf->config().torch_dtype, "float32");
    check_config(hf->config(), m);
    check_config(gf->config(), m);
    EXPECT_EQ(count_params(*hf), m.params);
    EXPECT_EQ(count_params(*gf), m.params);
    EXPECT_EQ(hf->weight_bytes(), m.params * 4);
    EXPECT_EQ(gf->weight_bytes(), m.params * 4);
    EXPECT_FALSE(hf->has_tensor("lm_head.weight"));  // tied
    EXPECT_FALSE(gf->has_tensor("lm_head.weight"));
    ASSERT_TRUE(hf->tokenizer_model_path().has_value());
    EXPECT_EQ(*hf->tokenizer_model_path(), dir + "/tokenizer.model");
    EXPECT_FALSE(gf->tokenizer_model_path().has_value());
    EXPECT_FALSE(hf->gguf_vocab().has_value());

    auto vocab = gf->gguf_vocab();
    ASSERT_TRUE(vocab.has_value());
    EXPECT_EQ(vocab->model, "llama");
    EXPECT_EQ(int(vocab->tokens.size()), m.vocab);
    EXPECT_EQ(vocab->scores.size(), vocab->tokens.size());
    EXPECT_EQ(vocab->token_types.size(), vocab->tokens.size());
    EXPECT_EQ(vocab->bos_id, 1);
    EXPECT_EQ(vocab->eos_id, 2);
    EXPECT_EQ(vocab->unk_id, 0);
    EXPECT_TRUE(vocab->add_bos);
    EXPECT_EQ(vocab->tokens[1], "<s>");

    // Every tensor: same names, shapes, and bit-identical values (both are exact f32 copies of
    // the llama2.c weights, so no tolerance applies).
    auto ht = hf->tensors();
    auto gt = gf->tensors();
    ASSERT_EQ(ht.size(), gt.size());
    ASSERT_EQ(ht.size(), size_t(2 + 9 * m.layers));
    for (const auto& t : ht) {
        SCOPED_TRACE(t.name);
        ASSERT_TRUE(gf->has_tensor(t.name));
        EXPECT_EQ(t.dtype, DType::f32);
        auto a = hf->load_f32(t.name, t.shape);
        auto b = gf->load_f32(t.name, t.shape);
        ASSERT_EQ(a.size(), b.size());
        size_t first_diff = a.size();
        for (size_t i = 0; i < a.size(); ++i)
            if (std::memcmp(&a[i], &b[i], 4) != 0) {
                first_diff = i;
                break;
            }
        EXPECT_EQ(first_diff, a.size()) << "first differing element " << first_diff;
    }
}

// Control for the test above: the GGUF's raw q rows differ from HF's, so the equality above
// really depends on the un-permutation.
TEST_P(RealModel, RawGgufQRowsArePermuted) {
    const ModelCase& m = GetParam();
    const std::string dir = shared_path(std::string("data/models/") + m.folder);
    MappedFile f(dir + "/" + m.gguf);
    GgufFile g = parse_gguf(f.data(), f.size(), f.path());
    auto hf = Checkpoint::open(dir);
    const std::string name = "model.layers.0.self_attn.q_proj.weight";
    auto ref = hf->load_f32(name, {m.heads * m.head_dim, m.dim});
    for (const auto& t : g.tensors)
        if (t.name == "blk.0.attn_q.weight") {
            const float* raw = reinterpret_cast<const float*>(f.data() + g.data_start + t.offset);
            EXPECT_NE(std::memcmp(raw, ref.data(), ref.size() * 4), 0);
            std::vector<float> w(raw, raw + ref.size());
            unpermute_qk_rows(w, m.heads * m.head_dim, m.dim, m.heads);
            EXPECT_EQ(std::memcmp(w.data(), ref.data(), ref.size() * 4), 0);
            return;
        }
    FAIL() << "blk.0.attn_q.weight missing";
}

INSTANTIATE_TEST_SUITE_P(Shared, RealModel, ::testing::ValuesIn(k_models),
                         [](const auto& info) {
                             std::string n = info.param.folder;
                             for (auto& c : n)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return n;
                         });

TEST(Sharded, TwoShardsEqualSingleFile) {
    const std::string dir = shared_path("data/models/stories260K");
    MappedFile f(dir + "/model.safetensors");
    SafetensorsHeader h = parse_safetensors(f.data(), f.size(), f.path());
    ASSERT_GT(h.tensors.size(), 2u);
    std::vector<test::StTensor> parts[2];
    nlohmann::json wm = nlohmann::json::object();
    for (size_t i = 0; i < h.tensors.size(); ++i) {
        const auto& t = h.tensors[i];
        const int s = i < h.tensors.size() / 2 ? 0 : 1;
        parts[s].push_back({t.name, "F32", t.shape,
                            std::string(reinterpret_cast<const char*>(f.data() + h.data_start + t.begin),
                                        t.end - t.begin)});
        wm[t.name] = s == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    const std::string out = test::temp_dir();
    test::write_bytes(out + "/model-00001-of-00002.safetensors", test::make_safetensors(parts[0]));
    test::write_bytes(out + "/model-00002-of-00002.safetensors", test::make_safetensors(parts[1]));
    test::write_bytes(out + "/model.safetensors.index.json",
                      nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", wm}}.dump());
    test::write_bytes(out + "/config.json", test::read_bytes(dir + "/config.json"));

    auto sharded = Checkpoint::open(out);
    auto single = Checkpoint::open(dir);
    EXPECT_FALSE(sharded->tokenizer_model_path().has_value());
    EXPECT_EQ(sharded->weight_bytes(), single->weight_bytes());
    auto st = sharded->tensors();
    ASSERT_EQ(st.size(), single->tensors().size());
    for (const auto& t : single->tensors()) {
        SCOPED_TRACE(t.name);
        ASSERT_TRUE(sharded->has_tensor(t.name));
        auto a = single->load_f32(t.name, t.shape);
        auto b = sharded->load_f32(t.name, t.shape);
        ASSERT_EQ(a.size(), b.size());
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
    }
    // The index names a shard per tensor; a tensor listed but absent must be an error.
    wm["model.extra.weight"] = "model-00001-of-00002.safetensors";
    test::write_bytes(out + "/model.safetensors.index.json", nlohmann::json{{"weight_map", wm}}.dump());
    EXPECT_RB_ERROR(Checkpoint::open(out), "model.safetensors.index.json", "model.extra.weight");
}

TEST(Open, RejectsOtherPaths) {
    const std::string dir = test::temp_dir();
    EXPECT_RB_ERROR(Checkpoint::open(dir + "/nope"), dir + "/nope");
    test::write_bytes(dir + "/weights.bin", "hello world");
    EXPECT_RB_ERROR(Checkpoint::open(dir + "/weights.bin"), dir + "/weights.bin", "not a checkpoint");
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir, "config.json");
    test::write_bytes(dir + "/config.json", test::read_bytes(shared_path("data/models/stories260K/config.json")));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir, "model.safetensors");
}
