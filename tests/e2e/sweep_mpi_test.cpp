// `mpirun -n 3 --oversubscribe ropebench sweep`: the MPI store equals the unsharded one
// (fake and real evaluator); an experiment process killed mid-run is requeued and the
// sweep completes; a worker rank killed mid-run ends the job, and rerunning the same
// command completes the store, each experiment once, with identical results.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "common/test_util.h"
#include "sweep_e2e_util.h"
#include "sweep/store.h"
#include "util/mapped_file.h"

extern char** environ;

using nlohmann::json;
using rb::test::run_cli;
using rb::test::shared_path;

namespace {

#ifdef ROPEBENCH_MPIEXEC
#define REQUIRE_MPI() \
    do {              \
    } while (0)
const char* k_mpiexec = ROPEBENCH_MPIEXEC;
#else
#define REQUIRE_MPI() GTEST_SKIP() << "built without MPI (ROPEBENCH_MPI=OFF or Open MPI not found); scripts/test.sh requires it"
const char* k_mpiexec = "";
#endif

// The ppl grid of sweep_e2e_util.h (stories260K, 18 experiments), written to dir/c.toml.
std::string config(const std::string& dir) {
    std::string p = dir + "/c.toml";
    std::ofstream(p) << rb::test::tiny_config();
    return p;
}
const int k_experiments = rb::test::k_tiny_experiments;

std::vector<std::string> mpi_argv(const std::vector<std::string>& args) {
    // Open MPI refuses root unless told (CI runs as root).
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    std::vector<std::string> argv{k_mpiexec, "-n", "3", "--oversubscribe", ROPEBENCH_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

auto contents(const std::string& db) { return rb::test::store_contents(db); }

pid_t spawn(const std::vector<std::string>& argv_s, const std::string& log) {
    std::vector<std::string> copy = argv_s;
    std::vector<char*> argv;
    for (auto& s : copy) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot spawn " << argv[0];
    return pid;
}

std::string slurp_proc(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// Processes below `root` (by parent pid) whose command line contains `needle` and, when
// `env` is given, whose environment contains it.
std::vector<pid_t> descendants(pid_t root, const std::string& needle, const std::string& env = "") {
    std::map<pid_t, pid_t> parent;
    DIR* d = opendir("/proc");
    while (dirent* e = d ? readdir(d) : nullptr) {
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0) continue;
        std::string stat = slurp_proc(fmt::format("/proc/{}/stat", pid));
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        int ppid = 0;
        char state = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2) parent[pid] = ppid;
    }
    if (d) closedir(d);
    std::vector<pid_t> out;
    for (auto& [pid, pp] : parent) {
        bool below = false;
        for (pid_t p = pp; p > 1 && !below; p = parent.count(p) ? parent[p] : 0) below = p == root;
        if (!below) continue;
        std::string cmd = slurp_proc(fmt::format("/proc/{}/cmdline", pid));
        for (auto& c : cmd)
            if (c == '\0') c = ' ';
        if (cmd.find(needle) == std::string::npos) continue;
        if (!env.empty()) {
            std::string envs = slurp_proc(fmt::format("/proc/{}/environ", pid));
            bool found = false;
            size_t at = 0;
            while (at < envs.size() && !found) {
                size_t end = envs.find('\0', at);
                if (end == std::string::npos) end = envs.size();
                found = envs.compare(at, end - at, env) == 0;
                at = end + 1;
            }
            if (!found) continue;
        }
        out.push_back(pid);
    }
    return out;
}

int done_count(const std::string& db) {
    if (!std::ifstream(db).good()) return 0;
    try {
        rb::sweep::Store s(db);
        return s.count("done");
    } catch (const std::exception&) {
        return 0;
    }
}

int wait_status(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

TEST(SweepMpi, FakeEvalEqualsUnshardedStore) {
    REQUIRE_MPI();
    std::string dir = rb::test::temp_dir();
    std::string cfg = config(dir);
    auto local = run_cli({"sweep", cfg, "--db", dir + "/local.db", "--fake-eval-ms", "30"});
    ASSERT_EQ(local.status, 0) << local.err;
    auto r = rb::test::run_command(mpi_argv({"sweep", cfg, "--db", dir + "/mpi.db", "--fake-eval-ms", "30", "--progress", "lines"}));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("MPI with 3 ranks"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("18 done, 0 failed (18 run now"), std::string::npos) << r.err;
    auto want = contents(dir + "/local.db");
    ASSERT_EQ(static_cast<int>(want.size()), k_experiments);
    EXPECT_EQ(contents(dir + "/mpi.db"), want);
    // Both workers took part, and the store names the rank that ran each experiment.
    rb::sweep::Store s(dir + "/mpi.db");
    int rank1 = 0, rank2 = 0;
    for (auto& row : s.rows()) {
        rank1 += row.worker.value_or("").find("(rank 1 on ") != std::string::npos;
        rank2 += row.worker.value_or("").find("(rank 2 on ") != std::string::npos;
    }
    EXPECT_EQ(rank1 + rank2, k_experiments);
    EXPECT_GT(rank1, 0);
    EXPECT_GT(rank2, 0);
}

TEST(SweepMpi, RealEvalEqualsUnshardedStore) {
    REQUIRE_MPI();
    std::string dir = rb::test::temp_dir();
    std::string cfg = config(dir);
    auto local = run_cli({"sweep", cfg, "--db", dir + "/local.db"});
    ASSERT_EQ(local.status, 0) << local.err;
    auto r = rb::test::run_command(mpi_argv({"sweep", cfg, "--db", dir + "/mpi.db", "--progress", "lines"}));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    auto want = contents(dir + "/local.db");
    ASSERT_EQ(static_cast<int>(want.size()), k_experiments);
    for (auto& [id, row] : want) EXPECT_EQ(row.first, "done") << id;
    EXPECT_EQ(contents(dir + "/mpi.db"), want);
}

TEST(SweepMpi, KilledExperimentProcessIsRequeued) {
    REQUIRE_MPI();
    std::string dir = rb::test::temp_dir();
    std::string cfg = config(dir);
    ASSERT_EQ(run_cli({"sweep", cfg, "--db", dir + "/local.db", "--fake-eval-ms", "0"}).status, 0);
    std::string db = dir + "/mpi.db", log = dir + "/mpi.log";
    pid_t mpirun = spawn(mpi_argv({"sweep", cfg, "--db", db, "--fake-eval-ms", "300", "--progress", "lines"}), log);
    // Once a few experiments are done, SIGKILL one experiment process (a child of a worker rank).
    std::vector<pid_t> children;
    for (int i = 0; i < 400 && (done_count(db) < 3 || children.empty()); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        children = descendants(mpirun, "sweep-exec");
    }
    ASSERT_FALSE(children.empty()) << rb::read_file(log);
    int done_before = done_count(db);
    ASSERT_LT(done_before, k_experiments) << "the sweep finished before the kill; the test proved nothing";
    kill(children.front(), SIGKILL);
    int status = wait_status(mpirun);
    std::string out = rb::read_file(log);
    ASSERT_EQ(status, 0) << out;
    EXPECT_NE(out.find("was killed by signal 9 (SIGKILL)); it goes back in the queue"), std::string::npos) << out;
    auto got = contents(db), want = contents(dir + "/local.db");
    EXPECT_EQ(got, want);
    rb::sweep::Store s(db);
    int twice = 0;
    for (auto& row : s.rows()) twice += row.attempts == 2;
    EXPECT_EQ(twice, 1);
    std::printf("killed experiment process %d after %d done; it was redone\n", children.front(), done_before);
}

TEST(SweepMpi, KilledWorkerRankEndsTheJobAndARerunCompletes) {
    REQUIRE_MPI();
    std::string dir = rb::test::temp_dir();
    std::string cfg = config(dir);
    ASSERT_EQ(run_cli({"sweep", cfg, "--db", dir + "/local.db", "--fake-eval-ms", "0"}).status, 0);
    std::string db = dir + "/mpi.db", log = dir + "/mpi.log";
    auto args = mpi_argv({"sweep", cfg, "--db", db, "--fake-eval-ms", "300", "--progress", "lines"});
    pid_t mpirun = spawn(args, log);
    std::vector<pid_t> rank0, rank1;
    for (int i = 0; i < 400 && (done_count(db) < 3 || rank1.empty() || rank0.empty()); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        rank0 = descendants(mpirun, "ropebench sweep ", "OMPI_COMM_WORLD_RANK=0");
        rank1 = descendants(mpirun, "ropebench sweep ", "OMPI_COMM_WORLD_RANK=1");
    }
    ASSERT_EQ(rank0.size(), 1u) << rb::read_file(log);
    ASSERT_EQ(rank1.size(), 1u) << rb::read_file(log);
    int done_before = done_count(db);
    ASSERT_LT(done_before, k_experiments) << "the sweep finished before the kill; the test proved nothing";
    kill(rank1.front(), SIGKILL);
    int status = wait_status(mpirun);
    EXPECT_NE(status, 0) << rb::read_file(log);
    // mpirun may return while rank 0 is still being torn down; the rerun must come after it
    // is gone (its pid owns the experiments it had in flight).
    for (int i = 0; i < 400 && kill(rank0.front(), 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_NE(kill(rank0.front(), 0), 0) << "rank 0 outlived mpirun by 10 s";
    int done_after_kill = done_count(db);
    EXPECT_LT(done_after_kill, k_experiments);
    auto again = rb::test::run_command(args);
    ASSERT_EQ(again.status, 0) << again.out << again.err;
    EXPECT_NE(again.err.find("left running by a dead process go back to pending"), std::string::npos) << again.err;
    EXPECT_EQ(contents(db), contents(dir + "/local.db"));
    std::printf("killed rank 1 after %d done; %d done when the job ended; the rerun completed the store\n", done_before,
                done_after_kill);
}
