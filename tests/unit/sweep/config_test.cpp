// Sweep config: parsing, expansion counts, expressions, list rules, and bad configs
// rejected with file:line and key.
#include <gtest/gtest.h>

#include <cmath>

#include "sweep_test_util.h"
#include "util/error.h"

using namespace rb::sweep;
using namespace rb::sweep::testing;

namespace {

// The error text of loading `text` (written to a file so messages carry its path).
std::string load_error(const std::string& text) {
    std::string dir = rb::test::temp_dir();
    std::string p = write(dir, "bad.toml", text);
    try {
        load_sweep_config(p);
    } catch (const rb::Error& e) {
        return e.what();
    }
    return "no error";
}

// A hub id with its geometry inline (no files needed); line 2 is model.path.
const char* k_hub_model = R"T([model]
path = "someorg/some-model"
[model.config]
hidden_size = 256
intermediate_size = 512
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 4
vocab_size = 1000
max_position_embeddings = 1024
architectures = ["LlamaForCausalLM"]
model_type = "llama"
)T";

}  // namespace

TEST(SweepConfig, ExpandsCartesianExplicitAndBaseline) {
    auto cfg = parse_sweep_config(small_config(R"T(
[[methods]]
method = "yarn"
factor = [2, 4, 8]
configs = [{beta_fast = 32, beta_slow = 1}, {beta_fast = 64, beta_slow = 2}]

[[methods]]
method = "linear"
ctx = [1024]
factor = "ctx / original"
)T"),
                                  "/tmp/x.toml");
    auto exps = expand_experiments(cfg);
    // per ctx: baseline 1 + yarn 6; linear only at 1024.
    ASSERT_EQ(exps.size(), 2u * 7u + 1u);
    EXPECT_EQ(exps[0].method, "default");
    EXPECT_TRUE(exps[0].params.is_null());
    ASSERT_TRUE(exps[0].spec.model.rope.scaling.has_value());
    EXPECT_TRUE(exps[0].spec.model.rope.scaling->is_null());  // plain RoPE, not the checkpoint's own
    // configs outer, axes inner: first three yarn rows have beta_fast 32 and factors 2, 4, 8.
    EXPECT_EQ(exps[1].params["factor"], 2.0);
    EXPECT_EQ(exps[3].params["factor"], 8.0);
    EXPECT_EQ(exps[3].params["beta_fast"], 32);
    EXPECT_EQ(exps[4].params["beta_fast"], 64);
    EXPECT_EQ(exps[1].params["rope_type"], "yarn");
    EXPECT_TRUE(exps[1].invalid.empty()) << exps[1].invalid;
    EXPECT_EQ(exps[1].resolved["original_max_position_embeddings"], 512);  // filled from the model
    const auto& lin = exps.back();
    EXPECT_EQ(lin.method, "linear");
    EXPECT_EQ(lin.ctx, 1024);
    EXPECT_DOUBLE_EQ(lin.params["factor"].get<double>(), 2.0);  // 1024 / 512
    EXPECT_EQ(lin.spec.ctx, 1024);
    EXPECT_EQ((*lin.spec.model.rope.scaling)["factor"], 2.0);
}

TEST(SweepConfig, LongropeRules) {
    auto cfg = parse_sweep_config(small_config(R"T(
[[methods]]
method = "longrope"
factor = 4
short_factor = "ones"
long_factor = "ramp(32, 1)"
)T",
                                               "baseline = false"),
                                  "/tmp/x.toml");
    auto exps = expand_experiments(cfg);
    ASSERT_EQ(exps.size(), 2u);
    auto lf = exps[0].params["long_factor"].get<std::vector<double>>();
    auto sf = exps[0].params["short_factor"].get<std::vector<double>>();
    ASSERT_EQ(lf.size(), 4u);  // stories260K head_dim 8 -> 4 pairs
    for (double x : sf) EXPECT_EQ(x, 1.0);
    // Highest frequencies kept (divisor 1), lowest fully interpolated (divisor = factor),
    // monotone in between.
    EXPECT_DOUBLE_EQ(lf.front(), 1.0);
    EXPECT_NEAR(lf.back(), 4.0, 1e-12);
    for (size_t i = 1; i < lf.size(); ++i) EXPECT_GE(lf[i], lf[i - 1]);
    EXPECT_TRUE(exps[0].invalid.empty()) << exps[0].invalid;
}

TEST(SweepConfig, InvalidDictKeptAsInvalidExperiment) {
    // A long_factor of the wrong length passes the config types but parse_rope_config rejects it.
    auto cfg = parse_sweep_config(small_config(R"T(
[[methods]]
method = "longrope"
factor = 2
short_factor = [1.0, 1.0, 1.0, 1.0]
long_factor = [1.0, 2.0]
)T",
                                               "baseline = false"),
                                  "/tmp/x.toml");
    auto exps = expand_experiments(cfg);
    ASSERT_EQ(exps.size(), 2u);
    EXPECT_NE(exps[0].invalid.find("long_factor"), std::string::npos) << exps[0].invalid;
}

