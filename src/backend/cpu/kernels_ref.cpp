// Scalar reference kernels: the definition every fast kernel is tested against.
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::cpu {

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>((u + rounding) >> 16);
}

float bf16_to_f32(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

namespace ref {

void gemm(const float* x, int m, int ldx, const float* w, int n, int k, float* y, int ldy) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++) acc += static_cast<double>(x[i * (size_t)ldx + p]) * w[j * (size_t)k + p];
            y[i * (size_t)ldy + j] = static_cast<float>(acc);
        }
}

void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, int window) {
    int group = n_heads / n_kv_heads;
    std::vector<double> s(static_cast<size_t>(pos0 + n));
    std::vector<double> acc(head_dim);
    for (int i = 0; i < n; i++) {
        int last = pos0 + i;  // causal: keys first..last
        int first = window > 0 ? std::max(0, last - window + 1) : 0;
        for (int h = 0; h < n_heads; h++) {
            int kvh = h / group;
            const float* qi = q + i * (size_t)ldq + h * (size_t)head_dim;
            const float* K = k_cache + (size_t)kvh * cap * head_dim;
            const float* V = v_cache + (size_t)kvh * cap * head_dim;
            double mx = -INFINITY;
            for (int t = first; t <= last; t++) {
                double d = 0;
                for (int c = 0; c < head_dim; c++) d += static_cast<double>(qi[c]) * K[t * (size_t)head_dim + c];
                s[t] = d * scale;
                mx = std::max(mx, s[t]);
            }
            double sum = 0;
            for (int t = first; t <= last; t++) {
                s[t] = std::exp(s[t] - mx);
                sum += s[t];
            }
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int t = first; t <= last; t++)
                for (int c = 0; c < head_dim; c++) acc[c] += s[t] * V[t * (size_t)head_dim + c];
            float* o = out + i * (size_t)ldo + h * (size_t)head_dim;
            for (int c = 0; c < head_dim; c++) o[c] = static_cast<float>(acc[c] / sum);
        }
    }
}

void rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps) {
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++) {
            float* v = x + static_cast<size_t>(i) * ldx + static_cast<size_t>(h) * head_dim;
            double ss = 0;
            for (int c = 0; c < head_dim; c++) ss += static_cast<double>(v[c]) * v[c];
            const double r = 1.0 / std::sqrt(ss / head_dim + eps);
            for (int c = 0; c < head_dim; c++) v[c] = static_cast<float>(v[c] * r * g[c]);
        }
}

void swiglu(const float* gu, float* out, int n, int inter) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < inter; c++) {
            const double g = gu[static_cast<size_t>(i) * 2 * inter + c], u = gu[static_cast<size_t>(i) * 2 * inter + inter + c];
            out[static_cast<size_t>(i) * inter + c] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
        }
}

void logsumexp_rows(const float* logits, int n, int vocab, int ld, double* lse, int* argmax) {
    for (int i = 0; i < n; i++) {
        const float* l = logits + static_cast<size_t>(i) * ld;
        int am = 0;
        for (int v = 1; v < vocab; v++)
            if (l[v] > l[am]) am = v;
        double sum = 0;
        for (int v = 0; v < vocab; v++) sum += std::exp(static_cast<double>(l[v]) - l[am]);
        lse[i] = l[am] + std::log(sum);
        if (argmax) argmax[i] = am;
    }
}

}  // namespace ref
}  // namespace rb::cpu
