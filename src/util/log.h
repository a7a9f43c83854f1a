// Logging to stderr; stdout is reserved for results (--json prints exactly one object).
#pragma once
#include <fmt/format.h>

#include <cstdio>

namespace rb {

enum class LogLevel { quiet = 0, warn = 1, info = 2, debug = 3 };
LogLevel log_level();
void set_log_level(LogLevel l);

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() >= LogLevel::info) fmt::print(stderr, "{}\n", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() >= LogLevel::warn) fmt::print(stderr, "warning: {}\n", fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() >= LogLevel::debug) fmt::print(stderr, "{}\n", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace rb
