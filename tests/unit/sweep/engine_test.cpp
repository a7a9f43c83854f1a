// The sweep engine with a fake runner: resume, config growth, failures, retry, shards.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <new>

#include "sweep_test_util.h"
#include "util/error.h"

using namespace rb::sweep;
using namespace rb::sweep::testing;
using nlohmann::json;

namespace {

SweepOptions options(const std::string& db) { return test_options(db); }

const char* k_grid = k_small_grid;

std::map<std::string, json> done_records(const std::string& db) {
    Store s(db);
    std::map<std::string, json> out;
    for (auto& r : s.rows()) {
        EXPECT_EQ(r.status, "done") << r.id << " " << r.error.value_or("");
        if (r.record) out[r.id] = record_fingerprint(json::parse(*r.record));
    }
    return out;
}

}  // namespace

TEST(SweepEngine, RunsResumesAndGrows) {
    std::string dir = rb::test::temp_dir();
    auto cfg = parse_sweep_config(small_config(k_grid), dir + "/c.toml");
    int calls = 0;
    auto sum = run_sweep(cfg, fake_runner(&calls), options(dir + "/s.db"));
    EXPECT_EQ(sum.total, 8);  // 2 ctx x (baseline + 2 yarn + linear)
    EXPECT_EQ(sum.done, 8);
    EXPECT_EQ(calls, 8);
    // Same command again: nothing to do.
    sum = run_sweep(cfg, fake_runner(&calls), options(dir + "/s.db"));
    EXPECT_EQ(sum.ran, 0);
    EXPECT_EQ(calls, 8);
    // A grown config adds only the new experiments.
    std::string grown = k_grid;
    grown.replace(grown.find("[2, 4]"), 6, "[2, 4, 8]");
    auto cfg2 = parse_sweep_config(small_config(grown), dir + "/c.toml");
    sum = run_sweep(cfg2, fake_runner(&calls), options(dir + "/s.db"));
    EXPECT_EQ(sum.total, 10);
    EXPECT_EQ(sum.ran, 2);
    EXPECT_EQ(calls, 10);
    Store s(dir + "/s.db");
    EXPECT_EQ(s.rows().size(), 10u);
    EXPECT_EQ(s.meta("config"), small_config(grown));
    for (auto& r : s.rows()) {
        EXPECT_EQ(r.attempts, 1);
        EXPECT_EQ(r.id.size(), 64u);
        EXPECT_EQ(r.id, rb::sha256_hex(r.identity));  // keyed by sha256 of the identity JSON
    }
}

TEST(SweepEngine, FailuresAreRecordedAndTheSweepGoesOn) {
    std::string dir = rb::test::temp_dir();
    auto cfg = parse_sweep_config(small_config(R"(
[[methods]]
method = "yarn"
factor = [2, 3, 4, 5]

[[methods]]
method = "longrope"
factor = 2
short_factor = [1.0, 1.0, 1.0, 1.0]
long_factor = [1.0]
)",
                                               "baseline = false"),
                                  dir + "/c.toml");
    auto base = fake_runner();
    bool fixed = false;
    Runner r = base;
    r.run = [&](const rb::EvalSpec& s) -> json {
        const json rs = s.model.rope.scaling.value_or(json(nullptr));
        double f = rs.is_object() ? rs.value("factor", 1.0) : 1.0;
        if (!fixed && f == 3) throw rb::Error("model: something went wrong");
        if (!fixed && f == 4) throw std::bad_alloc();
        if (!fixed && f == 5) return json{{"metrics", {{"ppl", {{"ppl", std::nan("")}}}}}};
        return base.run(s);
    };
    auto sum = run_sweep(cfg, r, options(dir + "/s.db"));
    EXPECT_EQ(sum.total, 10);
    EXPECT_EQ(sum.done, 2);  // factor 2 at both contexts
    EXPECT_EQ(sum.failed, 8);
    Store s(dir + "/s.db");
    std::map<std::string, int> errors;
    for (auto& row : s.rows())
        if (row.status == "failed") {
            std::string e = *row.error;
            if (e.find("something went wrong") != std::string::npos) errors["error"]++;
            else if (e.find("out of memory") != std::string::npos) errors["oom"]++;
            else if (e.find("non-finite value (NaN/inf) in the result at metrics.ppl.ppl") != std::string::npos) errors["nan"]++;
            else if (e.find("invalid rope parameters") != std::string::npos && e.find("long_factor") != std::string::npos)
                errors["invalid"]++;
            else ADD_FAILURE() << e;
        }
    EXPECT_EQ(errors["error"], 2);
    EXPECT_EQ(errors["oom"], 2);
    EXPECT_EQ(errors["nan"], 2);
    EXPECT_EQ(errors["invalid"], 2);
    // Without --retry-failed nothing reruns; with it, the fixed runner completes them
    // (the invalid ones fail again, up front).
    fixed = true;
    sum = run_sweep(cfg, r, options(dir + "/s.db"));
    EXPECT_EQ(sum.ran, 0);
    auto o = options(dir + "/s.db");
    o.retry_failed = true;
    sum = run_sweep(cfg, r, o);
    EXPECT_EQ(sum.ran, 8);
    EXPECT_EQ(sum.done, 8);
    EXPECT_EQ(sum.failed, 2);
}

