// The results store: state changes, stale rows, merge rules.
#include <gtest/gtest.h>

#include "sweep/store.h"
#include "common/test_util.h"
#include "util/error.h"

using namespace rb::sweep;
using nlohmann::json;

namespace {

StoreRow row(const std::string& id, const std::string& status = "pending") {
    StoreRow r;
    r.id = id;
    r.method = "yarn";
    r.ctx = 1024;
    r.params = R"({"rope_type":"yarn","factor":2.0})";
    r.status = status;
    return r;
}

}  // namespace

TEST(Store, Lifecycle) {
    std::string db = rb::test::temp_dir() + "/s.db";
    Store s(db);
    EXPECT_EQ(s.meta("schema_version"), "1");
    EXPECT_EQ(s.add({row("a"), row("b"), row("c")}), 3);
    EXPECT_EQ(s.add({row("a"), row("d")}), 1);  // existing ids untouched
    EXPECT_EQ(s.count("pending"), 4);
    EXPECT_TRUE(s.claim("a", "w1"));
    EXPECT_FALSE(s.claim("a", "w2"));  // already running
    s.finish("a", R"({"ppl":1.5})", 0.25, "v");
    EXPECT_TRUE(s.claim("b", "w1"));
    s.fail("b", "boom", 0.1, "v");
    auto a = s.get("a"), b = s.get("b");
    EXPECT_EQ(a->status, "done");
    EXPECT_EQ(a->record, R"({"ppl":1.5})");
    EXPECT_EQ(a->attempts, 1);
    EXPECT_EQ(a->worker, "w1");
    EXPECT_TRUE(a->started_at && a->finished_at);
    EXPECT_EQ(b->status, "failed");
    EXPECT_EQ(b->error, "boom");
    EXPECT_EQ(s.reset_failed({"b", "a"}), 1);
    EXPECT_EQ(s.get("b")->status, "pending");
    EXPECT_EQ(s.get("a")->status, "done");
    // WAL mode so readers can open the file during a sweep.
    Store reader(db);
    EXPECT_EQ(reader.count("done"), 1);
}

TEST(Store, StaleRunningRowsGoBackToPending) {
    std::string db = rb::test::temp_dir() + "/s.db";
    Store s(db);
    s.add({row("dead"), row("alive")});
    ASSERT_TRUE(s.claim("dead", this_worker().substr(0, this_worker().rfind(':')) + ":2147483646"));  // no such pid
    ASSERT_TRUE(s.claim("alive", this_worker()));                                                     // this process
    EXPECT_EQ(s.reset_stale_running(), 1);
    EXPECT_EQ(s.get("dead")->status, "pending");
    EXPECT_EQ(s.get("alive")->status, "running");
    EXPECT_EQ(s.reset_stale_running(true), 1);
    EXPECT_EQ(s.get("alive")->status, "pending");
}

TEST(Store, Fingerprint) {
    json a = json::parse(R"({"ppl":2.0,"wall_s":1.0,"software":{"git":"x"},"metrics":{"ppl":{"ppl":2.0,"wall_s":3}}})");
    json b = json::parse(R"({"ppl":2.0,"wall_s":9.0,"software":{"git":"y"},"metrics":{"ppl":{"ppl":2.0,"wall_s":4}}})");
    EXPECT_EQ(record_fingerprint(a), record_fingerprint(b));
    b["metrics"]["ppl"]["ppl"] = 2.0000001;
    EXPECT_NE(record_fingerprint(a), record_fingerprint(b));
}

TEST(Store, MergePrecedenceAndConflicts) {
    std::string dir = rb::test::temp_dir();
    {
        Store x(dir + "/x.db");
        auto d = row("same", "done");
        d.record = R"({"ppl":3.0,"wall_s":1})";
        auto f = row("f", "failed");
        f.error = "oom";
        x.add({d, f, row("p")});
        x.set_meta("config", "X");
    }
    {
        Store y(dir + "/y.db");
        auto d = row("same", "done");
        d.record = R"({"ppl":3.0,"wall_s":2})";  // same result, other timing
        auto f = row("f", "done");
        f.record = R"({"ppl":4.0})";
        y.add({d, f, row("q")});
    }
    EXPECT_EQ(merge_stores({dir + "/x.db", dir + "/y.db"}, dir + "/all.db"), 4);
    Store all(dir + "/all.db");
    EXPECT_EQ(all.get("f")->status, "done");  // done beats failed
    EXPECT_EQ(all.get("p")->status, "pending");
    EXPECT_EQ(all.meta("config"), "X");
    {
        Store z(dir + "/z.db");
        auto d = row("same", "done");
        d.record = R"({"ppl":3.5})";
        z.add({d, row("new")});
    }
    try {
        merge_stores({dir + "/z.db"}, dir + "/all.db");
        FAIL() << "conflicting rows merged";
    } catch (const rb::Error& e) {
        EXPECT_NE(std::string(e.what()).find("same"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("different results"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(all.get("new"));  // the refused merge changed nothing
    EXPECT_THROW(merge_stores({dir + "/missing.db"}, dir + "/all.db"), rb::Error);
}
