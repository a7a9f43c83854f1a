#include "util/error.h"

#include <cstdio>
#include <cstdlib>

namespace rb {

void rethrow_with_context(const std::exception& e, const std::string& context) {
    if (dynamic_cast<const UsageError*>(&e)) throw UsageError(context + ": " + e.what());
    throw Error(context + ": " + e.what());
}

void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
    std::fprintf(stderr, "internal error: CHECK(%s) failed at %s:%d %s\n", expr, file, line, msg.c_str());
    std::abort();
}

}  // namespace rb
