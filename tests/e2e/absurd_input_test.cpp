// Absurd sizes, non-regular files and silently wrong checkpoints (issue 14, "Crashes and
// hangs", "Messages and silent acceptance"): each is one `error:` line and exit 2 (a malformed
// command line) or 1 (bad data), never a crash, an abort, a hang or a slow allocation.
// FIFOs come from rb::test::FifoUnjammer, so a regression fails the test instead of hanging it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/test_util.h"

namespace fs = std::filesystem;
using rb::test::CliResult;
using rb::test::run_cli;
using rb::test::ScopedEnv;
using rb::test::shared_path;

namespace {

int lines_of(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// One `error:` line on stderr, the given exit status, and every `needle` in the message.
::testing::AssertionResult one_error(const CliResult& r, int status, std::initializer_list<std::string> needles) {
    if (r.status != status)
        return ::testing::AssertionFailure() << "exit " << r.status << ", expected " << status << "; stderr: " << r.err;
    if (lines_of(r.err) != 1 || r.err.rfind("error: ", 0) != 0)
        return ::testing::AssertionFailure() << "expected one `error:` line, got: " << r.err;
    for (const auto& n : needles)
        if (r.err.find(n) == std::string::npos)
            return ::testing::AssertionFailure() << "'" << n << "' not in: " << r.err;
    return ::testing::AssertionSuccess();
}

// A writable copy of a shared checkpoint folder.
std::string copy_model(const std::string& name) {
    const std::string dir = rb::test::temp_dir() + "/" + name;
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(shared_path("data/models/" + name))) {
        fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
        fs::permissions(dir + "/" + e.path().filename().string(), fs::perms::owner_read | fs::perms::owner_write);
    }
    return dir;
}

const std::string k_model = "data/models/stories260K";
const std::string k_text = "data/text/tinystories_valid_sample.txt";

}  // namespace

TEST(AbsurdSizes, PasskeyContextOverflowAndOversize) {
    const std::string m = shared_path(k_model);
    // 700,000,000 made 4*ctx overflow int (SIGABRT); 150,000,000 ran out of memory slowly.
    for (std::string ctx : {"700000000", "150000000", "2147483647", "0", "-5"})
        EXPECT_TRUE(one_error(run_cli({"passkey", m, "--ctx=" + ctx, "--trials", "1"}), 2, {"--ctx", "'" + ctx + "'"}));
}

TEST(AbsurdSizes, PplBucketAndStride) {
    const std::string m = shared_path(k_model), t = shared_path(k_text);
    EXPECT_TRUE(one_error(run_cli({"ppl", m, "--text", t, "--ctx", "64", "--bucket", "2147483647"}), 2, {"--bucket"}));
    EXPECT_TRUE(one_error(run_cli({"ppl", m, "--text", t, "--ctx", "64", "--protocol", "sliding", "--stride",
                                   "2147483647"}),
                          2, {"--stride"}));
}

