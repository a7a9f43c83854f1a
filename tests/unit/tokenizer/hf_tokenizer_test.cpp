// Hugging Face tokenizer.json (Llama 3.1, Qwen3, Mistral) and GGUF "gpt2" vocabularies:
// golden ids from Hugging Face's own JavaScript tokenizers (tests/golden/tokenizers.json,
// tools/ref/make_golden_tokenizers.mjs) on both paths, spans, BOS rules, identities and
// the one-line errors for unsupported or malformed files.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "tokenizer/gguf_bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"
#include "unit/formats/formats_writers.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace rb {
namespace {

const nlohmann::json& golden() {
    static const nlohmann::json j =
        nlohmann::json::parse(read_file(test::source_path("tests/golden/tokenizers.json")));
    return j;
}

/// Folder holding tokenizer.json + tokenizer_config.json (nothing else). Llama 3.1's files
/// are not committed (licence); scripts/fetch_tokenizers.sh (run by scripts/setup.sh) puts
/// them under .cache/tokenizers with a SHA-256 check.
std::string tokenizer_dir(const std::string& name) {
    std::string dir = name == "llama3_1" ? test::source_path(".cache/tokenizers/llama3_1")
                                         : test::source_path("tests/data/tokenizers/" + name);
    if (!file_exists(dir + "/tokenizer.json")) {
        ADD_FAILURE() << dir << "/tokenizer.json missing (run scripts/fetch_tokenizers.sh)";
        throw std::runtime_error("missing tokenizer file");
    }
    return dir;
}

/// Tokenizer::from_folder(tokenizer_dir(name)), loaded once per test program (loading a
/// 150K-piece tokenizer.json takes a second).
const Tokenizer& hf_tokenizer(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto& t = cache[name];
    if (!t) t = Tokenizer::from_folder(tokenizer_dir(name));
    return *t;
}

/// The files must be the ones the golden ids were made from.
void check_files(const std::string& name) {
    const auto& g = golden().at("tokenizers").at(name);
    const std::string dir = tokenizer_dir(name);
    ASSERT_EQ(sha256_file(dir + "/tokenizer.json"), g.at("tokenizer_json_sha256").get<std::string>());
    ASSERT_EQ(sha256_file(dir + "/tokenizer_config.json"), g.at("tokenizer_config_sha256").get<std::string>());
}

/// What convert_hf_to_gguf.py stores for a byte-level BPE tokenizer.json: every piece by
/// id, merges as "a b", added tokens typed control (special) or user-defined, the
/// pre-tokenizer name, BOS/EOS and add_bos.
GgufVocab vocab_from_tokenizer_json(const std::string& dir, const std::string& pre, const Tokenizer& hf) {
    const auto j = nlohmann::json::parse(read_file(dir + "/tokenizer.json"));
    GgufVocab v;
    v.model = "gpt2";
    v.pre = pre;
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) {
        size_t id = it.value().get<size_t>();
        if (id >= tokens.size()) tokens.resize(id + 1), types.resize(id + 1, 1);
        tokens[id] = it.key();
    }
    for (const auto& a : j["added_tokens"]) {
        size_t id = a["id"].get<size_t>();
        if (id >= tokens.size()) tokens.resize(id + 1), types.resize(id + 1, 1);
        tokens[id] = a["content"].get<std::string>();
        types[id] = a["special"].get<bool>() ? 3 : 4;
    }
    for (const auto& m : j["model"]["merges"])
        v.merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
    v.tokens = tokens;
    v.token_types = types;
    v.eos_id = hf.eos_id();
    v.bos_id = hf.bos_id() >= 0 ? hf.bos_id() : hf.eos_id();  // Qwen: no BOS, converters store EOS
    v.add_bos = hf.add_bos();
    return v;
}