TEST(SweepConfig, AHubIdWithRevisionIsTheHubsRule) {
    // The hub's own syntax (org/name@revision), not a second, narrower rule.
    rb::sweep::ConfigOverrides ov;
    ov.model = "TinyLlama/TinyLlama-1.1B-Chat-v1.0@fe8a4ea1ffedaf415f4da2f062534de366a451e6";
    std::string asked;
    auto cfg = load_sweep_config(rb::test::source_path("presets/tinyllama-study.toml"), ov, [&](const std::string& id) {
        asked = id;
        return rb::test::source_path("tests/fixtures/tinyllama/config.json");
    });
    EXPECT_EQ(asked, ov.model);
    EXPECT_EQ(cfg.model, ov.model);
}

TEST(SweepConfig, StudyPresetCounts) {
    // The hub id's geometry through the fetcher (the CLI's fetches config.json alone).
    std::string asked;
    auto cfg = load_sweep_config(rb::test::source_path("presets/tinyllama-study.toml"), {}, [&](const std::string& id) {
        asked = id;
        return rb::test::source_path("tests/fixtures/tinyllama/config.json");
    });
    EXPECT_EQ(asked, "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
    EXPECT_EQ(cfg.geometry_source, "the hub's config.json");
    EXPECT_EQ(cfg.model_config.num_layers, 22);
    auto exps = expand_experiments(cfg);
    std::map<std::string, int> by_method, by_group;
    std::map<int, int> study_by_ctx;
    for (auto& e : exps) {
        by_method[e.method]++;
        by_group[e.group]++;
        if (e.group == "study") study_by_ctx[e.ctx]++;
        EXPECT_TRUE(e.invalid.empty()) << e.method << " " << e.params.dump() << ": " << e.invalid;
    }
    EXPECT_EQ(by_group["study"], 364);
    EXPECT_EQ(by_group["baseline"], 4);
    EXPECT_EQ(by_group["extra"], 3);
    EXPECT_EQ(by_method["yarn"], 100);
    EXPECT_EQ(by_method["llama3"], 100);
    EXPECT_EQ(by_method["ntk_by_parts"], 100);
    EXPECT_EQ(by_method["linear"], 24);
    EXPECT_EQ(by_method["longrope"], 20);
    EXPECT_EQ(by_method["dynamic"], 20);
    for (int c : {2048, 4096, 8192, 16384}) EXPECT_EQ(study_by_ctx[c], 91) << c;
}

TEST(SweepConfig, OtherPresetsLoad) {
    for (const char* p : {"presets/smoke.toml", "presets/tinyllama-quick.toml"}) {
        auto cfg = load_sweep_config(rb::test::source_path(p), {},
                                     [](const std::string&) { return rb::test::source_path("tests/fixtures/tinyllama/config.json"); });
        auto exps = expand_experiments(cfg);
        EXPECT_GT(exps.size(), 4u) << p;
        for (auto& e : exps) EXPECT_TRUE(e.invalid.empty()) << p << ": " << e.params.dump() << ": " << e.invalid;
    }
}

TEST(SweepConfig, InlineModelConfigForHubIds) {
    std::string text = std::string(k_hub_model) + R"T([metrics]
run = ["passkey"]
[sweep]
ctx = [2048]
[[methods]]
method = "ntk"
factor = "ctx / original"
)T";
    auto cfg = parse_sweep_config(text, "/tmp/hub.toml");
    EXPECT_TRUE(cfg.model_is_hub);
    EXPECT_EQ(cfg.geometry_source, "inline [model.config]");
    auto exps = expand_experiments(cfg);
    ASSERT_EQ(exps.size(), 2u);
    EXPECT_DOUBLE_EQ(exps[1].params["factor"].get<double>(), 2.0);
    // Without [model.config] an unknown hub id is refused (no geometry).
    auto no_cfg = text.substr(0, text.find("[model.config]")) + text.substr(text.find("[metrics]"));
    try {
        parse_sweep_config(no_cfg, "/tmp/hub.toml");
        FAIL() << "accepted a hub id without geometry";
    } catch (const rb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("/tmp/hub.toml:2: model.path"), std::string::npos) << e.what();
    }
}

struct BadCase {
    const char* name;
    std::string methods;      // appended to the small config (methods start at line 14)
    std::string expect_where; // "bad.toml:LINE: key"
    std::string expect_what;
};

