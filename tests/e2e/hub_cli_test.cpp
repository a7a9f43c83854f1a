// `ropebench info <hub id>` without network and without a cache: one clear error line, exit 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/test_util.h"

namespace {

using rb::test::closed_port;
using rb::test::ScopedEnv;

struct HubCli : ::testing::Test {
    std::string home = rb::test::temp_dir();
    std::string endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
    ScopedEnv e1{"HF_HOME", home.c_str()}, e2{"HF_HUB_CACHE", nullptr}, e3{"HUGGINGFACE_HUB_CACHE", nullptr},
        e4{"HF_ENDPOINT", endpoint.c_str()}, e5{"HF_HUB_OFFLINE", nullptr}, e6{"TRANSFORMERS_OFFLINE", nullptr},
        e7{"HF_TOKEN", nullptr};
};

}  // namespace

TEST_F(HubCli, InfoWithoutNetworkOrCacheFailsWithOneLine) {
    auto r = rb::test::run_cli({"info", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.out, "");
    ASSERT_EQ(r.err.rfind("error: TinyLlama/TinyLlama-1.1B-Chat-v1.0: not in the Hugging Face cache", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "expected exactly one line:\n" << r.err;
    EXPECT_NE(r.err.find("not reachable at " + endpoint), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("pass a local checkpoint folder or .gguf file as MODEL"), std::string::npos) << r.err;
    // Nothing but (at most) empty folders was written to the cache.
    for (auto& e : std::filesystem::recursive_directory_iterator(home))
        EXPECT_TRUE(e.is_directory()) << e.path();
}

TEST_F(HubCli, InfoOfflineFailsWithoutTouchingNetwork) {
    ScopedEnv off("HF_HUB_OFFLINE", "1");
    auto r = rb::test::run_cli({"info", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("offline mode is on"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("not reachable"), std::string::npos) << r.err;
}
