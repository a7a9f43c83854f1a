// `ropebench sweep` / `merge` end to end: dry run of the study preset, bad configs,
// SIGKILL at random points then resume, shards + merge, and the smoke preset.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "common/test_util.h"
#include "sweep_e2e_util.h"
#include "unit/hub/fake_hub.h"
#include "util/mapped_file.h"
#include "sweep/store.h"

extern char** environ;

using rb::test::run_cli;
using rb::test::shared_path;
using rb::test::k_tiny_experiments;
using rb::test::source_path;
using rb::test::store_contents;
using rb::test::tiny_config;
using nlohmann::json;

namespace {

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
    std::string p = dir + "/" + name;
    std::ofstream(p) << text;
    return p;
}

pid_t spawn_quiet(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s{ROPEBENCH_BIN};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot spawn " << argv[0];
    return pid;
}

// Store counts, read while a sweep may be writing (WAL readers never block the writer).
std::pair<int, int> done_and_running(const std::string& db) {
    if (!std::ifstream(db).good()) return {0, 0};
    try {
        rb::sweep::Store s(db);
        return {s.count("done"), s.count("running")};
    } catch (const std::exception&) {
        return {0, 0};  // the sweep is still creating the store
    }
}

// Kills a sweep with SIGKILL `kills` times, each time at a random point of the grid while
// an experiment is in flight (the store shows it running: the test waits for that state,
// not for a clock), then lets it finish; the store must equal an uninterrupted run's.
void kill_and_resume(const std::string& config, const std::vector<std::string>& extra, int kills, int expected) {
    std::string dir = rb::test::temp_dir();
    std::string ref_db = dir + "/ref.db", db = dir + "/killed.db";
    std::vector<std::string> ref_args{"sweep", config, "--db", ref_db, "--progress", "lines"};
    ref_args.insert(ref_args.end(), extra.begin(), extra.end());
    auto ref = run_cli(ref_args);
    ASSERT_EQ(ref.status, 0) << ref.err;
    auto want = store_contents(ref_db);
    ASSERT_EQ(static_cast<int>(want.size()), expected);

    std::vector<std::string> args{"sweep", config, "--db", db, "--progress", "lines"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::mt19937 rng(20261129);
    int interrupted_in_flight = 0;
    for (int k = 0; k < kills; ++k) {
        // Kill once `target` experiments are done and the next one is running.
        int done_now = done_and_running(db).first;
        if (done_now >= expected - 1) break;
        int target = std::uniform_int_distribution<int>(done_now, std::min(expected - 1, done_now + expected / kills))(rng);
        pid_t pid = spawn_quiet(args);
        ASSERT_GT(pid, 0);
        bool exited = false;
        int st = 0;
        for (;;) {
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = true;
                break;
            }
            auto [done, running] = done_and_running(db);
            if (running > 0 && done >= target) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling interval, not a deadline
        }
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        bool killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        auto [done, running] = done_and_running(db);
        interrupted_in_flight += killed && running > 0;
        std::printf("kill %d at %d done: %s, %d done, %d running\n", k + 1, target, killed ? "killed" : "had exited", done,
                    running);
    }
    EXPECT_GT(interrupted_in_flight, 0) << "no kill landed while an experiment was in flight; the test proved nothing";
    auto fin = run_cli(args);
    ASSERT_EQ(fin.status, 0) << fin.err;
    auto got = store_contents(db);
    ASSERT_EQ(got.size(), want.size());  // every experiment exactly once (id is the primary key)
    for (auto& [id, row] : got) {
        EXPECT_EQ(row.first, "done") << id;
        ASSERT_TRUE(want.count(id)) << id;
        EXPECT_EQ(row.second, want[id].second) << id;  // identical results
    }
    rb::sweep::Store s(db);
    int reattempted = 0;
    for (auto& r : s.rows()) reattempted += r.attempts > 1;
    std::printf("%d experiment(s) were redone after a kill\n", reattempted);
}

}  // namespace

TEST(SweepCli, DryRunStudyPreset) {
    // The hub id's geometry comes from its config.json alone (the fake hub serves TinyLlama's).
    rb::test::FakeHub hub;
    hub.add_repo("TinyLlama/TinyLlama-1.1B-Chat-v1.0", source_path("tests/fixtures/tinyllama"),
                 "0123456789abcdef0123456789abcdef01234567");
    std::string home = rb::test::temp_dir(), endpoint = hub.endpoint();
    rb::test::ScopedEnv e1("HF_HOME", home.c_str()), e2("HF_ENDPOINT", endpoint.c_str()), e3("HF_HUB_CACHE", nullptr),
        e4("HF_HUB_OFFLINE", nullptr);
    auto r = run_cli({"sweep", source_path("presets/tinyllama-study.toml"), "--dry-run"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("experiments: 371"), std::string::npos) << r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0);
    EXPECT_NE(r.out.find("per group: baseline 4, extra 3, study 364"), std::string::npos);
    EXPECT_NE(r.out.find("per method: default 4 yarn 100 llama3 100 ntk_by_parts 100 linear 24 longrope 20 dynamic 20 ntk 3"),
              std::string::npos);
    EXPECT_NE(r.out.find("per context: 2048 92 4096 93 8192 93 16384 93"), std::string::npos);
    EXPECT_NE(r.out.find("geometry from the hub's config.json: layers 22, heads 32/4, head_dim 64, hidden 2048, trained ctx 2048"),
              std::string::npos) << r.out.substr(0, 600);
    for (const auto& q : hub.log()) EXPECT_NE(q.path.find("config.json"), std::string::npos) << q.path;  // nothing else
    EXPECT_NE(r.out.find("total FLOPs"), std::string::npos);
    EXPECT_EQ(r.out.find("[INVALID"), std::string::npos);
}