TEST(AbsurdSizes, BenchFlags) {
    const std::string m = shared_path(k_model);
    // --decode-prompt 0 segfaulted (the argmax of an empty prompt).
    EXPECT_TRUE(one_error(run_cli({"bench", m, "--ctx", "16", "--runs", "1", "--decode", "2", "--decode-prompt", "0"}), 2,
                          {"--decode-prompt"}));
    // --ctx=-5 said "cannot create std::vector larger than max_size()"; --ctx 0 printed a paragraph.
    for (const char* c : {"--ctx=-5", "--ctx=0", "--ctx=99999999999", "--ctx=16,-1"}) {
        auto r = run_cli({"bench", m, c, "--runs", "1", "--decode", "0"});
        EXPECT_TRUE(one_error(r, 2, {"--ctx"})) << c;
        EXPECT_LT(r.err.size(), 120u) << r.err;
    }
    auto ok = run_cli({"bench", m, "--ctx", "16", "--runs", "1", "--decode", "2", "--decode-prompt", "1", "--json"});
    EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(AbsurdSizes, GenerateAndRopeAndEval) {
    const std::string m = shared_path(k_model);
    EXPECT_TRUE(one_error(run_cli({"generate", m, "--prompt", "", "-n", "2147483647"}), 2, {"--n-predict"}));
    EXPECT_TRUE(one_error(run_cli({"generate", m, "--prompt", "", "--ctx", "-1"}), 2, {"--ctx"}));
    // 2,000,000,000 allocated for minutes.
    EXPECT_TRUE(one_error(run_cli({"rope", "--head-dim", "2000000000", "--max-pos", "2048", "--rope-scaling", "none"}), 2,
                          {"--head-dim"}));
    EXPECT_TRUE(one_error(run_cli({"eval", m, "--ctx", "64", "--metrics", "passkey", "--trials", "99999999999"}), 2,
                          {"--trials"}));
}

TEST(AbsurdSizes, RopeThetaNanIsAUsageError) {
    const std::string m = shared_path(k_model);
    for (const char* v : {"nan", "inf", "-1", "0.5", "1e999"}) {
        EXPECT_TRUE(one_error(run_cli({"generate", m, "--prompt", "", "-n", "1", "--rope-theta", v}), 2, {"--rope-theta"}))
            << v;
        EXPECT_TRUE(one_error(run_cli({"rope", "--head-dim", "64", "--max-pos", "2048", "--rope-theta", v}), 2,
                              {"--rope-theta"}))
            << v;
    }
    EXPECT_TRUE(one_error(run_cli({"sweep", rb::test::source_path("presets/smoke.toml"), "--dry-run", "--gflops", "nan"}),
                          2, {"--gflops"}));
}

TEST(AbsurdSizes, ContextThatDoesNotFitIsRefusedBeforeLoading) {
    // The geometry of a huge model over a one-tensor file: every command that runs a model
    // refuses the window with the figure before loading a weight.
    const std::string dir = rb::test::temp_dir() + "/huge";
    fs::create_directories(dir);
    nlohmann::json cfg = nlohmann::json::parse(read_all(shared_path(k_model + "/config.json")));
    cfg["hidden_size"] = 131072;
    cfg["intermediate_size"] = 524288;
    cfg["num_hidden_layers"] = 4096;
    cfg["num_attention_heads"] = 1024;
    cfg["num_key_value_heads"] = 1024;
    cfg["head_dim"] = 128;
    write_all(dir + "/config.json", cfg.dump());
    std::string st = read_all(shared_path(k_model + "/model.safetensors"));
    write_all(dir + "/model.safetensors", st);
    fs::copy_file(shared_path(k_model + "/tokenizer.model"), dir + "/tokenizer.model");
    const std::string t = shared_path(k_text);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"passkey", dir, "--ctx", "1024", "--trials", "1"},
             {"ppl", dir, "--text", t, "--ctx", "1024"},
             {"generate", dir, "--prompt", "", "-n", "8"},
             {"bench", dir, "--ctx", "16", "--runs", "1", "--decode", "0"}}) {
        EXPECT_TRUE(one_error(run_cli(args), 1, {dir, "GiB", "MemAvailable"})) << args[0];
    }
    // info shows the same figures without wrapping (64-bit), and refuses absurd geometries.
    auto info = run_cli({"info", dir, "--json"});
    ASSERT_EQ(info.status, 0) << info.err;
    auto j = nlohmann::json::parse(info.out);
    const double w = j["memory"][0]["f32"]["weights"].get<double>();
    EXPECT_GT(w, 4096.0 * 131072 * 524288 * 3 * 4 * 0.99);  // the MLP matrices alone
    cfg["hidden_size"] = 1 << 30;
    write_all(dir + "/config.json", cfg.dump());
    EXPECT_TRUE(one_error(run_cli({"info", dir}), 1, {dir + "/config.json", "hidden_size", "supported maximum"}));
}

