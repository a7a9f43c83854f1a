// The results store: state changes, stale rows, merge rules.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "sweep/store.h"
#include "common/test_util.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/sqlite.h"

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

namespace {

/// A file of each kind that is not a ropebench store, in `dir`: name -> path.
std::map<std::string, std::string> foreign_files(const std::string& dir) {
    std::map<std::string, std::string> f;
    f["foreign sqlite"] = dir + "/foreign.db";
    {
        rb::sqlite::Db db(f["foreign sqlite"], rb::sqlite::Open::create);
        db.exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES('mine')");
    }
    f["foreign sqlite in WAL mode"] = dir + "/foreign-wal.db";
    {
        rb::sqlite::Db db(f["foreign sqlite in WAL mode"], rb::sqlite::Open::create);
        db.exec("PRAGMA journal_mode=WAL; CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES('a','b')");
    }
    f["empty file"] = dir + "/empty.db";
    std::ofstream(f["empty file"]).close();
    f["text file"] = dir + "/text.db";
    std::ofstream(f["text file"]) << "not a database at all, but long enough to have something like a header....";
    f["store of schema version 2"] = dir + "/v2.db";
    {
        Store s(f["store of schema version 2"]);
        s.set_meta("schema_version", "2");
    }
    return f;
}

}  // namespace

TEST(Store, ForeignFilesAreRefusedAndLeftByteIdentical) {
    std::string dir = rb::test::temp_dir();
    std::string good = dir + "/good.db";
    {
        Store s(good);
        s.add({row("a")});
    }
    for (const auto& [what, path] : foreign_files(dir)) {
        SCOPED_TRACE(what);
        const std::string before = rb::read_file(path);
        auto refused = [&](const std::function<void()>& f) {
            try {
                f();
                ADD_FAILURE() << "accepted";
            } catch (const rb::Error& e) {
                std::string m = e.what();
                EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << m;
                EXPECT_TRUE(m.find("not a ropebench results store") != std::string::npos ||
                            m.find("schema_version: expected 1, got 2") != std::string::npos)
                    << m;
            }
        };
        refused([&] { Store s(path); });
        refused([&] { Store s(path, Store::Access::read_only); });
        refused([&] { merge_stores({good, path}, dir + "/out.db"); });  // as an input
        refused([&] { merge_stores({good}, path); });                   // as the output
        EXPECT_EQ(rb::read_file(path), before);
        EXPECT_FALSE(std::filesystem::exists(dir + "/out.db"));
        for (const char* side : {"-wal", "-shm", "-journal"}) EXPECT_FALSE(std::filesystem::exists(path + side)) << side;
    }
}

TEST(Store, MergeNeverWritesItsInputs) {
    std::string dir = rb::test::temp_dir();
    {
        Store x(dir + "/x.db");
        x.add({row("a"), row("b", "failed")});
    }
    const std::string before = rb::read_file(dir + "/x.db");
    EXPECT_EQ(merge_stores({dir + "/x.db"}, dir + "/all.db"), 2);
    EXPECT_EQ(rb::read_file(dir + "/x.db"), before);
    for (const char* side : {"-wal", "-shm"}) EXPECT_FALSE(std::filesystem::exists(dir + "/x.db" + side)) << side;
}

TEST(Store, ConcurrentCreationOfOneNewStore) {
    // Every opener of a path that does not exist yet races to create it; each must end up in
    // the same, complete store (the store file appears fully formed, in WAL mode).
    std::string db = rb::test::temp_dir() + "/new.db";
    const int n = 8;
    std::vector<std::string> errors(n);
    std::vector<std::thread> ts;
    for (int i = 0; i < n; i++)
        ts.emplace_back([&, i] {
            try {
                Store s(db);
                s.add({row("r" + std::to_string(i))});
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& t : ts) t.join();
    for (auto& e : errors) EXPECT_EQ(e, "");
    Store s(db);
    EXPECT_EQ(s.count("pending"), n);
    rb::sqlite::Db raw(db, rb::sqlite::Open::read_only);
    rb::sqlite::Stmt mode(raw, "PRAGMA journal_mode");
    ASSERT_TRUE(mode.step());
    EXPECT_EQ(mode.str(0), "wal");
    for (auto& e : std::filesystem::directory_iterator(std::filesystem::path(db).parent_path()))
        EXPECT_EQ(e.path().filename().string().find(".new-"), std::string::npos) << e.path();
}

TEST(Store, WaitsForAnotherWritersLock) {
    std::string db = rb::test::temp_dir() + "/busy.db";
    { Store s(db); }
    rb::sqlite::Db holder(db, rb::sqlite::Open::read_write);
    holder.begin();  // a write lock held by another connection
    std::atomic<bool> started{false};
    std::string error;
    std::thread t([&] {
        try {
            started = true;
            Store s(db);             // PRAGMA journal_mode=WAL
            s.add({row("late")});  // BEGIN IMMEDIATE waits for the holder
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    while (!started) std::this_thread::yield();
    holder.commit();
    t.join();
    EXPECT_EQ(error, "");
    EXPECT_EQ(Store(db).count("pending"), 1);
}

TEST(Store, FullDiskReportsTheCause) {
    // A child process whose files may not grow past 64 KiB (RLIMIT_FSIZE; SIGXFSZ ignored)
    // fills a store: the error names the cause, not "cannot rollback".
    std::string db = rb::test::temp_dir() + "/full.db";
    { Store s(db); }
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        rlimit lim{64 * 1024, 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &lim);
        std::string msg = "no error";
        try {
            Store s(db);
            for (int i = 0; i < 100; i++) {
                std::vector<StoreRow> rows;
                for (int j = 0; j < 50; j++) {
                    auto r = row(fmt::format("row-{}-{}", i, j));
                    r.spec = std::string(1000, 'x');
                    rows.push_back(r);
                }
                s.add(rows);
            }
        } catch (const std::exception& e) {
            msg = e.what();
        }
        ssize_t w = write(fds[1], msg.data(), msg.size());
        (void)w;
        _exit(0);
    }
    close(fds[1]);
    std::string msg;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(msg.find("cannot rollback"), std::string::npos) << msg;
    EXPECT_TRUE(msg.find("(SQLITE_FULL") != std::string::npos || msg.find("(SQLITE_IOERR") != std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(db + ": ", 0), 0u) << msg;
    // The store is intact: what was committed before the disk filled is still there.
    Store s(db);
    EXPECT_GE(s.count("pending"), 0);
}
