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

/// What an error about one setting carries besides its text: the setting's field name in
/// library code ("ctx", "ppl.stride": eval names EvalSpec's fields by their path), the message
/// without it, and optionally the field that would allow the value ("... (F overrides)").
/// Each entry point names fields its own way: the CLI by its flags (app/main.cpp: "--ctx:
/// message"), a sweep by its TOML file, line and key (src/sweep/config.cpp).
class FieldInfo {
public:
    const std::string& field() const noexcept { return m_field; }
    const std::string& message() const noexcept { return m_message; }
    /// "NAME(field): message[ (NAME(override) overrides)]".
    template <typename Namer>
    std::string describe(const Namer& name) const {
        std::string s = name(m_field) + ": " + m_message;
        if (!m_override.empty()) s += " (" + name(m_override) + " overrides)";
        return s;
    }

protected:
    FieldInfo(std::string field, std::string message, std::string override_field = {})
        : m_field(std::move(field)), m_message(std::move(message)), m_override(std::move(override_field)) {}
    ~FieldInfo() = default;

private:
    std::string m_field, m_message, m_override;
};

/// A malformed setting (exit 2 at the CLI): what() is "field: message".
class FieldError : public UsageError, public FieldInfo {
public:
    FieldError(std::string field, std::string message)
        : UsageError(field + ": " + message), FieldInfo(std::move(field), std::move(message)) {}
    template <typename... Args>
    FieldError(std::string field, fmt::format_string<Args...> f, Args&&... args)
        : FieldError(std::move(field), fmt::format(f, std::forward<Args>(args)...)) {}
};

/// A setting the input refuses (exit 1): the evaluator is the model under test. what() is
/// "field: message (override_field overrides)".
class FieldDataError : public Error, public FieldInfo {
public:
    FieldDataError(std::string field, std::string message, std::string override_field)
        : Error(field + ": " + message + " (" + override_field + " overrides)"),
          FieldInfo(std::move(field), std::move(message), std::move(override_field)) {}
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
