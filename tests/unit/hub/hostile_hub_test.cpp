// The hub client against a hostile hub (fake_hub.h's hostile modes): the token never reaches
// another host, only http(s) is followed, transfers stop at the announced size or the cap,
// redirect loops and endless headers end by the client's own limits, hostile ETag / commit
// values never name a path outside the cache, and no `.incomplete` file is left behind.
// No test here has a timer: each ends because the client stops.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "fake_hub.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "util/mapped_file.h"

namespace fs = std::filesystem;
using rb::hub::HubOptions;
using rb::test::FakeHub;

namespace {

const std::string k_commit = "8b4fc1bcc7f5b2c9b1e0a5d1c6a0f0e3d4c2b1a0";
const std::string k_st_sha256 = "c549afd8464a1250200b5338d39d23d0bf096c7f6578944268d40512c133daa6";
const uint64_t k_st_size = 1044992;  // stories260K/model.safetensors

struct Hostile : ::testing::Test {
    FakeHub hub;
    FakeHub cdn{"127.0.0.2"};  // "another host"
    std::string root = rb::test::temp_dir();
    std::string home = root + "/home";  // HF_HOME: nothing may appear outside it
    HubOptions o;
    void SetUp() override {
        std::string models = rb::test::shared_path("data/models");
        hub.add_repo("karpathy/stories260K", models + "/stories260K", k_commit);
        hub.add_repo("acme/gated", models + "/stories260K", k_commit, /*gated=*/true);
        cdn.add_repo("karpathy/stories260K", models + "/stories260K", k_commit);
        fs::create_directories(home);
        o.cache_dir = home + "/hub";
        o.endpoint = hub.endpoint();
        o.token = hub.token;  // every test holds a token that must stay home
        o.offline = false;
        o.allow_http = false;
        o.progress = false;
        o.connect_timeout_s = 5;
        o.stall_timeout_s = 10;
        o.max_attempts = 2;
    }
    /// Resolves the repo expecting an Error whose text contains `want`.
    void expect_refused(const std::string& repo, const std::string& want) {
        try {
            rb::hub::resolve_model_path(repo, o);
            ADD_FAILURE() << "hostile hub accepted";
        } catch (const rb::Error& e) {
            EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        }
    }
    /// Nothing outside HF_HOME, no `.incomplete` file, no file larger than the largest real one.
    void expect_clean() {
        for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
            std::string p = it->path().string();
            EXPECT_EQ(p.rfind(home, 0), 0u) << "written outside HF_HOME: " << p;
            EXPECT_EQ(p.find(".incomplete"), std::string::npos) << "left behind: " << p;
            EXPECT_EQ(p.find("escaped"), std::string::npos) << p;
            if (it->is_regular_file() && !it->is_symlink()) {
                EXPECT_LE(it->file_size(), k_st_size) << p;
            }
        }
    }
    int count(const FakeHub& h, const std::string& part) {
        int n = 0;
        for (auto& r : h.log())
            if (r.path.find(part) != std::string::npos) n++;
        return n;
    }
};

}  // namespace

TEST_F(Hostile, CrossHostRedirectGetsNoToken) {
    hub.set_cdn(cdn.endpoint());
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(rb::sha256_file(snap + "/model.safetensors"), k_st_sha256);
    ASSERT_GT(count(cdn, "/lfs/"), 0);
    for (auto& r : cdn.log()) EXPECT_EQ(r.auth, "") << "token sent to another host: " << r.method << " " << r.path;
    for (auto& r : hub.log()) EXPECT_EQ(r.auth, "Bearer " + hub.token) << r.path;  // the hub itself gets it
    expect_clean();
}

TEST_F(Hostile, RedirectFollowedByTheClientGetsNoToken) {
    // Gated repo, token needed on the hub; its LFS file goes hub -> /hop/ (same host) -> other host.
    hub.set_cdn(cdn.endpoint());
    FakeHub::Hostile h;
    h.lfs_via_hop = true;
    hub.set_hostile(h);
    std::string snap = rb::hub::resolve_model_path("acme/gated", o);
    EXPECT_EQ(rb::sha256_file(snap + "/model.safetensors"), k_st_sha256);
    EXPECT_EQ(count(hub, "/hop/"), 1);
    ASSERT_EQ(count(cdn, "/lfs/"), 1);
    for (auto& r : cdn.log()) EXPECT_EQ(r.auth, "") << r.path;
    expect_clean();
}

