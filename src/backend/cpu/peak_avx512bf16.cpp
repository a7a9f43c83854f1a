// The vdpbf16ps peak loop (peak_loops.h), compiled with AVX512_BF16 flags for this file only:
// 64 flops per instruction (32 products + 32 sums).
#include "backend/cpu/avx512_util.h"
#include "backend/cpu/peak.h"
#include "backend/cpu/peak_loops.h"

namespace rb::cpu::detail {
double dp_loop_avx512bf16(long iters) {
    const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f803f80), c = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    return register_loop<Zmm>(iters, [&](__m512 a) { return _mm512_dpbf16_ps(a, b, c); }, 64.0);
}
}  // namespace rb::cpu::detail
