// The 8-lane f32 vector type of the AVX2 kernels (gemm_avx2.cpp, peak_avx2.cpp) for the generic
// pieces of tile_util.h and peak_loops.h. Include only from files compiled with AVX2+FMA flags
// (unnamed namespace: see tile_util.h).
#pragma once
#include <immintrin.h>

namespace rb::cpu::detail {
namespace {

struct Ymm {
    using Reg = __m256;
    using Mask = __m256i;
    static constexpr int width = 8;
    static Reg zero() { return _mm256_setzero_ps(); }
    static Reg set1(float v) { return _mm256_set1_ps(v); }
    static Reg load(const float* p) { return _mm256_load_ps(p); }
    static Reg loadu(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, Reg v) { _mm256_store_ps(p, v); }
    static void storeu(float* p, Reg v) { _mm256_storeu_ps(p, v); }
    static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
    static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
    /// Lanes < cnt (none for cnt <= 0, all for cnt >= 8).
    static Mask mask(int cnt) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
    static Reg maskz_loadu(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
    static void mask_storeu(float* p, Mask m, Reg v) { _mm256_maskstore_ps(p, m, v); }
    /// bf16 pairs (64-byte aligned): the even / odd elements widened to f32 (exact).
    using IReg = __m256i;
    static IReg loadi(const void* p) { return _mm256_load_si256(static_cast<const __m256i*>(p)); }
    static Reg bf16_even(IReg w) { return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)); }
    static Reg bf16_odd(IReg w) { return _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(static_cast<int>(0xffff0000u)))); }
};

}  // namespace
}  // namespace rb::cpu::detail