TEST(NonRegularFiles, FifoAnywhereIsRefusedWithoutOpening) {
    const std::string dir = rb::test::temp_dir();
    const std::string m = shared_path(k_model), t = shared_path(k_text);
    {
        rb::test::FifoUnjammer fifo(dir + "/model.gguf");
        EXPECT_TRUE(one_error(run_cli({"info", dir + "/model.gguf"}), 1, {dir + "/model.gguf", "FIFO"}));
        EXPECT_EQ(fifo.readers(), 0);
    }
    {
        rb::test::FifoUnjammer fifo(dir + "/model");  // no extension: the magic check must not read it
        EXPECT_TRUE(one_error(run_cli({"generate", dir + "/model", "--prompt", "", "-n", "1"}), 1, {"FIFO"}));
        EXPECT_EQ(fifo.readers(), 0);
    }
    {
        const std::string f = dir + "/cfg";
        fs::create_directories(f);
        fs::copy_file(m + "/model.safetensors", f + "/model.safetensors");
        rb::test::FifoUnjammer fifo(f + "/config.json");
        EXPECT_TRUE(one_error(run_cli({"info", f}), 1, {f + "/config.json", "FIFO"}));
        EXPECT_EQ(fifo.readers(), 0);
    }
    {
        const std::string f = dir + "/weights";
        fs::create_directories(f);
        fs::copy_file(m + "/config.json", f + "/config.json");
        rb::test::FifoUnjammer fifo(f + "/model.safetensors");
        EXPECT_TRUE(one_error(run_cli({"info", f}), 1, {f + "/model.safetensors", "FIFO"}));
        EXPECT_EQ(fifo.readers(), 0);
    }
    {
        rb::test::FifoUnjammer fifo(dir + "/text.txt");
        EXPECT_TRUE(one_error(run_cli({"ppl", m, "--text", dir + "/text.txt", "--ctx", "64"}), 1, {dir + "/text.txt", "FIFO"}));
        EXPECT_EQ(fifo.readers(), 0);
    }
    {
        rb::test::FifoUnjammer fifo(dir + "/hay.txt");
        EXPECT_TRUE(one_error(run_cli({"passkey", m, "--ctx", "128", "--trials", "1", "--haystack", dir + "/hay.txt"}), 1,
                              {dir + "/hay.txt", "FIFO"}));
        EXPECT_EQ(fifo.readers(), 0);
    }
    // A character device is no checkpoint either (it was read until memory ran out).
    EXPECT_TRUE(one_error(run_cli({"info", "/dev/zero"}), 1, {"/dev/zero", "character device"}));
}

TEST(NonRegularFiles, SymlinkLoopIsNamedNotSentToTheHub) {
    const std::string dir = rb::test::temp_dir();
    fs::create_symlink(dir + "/loop", dir + "/loop");
    fs::create_symlink(dir + "/nowhere", dir + "/dangling");
    // Any network use would go to a closed port (and say so); offline would say "offline".
    const std::string endpoint = fmt::format("http://127.0.0.1:{}", rb::test::closed_port());
    ScopedEnv e1{"HF_ENDPOINT", endpoint.c_str()}, e2{"HF_HOME", dir.c_str()}, e3{"HF_HUB_OFFLINE", nullptr};
    EXPECT_TRUE(one_error(run_cli({"info", dir + "/loop"}), 1, {dir + "/loop", "symbolic link"}));
    EXPECT_TRUE(one_error(run_cli({"generate", dir + "/dangling", "--prompt", "", "-n", "1"}), 1,
                          {dir + "/dangling", "symbolic link", "does not exist"}));
}

