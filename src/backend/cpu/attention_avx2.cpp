// AVX2 level attention: placeholder until the tiled kernel lands (uses the generic task).
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
AttnFn attention_kernel_avx2() { return nullptr; }
}  // namespace rb::cpu::detail
