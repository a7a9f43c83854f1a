// The paths users take, end to end, as they take them: hub ids in every command (through the
// project's fake hub on 127.0.0.1 with an empty HF_HOME), the README's run command exactly as
// written, sweep exit statuses, one model per store, thread counts, and a crashing experiment.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/test_util.h"
#include "sweep/store.h"
#include "unit/hub/fake_hub.h"

namespace fs = std::filesystem;
using nlohmann::json;
using rb::test::run_cli;
using rb::test::run_command;
using rb::test::ScopedEnv;
using rb::test::shared_path;
using rb::test::source_path;

namespace {

const char* k_commit = "0123456789abcdef0123456789abcdef01234567";
const char* k_commit2 = "89abcdef0123456789abcdef0123456789abcdef";

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
    std::string p = dir + "/" + name;
    std::ofstream(p) << text;
    return p;
}

int lines_of(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// An empty Hugging Face home and the fake hub as the endpoint.
struct HubUser : ::testing::Test {
    rb::test::FakeHub hub;
    std::string home = rb::test::temp_dir();
    std::string endpoint = hub.endpoint();
    ScopedEnv e1{"HF_HOME", home.c_str()}, e2{"HF_HUB_CACHE", nullptr}, e3{"HUGGINGFACE_HUB_CACHE", nullptr},
        e4{"HF_ENDPOINT", endpoint.c_str()}, e5{"HF_HUB_OFFLINE", nullptr}, e6{"TRANSFORMERS_OFFLINE", nullptr},
        e7{"HF_TOKEN", nullptr};
    std::string text = shared_path("data/text/pg84_frankenstein.txt");
    void SetUp() override {
        hub.add_repo("testorg/tiny", shared_path("data/models/llama2xs-tok512-ctx256"), k_commit);
        hub.add_repo("testorg/evaluator", shared_path("data/models/babyllama-tok105-ctx256"), k_commit2);
    }
};

}  // namespace

TEST_F(HubUser, EveryModelCommandTakesAHubId) {
    // Cold cache: downloads, then runs.
    auto ppl = run_cli({"ppl", "testorg/tiny", "--text", text, "--ctx", "256", "--json"});
    ASSERT_EQ(ppl.status, 0) << ppl.err;
    json p = json::parse(ppl.out);
    EXPECT_EQ(p["model"]["path"], "testorg/tiny");
    EXPECT_NE(p["model"]["local_path"].get<std::string>().find("models--testorg--tiny/snapshots/"), std::string::npos);
    // The same number as the local folder gives.
    auto local = run_cli({"ppl", shared_path("data/models/llama2xs-tok512-ctx256"), "--text", text, "--ctx", "256", "--json"});
    ASSERT_EQ(local.status, 0) << local.err;
    EXPECT_EQ(p["ppl"], json::parse(local.out)["ppl"]);

    // Warm cache: no request at all, for every command.
    const int before = hub.requests();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"ppl", "testorg/tiny", "--text", text, "--ctx", "256"},
             {"passkey", "testorg/tiny", "--ctx", "256", "--trials", "1", "--depths", "0.5"},
             {"generate", "testorg/tiny", "--prompt", "Once upon a time", "-n", "8"},
             {"info", "testorg/tiny"},
         }) {
        auto r = run_cli(args);
        EXPECT_EQ(r.status, 0) << args[0] << ": " << r.err;
    }
    // LongPPL / eval with a hub-id evaluator (downloaded now), then warm.
    std::vector<std::string> eval{"eval",          "testorg/tiny", "--ctx",           "512",  "--metrics",     "ppl,longppl",
                                  "--text",        text,           "--evaluator",     "testorg/evaluator",
                                  "--short-window", "128",         "--key-stride",    "64",   "--key-cache",   "-", "--json"};
    auto ev = run_cli(eval);
    ASSERT_EQ(ev.status, 0) << ev.err;
    EXPECT_EQ(json::parse(ev.out)["metrics"]["longppl"]["evaluator"]["path"], "testorg/evaluator");
    const int after_evaluator = hub.requests();
    EXPECT_GT(after_evaluator, before);  // the evaluator was fetched
    ASSERT_EQ(run_cli(eval).status, 0);
    EXPECT_EQ(hub.requests(), after_evaluator) << "a warm cache must not send requests";

    // Offline: the cache alone.
    {
        ScopedEnv off("HF_HUB_OFFLINE", "1");
        auto r = run_cli({"ppl", "testorg/tiny", "--text", text, "--ctx", "256"});
        EXPECT_EQ(r.status, 0) << r.err;
        auto miss = run_cli({"ppl", "testorg/not-cached", "--text", text, "--ctx", "256"});
        EXPECT_EQ(miss.status, 1);
        EXPECT_EQ(lines_of(miss.err), 1) << miss.err;
        EXPECT_NE(miss.err.find("offline mode is on"), std::string::npos) << miss.err;
    }
    EXPECT_EQ(hub.requests(), after_evaluator);
}

