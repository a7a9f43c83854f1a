// `ropebench info` end to end: numbers from shared/data/README.md, one-line errors on corrupt
// files, and --json that parses.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_util.h"

using rb::test::run_cli;
using rb::test::shared_path;

namespace {
std::string copy_truncated(const std::string& src, size_t keep, const std::string& name) {
    std::ifstream in(src, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string p = rb::test::temp_dir() + "/" + name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(std::min(keep, bytes.size())));
    return p;
}

int count_lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
}
}  // namespace

TEST(InfoCli, FolderText) {
    auto r = run_cli({"info", shared_path("data/models/stories260K")});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* want : {"LlamaForCausalLM", "260,032", "f32 x47", "trained context       512",
                             "heads / kv heads      8 / 4", "head dim              8", "vocab                 512",
                             "rope_scaling          none", "tied embeddings       yes", "tokenizer.model", "32768"})
        EXPECT_NE(r.out.find(want), std::string::npos) << "missing '" << want << "' in:\n" << r.out;
}

TEST(InfoCli, GgufJson) {
    auto r = run_cli({"info", shared_path("data/models/babyllama-tok105-ctx256/babyllama-tok105-ctx256-f32.gguf"),
                      "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);  // throws (fails the test) when not one JSON object
    EXPECT_EQ(j["format"], "gguf");
    EXPECT_EQ(j["parameters"], 936448);
    EXPECT_EQ(j["max_position_embeddings"], 256);
    EXPECT_EQ(j["head_dim"], 16);
    EXPECT_EQ(j["num_heads"], 8);
    EXPECT_EQ(j["num_kv_heads"], 4);
    EXPECT_EQ(j["vocab_size"], 105);
    EXPECT_EQ(j["tie_word_embeddings"], true);
    EXPECT_TRUE(j["rope_scaling"].is_null());
    EXPECT_EQ(j["dtypes"]["f32"], 47);
    EXPECT_EQ(j["tokenizer"]["source"], "gguf");
    ASSERT_EQ(j["memory"].size(), 5u);
    EXPECT_EQ(j["memory"][0]["ctx"], 2048);
    // weights: the matrices and the (tied, so packed a second time) LM head in the compute type,
    // 936,448 - 1,408 norm weights = 935,040 values; the f32 embedding table (105 x 128 = 13,440)
    // and norms (5 x 256 + 128 = 1,408) always 4 bytes. kv: 2*5 layers*2048*4 kv heads*16*4 bytes.
    EXPECT_EQ(j["memory"][0]["f32"]["weights"], 935040 * 4 + (13440 + 1408) * 4);
    EXPECT_EQ(j["memory"][0]["bf16"]["weights"], 935040 * 2 + (13440 + 1408) * 4);
    EXPECT_EQ(j["memory"][0]["f32"]["kv_cache"], 2 * 5 * 2048 * 4 * 16 * 4);
}

TEST(InfoCli, CorruptFilesGiveOneErrorLine) {
    const std::string gg = shared_path("data/models/stories260K/stories260K-f32.gguf");
    for (size_t keep : {size_t(3), size_t(100), size_t(500000)}) {
        SCOPED_TRACE(keep);
        const std::string p = copy_truncated(gg, keep, "cut.gguf");
        auto r = run_cli({"info", p});
        EXPECT_EQ(r.status, 1);
        EXPECT_EQ(r.err.rfind("error:", 0), 0u) << r.err;
        EXPECT_EQ(count_lines(r.err), 1) << r.err;
        EXPECT_NE(r.err.find(p), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    // A folder whose safetensors is cut short.
    const std::string dir = rb::test::temp_dir();
    {
        std::ifstream in(shared_path("data/models/stories260K/config.json"));
        std::ofstream(dir + "/config.json") << in.rdbuf();
    }
    {
        std::ifstream in(shared_path("data/models/stories260K/model.safetensors"), std::ios::binary);
        std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(dir + "/model.safetensors", std::ios::binary).write(b.data(), std::streamsize(b.size() / 2));
    }
    auto r = run_cli({"info", dir});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err.rfind("error:", 0), 0u) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(dir + "/model.safetensors"), std::string::npos) << r.err;
}
