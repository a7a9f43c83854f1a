#pragma once
#include <memory>

#include "backend/backend.h"

namespace rb::cpu {
std::unique_ptr<backend::Backend> make_cpu_backend(int threads, const std::string& isa);
}