TEST(SweepConfig, BadConfigsNameKeyAndLine) {
    // small_config has 13 lines before `methods` (line 14 is the first appended line).
    std::vector<BadCase> cases = {
        {"unknown method", "\n[[methods]]\nmethod = \"yarm\"\n", "bad.toml:16: methods[0].method", "did you mean 'yarn'"},
        {"misspelled parameter", "\n[[methods]]\nmethod = \"yarn\"\nfacter = 2\n", "bad.toml:17: methods[0].facter",
         "did you mean 'factor'"},
        {"parameter of another method", "\n[[methods]]\nmethod = \"linear\"\nbeta_fast = 2\n",
         "bad.toml:17: methods[0].beta_fast", "unknown parameter for 'linear'"},
        {"wrong type", "\n[[methods]]\nmethod = \"yarn\"\nfactor = true\n", "bad.toml:17: methods[0].factor",
         "expected a number or an expression string"},
        {"wrong type in list", "\n[[methods]]\nmethod = \"yarn\"\nfactor = [2, \"x\"]\n", "bad.toml:17: methods[0].factor",
         "unknown name 'x'"},
        {"wrong bool", "\n[[methods]]\nmethod = \"yarn\"\nfactor = 2\ntruncate = 1\n", "bad.toml:18: methods[0].truncate",
         "expected a boolean"},
        {"empty grid", "\n[[methods]]\nmethod = \"yarn\"\nfactor = []\n", "bad.toml:17: methods[0].factor", "empty grid"},
        {"empty configs", "\n[[methods]]\nmethod = \"yarn\"\nconfigs = []\n", "bad.toml:17: methods[0].configs", "empty grid"},
        {"bad expression", "\n[[methods]]\nmethod = \"linear\"\nfactor = \"ctx / orig\"\n", "bad.toml:17: methods[0].factor",
         "unknown name 'orig'"},
        {"misspelled in configs", "\n[[methods]]\nmethod = \"yarn\"\nfactor = 2\nconfigs = [{beta_fats = 3}]\n",
         "bad.toml:18: methods[0].configs[0].beta_fats", "did you mean 'beta_fast'"},
        {"ctx not in sweep", "\n[[methods]]\nmethod = \"yarn\"\nfactor = 2\nctx = [4096]\n", "bad.toml:18: methods[0].ctx",
         "not in sweep.ctx"},
        {"bad list rule", "\n[[methods]]\nmethod = \"longrope\"\nlong_factor = \"ramp(32)\"\nshort_factor = \"ones\"\n",
         "bad.toml:17: methods[0].long_factor", "unknown list rule"},
    };
    for (auto& c : cases) {
        std::string err = load_error(small_config(c.methods));
        EXPECT_NE(err.find(c.expect_where), std::string::npos) << c.name << ": " << err;
        EXPECT_NE(err.find(c.expect_what), std::string::npos) << c.name << ": " << err;
    }
}

TEST(SweepConfig, BadTopLevelAndFiles) {
    std::string good = small_config("");
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        auto at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return s.replace(at, from.size(), to);
    };
    auto expect = [](const std::string& err, const std::string& where, const std::string& what) {
        EXPECT_NE(err.find(where), std::string::npos) << err;
        EXPECT_NE(err.find(what), std::string::npos) << err;
    };
    expect(load_error(replace("tinystories_valid_sample.txt", "no_such_file.txt")), "bad.toml:6: data.texts", "not found");
    expect(load_error(replace("stories260K", "no_such_model")), "bad.toml:2: model.path", "not found");
    expect(load_error(replace("[sweep]", "[sweeps]")), "bad.toml:11: sweeps", "did you mean 'sweep'");
    expect(load_error(replace("threads = 1", "thread = 1")), "bad.toml:3: model.thread", "did you mean 'threads'");
    expect(load_error(replace("threads = 1", "threads = \"two\"")), "bad.toml:3: model.threads", "expected an integer");
    expect(load_error(replace("ctx = [256, 1024]", "ctx = []")), "bad.toml:12: sweep.ctx", "empty grid");
    expect(load_error(replace("run = [\"ppl\"]", "run = [\"ppx\"]")), "bad.toml:9: metrics.run", "did you mean 'ppl'");
    expect(load_error(replace("ctx = [256, 1024]", "ctx = [256, 1024")), "bad.toml:", "TOML syntax error");
}

TEST(SweepConfig, ClosestName) {
    std::vector<std::string> names{"factor", "beta_fast", "beta_slow", "original_max_position_embeddings"};
    EXPECT_EQ(closest_name("facotr", names), "factor");
    EXPECT_EQ(closest_name("beta_fst", names), "beta_fast");
    EXPECT_EQ(closest_name("original_max_position_embedding", names), "original_max_position_embeddings");
    EXPECT_EQ(closest_name("zzzzzzzz", names), "");
}

