// run_eval / eval_identity / ModelCache on the small real checkpoints.
#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "eval/eval.h"
#include "util/error.h"

using namespace rb;

namespace {

EvalSpec small_spec() {
    EvalSpec s;
    s.model.path = test::shared_path("data/models/llama2xs-tok512-ctx256");
    s.ctx = 256;
    s.metrics = {"ppl", "passkey", "longppl"};
    s.texts = {test::shared_path("data/text/tinystories_valid_sample.txt")};
    s.split = true;
    s.max_docs = 3;
    s.bootstrap_resamples = 200;
    s.passkey.depths = {0, 1};
    s.passkey.trials = 1;
    s.longppl.evaluator.path = test::shared_path("data/models/babyllama-tok105-ctx256");
    s.longppl.short_window = 16;
    s.longppl.stride = 8;
    s.longppl.cache_dir = "-";
    return s;
}

}  // namespace

TEST(EvalIdentity, StableAndSensitive) {
    EvalSpec s = small_spec();
    const auto a = eval_identity(s);
    EXPECT_EQ(a, eval_identity(s));
    EXPECT_EQ(eval_identity_hash(s).size(), 64u);
    EXPECT_FALSE(a["model"].contains("path"));  // identity is content, not location
    EvalSpec t = s;
    t.model.rope.scaling = nlohmann::json::parse(R"({"rope_type":"linear","factor":2})");
    EvalSpec u = s;
    u.model.rope.scaling = nlohmann::json::parse(R"({"type":"linear","factor":2.0})");
    EXPECT_NE(eval_identity_hash(t), eval_identity_hash(s));
    EXPECT_EQ(eval_identity_hash(t), eval_identity_hash(u));  // two spellings, one config
    EvalSpec v = s;
    v.ctx = 512;
    EXPECT_NE(eval_identity_hash(v), eval_identity_hash(s));
    EvalSpec w = s;
    w.longppl.short_window = 32;
    EXPECT_NE(eval_identity_hash(w), eval_identity_hash(s));
    EvalSpec x = s;
    x.metrics = {"passkey", "ppl", "longppl", "ppl"};  // order and repeats do not matter
    EXPECT_EQ(eval_identity_hash(x), eval_identity_hash(s));
    EvalSpec y = s;
    y.texts = {test::shared_path("data/text/pg84_frankenstein.txt")};
    EXPECT_NE(eval_identity_hash(y), eval_identity_hash(s));
    EvalSpec z = s;
    z.metrics = {"ppl", "pass"};
    EXPECT_THROW(eval_identity(z), UsageError);
}

TEST(RunEval, SmallRecordIsConsistent) {
    EvalSpec s = small_spec();
    ModelCache cache;
    auto rec = run_eval(s, cache);
    EXPECT_EQ(rec["schema"], "ropebench.eval/1");
    EXPECT_EQ(rec["ctx"], 256);
    EXPECT_EQ(rec["identity"], eval_identity_hash(s));
    const auto& p = rec["metrics"]["ppl"];
    EXPECT_EQ(p["documents_used"], 3);
    EXPECT_EQ(p["tokens_scored"], 3 * 255);
    EXPECT_EQ(p["split"]["segments"], 3);
    EXPECT_NEAR(p["ppl"].get<double>(), std::exp(p["mean_nll"].get<double>()), 1e-9);
    ASSERT_TRUE(p["ci95"].is_array());
    EXPECT_LE(p["ci95"][0].get<double>(), p["ci95"][1].get<double>());
    double bsum = 0;
    for (auto& x : p["buckets"]["nll_sum"]) bsum += x.get<double>();
    EXPECT_NEAR(bsum, p["nll_sum"].get<double>(), 1e-9);
    const auto& k = rec["metrics"]["passkey"];
    EXPECT_EQ(k["trials"], 2);
    for (auto& t : k["per_trial"]) EXPECT_LE(t["prompt_tokens"].get<int>() + 10, 256);
    const auto& l = rec["metrics"]["longppl"];
    EXPECT_EQ(l["documents"], 3);
    EXPECT_EQ(l["evaluator"]["self"], false);
    EXPECT_EQ(l["evaluator"]["same_tokenizer"], false);
    // LongPPL and truncate PPL see the same windows: their all-token perplexities agree.
    EXPECT_NEAR(l["ppl_all_tokens"].get<double>(), p["ppl"].get<double>(), 1e-9);
    EXPECT_EQ(rec["tokens_processed"].get<int64_t>(),
              p["tokens_processed"].get<int64_t>() + k["tokens_processed"].get<int64_t>() +
                  l["tokens_processed"].get<int64_t>() + l["evaluator_tokens_processed"].get<int64_t>());
}

