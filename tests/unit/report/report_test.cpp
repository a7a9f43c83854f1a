// The whole report from a fixture store: every artifact written, failed/pending/running rows
// listed and kept out of the statistics, numbers matching hand-picked fixture values, no
// NaN anywhere, and report.html checked in headless Chromium.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "report/report.h"
#include "report/store.h"
#include "common/test_util.h"
#include "unit/report/fixture_store.h"
#include "util/mapped_file.h"

namespace rb::report {
namespace {

namespace fx = rb::test::fixture;
namespace fs = std::filesystem;
using nlohmann::json;

struct Built {
    std::string dir, db;
    ReportSummary summary;
};

// One report shared by the tests below (building it draws ~20 figures).
const Built& built() {
    static Built b = [] {
        Built x;
        x.dir = rb::test::temp_dir();
        x.db = x.dir + "/results.db";
        fx::create_store(x.db, fx::standard_rows());
        ReportOptions o;
        o.out_dir = x.dir + "/out";
        o.bootstrap_resamples = 500;
        x.summary = write_report(x.db, o);
        return x;
    }();
    return b;
}

std::string out(const std::string& rel) { return built().dir + "/out/" + rel; }

TEST(Report, WritesEveryArtifact) {
    const auto& b = built();
    for (const char* f : {"comprehensive_results.json", "results.json", "results.csv", "REPORT.md", "detailed_statistics.txt",
                          "report.html", "linear_results.json", "ntk_results.json", "yarn_results.json"})
        EXPECT_TRUE(fs::is_regular_file(out(f))) << f;
    std::vector<std::string> want = {"method_comparison", "heatmap_ppl", "metrics_vs_context", "param_effects_yarn",
                                     "param_effects_linear", "passkey_depth_yarn", "nll_position_L512", "nll_position_L1024",
                                     "rope_scaling", "scatter_matrix", "where_it_breaks"};
    for (auto& w : want) {
        EXPECT_NE(std::find(b.summary.figures.begin(), b.summary.figures.end(), w), b.summary.figures.end()) << w;
        EXPECT_GT(fs::file_size(out("figures/" + w + ".png")), 5000u) << w;
        EXPECT_GT(fs::file_size(out("figures/" + w + ".svg")), 5000u) << w;
    }
    EXPECT_EQ(b.summary.done, 27u);
    EXPECT_EQ(b.summary.failed, 2u);
    EXPECT_EQ(b.summary.pending, 2u);
    EXPECT_EQ(b.summary.running, 1u);
}

TEST(Report, UsesDoneRowsOnlyAndListsTheRest) {
    json j = json::parse(read_file(out("comprehensive_results.json")));
    EXPECT_EQ(j["counts"]["done"], 27);
    EXPECT_EQ(j["counts"]["failed"], 2);
    EXPECT_EQ(j["counts"]["pending"], 2);
    EXPECT_EQ(j["counts"]["running"], 1);
    EXPECT_EQ(j["experiments"].size(), 32u);
    // every done row is one distinct computation here (no factor-1 configuration): 27 entries
    EXPECT_EQ(j["entries"].size(), 27u);
    EXPECT_EQ(j["counts"]["aliased"], 0);
    // the failed yarn row carries a bogus PPL of 1.0001: it must not be the best anywhere
    std::string md = read_file(out("REPORT.md"));
    EXPECT_EQ(md.find("1.0001"), std::string::npos);
    for (auto& e : j["entries"]) EXPECT_GT(e["PPL"].get<double>(), 5.0) << e["label"];
    // failed/pending/running rows listed with their errors
    for (const char* s : {"out of memory: KV cache needs 9 GiB at L=2048", "non-finite logits at position 700", "pending-1",
                          "pending-2", "running-1", "27 done, 2 failed, 2 pending, 1 running"})
        EXPECT_NE(md.find(s), std::string::npos) << s;
    // compute time: sum of wall_s over every row reporting one = sum over done (L/100) + 3.5 + 1.25
    double want = 9 * (2.56 + 5.12 + 10.24) + 3.5 + 1.25;
    EXPECT_NEAR(j["total_compute_s"].get<double>(), want, 1e-9);
}

TEST(Report, NumbersMatchTheFixture) {
    // At L=256 every configuration is inside its effective length; the lowest PPL there is the
    // default (no scaling penalty); at L=1024 it must be a factor-4 yarn (smallest penalty,
    // covers 1024) and the beta_fast=32 one (no beta_fast < 32 penalty).
    json j = json::parse(read_file(out("comprehensive_results.json")));
    double best256 = 1e9, best1024 = 1e9;
    std::string cfg256, cfg1024;
    for (auto& e : j["experiments"]) {
        if (e["status"] != "done") continue;
        double p = e["metrics"]["ppl"]["value"];
        if (e["ctx"] == 256 && p < best256) best256 = p, cfg256 = e["config"];
        if (e["ctx"] == 1024 && p < best1024) best1024 = p, cfg1024 = e["config"];
    }
    EXPECT_EQ(cfg256, "default");
    EXPECT_EQ(cfg1024, "yarn beta_fast=32 beta_slow=1 factor=4");
    // value recomputed from the fixture's own record
    json rec = fx::make_record("yarn", {{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", 32.0}, {"beta_slow", 1.0}}, 1024);
    EXPECT_DOUBLE_EQ(best1024, rec["metrics"]["ppl"]["ppl"].get<double>());
    std::string md = read_file(out("REPORT.md"));
    EXPECT_NE(md.find("L=1024: best PPL yarn beta_fast=32 beta_slow=1 factor=4"), std::string::npos);
    // ranking over L > 256: yarn first (best at 512 and 1024)
    EXPECT_EQ(j["overall_ranking"][0]["method"], "yarn");
    EXPECT_EQ(j["overall_ranking"][0]["position"], 1);
    // the per-method file agrees with the comprehensive one
    json y = json::parse(read_file(out("yarn_results.json")));
    EXPECT_EQ(y["ranking"], j["overall_ranking"][0]);
    EXPECT_EQ(y["experiments"].size(), 12u + 2u);  // 4 configs x 3 L done, 1 failed, 1 pending
}

TEST(Report, UndefinedNotNan) {
    // The default method has one configuration, so at each L its PPL dispersion rests on
    // n = 1: std must print "undefined" (text) / null (JSON), never NaN.
    for (const char* f : {"REPORT.md", "detailed_statistics.txt", "results.csv", "report.html", "comprehensive_results.json"}) {
        std::string s = read_file(out(f));
        std::regex nan_re(R"(\b(nan|NaN|inf|Infinity)\b)");
        EXPECT_FALSE(std::regex_search(s, nan_re)) << f;
    }
    // LongPPL has no interval: its JSON entries carry none, and the fixture's 4-document
    // records get "no CI: n = 4" (below the 10 documents a bootstrap needs).
    std::string md = read_file(out("REPORT.md"));
    EXPECT_NE(md.find("no CI: n = 4"), std::string::npos);
}

TEST(Report, MissingPplIntervalPrintsNoCi) {
    // One document per experiment: the eval record's ci95 is null. The PPL cells must say so
    // ("[no CI]"), not print a bare "undefined" after the number ("1009 undefined").
    std::string dir = rb::test::temp_dir();
    auto rows = fx::standard_rows();
    for (auto& r : rows) {
        if (r.status != "done" || !r.record) continue;
        json rec = json::parse(*r.record);
        rec["metrics"]["ppl"]["ci95"] = nullptr;
        rec["metrics"]["ppl"]["ci95_note"] = "undefined: 1 document";
        r.record = rec.dump();
    }
    fx::create_store(dir + "/one_doc.db", rows);
    ReportOptions o;
    o.out_dir = dir + "/out";
    o.bootstrap_resamples = 200;
    write_report(dir + "/one_doc.db", o);
    std::string md = read_file(dir + "/out/REPORT.md");
    EXPECT_NE(md.find("(no CI: n = 4)"), std::string::npos) << md.substr(0, 3000);
    std::smatch m;
    EXPECT_FALSE(std::regex_search(md, m, std::regex(R"([0-9] undefined)"))) << "found '" << m.str() << "'";
}

TEST(Report, CorrelationsWithinLOnly) {
    json j = json::parse(read_file(out("comprehensive_results.json")));
    bool within = false;
    for (auto& c : j["correlations"]) {
        EXPECT_TRUE(c["ctx"].is_number());  // no pooled row: pooled values measure L
        if (c["pair"] == "log PPL vs log LongPPL" && c["ctx"] == 1024) {
            EXPECT_EQ(c["pearson"]["n"], 9);
            EXPECT_TRUE(c["pearson"]["ci95"].is_array());
        }
        if (c["pair"] == "log PPL vs passkey" && c["ctx"] == 1024) {
            within = true;
            EXPECT_EQ(c["spearman"]["n"], 9);
        }
    }
    EXPECT_TRUE(within);
}

TEST(Report, MissingGeometrySkipsRopePlotWithANote) {
    std::string dir = rb::test::temp_dir();
    fx::RecordOptions ro;
    ro.geometry = false;
    ro.buckets = false;
    fx::create_store(dir + "/g.db", fx::standard_rows(ro));
    ReportOptions o;
    o.out_dir = dir + "/out";
    auto s = write_report(dir + "/g.db", o);
    EXPECT_EQ(std::find(s.figures.begin(), s.figures.end(), "rope_scaling"), s.figures.end());
    std::string md = read_file(dir + "/out/REPORT.md");
    EXPECT_NE(md.find("RoPE scaling curve skipped"), std::string::npos);
    EXPECT_NE(md.find("NLL-vs-position plot for L=1024 skipped"), std::string::npos);
}

// ---- headless Chromium -----------------------------------------------------------
std::string find_chromium() {
    for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
        if (fs::exists(p)) return p;
    return "";
}

int run_shell(const std::string& cmd) {
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(Report, HtmlOpensInHeadlessChromium) {
    std::string chromium = find_chromium();
    // Not a skip: chromium is a test dependency (scripts/setup.sh installs it).
    ASSERT_FALSE(chromium.empty()) << "chromium not installed; run scripts/setup.sh";
    std::string html = out("report.html");
    std::string page = read_file(html);
    // no external resource (the xmlns="http://www.w3.org/..." names of inline SVG are not fetched)
    EXPECT_FALSE(std::regex_search(page, std::regex(R"re((src|href)\s*=\s*"(https?:)?//|url\((https?:)?//|@import)re")))
        << "the page must not reference the network";
    EXPECT_EQ(page.find("<img"), std::string::npos);  // figures are inline SVG
    size_t n_tables = 0, n_svgs = 0;
    for (size_t p = page.find("<table"); p != std::string::npos; p = page.find("<table", p + 1)) n_tables++;
    for (size_t p = page.find("<svg class=\"fig\""); p != std::string::npos; p = page.find("<svg class=\"fig\"", p + 1)) n_svgs++;
    EXPECT_EQ(n_svgs, built().summary.figures.size());
    EXPECT_GE(n_tables, 8u);

    std::string tmp = rb::test::temp_dir();
    std::string flags = " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
                        " --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir=" + tmp +
                        "/profile --enable-logging=stderr --v=0 ";
    std::string dom = tmp + "/dom.html", err = tmp + "/err.txt", shot = tmp + "/shot.png";
    int rc = run_shell("timeout 90 " + chromium + flags + "--dump-dom file://" + html + " > " + dom + " 2> " + err);
    std::string dumped = read_file(dom), log = read_file(err);
    ASSERT_EQ(rc, 0) << log;
    // the page's script appends this marker only if it ran to the end without throwing
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dumped, m, std::regex(R"re(<div id="report-ready"([^>]*)>report script ok</div>)re")))
        << log.substr(0, 4000);
    std::string attrs = m[1];
    auto attr = [&](const std::string& name) {
        std::smatch a;
        return std::regex_search(attrs, a, std::regex(name + "=\"([^\"]*)\"")) ? std::string(a[1]) : std::string("?");
    };
    EXPECT_EQ(attr("data-sortcheck"), "ok");
    EXPECT_EQ(attr("data-tables"), std::to_string(n_tables));
    EXPECT_EQ(attr("data-svgs"), std::to_string(n_svgs));
    // no console errors or uncaught exceptions
    EXPECT_EQ(log.find("Uncaught"), std::string::npos) << log;
    EXPECT_FALSE(std::regex_search(log, std::regex(R"(ERROR:CONSOLE|CONSOLE\(\d+\)\].*[Ee]rror)"))) << log;

    rc = run_shell("timeout 90 " + chromium + flags + "--hide-scrollbars --window-size=1400,2400 --screenshot=" + shot + " file://" +
                   html + " > /dev/null 2> " + err);
    ASSERT_EQ(rc, 0) << read_file(err);
    ASSERT_TRUE(fs::is_regular_file(shot));
    EXPECT_GT(fs::file_size(shot), 20000u);
    if (const char* keep = std::getenv("RB_KEEP_SCREENSHOT")) fs::copy_file(shot, keep, fs::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace rb::report
