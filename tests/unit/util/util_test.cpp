#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/test_util.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"
#include "util/thread_pool.h"

using namespace rb;


TEST(Sha256, KnownVectors) {
    // FIPS 180-4 examples.
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Utf8, ValidAndInvalid) {
    EXPECT_TRUE(is_valid_utf8("plain ascii"));
    EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x96\x81 \xf0\x9f\x98\x80"));
    size_t off = 0;
    EXPECT_FALSE(is_valid_utf8("ab\xff", &off));
    EXPECT_EQ(off, 2u);
    EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(is_valid_utf8("x\xe2\x96", &off));  // truncated sequence
    EXPECT_EQ(off, 1u);
}

TEST(ThreadPool, StaticSplitCoversRangeOnce) {
    for (int nt : {1, 2, 3, 7}) {
        ThreadPool pool(nt);
        for (size_t n : {0u, 1u, 2u, 5u, 100u, 1001u}) {
            std::vector<std::atomic<int>> hits(n);
            pool.parallel_for(n, [&](size_t b, size_t e) {
                for (size_t i = b; i < e; i++) hits[i]++;
            });
            for (size_t i = 0; i < n; i++) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " threads=" << nt << " i=" << i;
        }
    }
}

// The hand-off (spin, then sleep on a condition variable) under both regimes: jobs back to
// back (workers still spinning) and jobs after a pause longer than the spin (workers asleep),
// with the spin disabled too. Every job must run exactly once on every thread and the caller
// must not return before the workers are done (the sums would then be short).
TEST(ThreadPool, HandOffSpinningAndSleeping) {
    for (const char* spin : {"0", "100"}) {
        rb::test::ScopedEnv env("ROPEBENCH_SPIN_US", spin);
        for (int nt : {2, 3}) {
            ThreadPool pool(nt);
            std::vector<long> per_thread(nt, 0);
            long expected = 0;
            for (int job = 0; job < 3000; job++) {
                if (job % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // > spin: workers sleep
                pool.run_on_all([&](int t) { per_thread[t] += job; });
                expected += job;
                for (int t = 0; t < nt; t++) ASSERT_EQ(per_thread[t], expected) << "spin " << spin << " threads " << nt << " job " << job;
            }
        }
    }
}

TEST(MappedFile, MissingFileNamesPath) {
    try {
        MappedFile f("/nonexistent/weights.bin");
        FAIL() << "expected Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/weights.bin"), std::string::npos);
    }
}

// Only regular files are opened as data: a FIFO is refused by stat before any open (the
// FifoUnjammer counts opens, and turns a regression into a failure instead of a hang).
TEST(RegularFiles, FifoDeviceAndFolderAreRefusedNamingThePath) {
    const std::string dir = test::temp_dir();
    test::FifoUnjammer fifo(dir + "/pipe");
    EXPECT_RB_ERROR(read_file(dir + "/pipe"), dir + "/pipe", "is a FIFO (named pipe), expected a regular file");
    EXPECT_RB_ERROR(MappedFile(dir + "/pipe"), dir + "/pipe", "FIFO");
    EXPECT_RB_ERROR(sha256_file(dir + "/pipe"), dir + "/pipe", "FIFO");
    EXPECT_EQ(fifo.readers(), 0);
    EXPECT_RB_ERROR(read_file("/dev/null"), "/dev/null", "character device");
    EXPECT_RB_ERROR(MappedFile{dir}, dir, "is a directory");
    EXPECT_RB_ERROR(read_file(dir + "/missing"), dir + "/missing", "No such file");
    // A regular file through a symlink is fine.
    { std::ofstream(dir + "/f") << "abc"; }
    std::filesystem::create_symlink(dir + "/f", dir + "/link");
    EXPECT_EQ(read_file(dir + "/link"), "abc");
    EXPECT_EQ(MappedFile(dir + "/link").size(), 3u);
}

TEST(RegularFiles, BrokenSymlinksAreNamed) {
    const std::string dir = test::temp_dir();
    std::filesystem::create_symlink(dir + "/a", dir + "/b");
    std::filesystem::create_symlink(dir + "/b", dir + "/a");
    std::filesystem::create_symlink(dir + "/nothing", dir + "/dangling");
    EXPECT_RB_ERROR(check_symlink_resolves(dir + "/a"), dir + "/a", "symbolic link", "Too many levels");
    EXPECT_RB_ERROR(check_symlink_resolves(dir + "/dangling"), dir + "/dangling", "target does not exist");
    EXPECT_NO_THROW(check_symlink_resolves(dir + "/missing"));  // not a link: the caller decides
    EXPECT_NO_THROW(check_symlink_resolves(dir));
    EXPECT_RB_ERROR(read_file(dir + "/a"), dir + "/a");
}