TEST_F(HubUser, SweepOnAHubIdReadsItsGeometryAndRunsEveryExperiment) {
    std::string dir = rb::test::temp_dir();
    std::string cfg = write(dir, "c.toml", fmt::format(R"([model]
path = "testorg/tiny"
threads = 1
[data]
texts = ["{}"]
[metrics]
run = ["ppl"]
[sweep]
ctx = [256, 512]
[[methods]]
method = "yarn"
factor = "ctx / original"
)",
                                                       text));
    // Dry run: only config.json is fetched (the geometry), no weights.
    auto dry = run_cli({"sweep", cfg, "--dry-run"});
    ASSERT_EQ(dry.status, 0) << dry.err;
    EXPECT_NE(dry.out.find("geometry from the hub's config.json"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("trained ctx 256"), std::string::npos) << dry.out;
    for (const auto& r : hub.log()) EXPECT_EQ(r.path.find("safetensors"), std::string::npos) << r.path;

    auto run = run_cli({"sweep", cfg, "--db", dir + "/s.db", "--progress", "lines"});
    ASSERT_EQ(run.status, 0) << run.err;
    rb::sweep::Store s(dir + "/s.db");
    EXPECT_EQ(s.rows().size(), 4u);  // baseline and yarn at 256 and 512
    EXPECT_EQ(s.count("done"), 4);
}

TEST_F(HubUser, RunScriptAsTheReadmeShowsIt) {
    // The README's run command: `scripts/run.sh`, default model TinyLlama/TinyLlama-1.1B-Chat-v1.0
    // served by the fake hub (a tiny checkpoint under that id), an empty HF_HOME, the texts from
    // the data mirror. The build folder is this suite's (BUILD), the output a temporary folder.
    hub.add_repo("TinyLlama/TinyLlama-1.1B-Chat-v1.0", shared_path("data/models/stories260K"), k_commit);
    std::string out = rb::test::temp_dir();
    std::string build = fs::path(ROPEBENCH_BIN).parent_path().parent_path().string();
    std::string mirror = shared_path("data");
    ScopedEnv o("OUT", out.c_str()), b("BUILD", build.c_str()), m("ROPEBENCH_DATA_MIRROR", mirror.c_str()),
        u1("MODEL", nullptr), u2("CTX", nullptr);
    auto r = run_command({"/bin/bash", source_path("scripts/run.sh")});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    std::string dir = out + "/TinyLlama--TinyLlama-1.1B-Chat-v1.0";
    EXPECT_NE(r.out.find("report: " + dir + "/quick_report/REPORT.md"), std::string::npos) << r.out;
    rb::sweep::Store s(dir + "/quick.db");
    EXPECT_EQ(s.count("done"), static_cast<int>(s.rows().size()));
    EXPECT_EQ(s.rows().size(), 15u);  // 2 contexts x (baseline + 6 methods) + ntk at 4096
    for (const char* f : {"REPORT.md", "report.html", "results.csv", "comprehensive_results.json"})
        EXPECT_TRUE(fs::exists(dir + "/quick_report/" + f)) << f;
}

TEST(SweepExit, NonZeroWhenAnExperimentFailsAndReportNamesIt) {
    std::string dir = rb::test::temp_dir();
    // passkey prompts need ~100 tokens: at ctx 64 every passkey experiment fails; at 512 they run.
    std::string cfg = write(dir, "c.toml", fmt::format(R"([model]
path = "{}"
threads = 1
[metrics]
run = ["passkey"]
[metrics.passkey]
depths = [0.5]
trials = 1
[sweep]
ctx = [64, 512]
baseline = true
)",
                                                       shared_path("data/models/stories260K")));
    auto r = run_cli({"sweep", cfg, "--db", dir + "/s.db", "--progress", "lines"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("error: sweep: 1 of 2 experiments not done (1 failed)"), std::string::npos) << r.err;
    rb::sweep::Store s(dir + "/s.db");
    EXPECT_EQ(s.count("done"), 1);
    EXPECT_EQ(s.count("failed"), 1);
}

