// Passkey: prompt construction (lengths, depths, needle position) for several L and two
// tokenizers, scoring, an oracle that copies the key (accuracy 1), and a random-weights
// model (accuracy ≈ 0).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "common/test_util.h"
#include "eval/passkey.h"
#include "util/error.h"
#include "formats/checkpoint.h"
#include "model/loader.h"
#include "util/mapped_file.h"

using namespace rb;

namespace {

std::unique_ptr<Tokenizer> tok512() {
    return Tokenizer::from_sentencepiece_file(test::shared_path("data/models/stories260K/tokenizer.model"));
}
std::unique_ptr<Tokenizer> tok_llama2() {
    return Tokenizer::from_sentencepiece_file(test::shared_path("data/tokenizers/llama2/tokenizer.model"));
}

// Reads the key out of the prompt and answers " KEY." — what a perfect model would do.
struct OracleLm : LanguageModel {
    const Tokenizer& tok;
    explicit OracleLm(const Tokenizer& t) : tok(t) {}
    void score(const int*, int, const int*, double*) override { ADD_FAILURE() << "not used"; }
    std::vector<int> generate(const std::vector<int>& prompt, int max_new) override {
        std::string text = tok.decode(std::vector<int>(prompt.begin() + 1, prompt.end()));
        std::smatch m;
        EXPECT_TRUE(std::regex_search(text, m, std::regex("The pass key is ([0-9]+)\\.")));
        std::vector<int> out = tok.encode(" " + m[1].str() + ".");
        if (static_cast<int>(out.size()) > max_new) out.resize(max_new);
        return out;
    }
};

// Answers a fixed wrong number.
struct WrongLm : LanguageModel {
    const Tokenizer& tok;
    explicit WrongLm(const Tokenizer& t) : tok(t) {}
    void score(const int*, int, const int*, double*) override {}
    std::vector<int> generate(const std::vector<int>&, int) override { return tok.encode(" 1234."); }
};

// Most tokens one filler sentence (with its joining space) can add.
int max_sentence_tokens(const Tokenizer& tok) {
    int m = 0;
    for (const auto& s : passkey_filler_sentences()) m = std::max(m, static_cast<int>(tok.encode("x " + s).size()));
    return m + 1;
}

}  // namespace

TEST(Passkey, Scoring) {
    EXPECT_TRUE(passkey_correct(" 12345.", "12345"));
    EXPECT_TRUE(passkey_correct("12345 is the pass key. 99999", "12345"));
    EXPECT_TRUE(passkey_correct("is 012345", "12345"));   // integer comparison, as the reference
    EXPECT_FALSE(passkey_correct("1234 5", "12345"));     // first run of digits only
    EXPECT_FALSE(passkey_correct("99 12345", "12345"));
    EXPECT_FALSE(passkey_correct("the key", "12345"));
    EXPECT_FALSE(passkey_correct("123456", "12345"));
}

TEST(Passkey, KeysAreFiveDigitsAndSeeded) {
    std::set<std::string> keys;
    for (int t = 0; t < 50; t++) {
        std::string k = passkey_key(1234, 1024, 0.5, t);
        EXPECT_EQ(k.size(), 5u);
        EXPECT_GE(std::stoi(k), 10000);
        keys.insert(k);
    }
    EXPECT_GT(keys.size(), 45u);  // distinct keys per trial (collisions possible but rare)
    EXPECT_EQ(passkey_key(1234, 1024, 0.5, 3), passkey_key(1234, 1024, 0.5, 3));
    EXPECT_NE(passkey_key(1234, 1024, 0.5, 3), passkey_key(1234, 2048, 0.5, 3));
    EXPECT_NE(passkey_key(1234, 1024, 0.5, 3), passkey_key(1234, 1024, 0.6, 3));
    EXPECT_NE(passkey_key(1234, 1024, 0.5, 3), passkey_key(1235, 1024, 0.5, 3));
}