TEST(RunEval, RefusesSelfEvaluator) {
    EvalSpec s = small_spec();
    s.metrics = {"longppl"};
    s.longppl.evaluator.path = s.model.path;
    s.longppl.evaluator.rope.scaling = nlohmann::json::parse(R"({"rope_type":"linear","factor":2})");  // other rope, same model
    ModelCache cache;
    try {
        run_eval(s, cache);
        ADD_FAILURE() << "self-evaluation was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("(longppl.allow_self_evaluator overrides)"), std::string::npos) << e.what();
    }
    s.longppl.allow_self_evaluator = true;
    auto rec = run_eval(s, cache);
    EXPECT_EQ(rec["metrics"]["longppl"]["evaluator"]["self"], true);
    EXPECT_EQ(rec["metrics"]["longppl"]["evaluator"]["allow_self_evaluator"], true);
    // The model kept its own (unscaled) RoPE while the evaluator used linear scaling.
    EXPECT_EQ(rec["rope"]["method"], "default");
    EXPECT_EQ(rec["metrics"]["longppl"]["evaluator"]["rope"]["resolved"]["rope_type"], "linear");
}

TEST(ModelCacheTest, LoadsOnceWhateverTheRope) {
    ModelCache cache;
    LoadOptions o;
    o.path = test::shared_path("data/models/llama2xs-tok512-ctx256");
    LoadedModel& a = cache.get(o);
    o.rope.scaling = nlohmann::json::parse(R"({"rope_type":"yarn","factor":4})");
    LoadedModel& b = cache.get(o);
    EXPECT_EQ(&a, &b);  // RoPE is the evaluation's, resolved per run_eval, never stored on the model
    EXPECT_EQ(resolve_rope(b.ckpt->config(), o.rope).type, RopeType::yarn);
}

namespace {

// Specs whose identities are pinned below: every metric, protocol and option the identity names.
std::vector<std::pair<std::string, EvalSpec>> pinned_specs() {
    std::vector<std::pair<std::string, EvalSpec>> out;
    out.emplace_back("all metrics, split, evaluator", small_spec());
    EvalSpec a = small_spec();
    a.metrics = {"ppl"};
    a.model.rope.scaling = nlohmann::json::parse(R"({"rope_type":"yarn","factor":4,"original_max_position_embeddings":256})");
    a.model.rope.theta = 20000;
    a.model.wtype = backend::WeightType::bf16;
    a.ppl.protocol = "sliding";
    a.ppl.stride = 64;
    a.ppl.bucket = 32;
    a.split = false;
    a.texts = {test::shared_path("data/text/tinystories_valid_sample.txt"), test::shared_path("data/text/pg84_frankenstein.txt")};
    out.emplace_back("ppl sliding, yarn, theta, bf16, two texts", a);
    EvalSpec b = small_spec();
    b.metrics = {"passkey"};
    b.model.path = test::shared_path("data/models/llama2xs-tok512-ctx256/llama2xs-tok512-ctx256-f32.gguf");
    b.passkey.haystack = test::shared_path("data/text/pg84_frankenstein.txt");
    b.passkey.seed = 7;
    b.passkey.max_new_tokens = 6;
    out.emplace_back("passkey grid with haystack, gguf", b);
    EvalSpec c = small_spec();
    c.metrics = {"passkey"};
    c.passkey.protocol = "yarn";
    c.passkey.depths = {};
    c.model.rope.scaling = nlohmann::json(nullptr);
    out.emplace_back("passkey yarn, rope none", c);
    EvalSpec d = small_spec();
    d.metrics = {"longppl"};
    d.longppl.convention = "reference";
    d.longppl.evaluator.rope.scaling = nlohmann::json::parse(R"({"rope_type":"linear","factor":2})");
    d.longppl.alpha = 1.5;
    d.seed = 99;
    out.emplace_back("longppl reference, evaluator linear", d);
    return out;
}

}  // namespace

