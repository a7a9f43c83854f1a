// AVX2+FMA GEMM micro-kernels (compiled with -mavx2 -mfma for this file only). The 32-column
// weight panel is processed as two halves of 16 columns (2 ymm):
//   f32 weights : 6 rows x 16 columns (12 accumulators) per half.
//   bf16 weights: 4 rows x 16 columns; each k pair is widened to f32 exactly (16-bit shift / mask).
#include <immintrin.h>

#include "backend/cpu/avx2_util.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/tile_util.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_mr_f32 = 6;
constexpr int k_mr_bf16w = 4;

template <int M>
void kern_f32(int kc, const float* a0, const float* b0, float* c, int ldc, int nc, bool accumulate) {
    for (int half = 0; half < 2 && nc > half * 16; half++) {
        const float* a = a0;
        const float* b = b0 + half * 16;
        __m256 c0[M], c1[M];
        zero_tile<Ymm, M>(c0, c1);
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
        store_tile<Ymm, M>(c0, c1, c + half * 16, ldc, nc - half * 16, accumulate);
    }
}

void run_f32(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const float*>(b_v);
    with_rows<k_mr_f32>(m, [&]<int M>() { kern_f32<M>(kc, a, b, c, ldc, nc, acc); });
}

void run_bf16w(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const uint16_t*>(b_v);
    with_rows<k_mr_bf16w>(m, [&]<int M>() {
        for (int half = 0; half < 2 && nc > half * 16; half++)
            bf16w_tile<Ymm, k_mr_bf16w, M, false>(kc, a, b + half * 32, c + half * 16, ldc, nc - half * 16, acc);
    });
}

void pack_f32_6(const float* x, int rows, int ldx, int k, int kp, void* dst) { pack_a_f32(x, rows, ldx, k, kp, dst, k_mr_f32); }
void pack_f32_4(const float* x, int rows, int ldx, int k, int kp, void* dst) { pack_a_f32(x, rows, ldx, k, kp, dst, k_mr_bf16w); }

const GemmKernel k_f32{"avx2 f32 6x16", k_mr_f32, false, 256, 48, run_f32, pack_f32_6};
const GemmKernel k_bf16w{"avx2 bf16->f32 4x16", k_mr_bf16w, false, 256, 64, run_bf16w, pack_f32_4};

}  // namespace

const GemmKernel* gemm_kernel_avx2(backend::WeightType t) { return t == backend::WeightType::f32 ? &k_f32 : &k_bf16w; }

}  // namespace rb::cpu::detail
