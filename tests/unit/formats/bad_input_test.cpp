// Bad input: every case must throw rb::Error whose message names the file and the
// field/tensor at fault. Files are written to a temp folder and opened like a user would.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "formats_writers.h"
#include "util/error.h"

using namespace rb;
using rb::test::shared_path;

namespace {

// A folder checkpoint with the stories260K config and the given model.safetensors bytes.
std::string hf_folder(const std::string& st_bytes) {
    const std::string dir = test::temp_dir();
    test::write_bytes(dir + "/config.json", test::read_bytes(shared_path("data/models/stories260K/config.json")));
    test::write_bytes(dir + "/model.safetensors", st_bytes);
    return dir;
}

std::string gguf_file(const std::string& bytes, const std::string& name = "m.gguf") {
    const std::string p = test::temp_dir() + "/" + name;
    test::write_bytes(p, bytes);
    return p;
}

const std::string k_real_st = "data/models/stories260K/model.safetensors";
const std::string k_real_gguf = "data/models/stories260K/stories260K-f32.gguf";

}  // namespace

TEST(BadSafetensors, TruncatedAtSeveralPoints) {
    const std::string full = test::read_bytes(shared_path(k_real_st));
    uint64_t hlen = 0;
    std::memcpy(&hlen, full.data(), 8);
    struct Cut {
        size_t at;
        const char* says;
    };
    const Cut cuts[] = {
        {0, "truncated"},
        {5, "truncated"},
        {8, "header length"},
        {8 + hlen / 2, "header length"},
        {8 + hlen, "past the end of the data section"},      // header intact, no data
        {full.size() / 2, "past the end of the data section"},
        {full.size() - 1, "past the end of the data section"},
    };
    for (const auto& c : cuts) {
        SCOPED_TRACE(c.at);
        const std::string dir = hf_folder(full.substr(0, c.at));
        EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", c.says);
    }
    // Data cuts name a tensor.
    const std::string dir = hf_folder(full.substr(0, full.size() - 1));
    EXPECT_RB_ERROR(Checkpoint::open(dir), "tensor '");
}

TEST(BadSafetensors, HeaderLengthPastEnd) {
    std::string s = test::safetensors_raw("{}", "");
    const uint64_t huge = 1ull << 40;
    std::memcpy(s.data(), &huge, 8);
    const std::string dir = hf_folder(s);
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "header length 1099511627776");
}

TEST(BadSafetensors, InvalidHeaderJson) {
    const std::string dir = hf_folder(test::safetensors_raw("{\"w\": {\"dtype\": ", ""));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "invalid JSON at byte");
}

// Found by fuzz_safetensors / fuzz_config: a number too large for a double is not a
// json::parse_error but an out_of_range exception; it must still become one rb::Error.
TEST(BadSafetensors, NumberOverflowInHeader) {
    const std::string dir = hf_folder(test::safetensors_raw("{\"w\": 1e666666666666666666666}", ""));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "invalid JSON", "number overflow");
}

TEST(BadSafetensors, OffsetsPastEnd) {
    const std::string dir = hf_folder(test::safetensors_raw(
        R"({"model.norm.weight": {"dtype": "F32", "shape": [250], "data_offsets": [0, 1000]}})", std::string(16, '\0')));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "model.norm.weight", "[0, 1000]",
                    "past the end");
}

TEST(BadSafetensors, OverlappingOffsets) {
    const std::string dir = hf_folder(test::safetensors_raw(
        R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
        std::string(24, '\0')));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "'b'", "overlap", "'a'");
}

TEST(BadSafetensors, SizeDisagreesWithShape) {
    const std::string dir = hf_folder(test::safetensors_raw(
        R"({"a": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}})", std::string(16, '\0')));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "'a'", "expected 20");
}

TEST(BadSafetensors, BeginAfterEnd) {
    const std::string dir = hf_folder(test::safetensors_raw(
        R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [16, 8]}})", std::string(16, '\0')));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "'a'", "begin > end");
}

TEST(BadSafetensors, UnsupportedAndUnknownDtype) {
    std::string dir = hf_folder(test::safetensors_raw(
        R"({"model.embed_tokens.weight": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})",
        std::string(16, '\0')));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "model.embed_tokens.weight",
                    "unsupported dtype I64");
    dir = hf_folder(test::safetensors_raw(R"({"w": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 16]}})",
                                          std::string(16, '\0')));
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/model.safetensors", "'w'", "unknown dtype 'Q9'");
}

TEST(BadSafetensors, WrongShapeAndMissingTensor) {
    auto ck = Checkpoint::open(shared_path("data/models/stories260K"));
    EXPECT_RB_ERROR(ck->load_f32("model.norm.weight", {32}), "model.safetensors", "model.norm.weight", "shape [64]",
                    "expected [32]");
    EXPECT_RB_ERROR(ck->load_f32("model.layers.9.mlp.up_proj.weight", {172, 64}), "stories260K",
                    "model.layers.9.mlp.up_proj.weight", "not found");
    auto gg = Checkpoint::open(shared_path(k_real_gguf));
    EXPECT_RB_ERROR(gg->load_f32("model.embed_tokens.weight", {64, 512}), "stories260K-f32.gguf",
                    "model.embed_tokens.weight", "shape [512, 64]", "expected [64, 512]");
    EXPECT_RB_ERROR(gg->load_f32("lm_head.weight", {512, 64}), "stories260K-f32.gguf", "lm_head.weight", "not found");
}

