// The cuda backend: device buffers, one stream for every op, projections through cuBLAS
// (cublasGemmEx, f32 accumulation) and the kernels of kernels.h. Weights are uploaded once;
// scratch (bf16 activations, the LM-head logits block, token ids, staging) grows to the largest call and
// is reused, so a decoding step allocates nothing.
#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <new>

#include "backend/cuda/kernels.h"
#include "util/error.h"

namespace rb::cuda {
namespace {

using backend::WeightType;

void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw Error("CUDA: {} failed: {}", what, cudaGetErrorString(e));
}
void check(cublasStatus_t e, const char* what) {
    if (e != CUBLAS_STATUS_SUCCESS) throw Error("cuBLAS: {} failed: {}", what, cublasGetStatusString(e));
}
#define RB_CUDA(call) check((call), #call)

/// A weight matrix W [rows, cols] on the device, row-major as given (f32 or bf16): cuBLAS
/// reads it as the column-major [cols, rows] matrix Wᵀ, so y = x · Wᵀ needs no repacking.
struct CudaMatrix final : backend::Matrix {
    int n = 0, k = 0;
    WeightType wtype = WeightType::f32;
    void* data = nullptr;
    size_t size = 0;
    ~CudaMatrix() override { cudaFree(data); }
    int rows() const override { return n; }
    int cols() const override { return k; }
    WeightType type() const override { return wtype; }
    size_t bytes() const override { return size; }
};

/// Device scratch that only grows (the stream is drained before a smaller buffer is freed).
class Scratch {
public:
    ~Scratch() { cudaFree(m_p); }
    void* get(size_t bytes, cudaStream_t s) {
        if (bytes <= m_bytes) return m_p;
        RB_CUDA(cudaStreamSynchronize(s));
        cudaFree(m_p);
        m_p = nullptr;
        m_bytes = 0;
        if (cudaMalloc(&m_p, bytes) != cudaSuccess) {
            cudaGetLastError();
            throw Error("CUDA: out of device memory for {:.1f} MiB of scratch", bytes / 1048576.0);
        }
        m_bytes = bytes;
        return m_p;
    }
    template <typename T>
    T* get(size_t n, cudaStream_t s) {
        return static_cast<T*>(get(n * sizeof(T), s));
    }

private:
    void* m_p = nullptr;
    size_t m_bytes = 0;
};

class CudaBackend final : public backend::Backend {
public:
    CudaBackend() {
        RB_CUDA(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking));
        check(cublasCreate(&m_blas), "cublasCreate");
        check(cublasSetStream(m_blas, m_stream), "cublasSetStream");
        // Pure f32 for f32 weights: no TF32 (CUBLAS_COMPUTE_32F never uses it; the default math
        // mode keeps tensor cores for the bf16 inputs).
        check(cublasSetMathMode(m_blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        // One workspace for the handle's lifetime (32 MiB, NVIDIA's recommendation for Hopper),
        // so no GEMM allocates.
        m_blas_ws_bytes = 32u << 20;
        RB_CUDA(cudaMalloc(&m_blas_ws, m_blas_ws_bytes));
        check(cublasSetWorkspace(m_blas, m_blas_ws, m_blas_ws_bytes), "cublasSetWorkspace");
    }
    ~CudaBackend() override {
        cudaStreamSynchronize(m_stream);
        cublasDestroy(m_blas);
        cudaFree(m_blas_ws);
        cudaStreamDestroy(m_stream);
    }

    std::string name() const override { return "cuda"; }
    int threads() const override { return 1; }
    int block_rows() const override { return 4096; }

    std::unique_ptr<backend::Matrix> upload_matrix(const float* w, int rows, int cols, WeightType type) override {
        auto m = std::make_unique<CudaMatrix>();
        m->n = rows;
        m->k = cols;
        m->wtype = type;
        const size_t count = static_cast<size_t>(rows) * cols;
        m->size = count * (type == WeightType::f32 ? 4 : 2);
        if (count == 0) return m;
        if (cudaMalloc(&m->data, m->size) != cudaSuccess) {
            cudaGetLastError();
            throw Error("CUDA: out of device memory for a [{}, {}] weight ({:.1f} MiB)", rows, cols,
                        m->size / 1048576.0);
        }
        if (type == WeightType::f32) {
            RB_CUDA(cudaMemcpyAsync(m->data, w, m->size, cudaMemcpyHostToDevice, m_stream));
        } else {
            // f32 rows staged through scratch (<= 64 MiB at a time), rounded to bf16 on the device.
            const int chunk = static_cast<int>(std::max<size_t>(1, (size_t{16} << 20) / std::max(cols, 1)));
            float* stage = m_stage.get<float>(static_cast<size_t>(std::min(chunk, rows)) * cols, m_stream);
            for (int r0 = 0; r0 < rows; r0 += chunk) {
                const int r = std::min(chunk, rows - r0);
                // Same stream: the copy into `stage` waits for the previous chunk's conversion.
                RB_CUDA(cudaMemcpyAsync(stage, w + static_cast<size_t>(r0) * cols, static_cast<size_t>(r) * cols * 4,
                                        cudaMemcpyHostToDevice, m_stream));
                launch_f32_to_bf16(stage, r, cols, cols, static_cast<uint16_t*>(m->data) + static_cast<size_t>(r0) * cols,
                                   m_stream);
                RB_CUDA(cudaGetLastError());
            }
        }
        RB_CUDA(cudaStreamSynchronize(m_stream));  // `w` may be freed once we return
        return m;
    }

    float* alloc(size_t n) override {
        void* p = nullptr;
        if (cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)) != cudaSuccess) {
            cudaGetLastError();  // clear the sticky-free error state
            throw std::bad_alloc();
        }
        return static_cast<float*>(p);
    }
    void release(float* p) override {
        if (!p) return;
        cudaStreamSynchronize(m_stream);  // queued ops may still read it
        cudaFree(p);
    }
    void upload(float* dst, const float* src, size_t n) override {
        if (n == 0) return;
        RB_CUDA(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, m_stream));
        RB_CUDA(cudaStreamSynchronize(m_stream));
    }
    void download(float* dst, const float* src, size_t n) override {
        if (n == 0) return;
        RB_CUDA(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, m_stream));
        RB_CUDA(cudaStreamSynchronize(m_stream));
    }

    void matmul(const float* x, int n, int ldx, const backend::Matrix& w, float* y, int ldy) override {
        const auto& m = static_cast<const CudaMatrix&>(w);
        if (n <= 0 || m.n == 0) return;
        if (m.k == 0) {  // empty sum
            RB_CUDA(cudaMemset2DAsync(y, static_cast<size_t>(ldy) * 4, 0, static_cast<size_t>(m.n) * 4, n, m_stream));
            return;
        }
        // Column-major view: C [N, n] (ldc = ldy) = op(A) · B with A = W as [K, N] (lda = K),
        // op = transpose, and B = x as [K, n] (ldb = ldx).
        const float one = 1.f, zero = 0.f;
        if (m.wtype == WeightType::f32) {
            check(cublasGemmEx(m_blas, CUBLAS_OP_T, CUBLAS_OP_N, m.n, n, m.k, &one, m.data, CUDA_R_32F, m.k, x,
                               CUDA_R_32F, ldx, &zero, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx (f32)");
            return;
        }
        // bf16 weights: x rounded to bf16 on the device ([n, K], packed), bf16 × bf16 products
        // (exact in f32) accumulated in f32 on the tensor cores.
        uint16_t* xb = m_xbf.get<uint16_t>(static_cast<size_t>(n) * m.k, m_stream);
        launch_f32_to_bf16(x, n, m.k, static_cast<size_t>(ldx), xb, m_stream);
        RB_CUDA(cudaGetLastError());
        check(cublasGemmEx(m_blas, CUBLAS_OP_T, CUBLAS_OP_N, m.n, n, m.k, &one, m.data, CUDA_R_16BF, m.k, xb,
                           CUDA_R_16BF, m.k, &zero, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx (bf16)");
    }

    void rmsnorm(const float* x, const float* g, float* y, int n, int dim, float eps) override {
        launch_rmsnorm(x, g, y, n, dim, eps, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps) override {
        launch_rmsnorm_heads(x, n, ldx, heads, head_dim, g, eps, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void add_bias(float* x, int n, int ldx, const float* b, int dim) override {
        launch_add_bias(x, n, ldx, b, dim, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void rope(float* x, int n, int ldx, int heads, int head_dim, int rot_dim, const float* cos,
              const float* sin) override {
        launch_rope(x, n, ldx, heads, head_dim, rot_dim, cos, sin, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
                   int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, bool bf16,
                   int window) override {
        if (head_dim > k_max_head_dim)
            throw Error("cuda attention: head_dim {} is larger than the kernels' maximum {}", head_dim, k_max_head_dim);
        AttentionArgs a{q, ldq, n, pos0, k_cache, v_cache, cap, n_heads, n_kv_heads, head_dim, scale, out, ldo, window};
        launch_attention(a, bf16, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    // One layout ([KV, cap, hd] f32) for both `bf16` values: the bf16 attention rounds as it loads.
    void store_kv(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache, float* v_cache,
                  int cap, int n_kv_heads, int head_dim, bool /*bf16*/) override {
        launch_store_kv(k, ldk, v, ldv, n, pos0, k_cache, v_cache, cap, n_kv_heads, head_dim, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void swiglu(const float* gu, float* out, int n, int inter) override {
        launch_swiglu(gu, out, n, inter, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void add(float* x, const float* y, size_t n) override {
        launch_add(x, y, n, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void embed(const float* table, const int* tokens, int n, int dim, float* out) override {
        if (n <= 0 || dim <= 0) return;
        int* tk = m_tokens.get<int>(n, m_stream);
        RB_CUDA(cudaMemcpyAsync(tk, tokens, n * sizeof(int), cudaMemcpyHostToDevice, m_stream));
        launch_embed(table, tk, n, dim, out, m_stream);
        RB_CUDA(cudaGetLastError());
    }

    void lm_head_logprobs(const float* x, int n, const backend::Matrix& w, const int* targets, double* logprob,
                          float* logits, int* argmax) override {
        if (n <= 0) return;
        const int vocab = w.rows(), hidden = w.cols();
        // Rows of logits held at once: <= 1024 and <= 256 MiB (vocab 32000: 1024 rows, 125 MiB),
        // large enough for the GEMM to run near its peak.
        const int blk = std::min(n, std::clamp(static_cast<int>((size_t{64} << 20) / std::max(vocab, 1)), 16, 1024));
        float* lg = m_logits.get<float>(static_cast<size_t>(blk) * vocab, m_stream);
        int* tg = nullptr;
        if (targets && logprob) {
            tg = m_targets.get<int>(n, m_stream);
            RB_CUDA(cudaMemcpyAsync(tg, targets, n * sizeof(int), cudaMemcpyHostToDevice, m_stream));
        }
        double* lp = logprob ? m_logprob.get<double>(n, m_stream) : nullptr;
        int* am = argmax ? m_argmax.get<int>(n, m_stream) : nullptr;
        for (int i0 = 0; i0 < n; i0 += blk) {
            const int m = std::min(blk, n - i0);
            matmul(x + static_cast<size_t>(i0) * hidden, m, hidden, w, lg, vocab);
            launch_logsumexp_rows(lg, m, vocab, tg ? tg + i0 : nullptr, lp ? lp + i0 : nullptr, am ? am + i0 : nullptr,
                                  m_stream);
            RB_CUDA(cudaGetLastError());
            if (logits)  // in stream order, before the next block's GEMM overwrites lg
                RB_CUDA(cudaMemcpyAsync(logits + static_cast<size_t>(i0) * vocab, lg,
                                        static_cast<size_t>(m) * vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                        m_stream));
        }
        if (lp) RB_CUDA(cudaMemcpyAsync(logprob, lp, n * sizeof(double), cudaMemcpyDeviceToHost, m_stream));
        if (am) RB_CUDA(cudaMemcpyAsync(argmax, am, n * sizeof(int), cudaMemcpyDeviceToHost, m_stream));
        RB_CUDA(cudaStreamSynchronize(m_stream));
    }

    double measure_dense_bf16_gflops() override {
        // C [N, N] f32 = A · B, bf16 inputs, f32 accumulation: the rate the projections aim for.
        constexpr int N = 8192, iters = 10;
        void *a = nullptr, *b = nullptr, *c = nullptr;
        const size_t in_bytes = static_cast<size_t>(N) * N * 2;
        auto cleanup = [&] {
            cudaFree(a);
            cudaFree(b);
            cudaFree(c);
        };
        if (cudaMalloc(&a, in_bytes) != cudaSuccess || cudaMalloc(&b, in_bytes) != cudaSuccess ||
            cudaMalloc(&c, static_cast<size_t>(N) * N * 4) != cudaSuccess) {
            cudaGetLastError();
            cleanup();
            throw Error("CUDA: out of device memory for the dense GEMM measurement");
        }
        RB_CUDA(cudaMemsetAsync(a, 0x3c, in_bytes, m_stream));  // bf16 0x3c3c ≈ 0.0115: finite products
        RB_CUDA(cudaMemsetAsync(b, 0x3c, in_bytes, m_stream));
        const float one = 1.f, zero = 0.f;
        auto gemm = [&] {
            check(cublasGemmEx(m_blas, CUBLAS_OP_N, CUBLAS_OP_N, N, N, N, &one, a, CUDA_R_16BF, N, b, CUDA_R_16BF, N,
                               &zero, c, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx (dense bf16)");
        };
        cudaEvent_t t0, t1;
        RB_CUDA(cudaEventCreate(&t0));
        RB_CUDA(cudaEventCreate(&t1));
        gemm();
        gemm();  // warm-up: clocks up, heuristics cached
        RB_CUDA(cudaEventRecord(t0, m_stream));
        for (int i = 0; i < iters; i++) gemm();
        RB_CUDA(cudaEventRecord(t1, m_stream));
        RB_CUDA(cudaEventSynchronize(t1));
        float ms = 0;
        RB_CUDA(cudaEventElapsedTime(&ms, t0, t1));
        cudaEventDestroy(t0);
        cudaEventDestroy(t1);
        cleanup();
        return 2.0 * N * N * static_cast<double>(N) * iters / (ms * 1e-3) / 1e9;
    }

private:
    cudaStream_t m_stream = nullptr;
    cublasHandle_t m_blas = nullptr;
    void* m_blas_ws = nullptr;
    size_t m_blas_ws_bytes = 0;
    Scratch m_stage, m_xbf, m_logits, m_tokens, m_targets, m_logprob, m_argmax;
};

}  // namespace

std::unique_ptr<backend::Backend> make_cuda_backend() {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        throw Error("backend cuda: no usable CUDA device (cudaGetDeviceCount: {})", cudaGetErrorString(e));
    }
    if (count == 0) throw Error("backend cuda: no CUDA device is visible (cudaGetDeviceCount found 0)");
    cudaDeviceProp prop{};
    RB_CUDA(cudaGetDeviceProperties(&prop, 0));
    if (prop.major < 8)
        throw Error("backend cuda: device 0 ({}) has compute capability {}.{}; the kernels need 8.0 (Ampere) or newer",
                    prop.name, prop.major, prop.minor);
    RB_CUDA(cudaSetDevice(0));
    return std::make_unique<CudaBackend>();
}

}  // namespace rb::cuda