TEST(SilentAcceptance, NanWeightIsFoundAtLoadNamingTheTensor) {
    const std::string dir = copy_model("stories260K");
    std::string st = read_all(dir + "/model.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, st.data(), 8);
    auto h = nlohmann::json::parse(st.substr(8, n));
    const auto& t = h["model.layers.2.mlp.down_proj.weight"];
    ASSERT_EQ(t["dtype"], "F32");
    const float bad = std::nanf("");
    std::memcpy(&st[8 + n + t["data_offsets"][0].get<size_t>() + 4 * 7], &bad, 4);
    write_all(dir + "/model.safetensors", st);
    // It was blamed on the text ("non-finite log-probability"), and generate printed "⁇ ⁇ ⁇".
    EXPECT_TRUE(one_error(run_cli({"generate", dir, "--prompt", "", "-n", "4"}), 1,
                          {"model.safetensors", "model.layers.2.mlp.down_proj.weight", "non-finite", "element 7"}));
    EXPECT_TRUE(one_error(run_cli({"ppl", dir, "--text", shared_path(k_text), "--ctx", "64"}), 1,
                          {"model.layers.2.mlp.down_proj.weight", "non-finite"}));
}

TEST(SilentAcceptance, FewerLayersThanTheCheckpointIsRefused) {
    const std::string dir = copy_model("stories260K");
    auto cfg = nlohmann::json::parse(read_all(dir + "/config.json"));
    cfg["num_hidden_layers"] = 4;  // the file holds 5
    write_all(dir + "/config.json", cfg.dump());
    EXPECT_TRUE(one_error(run_cli({"generate", dir, "--prompt", "", "-n", "1"}), 1,
                          {dir, "not used", "4-layer", "model.layers.4.", "num_hidden_layers"}));
}

TEST(SilentAcceptance, BinaryHaystackIsRefused) {
    const std::string dir = rb::test::temp_dir();
    write_all(dir + "/nul.txt", std::string("The grass is green.\0 The sky is blue. ", 38));
    write_all(dir + "/latin1.txt", "Caf\xe9 au lait. The sky is blue. ");
    const std::string m = shared_path(k_model);
    EXPECT_TRUE(one_error(run_cli({"passkey", m, "--ctx", "128", "--trials", "1", "--haystack", dir + "/nul.txt"}), 1,
                          {dir + "/nul.txt", "NUL byte at offset 19"}));
    EXPECT_TRUE(one_error(run_cli({"passkey", m, "--ctx", "128", "--trials", "1", "--haystack", dir + "/latin1.txt"}), 1,
                          {dir + "/latin1.txt", "UTF-8", "offset 3"}));
}

TEST(SilentAcceptance, NoLongEnoughDocumentNamesTheFile) {
    const std::string dir = rb::test::temp_dir();
    write_all(dir + "/short.txt", "Once upon a time there was a cat.");
    EXPECT_TRUE(one_error(run_cli({"-q", "ppl", shared_path(k_model), "--text", dir + "/short.txt", "--ctx", "256"}), 1,
                          {dir + "/short.txt", "no document has at least ctx - 1 = 255 tokens"}));
}

TEST(SweepGrid, HugeGridsAreCountedNotExpanded) {
    const std::string dir = rb::test::temp_dir();
    std::string list;
    for (int i = 0; i < 100; ++i) list += fmt::format("{}{}", i ? ", " : "", 1.0 + i / 100.0);
    auto config = [&](const std::string& name, const std::string& axes) {
        const std::string p = dir + "/" + name;
        write_all(p, fmt::format(R"([model]
path = "{}"
[metrics]
run = ["passkey"]
[sweep]
ctx = [256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 2560]
[[methods]]
method = "yarn"
{}
)",
                                 shared_path(k_model), axes));
        return p;
    };
    // 10 contexts x (1 baseline + 100 x 100 yarn configs) = 100,010: above 100,000.
    const std::string big = config("big.toml", fmt::format("factor = [{}]\nbeta_fast = [{}]", list, list));
    EXPECT_TRUE(one_error(run_cli({"sweep", big, "--dry-run"}), 1, {big, "100010 experiments", "above 100000", "--yes"}));
    // 10 x (1 + 100^3) = 10,000,010 (the dry run grew to 8 GB): refused even with --yes, at once.
    const std::string huge =
        config("huge.toml", fmt::format("factor = [{}]\nbeta_fast = [{}]\nbeta_slow = [{}]", list, list, list));
    EXPECT_TRUE(one_error(run_cli({"sweep", huge, "--dry-run", "--yes"}), 1, {huge, "10000010", "even with --yes"}));
}