TEST(SweepConfig, GridIsCountedBeforeExpansion) {
    auto cfg = parse_sweep_config(small_config(k_small_grid), "/tmp/x.toml");
    EXPECT_EQ(count_experiments(cfg), expand_experiments(cfg).size());
    cfg.baseline = false;
    EXPECT_EQ(count_experiments(cfg), expand_experiments(cfg).size());

    // 2 contexts x (1 + 400 x 250) = 200,002: refused without --yes, naming the file.
    std::string a, b;
    for (int i = 0; i < 400; ++i) a += fmt::format("{}{}", i ? ", " : "", 1.5 + i);
    for (int i = 0; i < 250; ++i) b += fmt::format("{}{}", i ? ", " : "", 1 + i);
    const std::string big = small_config(fmt::format("[[methods]]\nmethod = \"yarn\"\nfactor = [{}]\nbeta_fast = [{}]\n", a, b));
    EXPECT_RB_ERROR(parse_sweep_config(big, "/tmp/big.toml"), "/tmp/big.toml", "200002 experiments", "above 100000",
                    "--yes");
    // Counting saturates instead of wrapping: 2 x 400^8 is far above 2^64.
    cfg.blocks.assign(1, cfg.blocks.front());
    cfg.blocks[0].axes.clear();
    for (int i = 0; i < 8; ++i) cfg.blocks[0].axes.push_back({"factor", std::vector<nlohmann::json>(400, 2.0)});
    EXPECT_EQ(count_experiments(cfg), UINT64_MAX);
}

// [metrics.passkey] protocol and [metrics.longppl] convention reach every experiment's spec
// (and so its identity and the store); bad values name the key.
TEST(SweepConfig, PasskeyProtocolAndLongpplConvention) {
    const std::string head = std::string(k_hub_model) + R"T([sweep]
ctx = [2048]
)T";
    auto cfg = parse_sweep_config(head + R"T([metrics]
run = ["passkey"]
[metrics.passkey]
protocol = "yarn"
trials = 3
[metrics.longppl]
evaluator = "someorg/evaluator"
convention = "reference"
)T",
                                  "/tmp/p.toml");
    auto exps = expand_experiments(cfg);
    ASSERT_FALSE(exps.empty());
    for (const auto& e : exps) {
        EXPECT_EQ(e.spec.passkey.protocol, "yarn");
        EXPECT_TRUE(e.spec.passkey.depths.empty());
        EXPECT_EQ(e.spec.longppl.convention, "reference");
    }
    auto fails = [&](const std::string& metrics, const std::string& where) {
        try {
            parse_sweep_config(head + metrics, "/tmp/p.toml");
            ADD_FAILURE() << "accepted: " << metrics;
        } catch (const rb::Error& e) {
            EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
        }
    };
    fails("[metrics]\nrun = [\"passkey\"]\n[metrics.passkey]\nprotocol = \"landmark\"\n", "metrics.passkey.protocol");
    fails("[metrics]\nrun = [\"passkey\"]\n[metrics.passkey]\nprotocol = \"yarn\"\ndepths = [0.5]\n",
          "metrics.passkey.depths");
    fails("[metrics]\nrun = [\"passkey\"]\n[metrics.longppl]\nevaluator = \"someorg/e\"\nconvention = \"pku\"\n",
          "metrics.longppl.convention");
}

// The evaluation's own checks across settings (here a protocol against a context length) name
// the TOML key and line, never a command-line flag; a length from --ctx is left for the CLI to
// name (FieldError "ctx").
TEST(SweepConfig, EvaluationChecksNameTheTomlKey) {
    std::string text = small_config("");
    text.replace(text.find("[data]"), 6, "[data]\nprotocol = \"chunks\"");
    text.replace(text.find("ctx = [256, 1024]"), 17, "ctx = [2, 256]");
    const std::string err = load_error(text);
    EXPECT_EQ(err.find("--"), std::string::npos) << err;
    EXPECT_NE(err.find("bad.toml:13: sweep.ctx: protocol chunks scores L - L/2 - 1 tokens per window; needs L >= 3, got 2"),
              std::string::npos)
        << err;
    std::string low = small_config("");
    low.replace(low.find("ctx = [256, 1024]"), 17, "ctx = [256, 1]");
    EXPECT_NE(load_error(low).find("bad.toml:12: sweep.ctx: must be in [2, 16777216], got 1"), std::string::npos)
        << load_error(low);

    std::string chunks = small_config("");
    chunks.replace(chunks.find("[data]"), 6, "[data]\nprotocol = \"chunks\"");
    ConfigOverrides ov;
    ov.ctx = {2};
    try {
        parse_sweep_config(chunks, "c.toml", ov);
        ADD_FAILURE() << "chunks at --ctx 2 was accepted";
    } catch (const rb::FieldError& e) {
        EXPECT_EQ(e.field(), "ctx");
        EXPECT_NE(e.message().find("needs L >= 3, got 2"), std::string::npos) << e.what();
    }
}
