// AVX512_BF16 GEMM micro-kernel for bf16 weights (compiled with -mavx512bf16 for this file only):
// 14 rows x 32 columns of f32 accumulators; per k pair one weight-panel row of 32 bf16 pairs
// (2 loads) and 14 broadcasts of an x pair; vdpbf16ps adds both products of a pair.
// x is rounded to bf16 (round to nearest even, vcvtne2ps2bf16) while packing A.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_mr = 14;

inline __mmask16 lo_mask(int nc) { return nc >= 16 ? __mmask16(0xffff) : __mmask16((1u << nc) - 1u); }
inline __mmask16 hi_mask(int nc) { return nc <= 16 ? __mmask16(0) : lo_mask(nc - 16); }

template <int M>
void kern(int kc, const uint32_t* a, const uint16_t* b, float* c, int ldc, int nc, bool accumulate) {
    __m512 c0[M], c1[M];
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    // The C tile is usually out of cache (y is large and revisited once per k block): fetch it
    // now so the loads/stores at the end do not stall.
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) {
        _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc + 16), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int p = 0; p < kc; p += 2) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 32);
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i]));
            c0[i] = _mm512_dpbf16_ps(c0[i], av, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], av, b1);
        }
        a += k_mr;
        b += 64;
    }
    if (nc == 32) {
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            float* ci = c + static_cast<size_t>(i) * ldc;
            __m512 v0 = c0[i], v1 = c1[i];
            if (accumulate) {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(ci));
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(ci + 16));
            }
            _mm512_storeu_ps(ci, v0);
            _mm512_storeu_ps(ci + 16, v1);
        }
        return;
    }
    const __mmask16 m0 = lo_mask(nc), m1 = hi_mask(nc);
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) {
        float* ci = c + static_cast<size_t>(i) * ldc;
        __m512 v0 = c0[i], v1 = c1[i];
        if (accumulate) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}

void run(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const uint32_t*>(a_v);
    const auto* b = static_cast<const uint16_t*>(b_v);
    switch (m) {
#define RB_CASE(M) \
    case M: kern<M>(kc, a, b, c, ldc, nc, acc); break;
        RB_CASE(1) RB_CASE(2) RB_CASE(3) RB_CASE(4) RB_CASE(5) RB_CASE(6) RB_CASE(7)
        RB_CASE(8) RB_CASE(9) RB_CASE(10) RB_CASE(11) RB_CASE(12) RB_CASE(13) RB_CASE(14)
#undef RB_CASE
        default: break;
    }
}

// Decoding: one row against two panels at once; two k pairs per step into separate
// accumulators (8 independent vdpbf16ps chains), summed at the end.
void gemv2(int kp, const void* a_v, int a_stride, const void* b0_v, const void* b1_v, float* y0, float* y1, int nc0,
           int nc1) {
    const auto* a = static_cast<const uint32_t*>(a_v);
    const auto* b0 = static_cast<const uint16_t*>(b0_v);
    const auto* b1 = static_cast<const uint16_t*>(b1_v ? b1_v : b0_v);
    __m512 s[8];
    for (auto& v : s) v = _mm512_setzero_ps();
    int p = 0;
    for (; p + 4 <= kp; p += 4) {
        const __m512bh a0 = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[0]));
        const __m512bh a1 = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[a_stride]));
        s[0] = _mm512_dpbf16_ps(s[0], a0, (__m512bh)_mm512_load_si512(b0));
        s[1] = _mm512_dpbf16_ps(s[1], a0, (__m512bh)_mm512_load_si512(b0 + 32));
        s[2] = _mm512_dpbf16_ps(s[2], a1, (__m512bh)_mm512_load_si512(b0 + 64));
        s[3] = _mm512_dpbf16_ps(s[3], a1, (__m512bh)_mm512_load_si512(b0 + 96));
        s[4] = _mm512_dpbf16_ps(s[4], a0, (__m512bh)_mm512_load_si512(b1));
        s[5] = _mm512_dpbf16_ps(s[5], a0, (__m512bh)_mm512_load_si512(b1 + 32));
        s[6] = _mm512_dpbf16_ps(s[6], a1, (__m512bh)_mm512_load_si512(b1 + 64));
        s[7] = _mm512_dpbf16_ps(s[7], a1, (__m512bh)_mm512_load_si512(b1 + 96));
        a += 2 * a_stride;
        b0 += 128;
        b1 += 128;
    }
    if (p < kp) {  // one k pair left (kp is even)
        const __m512bh a0 = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[0]));
        s[0] = _mm512_dpbf16_ps(s[0], a0, (__m512bh)_mm512_load_si512(b0));
        s[1] = _mm512_dpbf16_ps(s[1], a0, (__m512bh)_mm512_load_si512(b0 + 32));
        s[4] = _mm512_dpbf16_ps(s[4], a0, (__m512bh)_mm512_load_si512(b1));
        s[5] = _mm512_dpbf16_ps(s[5], a0, (__m512bh)_mm512_load_si512(b1 + 32));
    }
    auto store = [](float* y, int nc, __m512 lo, __m512 hi) {
        _mm512_mask_storeu_ps(y, lo_mask(nc), lo);
        _mm512_mask_storeu_ps(y + 16, hi_mask(nc), hi);
    };
    store(y0, nc0, _mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
    if (b1_v) store(y1, nc1, _mm512_add_ps(s[4], s[6]), _mm512_add_ps(s[5], s[7]));
}

// Packs up to k_mr rows of x [rows, k] as bf16 pairs: dst[p*k_mr + i] = bf16(x[i][2p]) | bf16(x[i][2p+1]) << 16.
void pack(const float* x, int rows, int ldx, int k, int kp, void* dst_v) {
    auto* dst = static_cast<uint32_t*>(dst_v);
    alignas(64) uint32_t tmp[16];
    for (int i = 0; i < rows; i++) {
        const float* xi = x + static_cast<size_t>(i) * ldx;
        for (int k0 = 0; k0 < kp; k0 += 32) {
            const int c0 = std::clamp(k - k0, 0, 16), c1 = std::clamp(k - k0 - 16, 0, 16);
            const __mmask16 m0 = c0 >= 16 ? __mmask16(0xffff) : __mmask16((1u << c0) - 1u);
            const __mmask16 m1 = c1 >= 16 ? __mmask16(0xffff) : __mmask16((1u << c1) - 1u);
            const __m512 lo = _mm512_maskz_loadu_ps(m0, xi + k0), hi = _mm512_maskz_loadu_ps(m1, xi + k0 + 16);
            // cvtne2ps2bf16(a, b): b fills the low 16 bf16, a the high 16 -> memory order k0..k0+31.
            _mm512_store_si512(tmp, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            const int lim = std::min(16, (kp - k0) / 2);
            for (int j = 0; j < lim; j++) dst[static_cast<size_t>(k0 / 2 + j) * k_mr + i] = tmp[j];
        }
    }
}

const GemmKernel k_dp{"avx512bf16 dpbf16 14x32", k_mr, true, 2048, 40, run, pack, gemv2};

}  // namespace

const GemmKernel* gemm_kernel_avx512bf16(backend::WeightType t) {
    return t == backend::WeightType::bf16 ? &k_dp : nullptr;
}

}  // namespace rb::cpu::detail
