// AVX-512 f32 GEMM micro-kernels (compiled with -mavx512f/bw/vl/dq -mfma for this file only).
//   f32 weights : 14 rows x 32 columns of zmm accumulators (28 registers), per k one 32-wide row
//                 of the weight panel (2 loads) and 14 broadcasts of x.
//   bf16 weights: 12 x 32; each k pair of the panel (2 loads) is widened to f32 exactly
//                 (bf16 -> f32 is a 16-bit shift), x stays f32.
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_mr_f32 = 14;
constexpr int k_mr_bf16w = 12;

inline __mmask16 lo_mask(int nc) { return nc >= 16 ? __mmask16(0xffff) : __mmask16((1u << nc) - 1u); }
inline __mmask16 hi_mask(int nc) { return nc <= 16 ? __mmask16(0) : lo_mask(nc - 16); }

template <int M>
inline void store_tile(const __m512* c0, const __m512* c1, float* c, int ldc, int nc, bool accumulate) {
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

template <int M>
void kern_f32(int kc, const float* a, const float* b, float* c, int ldc, int nc, bool accumulate) {
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
    for (int p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const __m512 av = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        a += k_mr_f32;
        b += 32;
    }
    store_tile<M>(c0, c1, c, ldc, nc, accumulate);
}

template <int M>
void kern_bf16w(int kc, const float* a, const uint16_t* b, float* c, int ldc, int nc, bool accumulate) {
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
    const __m512i hi = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    for (int p = 0; p < kc; p += 2) {
        const __m512i w0 = _mm512_load_si512(b), w1 = _mm512_load_si512(b + 32);
        const __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16));  // k even, columns 0..15
        const __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16));  // k even, columns 16..31
        const __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(w0, hi));   // k odd
        const __m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(w1, hi));
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const __m512 ae = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ae, e0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ae, e1, c1[i]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const __m512 ao = _mm512_set1_ps(a[k_mr_bf16w + i]);
            c0[i] = _mm512_fmadd_ps(ao, o0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ao, o1, c1[i]);
        }
        a += 2 * k_mr_bf16w;
        b += 64;
    }
    store_tile<M>(c0, c1, c, ldc, nc, accumulate);
}

// Decoding: one row against two panels at once, k unrolled by 2 into separate accumulators
// (8 independent FMA chains); the two k halves are summed at the end.
void gemv2_f32(int kp, const void* a_v, int a_stride, const void* b0_v, const void* b1_v, float* y0, float* y1, int nc0,
               int nc1) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b0 = static_cast<const float*>(b0_v);
    const auto* b1 = static_cast<const float*>(b1_v ? b1_v : b0_v);
    __m512 s[8];
    for (auto& v : s) v = _mm512_setzero_ps();
    int p = 0;
    for (; p + 2 <= kp; p += 2) {
        const __m512 a0 = _mm512_set1_ps(a[0]), a1 = _mm512_set1_ps(a[a_stride]);
        s[0] = _mm512_fmadd_ps(a0, _mm512_load_ps(b0), s[0]);
        s[1] = _mm512_fmadd_ps(a0, _mm512_load_ps(b0 + 16), s[1]);
        s[2] = _mm512_fmadd_ps(a1, _mm512_load_ps(b0 + 32), s[2]);
        s[3] = _mm512_fmadd_ps(a1, _mm512_load_ps(b0 + 48), s[3]);
        s[4] = _mm512_fmadd_ps(a0, _mm512_load_ps(b1), s[4]);
        s[5] = _mm512_fmadd_ps(a0, _mm512_load_ps(b1 + 16), s[5]);
        s[6] = _mm512_fmadd_ps(a1, _mm512_load_ps(b1 + 32), s[6]);
        s[7] = _mm512_fmadd_ps(a1, _mm512_load_ps(b1 + 48), s[7]);
        a += 2 * a_stride;
        b0 += 64;
        b1 += 64;
    }
    if (p < kp) {
        const __m512 a0 = _mm512_set1_ps(a[0]);
        s[0] = _mm512_fmadd_ps(a0, _mm512_load_ps(b0), s[0]);
        s[1] = _mm512_fmadd_ps(a0, _mm512_load_ps(b0 + 16), s[1]);
        s[4] = _mm512_fmadd_ps(a0, _mm512_load_ps(b1), s[4]);
        s[5] = _mm512_fmadd_ps(a0, _mm512_load_ps(b1 + 16), s[5]);
    }
    auto store = [](float* y, int nc, __m512 lo, __m512 hi) {
        _mm512_mask_storeu_ps(y, lo_mask(nc), lo);
        _mm512_mask_storeu_ps(y + 16, hi_mask(nc), hi);
    };
    store(y0, nc0, _mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
    if (b1_v) store(y1, nc1, _mm512_add_ps(s[4], s[6]), _mm512_add_ps(s[5], s[7]));
}

#define RB_CASES14(F) \
    F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13) F(14)

void run_f32(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const float*>(b_v);
    switch (m) {
#define RB_CASE(M) \
    case M: kern_f32<M>(kc, a, b, c, ldc, nc, acc); break;
        RB_CASES14(RB_CASE)
#undef RB_CASE
        default: break;
    }
}

void run_bf16w(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const uint16_t*>(b_v);
    switch (m) {
#define RB_CASE(M) \
    case M: kern_bf16w<M>(kc, a, b, c, ldc, nc, acc); break;
        RB_CASE(1) RB_CASE(2) RB_CASE(3) RB_CASE(4) RB_CASE(5) RB_CASE(6)
        RB_CASE(7) RB_CASE(8) RB_CASE(9) RB_CASE(10) RB_CASE(11) RB_CASE(12)
#undef RB_CASE
        default: break;
    }
}

// Packs up to mr rows of x into [kp][mr]: 16 columns of each row at a time, stored strided.
template <int MR>
void pack_f32(const float* x, int rows, int ldx, int k, int kp, void* dst_v) {
    auto* dst = static_cast<float*>(dst_v);
    alignas(64) float tmp[16];
    for (int i = 0; i < rows; i++) {
        const float* xi = x + static_cast<size_t>(i) * ldx;
        for (int k0 = 0; k0 < kp; k0 += 16) {
            const int cnt = std::min(16, k - k0);
            const __mmask16 mk = cnt <= 0 ? __mmask16(0) : cnt >= 16 ? __mmask16(0xffff) : __mmask16((1u << cnt) - 1u);
            _mm512_store_ps(tmp, _mm512_maskz_loadu_ps(mk, xi + k0));
            const int lim = std::min(16, kp - k0);
            for (int j = 0; j < lim; j++) dst[static_cast<size_t>(k0 + j) * MR + i] = tmp[j];
        }
    }
}

// Blocking (kc, mc) picked by measurement on Zen 5 (48 KB L1, 1 MB L2): larger k blocks won,
// since every k block re-reads and re-writes the C tiles; override with ROPEBENCH_GEMM_KC/MC.
const GemmKernel k_f32{"avx512 f32 14x32", k_mr_f32, false, 1024, 40, run_f32, pack_f32<k_mr_f32>, gemv2_f32};
const GemmKernel k_bf16w{"avx512 bf16->f32 12x32", k_mr_bf16w, false, 1024, 40, run_bf16w, pack_f32<k_mr_bf16w>};

}  // namespace

const GemmKernel* gemm_kernel_avx512(backend::WeightType t) {
    return t == backend::WeightType::f32 ? &k_f32 : &k_bf16w;
}

}  // namespace rb::cpu::detail
