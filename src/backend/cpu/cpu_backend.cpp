// The cpu backend: host buffers, the thread pool, and the kernels of kernels.h.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace rb::cpu {
namespace {

class CpuBackend final : public backend::Backend {
public:
    explicit CpuBackend(int threads) : m_pool(threads) {}

    std::string name() const override { return "cpu"; }
    int threads() const override { return m_pool.size(); }

    std::unique_ptr<backend::Matrix> upload_matrix(const float* w, int rows, int cols,
                                                   backend::WeightType type) override {
        return pack_matrix(w, rows, cols, type, &m_pool);
    }

    float* alloc(size_t n) override {
        size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
        void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
        if (!p) throw std::bad_alloc();
        return static_cast<float*>(p);
    }
    void release(float* p) override { std::free(p); }
    void upload(float* dst, const float* src, size_t n) override { std::memcpy(dst, src, n * sizeof(float)); }
    void download(float* dst, const float* src, size_t n) override { std::memcpy(dst, src, n * sizeof(float)); }

    void matmul(const float* x, int n, int ldx, const backend::Matrix& w, float* y, int ldy) override {
        gemm(x, n, ldx, static_cast<const PackedMatrix&>(w), y, ldy, m_pool);
    }

    void rmsnorm(const float* x, const float* g, float* y, int n, int dim, float eps) override {
        m_pool.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
            for (size_t i = b; i < e; i++) {
                const float* xi = x + i * dim;
                float* yi = y + i * dim;
                double ss = 0;
                for (int c = 0; c < dim; c++) ss += static_cast<double>(xi[c]) * xi[c];
                float r = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
                for (int c = 0; c < dim; c++) yi[c] = xi[c] * r * g[c];
            }
        });
    }

    void rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps) override {
        m_pool.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
            for (size_t i = b; i < e; i++)
                for (int h = 0; h < heads; h++) {
                    float* v = x + i * ldx + static_cast<size_t>(h) * head_dim;
                    double ss = 0;
                    for (int c = 0; c < head_dim; c++) ss += static_cast<double>(v[c]) * v[c];
                    const float r = static_cast<float>(1.0 / std::sqrt(ss / head_dim + eps));
                    for (int c = 0; c < head_dim; c++) v[c] = v[c] * r * g[c];
                }
        });
    }

    void add_bias(float* x, int n, int ldx, const float* b, int dim) override {
        for (int i = 0; i < n; i++) {
            float* xi = x + static_cast<size_t>(i) * ldx;
            for (int c = 0; c < dim; c++) xi[c] += b[c];
        }
    }

    void rope(float* x, int n, int ldx, int heads, int head_dim, int rot_dim, const float* cos,
              const float* sin) override {
        const int half = rot_dim / 2;
        m_pool.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
            for (size_t i = b; i < e; i++) {
                const float* c = cos + i * half;
                const float* s = sin + i * half;
                for (int h = 0; h < heads; h++) {
                    float* v = x + i * ldx + static_cast<size_t>(h) * head_dim;
                    for (int j = 0; j < half; j++) {
                        float a = v[j], bb = v[j + half];
                        v[j] = a * c[j] - bb * s[j];
                        v[j + half] = bb * c[j] + a * s[j];
                    }
                }
            }
        });
    }

    // bf16 models keep their KV cache in the bf16 attention kernel's tile layout (cpu/kernels.h),
    // where the CPU has that kernel (the ISA level must not change while a session lives).
    static bool bf16_cache(bool bf16, int head_dim) { return bf16 && cpu::attention_bf16_available(head_dim); }

    void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
                   int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, bool bf16,
                   int window) override {
        if (bf16_cache(bf16, head_dim))
            cpu::attention_bf16_cache(q, ldq, n, pos0, k_cache, v_cache, cap, n_heads, n_kv_heads, head_dim, scale,
                                      out, ldo, m_pool, window);
        else
            cpu::attention(q, ldq, n, pos0, k_cache, v_cache, cap, n_heads, n_kv_heads, head_dim, scale, out, ldo,
                           m_pool, bf16, window);
    }

    size_t kv_cache_floats(int cap, int n_kv_heads, int head_dim, bool bf16) const override {
        return bf16_cache(bf16, head_dim) ? cpu::attention_bf16_cache_floats(cap, n_kv_heads, head_dim)
                                          : static_cast<size_t>(n_kv_heads) * cap * head_dim;
    }

    void store_kv(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache, float* v_cache,
                  int cap, int n_kv_heads, int head_dim, bool bf16) override {
        if (bf16_cache(bf16, head_dim)) {
            cpu::store_kv_bf16(k, ldk, v, ldv, n, pos0, k_cache, v_cache, cap, n_kv_heads, head_dim);
            return;
        }
        for (int h = 0; h < n_kv_heads; h++)
            for (int i = 0; i < n; i++) {
                size_t dst = (static_cast<size_t>(h) * cap + pos0 + i) * head_dim;
                std::memcpy(k_cache + dst, k + static_cast<size_t>(i) * ldk + static_cast<size_t>(h) * head_dim,
                            head_dim * sizeof(float));
                std::memcpy(v_cache + dst, v + static_cast<size_t>(i) * ldv + static_cast<size_t>(h) * head_dim,
                            head_dim * sizeof(float));
            }
    }

    void swiglu(const float* gu, float* out, int n, int inter) override { cpu::swiglu(gu, out, n, inter, m_pool); }

    void add(float* x, const float* y, size_t n) override {
        for (size_t i = 0; i < n; i++) x[i] += y[i];
    }

    void embed(const float* table, const int* tokens, int n, int dim, float* out) override {
        for (int i = 0; i < n; i++)
            std::memcpy(out + static_cast<size_t>(i) * dim, table + static_cast<size_t>(tokens[i]) * dim,
                        dim * sizeof(float));
    }

    void lm_head_logprobs(const float* x, int n, const backend::Matrix& w, const int* targets, double* logprob,
                          float* logits, int* argmax) override {
        const int vocab = w.rows(), hidden = w.cols();
        // Rows of logits held at once: bounds memory (128 x 32000 floats = 16 MiB) while
        // keeping the GEMM large enough to run near its peak.
        constexpr int k_block = 128;
        if (!logits && m_logits.size() < static_cast<size_t>(k_block) * vocab)
            m_logits.resize(static_cast<size_t>(k_block) * vocab);
        double lse[k_block];
        for (int i0 = 0; i0 < n; i0 += k_block) {
            int m = std::min(k_block, n - i0);
            float* blk = logits ? logits + static_cast<size_t>(i0) * vocab : m_logits.data();
            gemm(x + static_cast<size_t>(i0) * hidden, m, hidden, static_cast<const PackedMatrix&>(w), blk, vocab,
                 m_pool);
            logsumexp_rows(blk, m, vocab, vocab, lse, argmax ? argmax + i0 : nullptr, m_pool);
            if (logprob)
                for (int r = 0; r < m; r++) {
                    int t = targets ? targets[i0 + r] : -1;
                    logprob[i0 + r] = t >= 0 ? static_cast<double>(blk[static_cast<size_t>(r) * vocab + t]) - lse[r] : 0.0;
                }
        }
    }

private:
    ThreadPool m_pool;
    std::vector<float> m_logits;  // LM-head block scratch, reused across calls
};

}  // namespace

std::unique_ptr<backend::Backend> make_cpu_backend(int threads, const std::string& isa) {
    if (!isa.empty()) {
        Isa level;
        if (!parse_isa(isa.c_str(), &level))
            throw Error("--isa: unknown level '{}' (expected scalar, avx2, avx512, avx512bf16)", isa);
        force_isa(level);
    }
    return std::make_unique<CpuBackend>(threads);
}

}  // namespace rb::cpu
