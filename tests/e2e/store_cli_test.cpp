// `merge` and `sweep --db` given files that are not ropebench stores (a foreign SQLite
// database, an empty file): one `error:` line naming the file, exit 1, the file byte-identical.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/test_util.h"
#include "sweep/store.h"
#include "sweep_e2e_util.h"
#include "util/mapped_file.h"
#include "util/sqlite.h"

namespace {

/// Exactly one line of stderr starts with "error: ", and it names `path`.
void expect_one_error_line(const rb::test::CliResult& r, const std::string& path) {
    EXPECT_EQ(r.status, 1) << r.err;
    int errors = 0;
    std::istringstream in(r.err);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("error: ", 0) == 0) {
            errors++;
            EXPECT_NE(line.find(path), std::string::npos) << line;
            EXPECT_NE(line.find("not a ropebench results store"), std::string::npos) << line;
        }
    EXPECT_EQ(errors, 1) << r.err;
}

}  // namespace

TEST(StoreCli, MergeAndSweepLeaveForeignFilesByteIdentical) {
    std::string dir = rb::test::temp_dir();
    std::string foreign = dir + "/foreign.db", empty = dir + "/empty.db", good = dir + "/good.db";
    {
        rb::sqlite::Db db(foreign, rb::sqlite::Open::create);
        db.exec("CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos(name) VALUES('cat.jpg')");
    }
    std::ofstream(empty).close();
    {
        rb::sweep::Store s(good);
        rb::sweep::StoreRow r;
        r.id = "a";
        r.method = "yarn";
        r.ctx = 64;
        s.add({r});
    }
    std::string config = dir + "/tiny.toml";
    std::ofstream(config) << rb::test::tiny_config();
    for (const std::string& f : {foreign, empty}) {
        SCOPED_TRACE(f);
        const std::string before = rb::read_file(f);
        expect_one_error_line(rb::test::run_cli({"merge", good, f, "-o", dir + "/out.db"}), f);
        EXPECT_FALSE(std::filesystem::exists(dir + "/out.db"));
        expect_one_error_line(rb::test::run_cli({"merge", good, "-o", f}), f);
        expect_one_error_line(rb::test::run_cli({"sweep", config, "--db", f}), f);
        EXPECT_EQ(rb::read_file(f), before);
        for (const char* side : {"-wal", "-shm", "-journal"}) EXPECT_FALSE(std::filesystem::exists(f + side)) << side;
    }
}
