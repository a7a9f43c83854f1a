// Shared work gives the results of unshared work (issue 18): the passkey prefix kept in the
// KV cache (Session::truncate, forward_with_rope_len), the ScoreCache that answers a
// `truncate` window at a smaller L from the pass at a larger L, and LongPPL's evaluated pass
// taken from the ppl window. Each against the same computation without sharing, on
// stories260K (trained at 512) past its trained length, for static and length-dependent
// (dynamic, longrope) methods. Tolerance 1e-6 relative: a prefix computed in a separate
// call runs the same kernels on the same rows, so equality is expected to be bitwise; the
// measured maximum is printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "common/test_util.h"
#include "eval/eval.h"
#include "eval/lm.h"
#include "eval/passkey.h"
#include "eval/perplexity.h"
#include "model/loader.h"

using namespace rb;
using nlohmann::json;

namespace {

LoadedModel load(const char* name) {
    LoadOptions o;
    o.path = test::shared_path(std::string("data/models/") + name);
    return load_model(o);
}

// rope_scaling dicts: plain, static (yarn), and the two whose tables depend on the length.
std::vector<std::string> configs(const ModelConfig& c) {
    const int half = c.head_dim / 2;
    json ones = json::array(), ramp = json::array();
    for (int i = 0; i < half; i++) {
        ones.push_back(1.0);
        ramp.push_back(1.0 + 3.0 * i / std::max(1, half - 1));
    }
    json longrope = {{"rope_type", "longrope"}, {"factor", 2.0}, {"short_factor", ones}, {"long_factor", ramp},
                     {"original_max_position_embeddings", c.max_position_embeddings}};
    return {"none", R"({"rope_type":"yarn","factor":4})", R"({"rope_type":"dynamic","factor":2})", longrope.dump()};
}

RopeChoice choice(const std::string& s) {
    RopeChoice c;
    c.scaling = s == "none" ? json(nullptr) : json::parse(s);
    return c;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(1e-300, std::fabs(b)); }

struct SharingOff {
    SharingOff() { set_sharing_enabled(false); }
    ~SharingOff() { set_sharing_enabled(true); }
};

}  // namespace

TEST(Sharing, PrefixThenRestEqualsOneCall) {
    LoadedModel lm = load("stories260K");
    const ModelConfig& c = lm.ckpt->config();
    const int P = 700, k = 333;  // past the trained 512; the prefix ends mid-block
    std::mt19937 rng(7);
    std::vector<int> tok(P), tg(P, -1);
    for (auto& t : tok) t = static_cast<int>(rng() % c.vocab_size);
    for (int i = 0; i + 1 < P; i++) tg[i] = tok[i + 1];
    double worst = 0;
    for (const auto& cfg : configs(c)) {
        const RopeConfig rope = resolve_rope(c, choice(cfg));
        std::vector<double> lp_full(P), lp_rest(P - k), lp_again(P - k);
        std::vector<int> am_full(P), am_rest(P - k), am_again(P - k);
        auto one = lm.model->new_session(P, rope);
        lm.model->forward(*one, tok.data(), P, tg.data(), lp_full.data(), am_full.data(), nullptr);
        auto s = lm.model->new_session(P + 10, rope);
        lm.model->forward_with_rope_len(*s, P, tok.data(), k, nullptr, nullptr, nullptr, nullptr);
        const RopeState at_prefix = s->rope_state();
        lm.model->forward(*s, tok.data() + k, P - k, tg.data() + k, lp_rest.data(), am_rest.data(), nullptr);
        // Truncation by length, then the same rest again (another trial): the same numbers.
        s->truncate(k, at_prefix);
        lm.model->forward(*s, tok.data() + k, P - k, tg.data() + k, lp_again.data(), am_again.data(), nullptr);
        for (int i = 0; i + 1 < P - k; i++) {
            const double d = rel(lp_rest[i], lp_full[k + i]);
            worst = std::max(worst, d);
            ASSERT_LE(d, 1e-6) << cfg << " position " << k + i;
            ASSERT_EQ(am_rest[i], am_full[k + i]) << cfg << " position " << k + i;
            ASSERT_EQ(lp_again[i], lp_rest[i]) << cfg << " position " << k + i;
        }
        // The tables of the prefix matter: with the prefix's own (shorter) length they differ
        // for dynamic and longrope (k = 333 < 512 < 700), which is why the prefix takes the
        // full length's.
        if (rope.type == RopeType::dynamic || rope.type == RopeType::longrope)
            EXPECT_FALSE(tables_for_length(rope, k) == tables_for_length(rope, P)) << cfg;
    }
    std::printf("prefix + rest vs one call: max relative difference of the log-probs %.3g\n", worst);
}

