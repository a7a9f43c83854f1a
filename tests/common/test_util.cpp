#include "common/test_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace rb::test {

std::string shared_path(const std::string& rel) {
    std::string p = std::string(ROPEBENCH_SHARED_DIR) + "/" + rel;
    if (!std::filesystem::exists(p)) {
        ADD_FAILURE() << "shared data missing: " << p
                      << " (configure with -DROPEBENCH_SHARED_DIR=<path to shared>)";
        throw std::runtime_error("shared data missing: " + p);
    }
    return p;
}

std::string source_path(const std::string& rel) { return std::string(ROPEBENCH_SOURCE_DIR) + "/" + rel; }

std::string temp_dir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "test";
    for (auto& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    auto p = std::filesystem::temp_directory_path() /
             ("ropebench_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p.string();
}

static std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

ScopedEnv::~ScopedEnv() {
    if (m_old)
        setenv(m_name.c_str(), m_old->c_str(), 1);
    else
        unsetenv(m_name.c_str());
}

struct FifoUnjammer::State {
    std::string path;
    std::atomic<bool> done{false};
    std::atomic<int> readers{0};
    std::thread writer;
};

FifoUnjammer::FifoUnjammer(const std::string& path) : m_state(std::make_unique<State>()) {
    m_state->path = path;
    if (::mkfifo(path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + path + " failed");
    State* s = m_state.get();
    s->writer = std::thread([s] {
        while (!s->done) {
            // Blocks until someone opens the read end; closing at once gives that reader EOF.
            const int fd = ::open(s->path.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                if (!s->done) ++s->readers;
                ::close(fd);
            }
        }
    });
}

FifoUnjammer::~FifoUnjammer() {
    m_state->done = true;
    // Our own reader lets the pending (or next) writer open return; kept open until the join.
    const int fd = ::open(m_state->path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    m_state->writer.join();
    if (fd >= 0) ::close(fd);
}

int FifoUnjammer::readers() const { return m_state->readers; }

int closed_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_data) {
    std::vector<std::string> argv{ROPEBENCH_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, stdin_data);
}

CliResult run_command(const std::vector<std::string>& argv_in, const std::string& stdin_data) {
    std::vector<std::string> argv_s = argv_in;
    std::string dir = temp_dir();
    std::string out_path = dir + "/stdout", err_path = dir + "/stderr", in_path = dir + "/stdin";
    {
        std::ofstream f(in_path, std::ios::binary);
        f << stdin_data;
    }
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    CliResult r;
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        ADD_FAILURE() << "cannot spawn " << argv[0];
        return r;
    }
    posix_spawn_file_actions_destroy(&fa);
    int st = 0;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    std::filesystem::remove_all(dir);
    return r;
}

template <typename T>
static ::testing::AssertionResult close_impl(const T* got, const T* ref, size_t n, double atol, double rtol) {
    double worst = -1;
    size_t worst_i = 0, n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        double tol = atol + rtol * std::fabs(r);
        double d = std::fabs(g - r);
        if (!(d <= tol)) {  // catches NaN
            n_bad++;
            if (!(d <= worst) || std::isnan(d)) {
                worst = std::isnan(d) ? INFINITY : d;
                worst_i = i;
            }
        }
    }
    if (n_bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << n_bad << " of " << n << " elements out of tolerance (atol " << atol
                                         << ", rtol " << rtol << "); worst at index " << worst_i << ": got "
                                         << got[worst_i] << ", want " << ref[worst_i];
}

std::vector<float> random_vec(size_t n, uint32_t seed, float lo, float hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

::testing::AssertionResult all_close(const float* got, const float* ref, size_t n, double atol, double rtol) {
    return close_impl(got, ref, n, atol, rtol);
}
::testing::AssertionResult all_close(const double* got, const double* ref, size_t n, double atol, double rtol) {
    return close_impl(got, ref, n, atol, rtol);
}

std::string utf8_prefix(const std::string& s, size_t n) {
    size_t i = 0, count = 0;
    while (i < s.size() && count < n) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        ++count;
    }
    return s.substr(0, std::min(i, s.size()));
}

std::string stories_sweep_head() {
    return "[model]\npath = \"" + shared_path("data/models/stories260K") + "\"\nthreads = 1\n\n[data]\ntexts = [\"" +
           shared_path("data/text/tinystories_valid_sample.txt") + "\"]\n\n[metrics]\n";
}

}  // namespace rb::test
