#pragma once
#include <memory>

#include "backend/backend.h"

namespace rb::cuda {
/// The CUDA backend on device 0 (CUDA_VISIBLE_DEVICES picks it). Throws Error, one line, when
/// no device is visible (cudaGetDeviceCount fails or finds none) or it predates sm_80.
std::unique_ptr<backend::Backend> make_cuda_backend();
}  // namespace rb::cuda
