// `ropebench rope` end to end: errors, --json, --plot (no model needed: geometry from flags).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/test_util.h"

namespace {

int count_lines_starting(const std::string& s, const std::string& prefix) {
    int n = 0;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t end = s.find('\n', pos);
        if (end == std::string::npos) end = s.size();
        if (s.compare(pos, prefix.size(), prefix) == 0) n++;
        pos = end + 1;
    }
    return n;
}

TEST(RopeCli, MissingRequiredKeyExits1NamingTheKey) {
    auto r = rb::test::run_cli({"rope", "--head-dim", "64", "--max-pos", "2048", "--rope-scaling",
                                R"({"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0})"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(count_lines_starting(r.err, "error:"), 1) << r.err;
    EXPECT_NE(r.err.find("high_freq_factor"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
}

TEST(RopeCli, MissingGeometryIsUsageError) {
    auto r = rb::test::run_cli({"rope", "--head-dim", "64"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(count_lines_starting(r.err, "error:"), 1) << r.err;
}

TEST(RopeCli, JsonSingleAndSeveral) {
    auto r = rb::test::run_cli({"rope", "--head-dim", "64", "--rope-theta", "10000", "--max-pos", "2048",
                                "--rope-scaling", R"({"rope_type":"yarn","factor":4.0})", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["inv_freq"].size(), 32u);
    EXPECT_NEAR(j["attention_factor"].get<double>(), 0.1 * std::log(4.0) + 1.0, 1e-12);
    EXPECT_EQ(j["rotary_dim"], 64);
    EXPECT_EQ(j["rope"]["rope_type"], "yarn");
    EXPECT_EQ(j["rope"]["original_max_position_embeddings"], 2048);
    EXPECT_EQ(j["wavelength"].size(), 32u);
    EXPECT_DOUBLE_EQ(j["ratio"][0].get<double>(), 1.0);                  // highest frequency kept
    EXPECT_NEAR(j["ratio"][31].get<double>(), 0.25, 1e-12);               // lowest interpolated by 4

    auto r2 = rb::test::run_cli({"rope", "--head-dim", "64", "--max-pos", "2048", "--rope-scaling", "none",
                                 "--rope-scaling", R"({"type":"dynamic","factor":2.0})", "--seq-len", "4096",
                                 "--json"});
    ASSERT_EQ(r2.status, 0) << r2.err;
    auto j2 = nlohmann::json::parse(r2.out);
    ASSERT_EQ(j2["configs"].size(), 2u);
    EXPECT_EQ(j2["configs"][0]["rope"]["rope_type"], "default");
    EXPECT_LT(j2["configs"][1]["ratio"][31].get<double>(), 1.0);  // dynamic at 4096 > mpe lowers the frequencies
}

TEST(RopeCli, WarningsGoToStderr) {
    auto r = rb::test::run_cli({"rope", "--head-dim", "64", "--max-pos", "2048", "--rope-scaling",
                                R"({"rope_type":"linear","factor":0.5})", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(count_lines_starting(r.err, "warning:"), 1) << r.err;
    EXPECT_NE(r.err.find("factor field must be a float or int >= 1"), std::string::npos);
    EXPECT_NO_THROW(nlohmann::json::parse(r.out));
}

TEST(RopeCli, PlotPngAndSvg) {
    std::string dir = rb::test::temp_dir();
    for (std::string ext : {"png", "svg"}) {
        std::string path = dir + "/scale." + ext;
        auto r = rb::test::run_cli({"rope", "--head-dim", "64", "--max-pos", "2048", "--rope-scaling", "none",
                                    "--rope-scaling", R"({"rope_type":"linear","factor":4})", "--rope-scaling",
                                    R"({"rope_type":"yarn","factor":4})", "--plot", path});
        ASSERT_EQ(r.status, 0) << r.err;
        ASSERT_TRUE(std::filesystem::exists(path));
        EXPECT_GT(std::filesystem::file_size(path), 1000u);
        std::ifstream f(path, std::ios::binary);
        std::string head(8, '\0');
        f.read(head.data(), 8);
        if (ext == "png")
            EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8));
        else
            EXPECT_NE(head.find("<?xml"), std::string::npos);
    }
    auto bad = rb::test::run_cli({"rope", "--head-dim", "64", "--max-pos", "2048", "--plot", dir + "/x.bmp"});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("x.bmp"), std::string::npos) << bad.err;
    std::filesystem::remove_all(dir);
}

TEST(RopeCli, ModelCheckpoint) {
    // stories260K: head_dim 8, theta 1e4, mpe 512, no rope_scaling
    std::string model = rb::test::shared_path("data/models/stories260K");
    auto r = rb::test::run_cli({"rope", model, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["rotary_dim"], 8);
    EXPECT_EQ(j["rope"]["rope_type"], "default");
    EXPECT_EQ(j["geometry"]["max_position_embeddings"], 512);
}

}  // namespace
