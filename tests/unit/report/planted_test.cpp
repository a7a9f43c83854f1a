// A store whose right answers are known by construction (fixture_store.h's made-up model):
// trained length T = 256; at L = 512 the best configuration is yarn factor=2 and at
// L = 1024 yarn factor=4 (full effective length, smallest penalty); linear factor=1 (at
// every L) and dynamic factor=1 (at L = 256 <= T) compute plain RoPE, so they are aliases
// of the plain-RoPE entry; linear factor=2 degrades past T at L = 1024 (its effective
// length is 512). The report must state each of these, and never crown plain RoPE.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "common/test_util.h"
#include "report/report.h"
#include "unit/report/fixture_store.h"
#include "util/mapped_file.h"

namespace rb::report {
namespace {

namespace fx = rb::test::fixture;
using nlohmann::json;

// 12 documents per record (enough for a bootstrap), split into consecutive segments.
json with_documents(json rec) {
    auto& p = rec["metrics"]["ppl"];
    double nll = p["mean_nll"].get<double>();
    json docs = json::array();
    for (int i = 0; i < 12; i++) {
        int64_t tokens = 100 + 10 * (i % 4);
        docs.push_back({{"source", "doc#seg" + std::to_string(i)}, {"nll_sum", nll * tokens * (1 + 0.05 * (i % 3 - 1))},
                        {"tokens", tokens}, {"windows", 1}});
    }
    p["per_doc"] = docs;
    p["documents_used"] = 12;
    p["split"] = {{"segment_tokens", 1023}, {"segments", 12}, {"tail_tokens_dropped", 0}};
    return rec;
}

std::vector<fx::Row> planted_rows() {
    std::vector<std::tuple<std::string, json, std::vector<int64_t>>> cfgs = {
        {"default", nullptr, {256, 512, 1024}},
        {"linear", {{"rope_type", "linear"}, {"factor", 1.0}}, {256, 512, 1024}},
        {"dynamic", {{"rope_type", "dynamic"}, {"factor", 1.0}}, {256}},
        {"linear", {{"rope_type", "linear"}, {"factor", 2.0}}, {512, 1024}},
        {"yarn", {{"rope_type", "yarn"}, {"factor", 2.0}}, {512, 1024}},
        {"yarn", {{"rope_type", "yarn"}, {"factor", 4.0}}, {512, 1024}},
        {"ntk", {{"rope_type", "ntk"}, {"factor", 2.0}}, {512, 1024}},
    };
    fx::RecordOptions o;
    o.longppl = false;
    std::vector<fx::Row> rows;
    int id = 0;
    for (auto& [m, p, ls] : cfgs)
        for (int64_t L : ls) {
            fx::Row r;
            r.id = "p" + std::to_string(id++);
            r.method = m;
            r.ctx = L;
            r.params = p;
            r.record = with_documents(fx::make_record(m, p, L, o)).dump();
            rows.push_back(r);
        }
    return rows;
}

struct Planted {
    std::string dir, md, csv;
    json j;
};

const Planted& planted() {
    static Planted p = [] {
        Planted x;
        x.dir = rb::test::temp_dir();
        fx::create_store(x.dir + "/p.db", planted_rows());
        ReportOptions o;
        o.out_dir = x.dir + "/out";
        o.bootstrap_resamples = 300;
        write_report(x.dir + "/p.db", o);
        x.md = read_file(x.dir + "/out/REPORT.md");
        x.csv = read_file(x.dir + "/out/results.csv");
        x.j = json::parse(read_file(x.dir + "/out/comprehensive_results.json"));
        return x;
    }();
    return p;
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST(Planted, BestConfigurationAtEachLength) {
    const auto& p = planted();
    EXPECT_TRUE(has(p.md, "L=512: best PPL yarn factor=2 = ")) << p.md.substr(0, 4000);
    EXPECT_TRUE(has(p.md, "L=1024: best PPL yarn factor=4 = ")) << p.md.substr(0, 4000);
    EXPECT_TRUE(has(p.md, "Best method overall: yarn (mean rank 1.00")) << p.md.substr(0, 4000);
    EXPECT_EQ(p.j["overall_ranking"][0]["method"], "yarn");
    for (auto& r : p.j["overall_ranking"]) EXPECT_NE(r["method"], "default");
    EXPECT_FALSE(std::regex_search(p.md, std::regex("Best method overall: (default|plain)")));
}

TEST(Planted, NoOpConfigurationsAreOneEntry) {
    const auto& p = planted();
    // L=256: default, linear factor=1, dynamic factor=1 are one plain-RoPE entry.
    EXPECT_TRUE(has(p.md, "L=256: dynamic factor=1; linear factor=1 compute the same as default (plain RoPE: a no-op here)"))
        << p.md.substr(0, 5000);
    EXPECT_TRUE(has(p.md, "L=1024: linear factor=1 computes the same as default (plain RoPE: a no-op here)"));
    size_t at256 = 0;
    for (auto& e : p.j["entries"]) at256 += e["ctx"] == 256;
    EXPECT_EQ(at256, 1u);
    EXPECT_EQ(p.j["counts"]["aliased"], 4);  // 2 at 256, 1 at 512, 1 at 1024
    // the correlations count each computation once: 5 entries at L=1024, not 6 experiments
    for (auto& c : p.j["correlations"])
        if (c["ctx"] == 1024) EXPECT_EQ(c["spearman"]["n"], 5);
}

TEST(Planted, MethodThatDegradesPastTheTrainedLength) {
    const auto& p = planted();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(p.md, m, std::regex("Degrades past the trained length T=256[^\n]*"))) << p.md.substr(0, 5000);
    EXPECT_TRUE(has(m.str(), "linear (L=1024")) << m.str();
    EXPECT_FALSE(has(m.str(), "yarn")) << m.str();
    EXPECT_TRUE(std::regex_search(p.md, std::regex("Uses the context past T=256[^\n]*yarn")));
    for (auto& x : p.j["context_extension"])
        if (x["method"] == "yarn") EXPECT_FALSE(x["degrades"].get<bool>());
}

TEST(Planted, IntervalsFromDocumentsWithBlocks) {
    const auto& p = planted();
    // 12 split segments: a moving-block bootstrap, block round(12^(1/3)) = 2
    EXPECT_TRUE(has(p.csv, "block bootstrap (b=2)")) << p.csv.substr(0, 2000);
    EXPECT_TRUE(has(p.md, "(n=12)"));
    EXPECT_TRUE(has(p.csv, ",wilson,"));
    // tidy: one column per parameter
    EXPECT_TRUE(has(p.csv.substr(0, p.csv.find('\n')), "id,status,model,dtype,quantisation,protocol,L,method,factor,metric,n,value"));
}

}  // namespace
}  // namespace rb::report
