// Hub resolution and download against a local fake hub (fake_hub.h) serving shared/data/models.
#include "hub/hub.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/test_util.h"
#include "fake_hub.h"
#include "hub/sha1.h"
#include "util/hash.h"

namespace fs = std::filesystem;
using rb::hub::HubId;
using rb::hub::HubOptions;
using rb::test::FakeHub;

namespace {

const std::string k_commit = "8b4fc1bcc7f5b2c9b1e0a5d1c6a0f0e3d4c2b1a0";
const std::string k_commit2 = "1111111111111111111111111111111111111111";
const std::string k_st_sha256 = "c549afd8464a1250200b5338d39d23d0bf096c7f6578944268d40512c133daa6";

std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

using rb::test::closed_port;
using rb::test::ScopedEnv;

struct HubFixture : ::testing::Test {
    FakeHub hub;
    std::string cache;
    std::string models;
    HubOptions o;
    void SetUp() override {
        models = rb::test::shared_path("data/models");
        hub.add_repo("karpathy/stories260K", models + "/stories260K", k_commit);
        hub.add_repo("acme/llama2xs-gated", models + "/llama2xs-tok512-ctx256", k_commit2, /*gated=*/true);
        cache = rb::test::temp_dir();
        o.cache_dir = cache;
        o.endpoint = hub.endpoint();
        o.token = "";         // no token unless a test gives one
        o.offline = false;    // never read the environment's HF_HUB_OFFLINE
        o.progress = false;
        o.connect_timeout_s = 5;
        o.stall_timeout_s = 10;
    }
    std::string repo_dir(const std::string& id) { return rb::hub::repo_cache_path(id, o); }
    int count(const std::string& method, const std::string& path_part) {
        int n = 0;
        for (auto& r : hub.log())
            if (r.method == method && r.path.find(path_part) != std::string::npos) n++;
        return n;
    }
};

/// The cache tree of one repo, in the fixture's format: "<rel> file size=N" | "<rel> ref <content>" | "<rel> link <target>".
std::vector<std::string> layout_of(const fs::path& repo) {
    std::vector<std::string> out;
    for (auto it = fs::recursive_directory_iterator(repo); it != fs::recursive_directory_iterator(); ++it) {
        const auto& p = it->path();
        std::string rel = p.lexically_relative(repo).string();
        if (fs::is_symlink(it->symlink_status())) out.push_back(rel + " link " + fs::read_symlink(p).string());
        else if (fs::is_regular_file(it->symlink_status()) && rel.rfind("refs/", 0) == 0)
            out.push_back(rel + " ref " + slurp(p.string()));
        else if (fs::is_regular_file(it->symlink_status()))
            out.push_back(rel + " file size=" + std::to_string(fs::file_size(p)));
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST(HubId, Parse) {
    auto a = rb::hub::parse_hub_id("TinyLlama/TinyLlama-1.1B-Chat-v1.0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->repo_id, "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
    EXPECT_EQ(a->revision, "main");
    auto b = rb::hub::parse_hub_id("org/name@v1.0");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->revision, "v1.0");
    auto c = rb::hub::parse_hub_id("org/name@refs/pr/1");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->revision, "refs/pr/1");
    for (const char* bad : {"name", "/abs/path", "./rel/x", "a/b/c", "org/", "/name", "org/na me", "org/..",
                            "../x", "org/name@", "org--x/y", "-org/y", "org/name.", "model.gguf", "~/x"})
        EXPECT_FALSE(rb::hub::parse_hub_id(bad)) << bad;
    EXPECT_EQ(rb::hub::repo_folder_name("org/name"), "models--org--name");
}

TEST(HubEnv, CacheDirEndpointTokenOffline) {
    std::string home = rb::test::temp_dir();
    ScopedEnv e1("HF_HOME", home.c_str()), e2("HF_HUB_CACHE", nullptr), e3("HUGGINGFACE_HUB_CACHE", nullptr),
        e4("HF_ENDPOINT", nullptr), e5("HF_TOKEN", nullptr), e6("HUGGING_FACE_HUB_TOKEN", nullptr),
        e7("HF_TOKEN_PATH", nullptr), e8("HF_HUB_OFFLINE", nullptr), e9("TRANSFORMERS_OFFLINE", nullptr);
    HubOptions o;
    EXPECT_EQ(rb::hub::cache_dir(o), home + "/hub");
    EXPECT_EQ(rb::hub::endpoint(o), "https://huggingface.co");
    EXPECT_FALSE(rb::hub::token(o));
    EXPECT_FALSE(rb::hub::offline(o));
    {
        std::ofstream(home + "/token") << "hf_from_file\n";  // written by `huggingface-cli login`
        EXPECT_EQ(rb::hub::token(o).value_or(""), "hf_from_file");
        ScopedEnv t("HF_TOKEN", "hf_from_env");
        EXPECT_EQ(rb::hub::token(o).value_or(""), "hf_from_env");
    }
    ScopedEnv c("HF_HUB_CACHE", (home + "/other").c_str()), ep("HF_ENDPOINT", "http://mirror.local/"),
        off("HF_HUB_OFFLINE", "1");
    EXPECT_EQ(rb::hub::cache_dir(o), home + "/other");
    EXPECT_EQ(rb::hub::endpoint(o), "http://mirror.local");
    EXPECT_TRUE(rb::hub::offline(o));
    o.offline = false;
    EXPECT_FALSE(rb::hub::offline(o));
}

TEST(HubSha1, KnownValues) {
    EXPECT_EQ(rb::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");  // FIPS 180-2 example
    EXPECT_EQ(rb::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(rb::hub::git_blob_sha1(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");  // git's empty blob
    EXPECT_EQ(rb::hub::git_blob_sha1("hello world\n"), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
}

TEST_F(HubFixture, ColdDownloadWritesPythonLayout) {
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(snap, repo_dir("karpathy/stories260K") + "/snapshots/" + k_commit);
    for (const char* f : {"config.json", "tokenizer.model", "tokenizer_config.json", "model.safetensors"})
        EXPECT_EQ(slurp(snap + "/" + f), slurp(models + "/stories260K/" + f)) << f;
    // Only what a run needs: not the GGUF, the .bin files or generation_config.json.
    for (auto& r : hub.log()) {
        EXPECT_EQ(r.path.find(".gguf"), std::string::npos) << r.path;
        EXPECT_EQ(r.path.find(".bin"), std::string::npos) << r.path;
        EXPECT_EQ(r.path.find("generation_config"), std::string::npos) << r.path;
    }
    EXPECT_EQ(count("GET", "/lfs/" + k_st_sha256), 1);  // the redirect was followed for the LFS file

    // Layout equals the fixture written from huggingface_hub's documentation.
    std::vector<std::string> want;
    std::istringstream fx(slurp(rb::test::source_path("tests/unit/hub/fixtures/stories260K_layout.txt")));
    for (std::string line; std::getline(fx, line);)
        if (!line.empty() && line[0] != '#') want.push_back(line);
    std::sort(want.begin(), want.end());
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(layout_of(repo_dir("karpathy/stories260K")), want);
    // The download lock lives where huggingface_hub puts it.
    EXPECT_TRUE(fs::exists(cache + "/.locks/models--karpathy--stories260K/" + k_st_sha256 + ".lock"));
    EXPECT_TRUE(rb::hub::missing_files(repo_dir("karpathy/stories260K"), k_commit, o).empty());
}

TEST_F(HubFixture, WarmCacheMakesNoRequest) {
    rb::hub::resolve_model_path("karpathy/stories260K", o);
    int before = hub.requests();
    ASSERT_GT(before, 0);
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    std::string snap2 = rb::hub::resolve_model_path("karpathy/stories260K@" + k_commit, o);
    EXPECT_EQ(hub.requests(), before);
    EXPECT_EQ(snap, snap2);
    // Also offline, and with the hub gone.
    o.offline = true;
    EXPECT_EQ(rb::hub::resolve_model_path("karpathy/stories260K", o), snap);
    o.offline = false;
    o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
    EXPECT_EQ(rb::hub::resolve_model_path("karpathy/stories260K", o), snap);
}

TEST_F(HubFixture, ReusesCacheWrittenByPython) {
    // A cache as huggingface_hub writes it (docs): blobs by etag, relative symlinks, refs/main.
    fs::path repo = repo_dir("karpathy/stories260K");
    const std::string c = "2222222222222222222222222222222222222222";
    fs::create_directories(repo / "blobs");
    fs::create_directories(repo / "snapshots" / c);
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "refs" / "main") << c;
    for (const char* f : {"config.json", "tokenizer.model", "model.safetensors"}) {
        std::string bytes = slurp(models + "/stories260K/" + f);
        std::string etag = std::string(f) == "model.safetensors" ? rb::sha256_hex(bytes) : rb::hub::git_blob_sha1(bytes);
        fs::copy_file(models + "/stories260K/" + f, repo / "blobs" / etag);
        fs::create_symlink("../../blobs/" + etag, repo / "snapshots" / c / f);
    }
    EXPECT_EQ(rb::hub::resolve_model_path("karpathy/stories260K", o), (repo / "snapshots" / c).string());
    EXPECT_EQ(hub.requests(), 0);
}

TEST_F(HubFixture, InterruptedDownloadIsResumed) {
    // The server drops the connection after 300000 body bytes of the LFS file, once.
    hub.drop_once("/lfs/" + k_st_sha256, 300000);
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(rb::sha256_file(snap + "/model.safetensors"), k_st_sha256);
    std::vector<std::string> ranges;
    for (auto& r : hub.log())
        if (r.method == "GET" && r.path.find("/lfs/") != std::string::npos) ranges.push_back(r.range);
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0], "");
    EXPECT_EQ(ranges[1], "bytes=300000-");
    EXPECT_FALSE(fs::exists(repo_dir("karpathy/stories260K") + "/blobs/" + k_st_sha256 + ".incomplete"));
}

TEST_F(HubFixture, LeftoverIncompleteFromEarlierRunIsResumed) {
    // A previous process was killed after 100000 bytes: blobs/<etag>.incomplete holds them.
    fs::path blobs = repo_dir("karpathy/stories260K") + "/blobs";
    fs::create_directories(blobs);
    std::string bytes = slurp(models + "/stories260K/model.safetensors");
    std::ofstream(blobs / (k_st_sha256 + ".incomplete"), std::ios::binary) << bytes.substr(0, 100000);
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(slurp(snap + "/model.safetensors"), bytes);
    bool saw = false;
    for (auto& r : hub.log())
        if (r.method == "GET" && r.path.find("/lfs/") != std::string::npos) {
            EXPECT_EQ(r.range, "bytes=100000-");
            saw = true;
        }
    EXPECT_TRUE(saw);
}

TEST_F(HubFixture, CorruptedBlobIsDetectedAndNotCached) {
    hub.corrupt("model.safetensors");
    try {
        rb::hub::resolve_model_path("karpathy/stories260K", o);
        FAIL() << "corrupt download accepted";
    } catch (const rb::Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("sha256 mismatch"), std::string::npos) << m;
        EXPECT_NE(m.find(k_st_sha256), std::string::npos) << m;
    }
    fs::path repo = repo_dir("karpathy/stories260K");
    EXPECT_FALSE(fs::exists(repo / "blobs" / k_st_sha256));
    EXPECT_FALSE(fs::exists(repo / "blobs" / (k_st_sha256 + ".incomplete")));
    EXPECT_FALSE(fs::is_symlink(repo / "snapshots" / k_commit / "model.safetensors"));
    EXPECT_FALSE(rb::hub::missing_files(repo.string(), k_commit, o).empty());
    // A small git file with a wrong body is caught by its git blob sha1 (fresh cache: the first
    // attempt already stored tokenizer.model).
    o.cache_dir = rb::test::temp_dir();
    hub.corrupt("model.safetensors", false);
    hub.corrupt("tokenizer.model");
    try {
        rb::hub::resolve_model_path("karpathy/stories260K", o);
        FAIL() << "corrupt tokenizer accepted";
    } catch (const rb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("git blob sha1 mismatch"), std::string::npos) << e.what();
    }
    // Once the server is fixed, the download succeeds.
    hub.corrupt("tokenizer.model", false);
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(rb::sha256_file(snap + "/model.safetensors"), k_st_sha256);
}

TEST_F(HubFixture, OfflineNeverTouchesNetwork) {
    o.offline = true;
    try {
        rb::hub::resolve_model_path("karpathy/stories260K", o);
        FAIL() << "offline resolution of an empty cache succeeded";
    } catch (const rb::Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("offline"), std::string::npos) << m;
        EXPECT_NE(m.find("local checkpoint"), std::string::npos) << m;
    }
    HubOptions env_o = o;
    env_o.offline.reset();
    {
        ScopedEnv off("HF_HUB_OFFLINE", "1");
        EXPECT_THROW(rb::hub::resolve_model_path("karpathy/stories260K", env_o), rb::Error);
    }
    EXPECT_EQ(hub.requests(), 0);
}

TEST_F(HubFixture, GatedRepoNeedsToken) {
    try {
        rb::hub::resolve_model_path("acme/llama2xs-gated", o);
        FAIL() << "gated repo downloaded without a token";
    } catch (const rb::Error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.rfind("acme/llama2xs-gated is gated or private: set HF_TOKEN", 0), 0u) << m;
    }
    o.token = "wrong";
    EXPECT_THROW(rb::hub::resolve_model_path("acme/llama2xs-gated", o), rb::Error);
    // The token from the environment, as Python reads it.
    o.token.reset();
    std::string home = rb::test::temp_dir();
    ScopedEnv h("HF_HOME", home.c_str()), t1("HF_TOKEN", hub.token.c_str()), t2("HF_TOKEN_PATH", nullptr);
    std::string snap = rb::hub::resolve_model_path("acme/llama2xs-gated", o);
    EXPECT_EQ(slurp(snap + "/model.safetensors"), slurp(models + "/llama2xs-tok512-ctx256/model.safetensors"));
    bool any_auth = false;
    for (auto& r : hub.log())
        if (r.path.find("/resolve/") != std::string::npos && r.auth == "Bearer " + hub.token) any_auth = true;
    EXPECT_TRUE(any_auth);
}

