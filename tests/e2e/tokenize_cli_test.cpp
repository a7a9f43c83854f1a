// `ropebench tokenize` end to end: tokenizer-only folders (tokenizer.json, tokenizer.model),
// a checkpoint folder, a GGUF file; ids equal to the golden ids of Hugging Face's own
// tokenizers; one-line errors for bad files and exit 2 for a malformed command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_util.h"

using rb::test::run_cli;
using rb::test::shared_path;
using rb::test::source_path;

namespace {

const nlohmann::json& golden() {
    static const nlohmann::json j = [] {
        std::ifstream in(source_path("tests/golden/tokenizers.json"));
        return nlohmann::json::parse(in);
    }();
    return j;
}

int count_lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

/// A folder holding only the tokenizer files of `src` (no weights, no config.json).
std::string tokenizer_only_copy(const std::string& src, const std::vector<std::string>& files) {
    const std::string dir = rb::test::temp_dir();
    for (const auto& f : files) std::filesystem::copy_file(src + "/" + f, dir + "/" + f);
    return dir;
}

TEST(TokenizeCli, TokenizerJsonFolderJsonMatchesGolden) {
    const std::string dir = tokenizer_only_copy(source_path("tests/data/tokenizers/qwen3"),
                                                {"tokenizer.json", "tokenizer_config.json"});
    for (const char* c : {"hello", "digits", "cjk", "special_tokens"}) {
        SCOPED_TRACE(c);
        const std::string text = golden()["cases"][c].get<std::string>();
        auto r = run_cli({"tokenize", dir, "--text", text, "--json"});
        ASSERT_EQ(r.status, 0) << r.err;
        auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["ids"], golden()["tokenizers"]["qwen3"]["ids_with_special"][c]);
        EXPECT_EQ(j["bos_added"], false);
        EXPECT_EQ(j["tokenizer"]["kind"], "bpe-byte-level");
    }
}

TEST(TokenizeCli, TextOutputLikeLlamaTokenize) {
    // Mistral's tokenizer.json adds BOS (tokenizer_config.json add_bos_token).
    auto r = run_cli({"tokenize", source_path("tests/data/tokenizers/mistral"), "--text", "Hello world\n"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "     1 -> '<s>'\n 22557 -> ' Hello'\n  1526 -> ' world'\n    13 -> '\\n'\n");
    auto nb = run_cli({"tokenize", source_path("tests/data/tokenizers/mistral"), "--text", "Hello", "--no-bos"});
    ASSERT_EQ(nb.status, 0) << nb.err;
    EXPECT_EQ(nb.out, " 22557 -> ' Hello'\n");
}

TEST(TokenizeCli, FileInput) {
    const std::string text = golden()["cases"]["frankenstein"].get<std::string>();
    const std::string f = rb::test::temp_dir() + "/in.txt";
    std::ofstream(f) << text;
    auto r = run_cli({"tokenize", source_path("tests/data/tokenizers/mistral"), "--file", f, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], golden()["tokenizers"]["mistral"]["ids_with_special"]["frankenstein"]);
}

TEST(TokenizeCli, SentencePieceOnlyFolderCheckpointAndGguf) {
    // A folder with only tokenizer.model (as ../shared/data/tokenizers/llama2 is).
    auto a = run_cli({"tokenize", shared_path("data/tokenizers/llama2"), "--text", "Hello world", "--json"});
    ASSERT_EQ(a.status, 0) << a.err;
    EXPECT_EQ(nlohmann::json::parse(a.out)["ids"], (std::vector<int>{1, 15043, 3186}));
    // A checkpoint folder and its GGUF file tokenize alike.
    auto f = run_cli({"tokenize", shared_path("data/models/stories260K"), "--text", "Once upon a time", "--json"});
    auto g = run_cli({"tokenize", shared_path("data/models/stories260K/stories260K-f32.gguf"), "--text",
                      "Once upon a time", "--json"});
    ASSERT_EQ(f.status, 0) << f.err;
    ASSERT_EQ(g.status, 0) << g.err;
    EXPECT_EQ(nlohmann::json::parse(f.out)["ids"], nlohmann::json::parse(g.out)["ids"]);
    EXPECT_EQ(nlohmann::json::parse(f.out)["ids"][0], 1);
    // A tokenizer.json named directly (its tokenizer_config.json beside it still applies: BOS).
    auto j = run_cli({"tokenize", source_path("tests/data/tokenizers/mistral/tokenizer.json"), "--text", "Hello", "--json"});
    ASSERT_EQ(j.status, 0) << j.err;
    EXPECT_EQ(nlohmann::json::parse(j.out)["ids"], (std::vector<int>{1, 22557}));
}

TEST(TokenizeCli, BadTokenizerJsonGivesOneErrorLine) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": ", "invalid JSON"},
        {R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})", "Unigram"},
        {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", "WordPiece"},
        {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})",
         "Whitespace"},
    };
    for (const auto& [json_text, want] : cases) {
        SCOPED_TRACE(want);
        const std::string dir = rb::test::temp_dir();
        std::ofstream(dir + "/tokenizer.json") << json_text;
        auto r = run_cli({"tokenize", dir, "--text", "x"});
        EXPECT_EQ(r.status, 1);
        EXPECT_EQ(r.err.rfind("error:", 0), 0u) << r.err;
        EXPECT_EQ(count_lines(r.err), 1) << r.err;
        EXPECT_NE(r.err.find(dir + "/tokenizer.json"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

TEST(TokenizeCli, MalformedCommandLines) {
    const std::string dir = source_path("tests/data/tokenizers/qwen3");
    auto none = run_cli({"tokenize", dir});
    EXPECT_EQ(none.status, 2) << none.err;
    EXPECT_EQ(count_lines(none.err), 1) << none.err;
    auto both = run_cli({"tokenize", dir, "--text", "a", "--file", "b"});
    EXPECT_EQ(both.status, 2) << both.err;
    auto missing = run_cli({"tokenize", dir, "--file", "/nonexistent/in.txt"});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("/nonexistent/in.txt"), std::string::npos) << missing.err;
}

}  // namespace