/// The vocabulary written into a real GGUF file (no tensors) and read back through the
/// GGUF parser, as `ropebench tokenize FILE.gguf` does.
std::string write_gguf(const GgufVocab& v, const std::string& path) {
    test::GgufWriter w;
    w.kv_str("general.architecture", "llama");
    w.kv_str("tokenizer.ggml.model", v.model);
    w.kv_str("tokenizer.ggml.pre", v.pre);
    w.kv_str_array("tokenizer.ggml.tokens", v.tokens);
    w.kv_i32_array("tokenizer.ggml.token_type", v.token_types);
    w.kv_str_array("tokenizer.ggml.merges", v.merges);
    w.kv_u32("tokenizer.ggml.bos_token_id", uint32_t(v.bos_id));
    w.kv_u32("tokenizer.ggml.eos_token_id", uint32_t(v.eos_id));
    w.kv_bool("tokenizer.ggml.add_bos_token", v.add_bos);
    test::write_bytes(path, w.build());
    return path;
}

std::vector<int> with_special(const Tokenizer& t, std::vector<int> ids) {
    if (t.add_bos()) ids.insert(ids.begin(), t.bos_id());
    return ids;
}

void check_golden(const Tokenizer& t, const std::string& name) {
    const auto& g = golden().at("tokenizers").at(name);
    for (const auto& [c, text] : golden().at("cases").items()) {
        SCOPED_TRACE(name + " / " + c);
        const std::string s = text.get<std::string>();
        auto ids = t.encode(s);
        EXPECT_TRUE(same_ids(ids, g.at("ids").at(c).get<std::vector<int>>()));
        EXPECT_TRUE(same_ids(with_special(t, ids), g.at("ids_with_special").at(c).get<std::vector<int>>()));
        check_spans(t, s);
    }
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, TokenizerJsonMatchesHuggingFace) {
    const std::string name = GetParam();
    check_files(name);
    check_golden(hf_tokenizer(name), name);
}

INSTANTIATE_TEST_SUITE_P(Files, Golden, ::testing::Values("llama3_1", "qwen3", "mistral"));

class GoldenGguf : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(GoldenGguf, GgufGpt2VocabularyMatchesHuggingFace) {
    const auto& [name, pre] = GetParam();
    check_files(name);
    const std::string dir = tokenizer_dir(name);
    const Tokenizer* hf = &hf_tokenizer(name);
    const std::string path = write_gguf(vocab_from_tokenizer_json(dir, pre, *hf), test::temp_dir() + "/vocab.gguf");
    auto t = Tokenizer::from_path(path);
    EXPECT_EQ(t->kind(), "bpe-byte-level");
    EXPECT_EQ(t->vocab_size(), hf->vocab_size());
    check_golden(*t, name);
    // Same pieces, merges, pre-tokenizer and BOS rule: the same identity on both paths.
    EXPECT_EQ(t->identity(), hf->identity());
}

INSTANTIATE_TEST_SUITE_P(Files, GoldenGguf,
                         ::testing::Values(std::pair<std::string, std::string>{"llama3_1", "llama-bpe"},
                                           std::pair<std::string, std::string>{"qwen3", "qwen2"}));

TEST(HfTokenizer, BosRulesAndKinds) {
    const Tokenizer* llama = &hf_tokenizer("llama3_1");
    EXPECT_EQ(llama->kind(), "bpe-byte-level");
    EXPECT_TRUE(llama->add_bos());  // from the post-processor template (no add_bos_token in the config)
    EXPECT_EQ(llama->bos_id(), 128000);
    EXPECT_EQ(llama->eos_id(), 128009);  // tokenizer_config.json eos_token <|eot_id|>
    EXPECT_EQ(llama->vocab_size(), 128256);

    const Tokenizer* qwen = &hf_tokenizer("qwen3");
    EXPECT_EQ(qwen->kind(), "bpe-byte-level");
    EXPECT_FALSE(qwen->add_bos());
    EXPECT_EQ(qwen->bos_id(), -1);
    EXPECT_EQ(qwen->eos_id(), 151645);  // <|im_end|>

    const Tokenizer* mistral = &hf_tokenizer("mistral");
    EXPECT_EQ(mistral->kind(), "bpe-sentencepiece");
    EXPECT_TRUE(mistral->add_bos());
    EXPECT_EQ(mistral->bos_id(), 1);
    EXPECT_EQ(mistral->eos_id(), 2);

    auto spm = Tokenizer::from_folder(test::shared_path("data/tokenizers/llama2"));
    EXPECT_EQ(spm->kind(), "sentencepiece");
    // Identities of the four kinds never collide, and say which kind they are.
    EXPECT_EQ(llama->identity().rfind("bpe-byte-level:", 0), 0u);
    EXPECT_EQ(mistral->identity().rfind("bpe-sentencepiece:", 0), 0u);
    EXPECT_NE(llama->identity(), qwen->identity());
    EXPECT_EQ(spm->identity().size(), 64u);
}

