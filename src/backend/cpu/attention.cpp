// Causal GQA attention with an online softmax over key tiles (no L² memory).
// Initial portable version; the fast kernel replaces it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::cpu {

void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, ThreadPool& pool) {
    const int group = n_heads / n_kv_heads;
    constexpr int k_tile = 64;
    // Work items: (head, query) pairs split over threads.
    pool.parallel_for(static_cast<size_t>(n_heads) * n, [&](size_t b, size_t e) {
        std::vector<float> s(k_tile), acc(head_dim);
        for (size_t it = b; it < e; it++) {
            int h = static_cast<int>(it / n), i = static_cast<int>(it % n);
            int kvh = h / group, last = pos0 + i;
            const float* qi = q + static_cast<size_t>(i) * ldq + static_cast<size_t>(h) * head_dim;
            const float* K = k_cache + static_cast<size_t>(kvh) * cap * head_dim;
            const float* V = v_cache + static_cast<size_t>(kvh) * cap * head_dim;
            float mx = -INFINITY, sum = 0;
            std::fill(acc.begin(), acc.end(), 0.f);
            for (int t0 = 0; t0 <= last; t0 += k_tile) {
                int t1 = std::min(last + 1, t0 + k_tile);
                float tile_max = -INFINITY;
                for (int t = t0; t < t1; t++) {
                    const float* kt = K + static_cast<size_t>(t) * head_dim;
                    float d = 0;
                    for (int c = 0; c < head_dim; c++) d += qi[c] * kt[c];
                    s[t - t0] = d * scale;
                    tile_max = std::max(tile_max, s[t - t0]);
                }
                float new_max = std::max(mx, tile_max);
                float corr = std::exp(mx - new_max);
                sum *= corr;
                for (int c = 0; c < head_dim; c++) acc[c] *= corr;
                for (int t = t0; t < t1; t++) {
                    float p = std::exp(s[t - t0] - new_max);
                    sum += p;
                    const float* vt = V + static_cast<size_t>(t) * head_dim;
                    for (int c = 0; c < head_dim; c++) acc[c] += p * vt[c];
                }
                mx = new_max;
            }
            float* o = out + static_cast<size_t>(i) * ldo + static_cast<size_t>(h) * head_dim;
            float inv = 1.f / sum;
            for (int c = 0; c < head_dim; c++) o[c] = acc[c] * inv;
        }
    });
}

}  // namespace rb::cpu
