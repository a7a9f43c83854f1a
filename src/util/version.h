// Build identity. The version is a compile-time constant (ROPEBENCH_VERSION); the git
// description lives in one generated source file so that a re-configure recompiles nothing else.
#pragma once

namespace rb {
/// `git describe --always --dirty` at configure time, or "unknown".
const char* git_describe();
}