TEST(HfTokenizer, DecodeRoundTripsAndTokenBytes) {
    for (const char* name : {"llama3_1", "qwen3", "mistral"}) {
        SCOPED_TRACE(name);
        const Tokenizer* t = &hf_tokenizer(name);
        for (const auto& [c, text] : golden().at("cases").items()) {
            const std::string s = text.get<std::string>();
            if (c == "decomposed" || c == "special_tokens") continue;  // NFC changes the text; <unk> is lossy
            std::string back = t->decode(t->encode(s));
            std::string joined;
            for (int id : t->encode(s)) joined += t->token_bytes(id);
            if (std::string(name) == "mistral") {
                // The "▁" prefix comes back as a leading space in the raw bytes, not in decode().
                EXPECT_EQ(back, s) << c;
                EXPECT_EQ(joined, s.empty() ? s : std::string(1, ' ').append(s)) << c;
            } else if (std::string(name) == "qwen3" || c != "scripts") {
                EXPECT_EQ(back, s) << c;
                EXPECT_EQ(joined, s) << c;
            }
        }
    }
    const Tokenizer* llama = &hf_tokenizer("llama3_1");
    EXPECT_EQ(llama->piece(1917), "\xC4\xA0world");  // "Ġworld"
    EXPECT_EQ(llama->token_bytes(1917), " world");
    EXPECT_EQ(llama->token_bytes(128000), "<|begin_of_text|>");
}

TEST(HfTokenizer, SpansOfByteLevelTokens) {
    const Tokenizer* t = &hf_tokenizer("llama3_1");
    // "Hello world" -> "Hello" [0,5), "Ġworld" [5,11): the space belongs to the word after it.
    auto s = t->encode_with_spans("Hello world");
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].begin, 0u);
    EXPECT_EQ(s[0].end, 5u);
    EXPECT_EQ(s[1].begin, 5u);
    EXPECT_EQ(s[1].end, 11u);
    // A character split over several byte-level tokens: the last one covers it, the earlier
    // ones are empty at its start (as SentencePiece byte pieces).
    const std::string text = "a\xF0\x93\x80\x80";  // "a𓀀"
    auto sp = t->encode_with_spans(text);
    check_spans(*t, text);
    ASSERT_GE(sp.size(), 3u);
    EXPECT_EQ(sp.back().end, text.size());
    for (size_t i = 1; i + 1 < sp.size(); ++i) EXPECT_EQ(sp[i].begin, sp[i].end) << i;
    // NFC (Qwen): "e" + combining acute (3 bytes) is one "é"; its token covers both code points.
    const Tokenizer* q = &hf_tokenizer("qwen3");
    const std::string dec = "cafe\xCC\x81";
    check_spans(*q, dec);
    EXPECT_EQ(q->encode_with_spans(dec).back().end, dec.size());
    EXPECT_EQ(q->encode(dec), q->encode("caf\xC3\xA9"));
}

TEST(HfTokenizer, InvalidUtf8IsAnError) {
    const Tokenizer* t = &hf_tokenizer("qwen3");
    try {
        t->encode("ok \xFF");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte 3"), std::string::npos) << e.what();
    }
}