TEST(SweepEngine, ShardsPartitionAndMergeToTheUnshardedStore) {
    std::string dir = rb::test::temp_dir();
    std::string grid = R"(
[[methods]]
method = "yarn"
factor = [2, 3, 4, 5, 6, 7, 8]
beta_fast = [16, 32]
)";
    auto cfg = parse_sweep_config(small_config(grid), dir + "/c.toml");
    auto full = run_sweep(cfg, fake_runner(), options(dir + "/full.db"));
    EXPECT_EQ(full.total, 30);
    int sum_shards = 0;
    std::vector<std::string> parts;
    for (int i = 0; i < 3; ++i) {
        auto o = options(dir + fmt::format("/part{}.db", i));
        o.shard = Shard{i, 3};
        auto s = run_sweep(cfg, fake_runner(), o);
        EXPECT_GT(s.total, 0);
        sum_shards += s.total;
        parts.push_back(o.db);
    }
    EXPECT_EQ(sum_shards, 30);
    merge_stores(parts, dir + "/merged.db");
    EXPECT_EQ(done_records(dir + "/merged.db"), done_records(dir + "/full.db"));
}

TEST(SweepEngine, ShardParsing) {
    EXPECT_EQ(parse_shard("2/4").index, 1);
    EXPECT_EQ(parse_shard("2/4").count, 4);
    EXPECT_THROW(parse_shard("0/4"), rb::UsageError);
    EXPECT_THROW(parse_shard("5/4"), rb::UsageError);
    EXPECT_THROW(parse_shard("1/4x"), rb::UsageError);
    setenv("SLURM_ARRAY_TASK_ID", "3", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
    auto s = shard_from_env();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->index, 2);
    EXPECT_EQ(s->count, 4);
    unsetenv("SLURM_ARRAY_TASK_ID");
    EXPECT_FALSE(shard_from_env());
    unsetenv("SLURM_ARRAY_TASK_COUNT");
    unsetenv("SLURM_ARRAY_TASK_MIN");
}

TEST(SweepEngine, DryRunCountsAndMemoryFlags) {
    auto cfg = parse_sweep_config(small_config(k_grid, "memory_limit_gb = 0.0001"), "/tmp/c.toml");
    Estimator est(cfg);
    auto exps = expand_experiments(cfg);
    char* buf = nullptr;
    size_t len = 0;
    FILE* f = open_memstream(&buf, &len);
    int over = print_dry_run(cfg, exps, est, f, Shard{}, nullptr);
    std::fclose(f);
    std::string out(buf, len);
    free(buf);
    EXPECT_NE(out.find("experiments: 8"), std::string::npos) << out;
    EXPECT_NE(out.find("per method: default 2 yarn 4 linear 2"), std::string::npos) << out;
    EXPECT_NE(out.find("per context: 256 4 1024 4"), std::string::npos) << out;
    // 0.0001 GiB ≈ 107 KB: the 1 MB stories260K weights do not fit at any context.
    EXPECT_EQ(over, 8);
    EXPECT_NE(out.find("[EXCEEDS MEMORY]"), std::string::npos);
    // FLOPs formula: 2·P·L + 4·L²·layers·heads·head_dim/2 per window; one document, ppl only.
    Experiment e = exps[0];
    const auto& c = cfg.model_config;
    double L = e.ctx;
    double expect = 2.0 * est.params() * L + 4.0 * L * L * c.num_layers * c.num_heads * c.head_dim / 2.0;
    EXPECT_DOUBLE_EQ(est(e).flops, expect);
}