TEST(BadSafetensors, MalformedConfigInFolder) {
    const std::string good_st = test::read_bytes(shared_path(k_real_st));
    std::string dir = hf_folder(good_st);
    test::write_bytes(dir + "/config.json", "{\"hidden_size\": 64,,}");
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/config.json", "invalid JSON at byte");
    test::write_bytes(dir + "/config.json", "{\"hidden_size\": 1e66666666666666666666666666}");
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/config.json", "invalid JSON", "number overflow");
    test::write_bytes(dir + "/config.json", R"({"architectures": ["GPT2LMHeadModel"], "hidden_size": 64})");
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/config.json", "GPT2LMHeadModel");
    test::write_bytes(dir + "/config.json", R"({"architectures": ["LlamaForCausalLM"], "hidden_size": "64"})");
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/config.json", "field 'hidden_size'");
    test::write_bytes(dir + "/config.json", R"({"architectures": ["LlamaForCausalLM"], "intermediate_size": 172})");
    EXPECT_RB_ERROR(Checkpoint::open(dir), dir + "/config.json", "field 'hidden_size'", "missing");
}

TEST(BadGguf, BadMagic) {
    std::string b = test::read_bytes(shared_path(k_real_gguf));
    b[0] = 'X';
    const std::string p = gguf_file(b);
    EXPECT_RB_ERROR(Checkpoint::open(p), p, "bad magic");
}

TEST(BadGguf, BadVersion) {
    for (uint32_t v : {1u, 4u, 0xFFFFFFFFu}) {
        SCOPED_TRACE(v);
        test::GgufWriter w;
        w.version = v;
        w.llama_keys();
        const std::string p = gguf_file(w.build());
        EXPECT_RB_ERROR(Checkpoint::open(p), p, "unsupported GGUF version " + std::to_string(v));
    }
}

TEST(BadGguf, TruncatedAtSeveralPoints) {
    const std::string full = test::read_bytes(shared_path(k_real_gguf));
    // Inside: magic, version, counts, first key, a metadata array (tokens), tensor infos, data.
    for (size_t cut : {size_t(2), size_t(6), size_t(20), size_t(40), size_t(300), size_t(3000), size_t(9000),
                       full.size() / 2, full.size() - 1}) {
        SCOPED_TRACE(cut);
        const std::string p = gguf_file(full.substr(0, cut));
        try {
            Checkpoint::open(p);
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find(p), std::string::npos) << m;
            EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("past the end") != std::string::npos ||
                        m.find("cannot fit") != std::string::npos)
                << m;
            // Every message names what was being read: a key, a tensor, or a header field.
            EXPECT_TRUE(m.find("metadata") != std::string::npos || m.find("tensor") != std::string::npos ||
                        m.find("magic") != std::string::npos || m.find("version") != std::string::npos ||
                        m.find("count") != std::string::npos)
                << m;
        }
    }
    const std::string p = gguf_file(full.substr(0, full.size() - 1));
    EXPECT_RB_ERROR(Checkpoint::open(p), "tensor '", "past the end");
}

TEST(BadGguf, UnsupportedArchitecture) {
    test::GgufWriter w;
    w.llama_keys("gpt2");
    const std::string p = gguf_file(w.build());
    EXPECT_RB_ERROR(Checkpoint::open(p), p, "general.architecture", "gpt2");
}

TEST(BadGguf, UnsupportedQuantisation) {
    test::GgufWriter w;
    w.llama_keys();
    w.tensor("blk.0.ffn_down.weight", 10, {256, 2}, std::string(84 * 2, '\0'));  // Q2_K
    const std::string p = gguf_file(w.build());
    EXPECT_RB_ERROR(Checkpoint::open(p), p, "blk.0.ffn_down.weight", "unsupported quantisation Q2_K",
                    "supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K");
}

TEST(BadGguf, MisalignedAndOverlappingData) {
    // Hand-patch tensor offsets in a two-tensor file.
    test::GgufWriter w;
    w.llama_keys();
    w.tensor("output_norm.weight", 0, {8}, test::f32_bytes(std::vector<float>(8, 1.0f)));
    w.tensor("blk.0.ffn_norm.weight", 0, {8}, test::f32_bytes(std::vector<float>(8, 2.0f)));
    std::string b = w.build();
    // The second tensor's offset field is the last u64 before the padding: find it as value 32.
    const std::string name = "blk.0.ffn_norm.weight";
    size_t pos = b.find(name) + name.size() + 4 + 8 + 4;  // name, n_dims, dims[0], type
    uint64_t off;
    std::memcpy(&off, b.data() + pos, 8);
    ASSERT_EQ(off, 32u);
    uint64_t bad = 4;
    std::memcpy(b.data() + pos, &bad, 8);
    std::string p = gguf_file(b);
    EXPECT_RB_ERROR(Checkpoint::open(p), p, name, "not a multiple of the alignment");
    bad = 0;
    std::memcpy(b.data() + pos, &bad, 8);
    p = gguf_file(b);
    EXPECT_RB_ERROR(Checkpoint::open(p), p, "overlaps");
}

TEST(BadGguf, MissingRequiredKeyAndBadTypes) {
    test::GgufWriter w;
    w.kv_str("general.architecture", "llama");
    w.kv_u32("llama.context_length", 128);
    const std::string p = gguf_file(w.build());
    EXPECT_RB_ERROR(Checkpoint::open(p), p, "llama.embedding_length", "missing");

    test::GgufWriter w2;
    w2.llama_keys();
    w2.kv_str("llama.rope.freq_base", "10000");  // duplicate key with a bad type
    const std::string p2 = gguf_file(w2.build());
    EXPECT_RB_ERROR(Checkpoint::open(p2), p2, "llama.rope.freq_base", "duplicate");

    test::GgufWriter w3;
    w3.llama_keys();
    w3.kv_u32("general.alignment", 24);
    const std::string p3 = gguf_file(w3.build());
    EXPECT_RB_ERROR(Checkpoint::open(p3), p3, "general.alignment", "power-of-two");
}