TEST(HfTokenizer, LongInputsAreFast) {
    // One 400 KB segment with no pre-tokenizer (Mistral) and a 256 KB whitespace run: the
    // priority-queue merge and the JIT stack must cope (about 1 s in all).
    std::string book = read_file(test::shared_path("data/text/pg84_frankenstein.txt"));
    const Tokenizer* m = &hf_tokenizer("mistral");
    auto ids = m->encode(book);
    EXPECT_GT(ids.size(), book.size() / 8);
    const Tokenizer* l = &hf_tokenizer("llama3_1");
    std::string spaces(256 * 1024, ' ');
    EXPECT_FALSE(l->encode(spaces + "x").empty());
    EXPECT_EQ(l->decode(l->encode(book)), book);
}

// --- bad files ------------------------------------------------------------------------

std::string write_tokenizer_json(const std::string& json_text) {
    const std::string dir = test::temp_dir();
    std::ofstream(dir + "/tokenizer.json") << json_text;
    return dir;
}

void expect_error(const std::string& json_text, const std::vector<std::string>& wants) {
    const std::string dir = write_tokenizer_json(json_text);
    try {
        Tokenizer::from_folder(dir);
        ADD_FAILURE() << "no error for " << json_text;
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        EXPECT_NE(msg.find(dir + "/tokenizer.json"), std::string::npos) << msg;
        for (const auto& w : wants) EXPECT_NE(msg.find(w), std::string::npos) << "want '" << w << "' in: " << msg;
    }
}

TEST(HfTokenizer, BadFilesGiveOneErrorNamingFileAndType) {
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {", {"invalid JSON"});
    expect_error("[1, 2]", {"top level"});
    expect_error(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})", {"model.type", "Unigram"});
    expect_error(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", {"model.type", "WordPiece"});
    const std::string ok_model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
    expect_error("{" + ok_model + R"(, "pre_tokenizer": {"type": "BertPreTokenizer"}})",
                 {"pre_tokenizer.type", "BertPreTokenizer"});
    expect_error("{" + ok_model + R"(, "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}]}})",
                 {"normalizer.normalizers[0].type", "NFKC"});
    expect_error("{" + ok_model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}})",
                 {"regex"});
    expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})", {"merges[0]", "'b'"});
    expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})", {"model.merges[0]"});
    expect_error(R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})", {"model.vocab"});
    // A folder with no tokenizer at all.
    const std::string empty = test::temp_dir();
    try {
        Tokenizer::from_folder(empty);
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    }
}

TEST(HfTokenizer, MinimalFileWorks) {
    // Vocabulary {a, b, ab} with one merge, no normaliser or pre-tokenizer: "abab" -> ab ab.
    const std::string dir = write_tokenizer_json(
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})");
    auto t = Tokenizer::from_folder(dir);
    EXPECT_EQ(t->encode("abab"), (std::vector<int>{2, 2}));
    EXPECT_EQ(t->encode("aba"), (std::vector<int>{2, 0}));
    EXPECT_FALSE(t->add_bos());
    EXPECT_EQ(t->bos_id(), -1);
}

TEST(GgufBpe, BadVocabularies) {
    GgufVocab v;
    v.model = "gpt2";
    v.pre = "llama-bpe";
    for (int b = 0; b < 256; ++b) v.tokens.push_back(fmt::format("x{}", b));
    v.merges = {"x1 x2"};
    auto msg = [&](const GgufVocab& x) -> std::string {
        try {
            Tokenizer::from_gguf_vocab(x, "m.gguf");
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    GgufVocab bad_pre = v;
    bad_pre.pre = "tekken";
    EXPECT_NE(msg(bad_pre).find("tokenizer.ggml.pre: unsupported pre-tokenizer 'tekken'"), std::string::npos);
    GgufVocab no_merges = v;
    no_merges.merges.clear();
    EXPECT_NE(msg(no_merges).find("tokenizer.ggml.merges"), std::string::npos);
    // Pieces that are not the byte-level alphabet: named as a vocabulary error.
    EXPECT_NE(msg(v).find("m.gguf"), std::string::npos);
    EXPECT_NE(msg(v).find("byte-level"), std::string::npos);
}

}  // namespace
}  // namespace rb
