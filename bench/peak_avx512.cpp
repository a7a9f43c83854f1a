// AVX-512 FMA throughput loop: 16 independent zmm accumulator chains (enough to cover the FMA
// latency on two pipes), 32 flops per vfmadd231ps.
#include <immintrin.h>

#include <cstdint>

namespace rb::bench {

double fma_loop_avx512(int64_t iters) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps(0.001f * i);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, acc[i]);
    return static_cast<double>(_mm512_reduce_add_ps(s));
}

}  // namespace rb::bench
