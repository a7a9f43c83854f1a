// Errors: one exception type for bad input (files, configs, arguments) and a CHECK for
// programmer bugs. `main` catches Error once and prints "error: <what>".
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace rb {

/// Bad input or a run-time failure the user can act on. The message names the file,
/// field/tensor/flag, and expected vs got. Never thrown for internal bugs.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
    template <typename... Args>
    explicit Error(fmt::format_string<Args...> f, Args&&... args)
        : std::runtime_error(fmt::format(f, std::forward<Args>(args)...)) {}
};

/// A malformed command line (exit status 2).
class UsageError : public Error {
public:
    using Error::Error;
};

/// Re-throws `e` with `context` prepended ("context: message").
[[noreturn]] void rethrow_with_context(const std::exception& e, const std::string& context);

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace rb

/// Internal invariant (a bug if it fails); never used for input validation.
#define RB_CHECK(cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond)) ::rb::check_failed(#cond, __FILE__, __LINE__, fmt::format("" __VA_ARGS__)); \
    } while (0)
