// Shared test helpers: paths into ../shared (failing loudly when missing), running the CLI,
// and tolerance comparisons that print the failing index.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rb::test {

/// Absolute path of `rel` under the configured shared folder. Fails the test (never skips)
/// when the file is missing: a missing data file is a broken setup, not a reason to pass.
std::string shared_path(const std::string& rel);
/// Path of `rel` under the source tree (tests/golden/..., presets/...).
std::string source_path(const std::string& rel);
/// A fresh, empty temporary directory for this test.
std::string temp_dir();

struct CliResult {
    int status = -1;
    std::string out, err;
};
/// Runs the ropebench binary with `args` (no shell), capturing stdout and stderr.
CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_data = "");
/// Runs `argv` (argv[0] a path, no shell), capturing stdout and stderr.
CliResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data = "");

/// Sets (or unsets, for nullptr) an environment variable for the scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value);
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string m_name;
    std::optional<std::string> m_old;
};

/// A FIFO at `path` that can never hang a test: a thread keeps its write end opening, so a
/// reader that opens it (a regression: data is read only from regular files) gets EOF at
/// once instead of blocking forever; `readers()` counts such opens (expect 0). No clocks.
class FifoUnjammer {
public:
    explicit FifoUnjammer(const std::string& path);
    ~FifoUnjammer();
    FifoUnjammer(const FifoUnjammer&) = delete;
    FifoUnjammer& operator=(const FifoUnjammer&) = delete;
    int readers() const;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

/// A port on 127.0.0.1 with nothing listening (bound, never listened on, closed).
int closed_port();

/// The first `n` Unicode code points of UTF-8 `s` (Python's s[:n]).
std::string utf8_prefix(const std::string& s, size_t n);

/// The head of a sweep config on stories260K (trained at 512) over the TinyStories sample, up
/// to and including its "[metrics]" line: [model] (one thread, 1-3), [data] (5-6), line 8.
std::string stories_sweep_head();

/// n floats uniform in [lo, hi) from mt19937(seed): reproducible kernel inputs.
std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f);

/// Element-wise |got-ref| <= atol + rtol*|ref|; reports the worst index on failure.
::testing::AssertionResult all_close(const float* got, const float* ref, size_t n, double atol, double rtol);
::testing::AssertionResult all_close(const double* got, const double* ref, size_t n, double atol, double rtol);

}  // namespace rb::test

/// Runs `stmt`, expecting rb::Error whose message contains every given substring.
#define EXPECT_RB_ERROR(stmt, ...)                                                              \
    do {                                                                                        \
        try {                                                                                   \
            stmt;                                                                               \
            ADD_FAILURE() << "expected rb::Error from: " #stmt;                                 \
        } catch (const rb::Error& e_) {                                                         \
            const std::string msg_ = e_.what();                                                 \
            for (const std::string& s_ : std::vector<std::string>{__VA_ARGS__})                 \
                EXPECT_NE(msg_.find(s_), std::string::npos) << "message: " << msg_ << "\nlacks: " << s_; \
        }                                                                                       \
    } while (0)
