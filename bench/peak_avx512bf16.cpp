// vdpbf16ps throughput loop: 16 independent chains, 64 flops per instruction (16 lanes x 2 products x mul+add).
#include <immintrin.h>

#include <cstdint>

namespace rb::bench {

double dpbf16_loop(int64_t iters) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps(0.001f * i);
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, acc[i]);
    return static_cast<double>(_mm512_reduce_add_ps(s));
}

}  // namespace rb::bench
