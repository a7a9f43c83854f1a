// `ropebench report` end to end on fixture stores: outputs, exit statuses and error lines.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "unit/report/fixture_store.h"
#include "util/mapped_file.h"

namespace {

namespace fx = rb::test::fixture;
namespace fs = std::filesystem;

TEST(ReportCli, WritesTheReport) {
    std::string dir = rb::test::temp_dir();
    fx::create_store(dir + "/sweep.db", fx::standard_rows());
    auto r = rb::test::run_cli({"report", dir + "/sweep.db", "--out", dir + "/rep", "--bootstrap", "200"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, dir + "/rep\n");
    for (const char* f : {"REPORT.md", "report.html", "results.csv", "comprehensive_results.json", "detailed_statistics.txt",
                          "yarn_results.json", "figures/heatmap_ppl.png", "figures/heatmap_ppl.svg"})
        EXPECT_TRUE(fs::is_regular_file(dir + "/rep/" + f)) << f;
    auto j = nlohmann::json::parse(rb::read_file(dir + "/rep/comprehensive_results.json"));
    EXPECT_EQ(j["counts"]["done"], 27);
    // results.csv (tidy): header + one line per done experiment and metric (ppl, longppl,
    // passkey) + one line per failed/pending/running row
    std::string csv = rb::read_file(dir + "/rep/results.csv");
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 27 * 3 + 5);
}

TEST(ReportCli, DefaultOutDirAndNoPlots) {
    std::string dir = rb::test::temp_dir();
    fx::create_store(dir + "/grid.db", fx::standard_rows());
    auto r = rb::test::run_cli({"report", dir + "/grid.db", "--no-plots"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(fs::is_regular_file(dir + "/grid_report/REPORT.md"));
    EXPECT_FALSE(fs::exists(dir + "/grid_report/figures"));
}

TEST(ReportCli, Errors) {
    std::string dir = rb::test::temp_dir();
    auto missing = rb::test::run_cli({"report", dir + "/nope.db", "--out", dir + "/o"});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("error: " + dir + "/nope.db: no such file"), std::string::npos) << missing.err;

    auto rows = fx::standard_rows();
    auto rec = nlohmann::json::parse(*rows[7].record);
    rec["metrics"]["passkey"].erase("trials");
    rows[7].record = rec.dump();
    fx::create_store(dir + "/bad.db", rows);
    auto bad = rb::test::run_cli({"report", dir + "/bad.db", "--out", dir + "/o"});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("error: " + dir + "/bad.db: row " + rows[7].id + ": record.metrics.passkey.trials: required field missing"),
              std::string::npos)
        << bad.err;

    auto usage = rb::test::run_cli({"report"});
    EXPECT_EQ(usage.status, 2);
    EXPECT_NE(usage.err.find("error:"), std::string::npos);
}

}  // namespace