TEST(Sharing, PasskeySharedEqualsUnshared) {
    LoadedModel lm = load("stories260K");
    const std::vector<double> depths = {0.0, 0.5, 1.0};
    for (const auto& cfg : configs(lm.ckpt->config())) {
        const RopeConfig rope = resolve_rope(lm.ckpt->config(), choice(cfg));
        ModelLm shared(*lm.model, rope);
        PasskeyResult a = run_passkey(shared, *lm.tokenizer, 700, depths, 2, 1234, 10, passkey_filler_sentences());
        PasskeyResult b;
        int64_t unshared_tokens = 0;
        {
            SharingOff off;
            ModelLm plain(*lm.model, rope);
            b = run_passkey(plain, *lm.tokenizer, 700, depths, 2, 1234, 10, passkey_filler_sentences());
            unshared_tokens = plain.tokens_processed();
        }
        ASSERT_EQ(a.trials.size(), b.trials.size());
        for (size_t i = 0; i < a.trials.size(); i++) {
            EXPECT_EQ(a.trials[i].output, b.trials[i].output) << cfg << " trial " << i;
            EXPECT_EQ(a.trials[i].key, b.trials[i].key);
            EXPECT_EQ(a.trials[i].correct, b.trials[i].correct);
        }
        EXPECT_EQ(a.n_correct, b.n_correct);
        // The haystack is computed once per prefix: well under the unshared work.
        EXPECT_LT(shared.tokens_processed(), unshared_tokens * 3 / 4) << cfg;
        std::printf("passkey %s: %lld tokens shared, %lld unshared\n", cfg.substr(0, 40).c_str(),
                    static_cast<long long>(shared.tokens_processed()), static_cast<long long>(unshared_tokens));
    }
}

TEST(Sharing, TruncateWindowsOfSmallerContexts) {
    LoadedModel lm = load("stories260K");
    const auto docs = load_documents({test::shared_path("data/text/tinystories_valid_sample.txt"),
                                      test::shared_path("data/text/pg84_frankenstein.txt")},
                                     0);
    const auto tdocs = tokenize_documents(*lm.tokenizer, docs, 0, 0);
    double worst = 0;
    for (const auto& cfg : configs(lm.ckpt->config())) {
        const RopeConfig rope = resolve_rope(lm.ckpt->config(), choice(cfg));
        ScoreCache cache;
        PplOptions big, small;
        big.ctx = 1024;
        small.ctx = 384;
        big.bucket = small.bucket = 128;
        ModelLm first(*lm.model, rope, &cache);
        evaluate_perplexity_tokens(first, lm.tokenizer->bos_id(), tdocs, big);
        ModelLm second(*lm.model, rope, &cache);
        PplResult shared = evaluate_perplexity_tokens(second, lm.tokenizer->bos_id(), tdocs, small);
        ModelLm alone(*lm.model, rope);
        PplResult plain = evaluate_perplexity_tokens(alone, lm.tokenizer->bos_id(), tdocs, small);
        // Served from the 1024 pass exactly when the tables of 384 and 1024 tokens are equal:
        // static methods yes; dynamic and longrope (512 lies between) no.
        const bool same_tables = tables_for_length(rope, 384) == tables_for_length(rope, 1024);
        EXPECT_EQ(same_tables, rope.type != RopeType::dynamic && rope.type != RopeType::longrope) << cfg;
        EXPECT_EQ(shared.tokens_processed, same_tables ? 0 : plain.tokens_processed) << cfg;
        ASSERT_EQ(shared.docs.size(), plain.docs.size());
        for (size_t d = 0; d < plain.docs.size(); d++) {
            worst = std::max(worst, rel(shared.docs[d].nll_sum, plain.docs[d].nll_sum));
            EXPECT_LE(rel(shared.docs[d].nll_sum, plain.docs[d].nll_sum), 1e-6) << cfg << " " << plain.docs[d].source;
            EXPECT_EQ(shared.docs[d].tokens_scored, plain.docs[d].tokens_scored);
        }
        for (size_t b = 0; b < plain.bucket_nll.size(); b++) {
            EXPECT_LE(rel(shared.bucket_nll[b], plain.bucket_nll[b]), 1e-6) << cfg << " bucket " << b;
            EXPECT_EQ(shared.bucket_count[b], plain.bucket_count[b]);
        }
    }
    std::printf("truncate at 384 from the 1024 pass: max relative difference of the per-document NLL %.3g\n", worst);
}

TEST(Sharing, LongPplReusesThePerplexityWindow) {
    EvalSpec s;
    s.model.path = test::shared_path("data/models/llama2xs-tok512-ctx256");
    s.ctx = 512;
    s.metrics = {"ppl", "longppl"};
    s.texts = {test::shared_path("data/text/pg84_frankenstein.txt")};
    s.split = true;
    s.max_docs = 3;
    s.bootstrap_resamples = 50;
    s.longppl.evaluator.path = test::shared_path("data/models/babyllama-tok105-ctx256");
    s.longppl.short_window = 64;
    s.longppl.stride = 32;
    s.longppl.cache_dir = "-";
    ModelCache cache;
    json a = run_eval(s, cache);
    json b;
    {
        SharingOff off;
        ModelCache fresh;
        b = run_eval(s, fresh);
    }
    EXPECT_EQ(a["metrics"]["longppl"]["tokens_processed"], 0);
    EXPECT_EQ(b["metrics"]["longppl"]["tokens_processed"], 3 * 512);
    for (const char* m : {"ppl", "longppl"}) {
        json x = a["metrics"][m], y = b["metrics"][m];
        for (json* j : {&x, &y})
            for (const char* k : {"wall_s", "tokens_processed", "evaluator_tokens_processed", "cache"}) j->erase(k);
        EXPECT_EQ(x, y) << m;  // bitwise: the same numbers from the same pass
    }
}
