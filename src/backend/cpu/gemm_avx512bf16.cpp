// AVX512_BF16 GEMM micro-kernel for bf16 weights (compiled with -mavx512bf16 for this file only):
// 14 rows x 32 columns of f32 accumulators; per k pair one weight-panel row of 32 bf16 pairs
// (2 loads) and 14 broadcasts of an x pair; vdpbf16ps adds both products of a pair.
// x is rounded to bf16 (round to nearest even, vcvtne2ps2bf16) while packing A.
#include <immintrin.h>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_mr = 14;


void run(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool acc) {
    const auto* a = static_cast<const uint32_t*>(a_v);
    const auto* b = static_cast<const uint8_t*>(b_v);
    with_rows<k_mr>(m, [&]<int M>() { gemm_tile<Bf16Dot, k_mr, M>(kc / 2, a, b, c, ldc, nc, acc); });
}

void gemv2(int kp, const void* a, int a_stride, const void* b0, const void* b1, float* y0, float* y1, int nc0,
           int nc1) {
    gemv2_panels<Bf16Dot>(kp / 2, a, a_stride, b0, b1, y0, y1, nc0, nc1);
}

// Packs up to k_mr rows of x [rows, k] as bf16 pairs: dst[p*k_mr + i] = bf16(x[i][2p]) | bf16(x[i][2p+1]) << 16.
void pack(const float* x, int rows, int ldx, int k, int kp, void* dst) {
    pack_a_rows<k_mr, 2, uint32_t>(x, rows, ldx, k, kp, dst, [](const float* src, int cnt, uint32_t* tmp) {
        const __m512 lo = _mm512_maskz_loadu_ps(count_mask(cnt), src), hi = _mm512_maskz_loadu_ps(count_mask(cnt - 16), src + 16);
        // cvtne2ps2bf16(a, b): b fills the low 16 bf16, a the high 16 -> memory order k0..k0+31.
        _mm512_store_si512(tmp, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    });
}

const GemmKernel k_dp{"avx512bf16 dpbf16 14x32", k_mr, true, 2048, 40, run, pack, gemv2};

}  // namespace

const GemmKernel* gemm_kernel_avx512bf16(backend::WeightType t) {
    return t == backend::WeightType::bf16 ? &k_dp : nullptr;
}

}  // namespace rb::cpu::detail