TEST(Passkey, PromptLengthsAndDepthsForSeveralL) {
    auto t512 = tok512();
    auto tl2 = tok_llama2();
    struct Case {
        const Tokenizer* tok;
        int L;
    };
    for (Case c : {Case{t512.get(), 200}, Case{t512.get(), 256}, Case{t512.get(), 1000}, Case{t512.get(), 4096},
                   Case{tl2.get(), 200}, Case{tl2.get(), 2048}}) {
        const int slack = max_sentence_tokens(*c.tok);
        int prev_needle = -1, prev_sentence = -1;
        std::vector<int> needles;
        for (int di = 0; di <= 10; di++) {
            const double depth = di / 10.0;
            PasskeyPrompt p = make_passkey_prompt(*c.tok, c.L, depth, 0, 1234, 10, passkey_filler_sentences());
            const int n = static_cast<int>(p.tokens.size());
            SCOPED_TRACE("L=" + std::to_string(c.L) + " depth=" + std::to_string(depth));
            // prompt + generated tokens fit, and one more sentence would not have.
            EXPECT_LE(n + 10, c.L);
            EXPECT_GT(n + 10 + slack, c.L);
            EXPECT_EQ(p.tokens[0], c.tok->bos_id());
            std::vector<int> body(p.tokens.begin() + 1, p.tokens.end());
            EXPECT_EQ(body, c.tok->encode(p.text));
            // Sentence-aligned depth: k = round(depth · n).
            EXPECT_EQ(p.needle_sentence, static_cast<int>(std::llround(depth * p.sentences)));
            EXPECT_GT(p.sentences, 0);
            // The needle starts at needle_token.
            std::string from = c.tok->decode(std::vector<int>(p.tokens.begin() + p.needle_token, p.tokens.end()));
            EXPECT_EQ(from.rfind("The pass key is " + p.key + ".", 0), 0u) << from.substr(0, 40);
            std::string before = c.tok->decode(std::vector<int>(p.tokens.begin() + 1, p.tokens.begin() + p.needle_token));
            EXPECT_EQ(before.find("pass key"), std::string::npos);
            // A deeper needle sits later (strictly when it moved by a sentence).
            if (p.needle_sentence > prev_sentence) EXPECT_GT(p.needle_token, prev_needle);
            else EXPECT_EQ(p.needle_token, prev_needle);
            prev_needle = p.needle_token;
            prev_sentence = p.needle_sentence;
            needles.push_back(p.needle_token);
        }
        // Within the filler the needle's token position is linear in depth: one sentence is
        // a few tokens of the ~L filler tokens, so 0.05 is loose for L ≥ 1000.
        if (c.L >= 1000)
            for (int di = 0; di <= 10; di++)
                EXPECT_NEAR(static_cast<double>(needles[di] - needles[0]) / (needles[10] - needles[0]), di / 10.0, 0.05)
                    << "L=" << c.L << " depth " << di / 10.0;
    }
}

TEST(Passkey, SamePromptsForSameInputs) {
    auto t = tok512();
    auto a = make_passkey_prompt(*t, 512, 0.3, 2, 99, 10, passkey_filler_sentences());
    auto b = make_passkey_prompt(*t, 512, 0.3, 2, 99, 10, passkey_filler_sentences());
    EXPECT_EQ(a.tokens, b.tokens);
    auto c = make_passkey_prompt(*t, 512, 0.3, 3, 99, 10, passkey_filler_sentences());
    EXPECT_NE(a.key, c.key);
}

TEST(Passkey, CanonicalPromptText) {
    auto t = tok512();
    auto p = make_passkey_prompt(*t, 200, 0.0, 0, 1, 10, passkey_filler_sentences());
    const std::string head =
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz "
        "you about the important information there.\n\nThe pass key is " +
        p.key + ". Remember it. " + p.key + " is the pass key.\nThe grass is green. The sky is blue.";
    EXPECT_EQ(p.text.rfind(head, 0), 0u) << p.text.substr(0, 300);
    const std::string tail = "\nWhat is the pass key? The pass key is";
    EXPECT_EQ(p.text.substr(p.text.size() - tail.size()), tail);
}

TEST(Passkey, TooShortContextIsAnError) {
    auto t = tok512();
    // tok512 needs 160 tokens for the prompt without filler.
    EXPECT_THROW(make_passkey_prompt(*t, 169, 0.5, 0, 1, 10, passkey_filler_sentences()), Error);
}

TEST(Passkey, HaystackSentences) {
    auto s = split_sentences("One two.  Three\nfour!  Five? six", "h");
    EXPECT_EQ(s, (std::vector<std::string>{"One two.", "Three four!", "Five?"}));
    EXPECT_THROW(split_sentences("no end", "h"), Error);
}

