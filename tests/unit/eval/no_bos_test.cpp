// Models whose tokenizer adds no BOS (Qwen2/Qwen3: tokenizer_config.json add_bos_token false,
// bos_token null; their GGUF stores bos = EOS with add_bos_token false). On the tiny Qwen
// families (tools/make_tiny_families.py), HF folder and GGUF: the tokenizer says so, the
// text's ids equal an independent byte-level BPE (tools/ref/make_golden_families.py), and the
// three perplexity protocols, the LongPPL window and the passkey prompt put nothing in front
// of the text; the perplexity sums equal the float64 reference computed without BOS.
#include <gtest/gtest.h>

#include "eval/longppl.h"
#include "eval/passkey.h"
#include "eval/perplexity.h"
#include "tokenizer/tokenizer.h"
#include "unit/model/families_golden.h"
#include "util/error.h"

using namespace rb;

namespace {

struct Fam {
    test::Loaded m;
    std::unique_ptr<Tokenizer> tok;
    nlohmann::json meta;
};

Fam open_family(const std::string& fam, bool gguf) {
    Fam f{test::open_model(test::checkpoint_path(fam, gguf), ""), nullptr, test::golden_meta(fam)};
    f.tok = Tokenizer::from_checkpoint(*f.m.ckpt);
    return f;
}

const char* k_qwen[] = {"qwen2", "qwen3"};

}  // namespace

TEST(NoBos, QwenTokenizerAddsNothing) {
    for (const char* fam : k_qwen)
        for (bool gguf : {false, true}) {
            Fam f = open_family(fam, gguf);
            SCOPED_TRACE(std::string(fam) + (gguf ? " gguf" : " safetensors"));
            EXPECT_FALSE(f.tok->add_bos());
            EXPECT_EQ(f.tok->leading_bos(), -1);
            EXPECT_EQ(f.tok->kind(), "bpe-byte-level");
            EXPECT_EQ(f.tok->encode(f.meta["text"].get<std::string>()), f.meta["text_ids"].get<std::vector<int>>());
        }
}

// Each token's log-prob moves by at most 2·max|Δ logit| (≤ 3e-4 each, Families test), so a
// sum of n predictions by at most 6e-4·n; putting a BOS in front moves these sums by far more
// (every window's first prediction changes context and the count changes).
TEST(NoBos, PerplexityProtocolsEqualReferenceWithoutBos) {
    for (const char* fam : k_qwen)
        for (bool gguf : {false, true}) {
            Fam f = open_family(fam, gguf);
            const std::vector<Document> docs{{"qwen-text", f.meta["text"].get<std::string>()}};
            for (const auto& w : f.meta["nll_no_bos"]) {
                PplOptions o;
                o.ctx = w["ctx"];
                o.protocol = w["protocol"];
                o.stride = w.value("stride", 0);
                PplResult r = evaluate_perplexity(*f.m.model, *f.tok, f.m.rope, docs, o);
                const double want = w["nll_sum"];
                const int64_t n = w["count"];
                std::printf("%s %-11s %-8s L=%-3d nll_sum %.6f reference %.6f (%lld scored) |d| %.2g\n", fam,
                            gguf ? "gguf" : "safetensors", o.protocol.c_str(), o.ctx, r.nll_sum, want,
                            static_cast<long long>(n), std::fabs(r.nll_sum - want));
                EXPECT_EQ(r.tokens_scored, n) << fam << " " << o.protocol << " L=" << o.ctx;
                EXPECT_NEAR(r.nll_sum, want, 6e-4 * double(n)) << fam << " " << o.protocol << " L=" << o.ctx;
            }
        }
}

// --split cuts L-token segments (no BOS to make room for), and a document of L − 1 tokens
// does not fill a window.
TEST(NoBos, SplitLengthAndShortDocument) {
    PplOptions o;
    o.ctx = 16;
    EXPECT_EQ(split_length(o, -1), 16);
    EXPECT_EQ(split_length(o, 1), 15);
    Fam f = open_family("qwen2", false);
    const auto ids = f.meta["text_ids"].get<std::vector<int>>();
    ModelLm lm(*f.m.model, f.m.rope);
    std::vector<TokenDoc> docs{{"short", std::vector<int>(ids.begin(), ids.begin() + 15)}};
    EXPECT_THROW(evaluate_perplexity_tokens(lm, -1, docs, o), Error);
    docs[0].ids.push_back(ids[15]);
    PplResult r = evaluate_perplexity_tokens(lm, -1, docs, o);
    EXPECT_EQ(r.tokens_scored, 15);
    EXPECT_EQ(r.tokens_processed, 16);
}

// LongPPL's evaluated window is perplexity truncate's: the first L tokens, L − 1 scored, the
// same sum; the evaluator's pass has no BOS either (its key spans index the text's tokens).
TEST(NoBos, LongpplWindowIsTruncateWindow) {
    Fam f = open_family("qwen2", false);
    Fam e = open_family("qwen3", true);
    const std::vector<Document> docs{{"qwen-text", f.meta["text"].get<std::string>()}};
    const auto& t64 = f.meta["nll_no_bos"][1];
    ASSERT_EQ(t64["ctx"], 64);
    LongPplOptions o;
    o.ctx = 64;
    o.short_window = 16;
    o.stride = 8;
    o.alpha = -1e9;  // every evaluator position past K is key: all scored tokens but the first K
    o.beta = -1e9;
    ModelLm mlm(*f.m.model, f.m.rope), elm(*e.m.model, e.m.rope);
    LongPplResult r = evaluate_longppl(mlm, *f.tok, elm, *e.tok, docs, o, false, 0);
    ASSERT_EQ(r.docs.size(), 1u);
    EXPECT_EQ(r.docs[0].tokens, 63);
    EXPECT_EQ(r.tokens_processed, 64);
    EXPECT_NEAR(r.docs[0].nll_sum, t64["nll_sum"].get<double>(), 6e-4 * 63);
    // The evaluator saw the 64 tokens (no BOS): keys are its positions K … 63, i.e. every unit
    // token from the 17th on.
    EXPECT_EQ(r.docs[0].evaluator_tokens, 64);
    EXPECT_EQ(r.docs[0].evaluator_key_tokens, 64 - 16);
    EXPECT_EQ(r.n_key, 64 - 16);
}

TEST(NoBos, PasskeyPromptIsTheTextAlone) {
    for (bool gguf : {false, true}) {
        Fam f = open_family("qwen3", gguf);
        PasskeyPrompt p = make_passkey_prompt(*f.tok, 400, 0.5, 0, 1234, 10, passkey_filler_sentences());
        EXPECT_EQ(p.tokens, f.tok->encode(p.text));
        ASSERT_GT(p.needle_token, 0);
        // Index into the tokens as they are (no BOS shift): the needle starts at needle_token.
        const std::vector<int> rest(p.tokens.begin() + p.needle_token, p.tokens.end());
        EXPECT_EQ(f.tok->decode(rest).rfind("The pass key is " + p.key, 0), 0u);
        EXPECT_LE(int(p.tokens.size()) + 10, 400);
    }
}
