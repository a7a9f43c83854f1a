// The AVX2 peak loops (peak_loops.h), compiled with -mavx2 -mfma for this file only.
#include "backend/cpu/avx2_util.h"
#include "backend/cpu/peak.h"
#include "backend/cpu/peak_loops.h"

namespace rb::cpu::detail {
double fma_loop_avx2(long iters) { return fma_loop<Ymm>(iters); }
double read_pass_avx2(const float* p, size_t n) { return read_pass<Ymm>(p, n); }
}  // namespace rb::cpu::detail
