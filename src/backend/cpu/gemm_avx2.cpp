// AVX2+FMA GEMM micro-kernels (compiled with -mavx2 -mfma for this file only). The 32-column
// weight panel is processed as two halves of 16 columns (2 ymm):
//   f32 weights : 6 rows x 16 columns (12 accumulators) per half.
//   bf16 weights: 4 rows x 16 columns; each k pair is widened to f32 exactly (16-bit shift / mask).
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_mr_f32 = 6;
constexpr int k_mr_bf16w = 4;

inline __m256i col_mask(int cnt) {  // lanes < cnt set
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), idx);
}

template <int M>
inline void store_half(const __m256* c0, const __m256* c1, float* c, int ldc, int cnt, bool accumulate) {
    if (cnt >= 16) {
        for (int i = 0; i < M; i++) {
            float* ci = c + static_cast<size_t>(i) * ldc;
            __m256 v0 = c0[i], v1 = c1[i];
            if (accumulate) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(ci));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(ci + 8));
            }
            _mm256_storeu_ps(ci, v0);
            _mm256_storeu_ps(ci + 8, v1);
        }
        return;
    }
    const __m256i m0 = col_mask(cnt), m1 = col_mask(cnt - 8);
    for (int i = 0; i < M; i++) {
        float* ci = c + static_cast<size_t>(i) * ldc;
        __m256 v0 = c0[i], v1 = c1[i];
        if (accumulate) {
            v0 = _mm256_add_ps(v0, _mm256_maskload_ps(ci, m0));
            v1 = _mm256_add_ps(v1, _mm256_maskload_ps(ci + 8, m1));
        }
        _mm256_maskstore_ps(ci, m0, v0);
        _mm256_maskstore_ps(ci + 8, m1, v1);
    }
}

template <int M>
void kern_f32(int kc, const float* a0, const float* b0, float* c, int ldc, int nc, bool accumulate) {
    for (int half = 0; half < 2 && nc > half * 16; half++) {
        const float* a = a0;
        const float* b = b0 + half * 16;
        __m256 c0[M], c1[M];
        for (int i = 0; i < M; i++) c0[i] = c1[i] = _mm256_setzero_ps();
        for (int p = 0; p < kc; p++) {
            const __m256 w0 = _mm256_load_ps(b), w1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) {
                const __m256 av = _mm256_broadcast_ss(a + i);
                c0[i] = _mm256_fmadd_ps(av, w0, c0[i]);
                c1[i] = _mm256_fmadd_ps(av, w1, c1[i]);
            }
            a += k_mr_f32;
            b += 32;
        }
        store_half<M>(c0, c1, c + half * 16, ldc, nc - half * 16, accumulate);
    }
}

template <int M>
void kern_bf16w(int kc, const float* a0, const uint16_t* b0, float* c, int ldc, int nc, bool accumulate) {
    const __m256i hi = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    for (int half = 0; half < 2 && nc > half * 16; half++) {
        const float* a = a0;
        const uint16_t* b = b0 + half * 32;  // 16 columns x 2 = 32 bf16 per half
        __m256 c0[M], c1[M];
        for (int i = 0; i < M; i++) c0[i] = c1[i] = _mm256_setzero_ps();
        for (int p = 0; p < kc; p += 2) {
            const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
            const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 16));
            const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
            const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
            const __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(w0, hi));
            const __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(w1, hi));
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) {
                const __m256 ae = _mm256_broadcast_ss(a + i), ao = _mm256_broadcast_ss(a + k_mr_bf16w + i);
                c0[i] = _mm256_fmadd_ps(ae, e0, c0[i]);
                c1[i] = _mm256_fmadd_ps(ae, e1, c1[i]);
                c0[i] = _mm256_fmadd_ps(ao, o0, c0[i]);
                c1[i] = _mm256_fmadd_ps(ao, o1, c1[i]);
            }
            a += 2 * k_mr_bf16w;
            b += 64;
        }
        store_half<M>(c0, c1, c + half * 16, ldc, nc - half * 16, accumulate);
    }
}

void run_f32(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const float*>(b_v);
    switch (m) {
        case 1: kern_f32<1>(kc, a, b, c, ldc, nc, acc); break;
        case 2: kern_f32<2>(kc, a, b, c, ldc, nc, acc); break;
        case 3: kern_f32<3>(kc, a, b, c, ldc, nc, acc); break;
        case 4: kern_f32<4>(kc, a, b, c, ldc, nc, acc); break;
        case 5: kern_f32<5>(kc, a, b, c, ldc, nc, acc); break;
        case 6: kern_f32<6>(kc, a, b, c, ldc, nc, acc); break;
        default: break;
    }
}

void run_bf16w(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const uint16_t*>(b_v);
    switch (m) {
        case 1: kern_bf16w<1>(kc, a, b, c, ldc, nc, acc); break;
        case 2: kern_bf16w<2>(kc, a, b, c, ldc, nc, acc); break;
        case 3: kern_bf16w<3>(kc, a, b, c, ldc, nc, acc); break;
        case 4: kern_bf16w<4>(kc, a, b, c, ldc, nc, acc); break;
        default: break;
    }
}

void pack_f32_6(const float* x, int rows, int ldx, int k, int kp, void* dst) { pack_a_f32(x, rows, ldx, k, kp, dst, k_mr_f32); }
void pack_f32_4(const float* x, int rows, int ldx, int k, int kp, void* dst) { pack_a_f32(x, rows, ldx, k, kp, dst, k_mr_bf16w); }

const GemmKernel k_f32{"avx2 f32 6x16", k_mr_f32, false, 256, 48, run_f32, pack_f32_6};
const GemmKernel k_bf16w{"avx2 bf16->f32 4x16", k_mr_bf16w, false, 256, 64, run_bf16w, pack_f32_4};

}  // namespace

const GemmKernel* gemm_kernel_avx2(backend::WeightType t) { return t == backend::WeightType::f32 ? &k_f32 : &k_bf16w; }

}  // namespace rb::cpu::detail
