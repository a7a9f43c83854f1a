// The AVX-512 peak loops (peak_loops.h), compiled with AVX-512 flags for this file only.
#include "backend/cpu/avx512_util.h"
#include "backend/cpu/peak.h"
#include "backend/cpu/peak_loops.h"

namespace rb::cpu::detail {
double fma_loop_avx512(long iters) { return fma_loop<Zmm>(iters); }
double read_pass_avx512(const float* p, size_t n) { return read_pass<Zmm>(p, n); }
}  // namespace rb::cpu::detail
