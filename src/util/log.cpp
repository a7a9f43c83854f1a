#include "util/log.h"

namespace rb {
namespace {
LogLevel g_level = LogLevel::info;
}
LogLevel log_level() { return g_level; }
void set_log_level(LogLevel l) { g_level = l; }
}  // namespace rb