TEST(SweepEngine, PasskeyFlopsCountTheHeadOnceAPromptAndMaxNewMinusOneSteps) {
    // Unshared passkey cost, by hand: each prompt runs its L rows through the layers, the LM
    // head on its last row only (LlamaModel::generate_greedy), then max_new_tokens − 1
    // decoding steps (the first new token is the prompt's argmax).
    auto cfg = parse_sweep_config(small_config(k_grid), "/tmp/c.toml");
    cfg.metrics = {"passkey"};
    cfg.passkey.depths = {0.0, 0.5, 1.0};
    cfg.passkey.trials = 2;
    cfg.passkey.max_new_tokens = 4;
    Estimator est(cfg);
    const Experiment e = expand_experiments(cfg)[0];
    const auto& c = cfg.model_config;
    const double L = e.ctx, P = est.params(), head = 2.0 * c.vocab_size * c.hidden_size;
    const double attn = 2.0 * c.num_layers * c.num_heads * c.head_dim;
    const double prompt = 2.0 * P * L + attn * L * L - head * L + head;
    const double step = 2.0 * P + 4.0 * L * c.num_layers * c.num_heads * c.head_dim;
    const double want = 6 * prompt + 6 * 3 * step;
    EXPECT_DOUBLE_EQ(est(e).flops_unshared, want);
    rb::set_sharing_enabled(false);
    EXPECT_DOUBLE_EQ(est(e).flops, want);
    rb::set_sharing_enabled(true);
    EXPECT_LT(est(e).flops, want);  // the shared prefixes
}

// Issue 18: experiments whose truncate windows are prefixes of one another under equal
// tables form a share group; the group runs back to back, largest L first, and stays in one
// shard. yarn (static) groups across 256/512/1024; linear at ctx/original does not (its
// factor, hence its tables, change with L); dynamic groups up to the trained 512 only.
TEST(SweepEngine, ShareGroupsRunLargestFirstAndStayInOneShard) {
    std::string dir = rb::test::temp_dir();
    std::string grid = std::string(k_small_grid) + R"(
[[methods]]
method = "dynamic"
factor = 2
)";
    std::string text = small_config(grid);
    text.replace(text.find("ctx = [256, 1024]"), 17, "ctx = [256, 512, 1024]");
    auto cfg = parse_sweep_config(text, dir + "/c.toml");
    ASSERT_EQ(cfg.ctx, (std::vector<int>{256, 512, 1024}));
    auto exps = expand_experiments(cfg);
    std::map<std::string, std::vector<int>> groups;  // key -> ctx
    for (const auto& e : exps) {
        std::string g = share_group(cfg, e);
        if (e.method == "linear") {
            EXPECT_TRUE(g.empty() || groups[g].empty()) << e.ctx;
        }
        if (!g.empty()) groups[g].push_back(e.ctx);
    }
    int with3 = 0;
    for (auto& [g, c] : groups) with3 += c.size() == 3;
    EXPECT_EQ(with3, 3);  // baseline, yarn 2, yarn 4; dynamic: {256, 512} and {1024}
    std::vector<int> order;
    Runner r = fake_runner();
    auto run = r.run;
    r.run = [&](const rb::EvalSpec& s) {
        order.push_back(s.ctx);
        return run(s);
    };
    auto sum = run_sweep(cfg, r, options(dir + "/s.db"));
    EXPECT_EQ(sum.done, 15);
    // The first unit is the baseline group: 1024, 512, 256 back to back.
    ASSERT_GE(order.size(), 3u);
    EXPECT_EQ(std::vector<int>(order.begin(), order.begin() + 3), (std::vector<int>{1024, 512, 256}));
    // Shards: every group lies in one shard.
    std::map<std::string, int> shard_of;
    for (int i = 0; i < 3; ++i) {
        auto o = options(dir + fmt::format("/part{}.db", i));
        o.shard = Shard{i, 3};
        run_sweep(cfg, fake_runner(), o);
        Store s(o.db);
        for (auto& row : s.rows()) {
            for (const auto& e : exps) {
                if (e.method != row.method || e.ctx != row.ctx || e.params.dump() != row.params) continue;
                std::string g = share_group(cfg, e);
                if (g.empty()) continue;
                auto [it, fresh] = shard_of.emplace(g, i);
                EXPECT_EQ(it->second, i) << row.method << " " << row.ctx;
            }
        }
    }
}