TEST_F(Hostile, OnlyHttpsOrLoopbackHttpIsFollowed) {
    for (const char* loc : {"file:///etc/passwd", "file:///dev/zero", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/x",
                            "dict://127.0.0.1:2628/d:x", "scp://127.0.0.1/x", "data:text/plain,abc",
                            "http://192.0.2.1/lfs/x", "javascript:alert(1)"}) {
        SCOPED_TRACE(loc);
        FakeHub::Hostile h;
        h.location = loc;
        hub.set_hostile(h);
        o.cache_dir = home + "/hub-" + std::to_string(hub.requests());
        expect_refused("karpathy/stories260K", "model.safetensors");
        expect_clean();
    }
    // The endpoint itself: plain http only on loopback, unless opted in.
    o.endpoint = "http://example.invalid";
    expect_refused("karpathy/stories260K", "ROPEBENCH_HUB_ALLOW_HTTP");
    o.endpoint = "file:///etc";
    expect_refused("karpathy/stories260K", "not an http(s) URL");
    expect_clean();
}

TEST_F(Hostile, EndlessBodyStopsAtTheAnnouncedSize) {
    for (const char* file : {"model.safetensors", "config.json"}) {  // LFS (X-Linked-Size), git (Content-Length)
        SCOPED_TRACE(file);
        FakeHub::Hostile h;
        h.endless_body = true;
        h.only = file;
        hub.set_hostile(h);
        o.cache_dir = home + "/hub-" + file;  // nothing cached from the previous case
        expect_refused("karpathy/stories260K", "the server sent more than the announced");
        expect_clean();
    }
}

TEST_F(Hostile, EndlessBodyWithoutAnnouncedSizeStopsAtTheCap) {
    FakeHub::Hostile h;
    h.endless_body = true;
    h.no_size = true;
    h.only = "model.safetensors";
    hub.set_hostile(h);
    o.max_unannounced_bytes = 2 << 20;
    expect_refused("karpathy/stories260K", "the cap for a file of unannounced size");
    expect_clean();
    // Without the lie, a file of unannounced size below the cap downloads (checked by its sha256).
    h.endless_body = false;
    hub.set_hostile(h);
    std::string snap = rb::hub::resolve_model_path("karpathy/stories260K", o);
    EXPECT_EQ(rb::sha256_file(snap + "/model.safetensors"), k_st_sha256);
}

TEST_F(Hostile, BodyLongerOrShorterThanAnnounced) {
    FakeHub::Hostile h;
    h.only = "model.safetensors";
    h.body_delta = 1000;
    hub.set_hostile(h);
    expect_refused("karpathy/stories260K", "the server sent more than the announced 1044992 bytes");
    expect_clean();
    h.body_delta = -1000;
    hub.set_hostile(h);
    expect_refused("karpathy/stories260K", "the server ended the body after 1043992 of the announced 1044992 bytes");
    expect_clean();
}

TEST_F(Hostile, PartialAnswerForAnotherRange) {
    // An earlier run left 100000 bytes; the server answers the Range with a 206 for bytes 0-.
    std::string blobs = rb::hub::repo_cache_path("karpathy/stories260K", o) + "/blobs";
    fs::create_directories(blobs);
    std::string bytes = rb::read_file(rb::test::shared_path("data/models/stories260K/model.safetensors"));
    rb::write_file(blobs + "/" + k_st_sha256 + ".incomplete", bytes.substr(0, 100000));
    FakeHub::Hostile h;
    h.only = "model.safetensors";
    h.wrong_range = true;
    hub.set_hostile(h);
    expect_refused("karpathy/stories260K", "does not answer 'Range: bytes=100000-'");
    expect_clean();
}

TEST_F(Hostile, RedirectLoopsAreBounded) {
    FakeHub::Hostile h;
    h.redirect_loop = true;  // GET: absolute redirects on and on
    hub.set_hostile(h);
    expect_refused("karpathy/stories260K", "more than 10 redirects");
    EXPECT_EQ(count(hub, "/loop/"), rb::hub::k_max_redirects + 1);  // the first request and 10 hops
    expect_clean();
    h = {};
    h.head_loop = true;  // HEAD: relative redirects on and on
    hub.set_hostile(h);
    int before = hub.requests();
    expect_refused("karpathy/stories260K", "more than 10 redirects");
    EXPECT_EQ(hub.requests() - before, rb::hub::k_max_redirects + 1);
    expect_clean();
}

TEST_F(Hostile, EndlessHeadersAreCut) {
    FakeHub::Hostile h;
    h.huge_header = true;
    hub.set_hostile(h);
    expect_refused("karpathy/stories260K", "the response headers exceed 65536 bytes");
    expect_clean();
}