TEST(SweepExit, NothingDoneMeansNoReport) {
    std::string dir = rb::test::temp_dir();
    std::string cfg = write(dir, "c.toml", fmt::format(R"([model]
path = "{}"
[metrics]
run = ["passkey"]
[sweep]
ctx = [64]
)",
                                                       shared_path("data/models/stories260K")));
    auto r = run_cli({"sweep", cfg, "--db", dir + "/s.db"});
    EXPECT_EQ(r.status, 1);
    auto rep = run_cli({"report", dir + "/s.db", "--out", dir + "/rep"});
    EXPECT_EQ(rep.status, 1);
    EXPECT_NE(rep.err.find("no experiment is done"), std::string::npos) << rep.err;
    EXPECT_FALSE(fs::exists(dir + "/rep"));
}

TEST(SweepExit, ACrashingExperimentIsRecordedAndTheGridGoesOn) {
    // Test hook of the fake evaluator: the experiment at ctx 128 raises SIGSEGV in the
    // experiment process. The sweep records it failed (after one retry) and finishes the grid.
    std::string dir = rb::test::temp_dir();
    std::string cfg = write(dir, "c.toml", fmt::format(R"([model]
path = "{}"
[data]
texts = ["{}"]
[metrics]
run = ["ppl"]
[sweep]
ctx = [64, 128, 256]
)",
                                                       shared_path("data/models/stories260K"),
                                                       shared_path("data/text/tinystories_valid_sample.txt")));
    ScopedEnv crash("ROPEBENCH_FAKE_CRASH_CTX", "128");
    auto r = run_cli({"sweep", cfg, "--db", dir + "/s.db", "--fake-eval-ms", "0", "--progress", "lines"});
    EXPECT_EQ(r.status, 1) << r.err;
    rb::sweep::Store s(dir + "/s.db");
    EXPECT_EQ(s.count("done"), 2);
    ASSERT_EQ(s.count("failed"), 1);
    for (auto& row : s.rows())
        if (row.status == "failed") {
            EXPECT_EQ(row.ctx, 128);
            EXPECT_NE(row.error.value_or("").find("SIGSEGV"), std::string::npos) << row.error.value_or("");
            EXPECT_EQ(row.attempts, 2);
        }
}

TEST(SweepStore, OneStoreOneModel) {
    std::string dir = rb::test::temp_dir();
    auto cfg_for = [&](const std::string& model) {
        return write(dir, "c.toml", fmt::format(R"([model]
path = "{}"
[data]
texts = ["{}"]
[metrics]
run = ["ppl"]
[sweep]
ctx = [128]
)",
                                                 model, shared_path("data/text/tinystories_valid_sample.txt")));
    };
    auto a = run_cli({"sweep", cfg_for(shared_path("data/models/stories260K")), "--db", dir + "/s.db"});
    ASSERT_EQ(a.status, 0) << a.err;
    auto b = run_cli({"sweep", cfg_for(shared_path("data/models/llama2xs-tok512-ctx256")), "--db", dir + "/s.db"});
    EXPECT_EQ(b.status, 1);
    EXPECT_EQ(lines_of(b.err), 1) << b.err;
    EXPECT_NE(b.err.find("this store holds the experiments of"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("llama2xs-tok512-ctx256"), std::string::npos) << b.err;
    rb::sweep::Store s(dir + "/s.db");
    EXPECT_EQ(s.rows().size(), 1u);  // nothing was added
    // The same model with another thread count is the same model.
    auto c = run_cli({"sweep", cfg_for(shared_path("data/models/stories260K")), "--db", dir + "/s.db", "--threads", "1"});
    EXPECT_EQ(c.status, 0) << c.err;
}

TEST(Threads, AbsurdCountsAreUsageErrors) {
    std::string model = shared_path("data/models/stories260K");
    std::string text = shared_path("data/text/tinystories_valid_sample.txt");
    for (const char* n : {"2147483647", "-1", "1025", "many"}) {
        auto r = run_cli({"ppl", model, "--text", text, "--ctx", "64", "--threads", n});
        EXPECT_EQ(r.status, 2) << n << ": " << r.err;
        EXPECT_EQ(lines_of(r.err), 1) << r.err;
        EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
        auto s = run_cli({"sweep", source_path("presets/smoke.toml"), "--threads", n, "--dry-run"});
        EXPECT_EQ(s.status, 2) << n << ": " << s.err;
    }
    std::string dir = rb::test::temp_dir();
    std::string cfg = write(dir, "c.toml", fmt::format(R"([model]
path = "{}"
threads = 99999999999
[metrics]
run = ["passkey"]
[sweep]
ctx = [512]
)",
                                                       model));
    auto t = run_cli({"sweep", cfg, "--dry-run"});
    EXPECT_EQ(t.status, 1);
    EXPECT_NE(t.err.find("c.toml:3: model.threads"), std::string::npos) << t.err;
    EXPECT_NE(t.err.find("<= 1024"), std::string::npos) << t.err;
}
