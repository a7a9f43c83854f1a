// GEMM y = x · Wᵀ over packed weights. Initial portable version: weights stored row-major
// (f32 or bf16), inner products vectorised by the compiler. The fast microkernels replace it.
#include <algorithm>
#include <cstring>

#include "backend/cpu/kernels.h"

namespace rb::cpu {

std::unique_ptr<PackedMatrix> pack_matrix(const float* w, int n, int k, backend::WeightType type) {
    auto m = std::make_unique<PackedMatrix>();
    m->n = n;
    m->k = k;
    m->wtype = type;
    size_t elem = type == backend::WeightType::f32 ? 4 : 2;
    m->storage.resize(static_cast<size_t>(n) * k * elem + 64);
    m->offset = (64 - reinterpret_cast<uintptr_t>(m->storage.data()) % 64) % 64;
    uint8_t* dst = m->storage.data() + m->offset;
    if (type == backend::WeightType::f32) {
        std::memcpy(dst, w, static_cast<size_t>(n) * k * 4);
    } else {
        auto* d = reinterpret_cast<uint16_t*>(dst);
        for (size_t i = 0; i < static_cast<size_t>(n) * k; i++) d[i] = f32_to_bf16(w[i]);
    }
    return m;
}

void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy, ThreadPool& pool) {
    const int n = w.n, k = w.k;
    const bool bf16 = w.wtype == backend::WeightType::bf16;
    pool.parallel_for(static_cast<size_t>(n), [&](size_t j0, size_t j1) {
        std::vector<float> row(bf16 ? k : 0);
        for (size_t j = j0; j < j1; j++) {
            const float* wr;
            if (bf16) {
                const auto* src = reinterpret_cast<const uint16_t*>(w.data()) + j * k;
                for (int p = 0; p < k; p++) row[p] = bf16_to_f32(src[p]);
                wr = row.data();
            } else {
                wr = reinterpret_cast<const float*>(w.data()) + j * k;
            }
            for (int i = 0; i < m; i++) {
                const float* xi = x + static_cast<size_t>(i) * ldx;
                float acc = 0;
                for (int p = 0; p < k; p++) acc += xi[p] * wr[p];
                y[static_cast<size_t>(i) * ldy + j] = acc;
            }
        }
    });
}

}  // namespace rb::cpu