TEST_F(HubFixture, GatedRepoTokenFile) {
    std::string home = rb::test::temp_dir();
    std::ofstream(home + "/token") << hub.token << "\n";
    ScopedEnv h("HF_HOME", home.c_str()), t1("HF_TOKEN", nullptr), t2("HUGGING_FACE_HUB_TOKEN", nullptr),
        t3("HF_TOKEN_PATH", nullptr);
    o.token.reset();
    EXPECT_NO_THROW(rb::hub::resolve_model_path("acme/llama2xs-gated", o));
}

TEST_F(HubFixture, NotFoundErrors) {
    try {
        rb::hub::resolve_model_path("nobody/nothing", o);
        FAIL();
    } catch (const rb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos) << e.what();
    }
    try {
        rb::hub::resolve_model_path("karpathy/stories260K@no-such-branch", o);
        FAIL();
    } catch (const rb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("revision 'no-such-branch' not found"), std::string::npos) << e.what();
    }
    o.gguf_file = "missing.gguf";
    try {
        rb::hub::resolve_model_path("karpathy/stories260K", o);
        FAIL();
    } catch (const rb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("file 'missing.gguf' not found"), std::string::npos) << e.what();
    }
}

TEST_F(HubFixture, UnreachableHubGivesOneClearLine) {
    o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
    try {
        rb::hub::resolve_model_path("TinyLlama/TinyLlama-1.1B-Chat-v1.0", o);
        FAIL();
    } catch (const rb::Error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        EXPECT_NE(m.find("not in the Hugging Face cache"), std::string::npos) << m;
        EXPECT_NE(m.find("not reachable"), std::string::npos) << m;
        EXPECT_NE(m.find("local checkpoint folder or .gguf file"), std::string::npos) << m;
    }
}

