// AVX-512 GEMM epilogues (compiled with AVX-512 flags for this file only).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/exp_avx512.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {

void swiglu_rows_avx512(const float* gu, float* out, size_t b, size_t e, int inter) {
    const __m512 one = _mm512_set1_ps(1.f);
    for (size_t i = b; i < e; i++) {
        const float* g = gu + i * 2 * inter;
        const float* u = g + inter;
        float* o = out + i * inter;
        for (int c = 0; c < inter; c += 16) {
            const __mmask16 m = count_mask(inter - c);
            const __m512 gv = _mm512_maskz_loadu_ps(m, g + c), uv = _mm512_maskz_loadu_ps(m, u + c);
            // silu(g) = g / (1 + e^-g); e^-g -> inf for g < -89 gives -0, as the scalar formula does.
            const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
            _mm512_mask_storeu_ps(o + c, m, _mm512_mul_ps(s, uv));
        }
    }
}

void logsumexp_rows_avx512(const float* logits, size_t b, size_t e, int vocab, int ld, double* lse, int* argmax) {
    const __m512i step = _mm512_set1_epi32(16);
    for (size_t i = b; i < e; i++) {
        const float* l = logits + i * ld;
        // Pass 1: per-lane max and the first index reaching it.
        __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), best = idx;
        for (int v = 0; v < vocab; v += 16) {
            const __mmask16 m = count_mask(vocab - v);
            const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-std::numeric_limits<float>::infinity()), m, l + v);
            const __mmask16 gt = _mm512_cmp_ps_mask(x, mx, _CMP_GT_OQ);
            mx = _mm512_mask_mov_ps(mx, gt, x);
            best = _mm512_mask_mov_epi32(best, gt, idx);
            idx = _mm512_add_epi32(idx, step);
        }
        const float gmax = _mm512_reduce_max_ps(mx);
        const __mmask16 at = _mm512_cmp_ps_mask(mx, _mm512_set1_ps(gmax), _CMP_EQ_OQ);
        const int am = _mm512_mask_reduce_min_epi32(at, best);
        // Pass 2: Σ exp(l - max), f32 lanes flushed to double every 1024 logits.
        const __m512 mv = _mm512_set1_ps(gmax);
        double sum = 0;
        for (int v0 = 0; v0 < vocab; v0 += 1024) {
            __m512 acc = _mm512_setzero_ps();
            const int v1 = std::min(vocab, v0 + 1024);
            for (int v = v0; v < v1; v += 16) {
                const __mmask16 m = count_mask(v1 - v);
                acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, l + v), mv))));
            }
            sum += _mm512_reduce_add_ps(acc);
        }
        lse[i] = static_cast<double>(gmax) + std::log(sum);
        if (argmax) argmax[i] = am;
    }
}

}  // namespace rb::cpu::detail
