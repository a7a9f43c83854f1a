// AVX-512 f32 GEMM micro-kernels (compiled with -mavx512f/bw/vl/dq -mfma for this file only).
//   f32 weights : 14 rows x 32 columns of zmm accumulators (28 registers), per k one 32-wide row
//                 of the weight panel (2 loads) and 14 broadcasts of x.
//   bf16 weights: 12 x 32; each k pair of the panel (2 loads) is widened to f32 exactly
//                 (bf16 -> f32 is a 16-bit shift), x stays f32.
#include <immintrin.h>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_mr_f32 = 14;
constexpr int k_mr_bf16w = 12;

void gemv2_f32(int kp, const void* a, int a_stride, const void* b0, const void* b1, float* y0, float* y1, int nc0,
               int nc1) {
    gemv2_panels<F32Dot>(kp, a, a_stride, b0, b1, y0, y1, nc0, nc1);
}

void run_f32(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const uint8_t*>(b_v);
    with_rows<k_mr_f32>(m, [&]<int M>() { gemm_tile<F32Dot, k_mr_f32, M>(kc, a, b, c, ldc, nc, acc); });
}

void run_bf16w(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const uint16_t*>(b_v);
    with_rows<k_mr_bf16w>(m, [&]<int M>() { bf16w_tile<Zmm, k_mr_bf16w, M, true>(kc, a, b, c, ldc, nc, acc); });
}

// Packs up to MR rows of x into [kp][MR], 16 columns of a row at a time.
template <int MR>
void pack_f32(const float* x, int rows, int ldx, int k, int kp, void* dst) {
    pack_a_rows<MR, 1, float>(x, rows, ldx, k, kp, dst, [](const float* src, int cnt, float* tmp) {
        _mm512_store_ps(tmp, _mm512_maskz_loadu_ps(count_mask(cnt), src));
    });
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