TEST_F(HubFixture, GgufFileOnly) {
    o.gguf_file = "stories260K-f32.gguf";
    std::string p = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(p, repo_dir("karpathy/stories260K") + "/snapshots/" + k_commit + "/stories260K-f32.gguf");
    EXPECT_EQ(slurp(p), slurp(models + "/stories260K/stories260K-f32.gguf"));
    for (auto& r : hub.log()) EXPECT_EQ(r.path.find("config.json"), std::string::npos) << r.path;
    int before = hub.requests();
    EXPECT_EQ(rb::hub::resolve_model_path("karpathy/stories260K", o), p);
    EXPECT_EQ(hub.requests(), before);
}

TEST_F(HubFixture, ShardedCheckpointFetchesIndexAndShards) {
    std::string dir = rb::test::temp_dir();
    fs::copy_file(models + "/stories260K/config.json", dir + "/config.json");
    fs::copy_file(models + "/stories260K/tokenizer.model", dir + "/tokenizer.model");
    fs::copy_file(models + "/stories260K/model.safetensors", dir + "/model-00001-of-00002.safetensors");
    std::ofstream(dir + "/model-00002-of-00002.safetensors") << "small second shard";
    std::ofstream(dir + "/model.safetensors.index.json")
        << R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}})";
    hub.add_repo("acme/sharded", dir, k_commit2);
    std::string snap = rb::hub::resolve_model_path("acme/sharded", o);
    for (const char* f : {"model.safetensors.index.json", "model-00001-of-00002.safetensors",
                          "model-00002-of-00002.safetensors"}) {
        EXPECT_TRUE(fs::is_symlink(snap + "/" + f)) << f;
        EXPECT_EQ(slurp(snap + "/" + f), slurp(dir + "/" + f)) << f;
    }
    EXPECT_TRUE(fs::exists(repo_dir("acme/sharded") + "/.no_exist/" + k_commit2 + "/model.safetensors"));
    int before = hub.requests();
    rb::hub::resolve_model_path("acme/sharded", o);
    EXPECT_EQ(hub.requests(), before);
}

TEST_F(HubFixture, RevisionRefAndLocalPathsPassThrough) {
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K@" + k_commit, o);
    EXPECT_EQ(snap, repo_dir("karpathy/stories260K") + "/snapshots/" + k_commit);
    // A commit revision writes no ref (huggingface_hub does the same).
    EXPECT_FALSE(fs::exists(repo_dir("karpathy/stories260K") + "/refs/" + k_commit));
    // Existing paths and non-ids are returned unchanged, without a request.
    int before = hub.requests();
    std::string local = models + "/stories260K";
    EXPECT_EQ(rb::hub::resolve_model_path(local, o), local);
    EXPECT_EQ(rb::hub::resolve_model_path("no_such_file.gguf", o), "no_such_file.gguf");
    EXPECT_EQ(hub.requests(), before);
}
