// The cuda backend for tests, or the reason there is none on this machine.
#pragma once
#include <cstdlib>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "util/error.h"

namespace rb::test {

/// ROPEBENCH_REQUIRE_GPU=1: a machine without a usable GPU fails the CUDA tests instead of
/// skipping them (the GPU check must not pass by skipping).
inline bool gpu_required() {
    const char* e = std::getenv("ROPEBENCH_REQUIRE_GPU");
    return e && std::string(e) == "1";
}

/// make_backend("cuda"), or nullptr with the one-line reason in *why (no device visible).
/// Throws when gpu_required().
inline std::unique_ptr<backend::Backend> make_cuda_or_why(std::string* why) {
    try {
        backend::BackendOptions o;
        o.name = "cuda";
        return backend::make_backend(o);
    } catch (const Error& e) {
        if (gpu_required()) throw;
        *why = std::string("no GPU here, CUDA test not run: ") + e.what();
        return nullptr;
    }
}

}  // namespace rb::test