TEST(SweepCli, DryRunFlagsMemory) {
    std::string dir = rb::test::temp_dir();
    std::string text = tiny_config();
    text.replace(text.find("ctx = [64, 128]"), 15, "ctx = [64, 128]\nmemory_limit_gb = 0.0001");
    auto r = run_cli({"sweep", write(dir, "c.toml", text), "--dry-run"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("[EXCEEDS MEMORY]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(fmt::format("memory: {} experiment(s) exceed the limit", k_tiny_experiments)), std::string::npos) << r.out;
}

TEST(SweepCli, BadConfigsAreRejectedWithKeyAndLine) {
    std::string dir = rb::test::temp_dir();
    struct Case {
        std::string from, to, expect;
    };
    // tiny_config: [[methods]] yarn starts at line 17, its factor is line 19.
    std::vector<Case> cases = {
        {"method = \"yarn\"", "method = \"yarnn\"", "bad.toml:18: methods[0].method: unknown method 'yarnn', did you mean 'yarn'?"},
        {"factor = [2, 4]", "factr = [2, 4]", "bad.toml:19: methods[0].factr: unknown parameter for 'yarn', did you mean 'factor'?"},
        {"factor = [2, 4]", "factor = [2, \"four\"]", "bad.toml:19: methods[0].factor"},
        {"factor = [2, 4]", "factor = {a = 1}", "bad.toml:19: methods[0].factor: expected a number"},
        {"factor = [2, 4]", "factor = []", "bad.toml:19: methods[0].factor: empty grid"},
        {"tinystories_valid_sample.txt", "nope.txt", "bad.toml:6: data.texts: file"},
    };
    for (auto& c : cases) {
        std::string text = tiny_config();
        text.replace(text.find(c.from), c.from.size(), c.to);
        std::string db = dir + "/bad.db";
        auto r = run_cli({"sweep", write(dir, "bad.toml", text), "--db", db});
        EXPECT_EQ(r.status, 1) << c.to;
        EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.to << " -> " << r.err;
        EXPECT_FALSE(std::ifstream(db).good()) << "work started (store created) for " << c.to;
    }
    // The evaluation's own checks across settings (chunks needs L >= 3) name the TOML key and
    // line, not --ctx; on a length the command line gave, the flag (a usage error).
    std::string text = tiny_config();
    text.replace(text.find("[data]"), 6, "[data]\nprotocol = \"chunks\"");
    const std::string chunks = write(dir, "chunks.toml", text);
    text.replace(text.find("ctx = [64, 128]"), 15, "ctx = [2, 128]");
    auto r = run_cli({"sweep", write(dir, "bad.toml", text), "--db", dir + "/c.db"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.err, "error: " + dir + "/bad.toml:16: sweep.ctx: protocol chunks scores L - L/2 - 1 tokens per window; "
                     "needs L >= 3, got 2\n");
    r = run_cli({"sweep", chunks, "--db", dir + "/c.db", "--ctx", "2"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.err, "error: --ctx: protocol chunks scores L - L/2 - 1 tokens per window; needs L >= 3, got 2\n");
    EXPECT_FALSE(std::ifstream(dir + "/c.db").good());
}

TEST(SweepCli, KillAtRandomPointsThenResume_FakeEval) {
    // 18 experiments of 40 ms each; each kill lands while one of them is running.
    std::string dir = rb::test::temp_dir();
    kill_and_resume(write(dir, "c.toml", tiny_config()), {"--fake-eval-ms", "40"}, 6, k_tiny_experiments);
}

TEST(SweepCli, KillAtRandomPointsThenResume_RealEval) {
    std::string dir = rb::test::temp_dir();
    // ppl only: passkey prompts do not fit in 64 tokens (those experiments fail, by design).
    kill_and_resume(write(dir, "c.toml", tiny_config()), {}, 4, k_tiny_experiments);
}

TEST(SweepCli, ShardsMergeToTheUnshardedStore) {
    std::string dir = rb::test::temp_dir();
    std::string cfg = write(dir, "c.toml", tiny_config());
    auto full = run_cli({"sweep", cfg, "--db", dir + "/full.db", "--progress", "lines"});
    ASSERT_EQ(full.status, 0) << full.err;
    for (const char* s : {"1/2", "2/2"}) {
        auto r = run_cli({"sweep", cfg, "--db", dir + "/shard" + std::string(1, s[0]) + ".db", "--shard", s});
        ASSERT_EQ(r.status, 0) << r.err;
    }
    auto a = store_contents(dir + "/shard1.db"), b = store_contents(dir + "/shard2.db");
    EXPECT_GT(a.size(), 0u);
    EXPECT_GT(b.size(), 0u);
    EXPECT_EQ(a.size() + b.size(), static_cast<size_t>(k_tiny_experiments));
    auto m = run_cli({"merge", dir + "/shard1.db", dir + "/shard2.db", "-o", dir + "/all.db"});
    ASSERT_EQ(m.status, 0) << m.err;
    EXPECT_EQ(store_contents(dir + "/all.db"), store_contents(dir + "/full.db"));
    // Merging a store with a different result for a done experiment is refused.
    {
        rb::sweep::Store s(dir + "/shard1.db");
        auto row = s.rows().front();
        auto rec = json::parse(*row.record);
        rec["metrics"]["ppl"]["ppl"] = 123456.0;
        row.record = rec.dump();
        s.put(row);
    }
    auto bad = run_cli({"merge", dir + "/shard1.db", "-o", dir + "/all.db"});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("different results"), std::string::npos) << bad.err;
}

TEST(SweepCli, SmokePresetEndToEnd) {
    std::string dir = rb::test::temp_dir();
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_cli({"sweep", source_path("presets/smoke.toml"), "--db", dir + "/smoke.db", "--progress", "lines"});
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("smoke preset: %.1f s\n", wall);
    ASSERT_EQ(r.status, 0) << r.err;
    rb::sweep::Store s(dir + "/smoke.db");
    auto rows = s.rows();
    EXPECT_EQ(rows.size(), 16u);
    for (auto& row : rows) {
        ASSERT_EQ(row.status, "done") << row.method << " " << row.ctx << ": " << row.error.value_or("");
        auto rec = json::parse(*row.record);
        for (const char* m : {"ppl", "passkey", "longppl"}) EXPECT_TRUE(rec["metrics"].contains(m)) << m;
        EXPECT_EQ(rec["ctx"], row.ctx);
    }
    // Rerunning the same command does nothing.
    auto again = run_cli({"sweep", source_path("presets/smoke.toml"), "--db", dir + "/smoke.db", "--progress", "lines"});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.err.find("(0 run now, 16 were already done)"), std::string::npos) << again.err;
    // The report of the smoke store (issue "Report": produced in CI).
    auto rep = run_cli({"report", dir + "/smoke.db", "--out", dir + "/report"});
    ASSERT_EQ(rep.status, 0) << rep.err;
    for (const char* f : {"REPORT.md", "report.html", "comprehensive_results.json", "results.csv",
                          "detailed_statistics.txt", "figures/heatmap_ppl.png", "figures/rope_scaling.png",
                          "figures/rope_scaling.svg"})
        EXPECT_TRUE(std::filesystem::exists(dir + "/report/" + f)) << f << "\n" << rep.err;
    auto md = rb::read_file(dir + "/report/REPORT.md");
    EXPECT_NE(md.find("16 done"), std::string::npos) << md.substr(0, 2000);

    // Issue 18: the same preset with every prompt and window computed on its own
    // (ROPEBENCH_NO_SHARING, inherited by the experiment process) gives identical records:
    // metric values, per-document NLL sums and buckets, passkey outputs (record_fingerprint
    // drops only bookkeeping: timings, tokens processed, paths).
    setenv("ROPEBENCH_NO_SHARING", "1", 1);
    auto t1 = std::chrono::steady_clock::now();
    auto plain = run_cli({"sweep", source_path("presets/smoke.toml"), "--db", dir + "/plain.db", "--progress", "lines"});
    double wall_plain = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    unsetenv("ROPEBENCH_NO_SHARING");
    std::printf("smoke preset without sharing: %.1f s\n", wall_plain);
    ASSERT_EQ(plain.status, 0) << plain.err;
    rb::sweep::Store u(dir + "/plain.db");
    std::map<std::string, json> unshared;
    for (auto& row : u.rows()) unshared[row.id] = json::parse(*row.record);
    ASSERT_EQ(unshared.size(), rows.size());
    int64_t work_shared = 0, work_plain = 0;
    for (auto& row : rows) {
        ASSERT_TRUE(unshared.count(row.id)) << row.method << " " << row.ctx;
        auto rec = json::parse(*row.record);
        const json& ref = unshared[row.id];
        EXPECT_EQ(rb::sweep::record_fingerprint(rec), rb::sweep::record_fingerprint(ref)) << row.method << " " << row.ctx;
        EXPECT_EQ(rec["metrics"]["passkey"]["per_trial"], ref["metrics"]["passkey"]["per_trial"]);
        EXPECT_EQ(rec["metrics"]["ppl"]["per_doc"].dump(), ref["metrics"]["ppl"]["per_doc"].dump());
        work_shared += rec["tokens_processed"].get<int64_t>();
        work_plain += ref["tokens_processed"].get<int64_t>();
    }
    std::printf("smoke preset: %lld tokens through the models shared, %lld unshared\n",
                static_cast<long long>(work_shared), static_cast<long long>(work_plain));
    EXPECT_LT(work_shared, work_plain * 3 / 4);
}
