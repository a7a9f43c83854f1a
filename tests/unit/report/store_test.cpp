// Reading stores: the fixture grid, tolerance of optional record fields, and clear errors
// naming the database, the row and the field for malformed input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "report/store.h"
#include "common/test_util.h"
#include "unit/report/fixture_store.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/sqlite.h"

namespace rb::report {
namespace {

namespace fx = rb::test::fixture;

std::string error_of(const std::string& db) {
    try {
        read_store(db);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Store, ReadsTheFixtureGrid) {
    std::string db = rb::test::temp_dir() + "/r.db";
    auto rows = fx::standard_rows();
    fx::create_store(db, rows);
    Store st = read_store(db);
    ASSERT_EQ(st.experiments.size(), rows.size());
    EXPECT_EQ(st.meta.at("schema_version"), "1");
    size_t done = 0, failed = 0, pending = 0, running = 0;
    for (auto& e : st.experiments) {
        switch (e.status) {
            case Status::done:
                done++;
                ASSERT_TRUE(e.record.has_value()) << e.id;
                ASSERT_TRUE(e.record->ppl.has_value());
                EXPECT_GT(*e.record->ppl->ppl, 1.0);
                EXPECT_TRUE(e.record->ppl->buckets.has_value());
                EXPECT_EQ(e.record->passkey->per_depth.size(), 5u);
                EXPECT_EQ(*e.record->head_dim, 64);
                EXPECT_EQ(*e.record->trained_ctx, 256);
                break;
            case Status::failed:
                failed++;
                EXPECT_FALSE(e.record.has_value()) << "a failed row's record is never parsed";
                EXPECT_FALSE(e.error.empty());
                break;
            case Status::pending: pending++; break;
            case Status::running: running++; break;
        }
    }
    EXPECT_EQ(done, 27u);
    EXPECT_EQ(failed, 2u);
    EXPECT_EQ(pending, 2u);
    EXPECT_EQ(running, 1u);
}

TEST(Store, ConfigLabels) {
    EXPECT_EQ(config_label("default", nullptr), "default");
    EXPECT_EQ(config_label("yarn", {{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", 32.0}}), "yarn beta_fast=32 factor=4");
    EXPECT_EQ(config_label("longrope", {{"short_factor", {1.0, 2.0}}}), "longrope short_factor=[2 values]");
}

TEST(Store, OptionalFieldsMayBeAbsent) {
    // a minimal record: schema, ctx, metrics.ppl with the required ppl/tokens_scored only;
    // longppl null with a note (no key tokens)
    nlohmann::json rec = {{"schema", "ropebench.eval/1"},
                          {"ctx", 512},
                          {"metrics",
                           {{"ppl", {{"ppl", 12.5}, {"tokens_scored", 100}, {"ci95", nullptr}, {"ci95_note", "undefined: 1 doc"}}},
                            {"longppl", {{"longppl", nullptr}, {"longppl_note", "undefined: no key tokens"}}}}}};
    Record r = parse_record(rec, "x");
    EXPECT_EQ(*r.ppl->ppl, 12.5);
    EXPECT_FALSE(r.ppl->ci_lo.has_value());
    EXPECT_FALSE(r.passkey.has_value());
    EXPECT_FALSE(r.longppl->longppl.has_value());
    EXPECT_FALSE(r.head_dim.has_value());
    EXPECT_FALSE(r.trained_ctx.has_value());
}

struct BadCase {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* want;  // substring of the error
};

TEST(Store, MalformedRecordsNameDbRowAndField) {
    std::vector<BadCase> cases = {
        {"no ppl value", [](auto& j) { j["metrics"]["ppl"].erase("ppl"); }, "record.metrics.ppl.ppl: required field missing"},
        {"ppl string", [](auto& j) { j["metrics"]["ppl"]["ppl"] = "12"; }, "record.metrics.ppl.ppl: expected a number"},
        {"ppl negative", [](auto& j) { j["metrics"]["ppl"]["ppl"] = -3.0; }, "record.metrics.ppl.ppl: expected a positive"},
        {"no tokens", [](auto& j) { j["metrics"]["ppl"].erase("tokens_scored"); }, "record.metrics.ppl.tokens_scored"},
        {"no metrics", [](auto& j) { j.erase("metrics"); }, "record.metrics: required field missing"},
        {"bad schema", [](auto& j) { j["schema"] = "other/2"; }, "record.schema: expected"},
        {"ctx mismatch", [](auto& j) { j["ctx"] = 999; }, "record.ctx: 999 differs"},
        {"passkey correct > trials", [](auto& j) { j["metrics"]["passkey"]["correct"] = 1000; }, "record.metrics.passkey.correct"},
        {"bad ci", [](auto& j) { j["metrics"]["ppl"]["ci95"] = {1.0}; }, "record.metrics.ppl.ci95"},
        {"buckets lengths", [](auto& j) { j["metrics"]["ppl"]["buckets"]["count"] = {1.0}; }, "record.metrics.ppl.buckets"},
        {"per_depth", [](auto& j) { j["metrics"]["passkey"]["per_depth"][2].erase("trials"); },
         "record.metrics.passkey.per_depth[2].trials"},
    };
    for (auto& c : cases) {
        std::string db = rb::test::temp_dir() + "/bad.db";
        auto rows = fx::standard_rows();
        auto rec = nlohmann::json::parse(*rows[4].record);
        c.edit(rec);
        rows[4].record = rec.dump();
        fx::create_store(db, rows);
        std::string err = error_of(db);
        EXPECT_NE(err.find(db), std::string::npos) << c.name << ": " << err;
        EXPECT_NE(err.find("row " + rows[4].id), std::string::npos) << c.name << ": " << err;
        EXPECT_NE(err.find(c.want), std::string::npos) << c.name << ": " << err;
    }
}

TEST(Store, MalformedRowsAndFiles) {
    std::string dir = rb::test::temp_dir();
    {
        auto rows = fx::standard_rows();
        rows[0].record = "{not json";
        fx::create_store(dir + "/a.db", rows);
        EXPECT_NE(error_of(dir + "/a.db").find("row exp0: record: invalid JSON"), std::string::npos);
    }
    {
        auto rows = fx::standard_rows();
        rows[1].record.reset();
        fx::create_store(dir + "/b.db", rows);
        EXPECT_NE(error_of(dir + "/b.db").find("row exp1: record: missing for a done row"), std::string::npos);
    }
    {
        auto rows = fx::standard_rows();
        rows[2].status = "finished";
        fx::create_store(dir + "/c.db", rows);
        EXPECT_NE(error_of(dir + "/c.db").find("row exp2: status: expected pending|running|done|failed, got 'finished'"),
                  std::string::npos);
    }
    fx::create_store(dir + "/d.db", fx::standard_rows(), "2");
    EXPECT_NE(error_of(dir + "/d.db").find("meta.schema_version: expected 1, got 2"), std::string::npos);
    EXPECT_NE(error_of(dir + "/missing.db").find("missing.db: no such file"), std::string::npos);
    rb::write_file(dir + "/text.db", "this is not sqlite, just some text that is long enough to have a header...");
    EXPECT_NE(error_of(dir + "/text.db").find("text.db"), std::string::npos);
    EXPECT_FALSE(error_of(dir + "/text.db").empty());
}

TEST(Store, ReadsAStoreInAReadOnlyFolder) {
    // A WAL store (as sweeps write them) in a folder this process cannot write: no -shm file
    // can be made there. Checked in a child process that, when run as root (who may write
    // anywhere), first becomes the unprivileged user nobody.
    std::string dir = rb::test::temp_dir() + "/ro";
    std::filesystem::create_directories(dir);
    std::string db = dir + "/r.db";
    auto rows = fx::standard_rows();
    fx::create_store(db, rows);
    { rb::sqlite::Db(db, rb::sqlite::Open::read_write).exec("PRAGMA journal_mode=WAL"); }
    ASSERT_FALSE(std::filesystem::exists(db + "-shm"));
    ::chmod(db.c_str(), 0444);
    ::chmod(dir.c_str(), 0555);
    ::chmod(std::filesystem::path(dir).parent_path().c_str(), 0755);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        if (::access(dir.c_str(), W_OK) == 0) _exit(4);  // the folder must really be read-only
        try {
            Store st = read_store(db);
            _exit(st.experiments.size() == rows.size() ? 0 : 2);
        } catch (const std::exception& e) {
            fprintf(stderr, "%s\n", e.what());
            _exit(1);
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ::chmod(dir.c_str(), 0755);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: read_store failed (its message is above), 2: wrong rows, 3: setuid, "
                                         "4: folder writable";
    EXPECT_FALSE(std::filesystem::exists(db + "-shm"));
}

}  // namespace
}  // namespace rb::report