// The store keys of existing sweeps: any change to these hashes makes every store re-run.
TEST(EvalIdentity, PinnedHashes) {
    const std::vector<std::string> want = {
        "48fcd40193b51ff1df34d89c0cec658bc3d7e6114ac817c11aa22b74c872d72d",
        "cae43438c77abd70a48387fcf7e5ad07e2542f4b98e5cec1d2f4db3dc078f777",
        "5283df42c5736a8f636a80448678ed0fb386ca0a74cc55dc1cb12903392ed0ea",
        "97cffa55f53e1afe501e3ceac1793c46e80bbd985124985af0947c570897115f",
        "86b06c9d7a983858155362bad946624fcff13a5cde38dee786e7e0128e7ebcfc"};
    const auto specs = pinned_specs();
    ASSERT_EQ(specs.size(), want.size());
    for (size_t i = 0; i < specs.size(); i++)
        EXPECT_EQ(eval_identity_hash(specs[i].second), want[i]) << specs[i].first << "\n" << eval_identity(specs[i].second).dump();
}

// The identity comes from what is already open: one ModelCache opens each checkpoint (and the
// text list) once for any number of identities, then loads the model from that header, and the
// record's identity is the same, byte for byte, as a fresh eval_identity's.
TEST(EvalIdentity, FromObjectsAlreadyOpen) {
    ModelCache cache;
    std::vector<EvalSpec> specs;
    for (int ctx : {64, 128, 256})
        for (const char* rope : {"", R"({"rope_type":"linear","factor":2})", R"({"rope_type":"yarn","factor":4})"}) {
            EvalSpec s = small_spec();
            s.ctx = ctx;
            if (*rope) s.model.rope.scaling = nlohmann::json::parse(rope);
            specs.push_back(s);
        }
    for (const auto& s : specs) EXPECT_EQ(eval_identity(s, cache).dump(), eval_identity(s).dump());
    EXPECT_EQ(cache.opens().checkpoints, 2);  // the model and the evaluator, once each for 9 identities
    EXPECT_EQ(cache.opens().text_lists, 1);
    auto rec = run_eval(specs.back(), cache);
    EXPECT_EQ(rec["identity"], eval_identity_hash(specs.back()));
    EXPECT_EQ(cache.opens().checkpoints, 2);  // both loaded from the headers already open
    EXPECT_EQ(cache.opens().text_lists, 1);   // run_eval's identity reads the documents it loaded
}

// run_eval opens nothing twice: its model and evaluator once, the identity from them.
TEST(RunEval, OpensEachCheckpointOnce) {
    ModelCache cache;
    EvalSpec s = small_spec();
    s.passkey.haystack = test::shared_path("data/text/pg84_frankenstein.txt");
    auto rec = run_eval(s, cache);
    EXPECT_EQ(rec["identity"], eval_identity_hash(s));
    EXPECT_EQ(cache.opens().checkpoints, 2);
    EXPECT_EQ(cache.opens().text_lists, 0);  // the documents it loads give the data identity
    EXPECT_EQ(cache.opens().files, 0);       // and the haystack it reads, the haystack's
}

TEST(EvalSpecCheck, ErrorsNameTheField) {
    EvalSpec s = small_spec();
    s.ctx = 1;
    try {
        check_eval_spec(s);
        ADD_FAILURE() << "ctx 1 was accepted";
    } catch (const FieldError& e) {
        EXPECT_EQ(e.field(), "ctx");
        EXPECT_EQ(std::string(e.what()), "ctx: " + e.message());
        EXPECT_EQ(e.what(), std::string("ctx: must be in [2, 16777216], got 1"));
    }
    s = small_spec();
    s.metrics = {"ppl"};
    s.ppl.protocol = "chunks";
    s.ctx = 2;
    EXPECT_RB_ERROR(check_eval_spec(s), "ctx: protocol chunks");
    s = small_spec();
    s.passkey.protocol = "yarn";
    s.metrics = {"passkey"};
    EXPECT_RB_ERROR(check_eval_spec(s), "passkey.depths: ");
}