TEST(Passkey, OracleGetsEverythingRight) {
    auto t = tok512();
    OracleLm lm(*t);
    std::vector<double> depths = {0, 0.25, 0.5, 0.75, 1};
    PasskeyResult r = run_passkey(lm, *t, 512, depths, 4, 1234, 10, passkey_filler_sentences());
    EXPECT_EQ(r.n_trials, 20);
    EXPECT_EQ(r.n_correct, 20);
    EXPECT_DOUBLE_EQ(r.accuracy(), 1.0);
    ASSERT_EQ(r.per_depth.size(), 5u);
    for (const auto& d : r.per_depth) EXPECT_EQ(d.correct, 4);
    for (const auto& tr : r.trials) EXPECT_LE(tr.prompt_tokens + 10, 512);
    WrongLm w(*t);
    EXPECT_EQ(run_passkey(w, *t, 512, depths, 2, 1234, 10, passkey_filler_sentences()).n_correct, 0);
}

namespace {

// A llama2xs-shaped checkpoint (2 layers) with random weights, written to `dir`.
void write_random_checkpoint(const std::string& dir) {
    const std::string src = test::shared_path("data/models/llama2xs-tok512-ctx256");
    auto cfg = nlohmann::json::parse(read_file(src + "/config.json"));
    cfg["num_hidden_layers"] = 2;
    std::ofstream(dir + "/config.json") << cfg.dump(1);
    std::filesystem::copy_file(src + "/tokenizer.model", dir + "/tokenizer.model");
    const int H = 64, I = 192, V = 512, KV = 32;
    std::vector<std::pair<std::string, std::vector<int64_t>>> ts = {{"model.embed_tokens.weight", {V, H}},
                                                                    {"model.norm.weight", {H}}};
    for (int l = 0; l < 2; l++) {
        std::string p = "model.layers." + std::to_string(l) + ".";
        ts.push_back({p + "input_layernorm.weight", {H}});
        ts.push_back({p + "post_attention_layernorm.weight", {H}});
        ts.push_back({p + "self_attn.q_proj.weight", {H, H}});
        ts.push_back({p + "self_attn.k_proj.weight", {KV, H}});
        ts.push_back({p + "self_attn.v_proj.weight", {KV, H}});
        ts.push_back({p + "self_attn.o_proj.weight", {H, H}});
        ts.push_back({p + "mlp.gate_proj.weight", {I, H}});
        ts.push_back({p + "mlp.up_proj.weight", {I, H}});
        ts.push_back({p + "mlp.down_proj.weight", {H, I}});
    }
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.f, 0.3f);
    nlohmann::json hdr = nlohmann::json::object();
    std::string data;
    for (const auto& [name, shape] : ts) {
        int64_t n = 1;
        for (auto s : shape) n *= s;
        std::vector<float> v(static_cast<size_t>(n));
        const bool norm = name.find("norm") != std::string::npos;
        for (auto& x : v) x = norm ? 1.f : nd(rng);
        hdr[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + 4 * n}}};
        data.append(reinterpret_cast<const char*>(v.data()), 4 * n);
    }
    std::string h = hdr.dump();
    while (h.size() % 8) h += ' ';
    uint64_t hl = h.size();
    std::ofstream f(dir + "/model.safetensors", std::ios::binary);
    f.write(reinterpret_cast<const char*>(&hl), 8);
    f << h << data;
}

}  // namespace

TEST(Passkey, RandomWeightsModelFails) {
    const std::string dir = test::temp_dir();
    write_random_checkpoint(dir);
    LoadOptions o;
    o.path = dir;
    LoadedModel lm = load_model(o);
    ModelLm mlm(*lm.model, resolve_rope(lm.ckpt->config(), {}));
    PasskeyResult r = run_passkey(mlm, *lm.tokenizer, 256, {0, 0.5, 1}, 5, 1234, 10, passkey_filler_sentences());
    EXPECT_EQ(r.n_trials, 15);
    // A random model hits a given 5-digit key with probability ~1e-5 per trial.
    EXPECT_LE(r.n_correct, 1);
    int with_output = 0;
    for (const auto& t : r.trials) with_output += !t.output.empty();
    EXPECT_GT(with_output, 0);  // it did generate something
    EXPECT_GT(mlm.tokens_processed(), 200);  // one whole prompt at least: the shared haystack counts once (docs/sweep.md)
}
