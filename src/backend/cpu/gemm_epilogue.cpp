// GEMM epilogues: SwiGLU after the gate/up GEMM and the log-sum-exp of LM-head logits.
// Rows are split over the threads in fixed ranges; each row is computed in a fixed order.
#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"

namespace rb::cpu {

void swiglu(const float* gu, float* out, int n, int inter, ThreadPool& pool) {
    const bool vec = active_isa() >= Isa::avx512;
    pool.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
        if (vec) {
            detail::swiglu_rows_avx512(gu, out, b, e, inter);
            return;
        }
        for (size_t i = b; i < e; i++) {
            const float* g = gu + i * 2 * inter;
            const float* u = g + inter;
            float* o = out + i * inter;
            for (int c = 0; c < inter; c++) o[c] = g[c] / (1.f + std::exp(-g[c])) * u[c];
        }
    });
}

void logsumexp_rows(const float* logits, int n, int vocab, int ld, double* lse, int* argmax, ThreadPool& pool) {
    const bool vec = active_isa() >= Isa::avx512;
    pool.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
        if (vec) {
            detail::logsumexp_rows_avx512(logits, b, e, vocab, ld, lse, argmax);
            return;
        }
        for (size_t i = b; i < e; i++) {
            const float* l = logits + i * ld;
            int am = 0;
            for (int v = 1; v < vocab; v++)
                if (l[v] > l[am]) am = v;
            const float mx = l[am];
            double sum = 0;
            for (int v = 0; v < vocab; v++) sum += std::exp(l[v] - mx);
            lse[i] = mx + std::log(sum);
            if (argmax) argmax[i] = am;
        }
    });
}

}  // namespace rb::cpu
