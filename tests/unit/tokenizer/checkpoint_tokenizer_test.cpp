// Tokenizer::from_checkpoint: the real GGUF files in shared/data (vocabulary read by the
// formats library) must tokenize exactly like their SentencePiece .model files, and the
// choice between tokenizer.model and an embedded vocabulary follows the checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "tokenizer/gguf_spm.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace rb {
namespace {

/// A checkpoint that only answers the tokenizer questions.
class FakeCheckpoint : public Checkpoint {
public:
    std::optional<std::string> model_path;
    std::optional<GgufVocab> vocab;
    std::string where = "fake-checkpoint";
    ModelConfig cfg;

    const ModelConfig& config() const override { return cfg; }
    std::string format() const override { return "gguf"; }
    std::string path() const override { return where; }
    std::vector<TensorInfo> tensors() const override { return {}; }
    bool has_tensor(const std::string&) const override { return false; }
    std::vector<float> load_f32(const std::string&, const std::vector<int64_t>&) const override { return {}; }
    std::optional<std::string> tokenizer_model_path() const override { return model_path; }
    std::optional<GgufVocab> gguf_vocab() const override { return vocab; }
    uint64_t weight_bytes() const override { return 0; }
};

TEST(FromCheckpoint, PrefersTokenizerModelThenVocabElseError) {
    std::string model = test::shared_path("data/models/stories260K/tokenizer.model");
    FakeCheckpoint ck;
    ck.model_path = model;
    EXPECT_EQ(Tokenizer::from_checkpoint(ck)->identity(), Tokenizer::from_sentencepiece_file(model)->identity());

    FakeCheckpoint none;
    none.where = "/some/dir/without-tokenizer";
    try {
        Tokenizer::from_checkpoint(none);
        ADD_FAILURE() << "no Error thrown";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(none.where), std::string::npos) << e.what();
    }

    FakeCheckpoint bad;
    bad.where = "broken.gguf";
    bad.vocab = GgufVocab{};
    bad.vocab->model = "gpt2";
    try {
        Tokenizer::from_checkpoint(bad);
        ADD_FAILURE() << "no Error thrown";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("broken.gguf"), std::string::npos) << e.what();
    }
}

struct GgufCase {
    const char* gguf;
    const char* tok;  // key in tokenization.json
};

TEST(FromCheckpoint, RealGgufFilesMatchReferenceIds) {
    const auto ref = nlohmann::json::parse(read_file(test::shared_path("data/reference/tokenization.json")));
    const size_t chars = ref.at("chars").get<size_t>();
    for (GgufCase c : {GgufCase{"data/models/stories260K/stories260K-f32.gguf", "tok512"},
                       GgufCase{"data/models/llama2xs-tok512-ctx256/llama2xs-tok512-ctx256-f32.gguf", "tok512"},
                       GgufCase{"data/models/babyllama-tok105-ctx256/babyllama-tok105-ctx256-f32.gguf", "tok105"}}) {
        SCOPED_TRACE(c.gguf);
        auto ckpt = Checkpoint::open(test::shared_path(c.gguf));
        auto vocab = ckpt->gguf_vocab();
        ASSERT_TRUE(vocab.has_value());
        EXPECT_EQ(vocab->model, "llama");
        // These files carry no whitespace flag; the vocabulary rule decides (collapse).
        EXPECT_FALSE(vocab->remove_extra_whitespaces.has_value());
        EXPECT_TRUE(gguf_spm_settings(*vocab).remove_extra_whitespaces);

        auto t = Tokenizer::from_checkpoint(*ckpt);
        auto spm = Tokenizer::from_sentencepiece_file(
            test::shared_path("data/" + ref.at(c.tok).at("model").get<std::string>()));
        EXPECT_EQ(t->vocab_size(), spm->vocab_size());
        EXPECT_EQ(t->bos_id(), 1);
        EXPECT_EQ(t->eos_id(), 2);
        for (int id = 0; id < t->vocab_size(); ++id) ASSERT_EQ(t->piece(id), spm->piece(id)) << "id " << id;
        for (const char* name :
             {"tinystories_valid_sample.txt", "pg1342_pride_and_prejudice.txt", "wikitext2_test.txt"}) {
            SCOPED_TRACE(name);
            std::string text = test::utf8_prefix(read_file(test::shared_path(std::string("data/text/") + name)), chars);
            EXPECT_EQ(t->encode(text), ref.at(c.tok).at(name).get<std::vector<int>>());
        }
    }
}

TEST(FromCheckpoint, FolderWithTokenizerJsonOnlyAndTheRuleWhenBothExist) {
    namespace fs = std::filesystem;
    const std::string dir = test::temp_dir();
    for (const char* f : {"config.json", "model.safetensors"})
        fs::copy_file(test::shared_path(std::string("data/models/stories260K/") + f), dir + "/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(test::source_path(std::string("tests/data/tokenizers/qwen3/") + f), dir + "/" + f);
    // No tokenizer.model: the tokenizer.json is used (a checkpoint as Qwen repos ship them).
    auto ck = Checkpoint::open(dir);
    auto t = Tokenizer::from_checkpoint(*ck);
    EXPECT_EQ(t->kind(), "bpe-byte-level");
    EXPECT_EQ(t->identity(), Tokenizer::from_folder(dir)->identity());
    // Both files: tokenizer.model wins (docs/tokenizers.md), from the checkpoint and the folder alike.
    fs::copy_file(test::shared_path("data/models/stories260K/tokenizer.model"), dir + "/tokenizer.model");
    auto ck2 = Checkpoint::open(dir);
    EXPECT_EQ(Tokenizer::from_checkpoint(*ck2)->kind(), "sentencepiece");
    EXPECT_EQ(Tokenizer::from_folder(dir)->kind(), "sentencepiece");
}

}  // namespace
}  // namespace rb