TEST_F(Hostile, EtagAndCommitNeverNameAPathOutsideTheCache) {
    const std::vector<std::string> bad = {"../../../../escaped", "..", ".", "a/b", "/tmp/escaped", "..\\escaped",
                                          ".escaped", std::string(5000, 'e'), "e%2f..%2fescaped", "e scaped", ""};
    for (const auto& v : bad) {
        SCOPED_TRACE(v.substr(0, 40));
        FakeHub::Hostile h;
        h.etag = v.empty() ? "\"\"" : v;
        hub.set_hostile(h);
        expect_refused("karpathy/stories260K", "ETag");
        h = {};
        h.commit = v.empty() ? std::string(40, 'G') : v;
        hub.set_hostile(h);
        expect_refused("karpathy/stories260K", "X-Repo-Commit");
        expect_clean();
    }
    FakeHub::Hostile h;
    h.etag = "../../../../escaped";
    h.only = "model.safetensors";  // the LFS etag (X-Linked-Etag) too
    hub.set_hostile(h);
    expect_refused("karpathy/stories260K", "model.safetensors: the server sent no usable ETag");
    expect_clean();
}

TEST(HubHeaders, ParsingIsStrict) {
    rb::hub::HeaderBlock b;
    for (std::string l : {"HTTP/1.1 302 Found\r\n", "Location: /x\r\n", "HTTP/1.1 200 OK\r\n", "ETag:  \"abc\" \r\n",
                          "X-Linked-Size:12\r\n", "no colon\r\n", ":empty\r\n", "\r\n"})
        ASSERT_TRUE(b.feed(l.data(), l.size()));
    EXPECT_EQ(b.status(), 200);
    EXPECT_EQ(b.headers().count("location"), 0u);  // of the earlier response
    EXPECT_EQ(b.headers().at("etag"), "\"abc\"");
    EXPECT_EQ(b.headers().at("x-linked-size"), "12");
    std::string s = "HTTP/1.1 2000 OK";
    b.feed(s.data(), s.size());
    EXPECT_EQ(b.status(), 0);
    std::string big(rb::hub::k_max_header_bytes, 'a');
    EXPECT_FALSE(b.feed(big.data(), big.size()));

    EXPECT_EQ(rb::hub::parse_length("1044992").value_or(0), 1044992u);
    for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "9999999999999999999"})
        EXPECT_FALSE(rb::hub::parse_length(bad)) << bad;
    auto cr = rb::hub::parse_content_range("bytes 10-19/20");
    ASSERT_TRUE(cr);
    EXPECT_EQ(cr->start, 10u);
    EXPECT_EQ(cr->total.value_or(0), 20u);
    for (const char* bad : {"bytes 10-9/20", "bytes 10-19/19", "bytes */20", "items 0-1/2", "bytes 1-2"})
        EXPECT_FALSE(rb::hub::parse_content_range(bad)) << bad;

    for (const char* e : {"abc", "c549afd8-1", "a.b_c"}) EXPECT_TRUE(rb::hub::valid_etag(e)) << e;
    for (const char* e : {"", ".", "..", ".x", "a/b", "a\\b", "a b", "a:b"}) EXPECT_FALSE(rb::hub::valid_etag(e)) << e;

    EXPECT_TRUE(rb::hub::is_relative_reference("/a/b"));
    EXPECT_TRUE(rb::hub::is_relative_reference("../a:b"));
    for (const char* l : {"//other/x", "file:///etc/passwd", "https://x/y", "data:x"})
        EXPECT_FALSE(rb::hub::is_relative_reference(l)) << l;
    const std::string base = "http://127.0.0.1:8080/org/name/resolve/main/f";
    EXPECT_EQ(rb::hub::resolve_url(base, "../x?a=1")->url, "http://127.0.0.1:8080/org/name/resolve/x?a=1");
    EXPECT_EQ(rb::hub::resolve_url(base, "//cdn.example/y")->origin(), "http://cdn.example:80");
    EXPECT_FALSE(rb::hub::resolve_url(base, "file:'//etc/passwd"));  // fuzz_hub_headers finding (see docs/fuzzing.md)
    EXPECT_FALSE(rb::hub::resolve_url(base, "http://a b/"));
    for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "[::1]"}) EXPECT_TRUE(rb::hub::is_loopback_host(h)) << h;
    for (const char* h : {"127.0.0.1.example.com", "128.0.0.1", "example.com", "[::2]"})
        EXPECT_FALSE(rb::hub::is_loopback_host(h)) << h;
}
