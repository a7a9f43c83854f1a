// The compute interface between model/ (which owns the Llama forward) and the devices.
// Buffers are backend memory (host for cpu, device for cuda): allocate them through the
// backend. Every float* argument of an op is backend memory unless its comment says "host".
// Shapes are given in comments as [rows, cols], row-major, f32 unless stated. Ops may run
// asynchronously (cuda: one stream, in order); download() and the host outputs of
// lm_head_logprobs are complete when the call returns.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace rb::backend {

enum class WeightType { f32, bf16 };
const char* weight_type_name(WeightType t);

/// A weight matrix W [rows, cols] (PyTorch Linear layout: y = x · Wᵀ), packed by the backend
/// into whatever layout its kernels want, once, at load.
class Matrix {
public:
    virtual ~Matrix() = default;
    virtual int rows() const = 0;
    virtual int cols() const = 0;
    virtual WeightType type() const = 0;
    virtual size_t bytes() const = 0;
};

/// Per-stage wall-clock accumulators (seconds), filled by backends that time their ops.
struct StageTimes {
    double projections = 0, attention = 0, mlp = 0, lm_head = 0, other = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    virtual int threads() const = 0;

    /// w: host [rows, cols] f32. Converted to `type` and packed.
    virtual std::unique_ptr<Matrix> upload_matrix(const float* w, int rows, int cols, WeightType type) = 0;

    /// Backend buffer of n floats (uninitialised); freed with release().
    virtual float* alloc(size_t n) = 0;
    virtual void release(float* p) = 0;
    virtual void upload(float* dst, const float* src_host, size_t n) = 0;
    virtual void download(float* dst_host, const float* src, size_t n) = 0;

    /// y[n, W.rows] = x[n, W.cols] · Wᵀ  (ldx, ldy: row strides in floats)
    virtual void matmul(const float* x, int n, int ldx, const Matrix& w, float* y, int ldy) = 0;

    /// y[n, dim] = x / rms(x) * g   (rms over dim, eps inside the sqrt; y may alias x)
    virtual void rmsnorm(const float* x, const float* g, float* y, int n, int dim, float eps) = 0;

    /// In place, the same RMSNorm on every head of x[n, heads, head_dim] (row stride ldx), one
    /// weight g[head_dim] for all heads (Qwen3's q_norm / k_norm before RoPE).
    virtual void rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps) = 0;

    /// x[i, 0:dim] += b[0:dim] for each of the n rows of x (row stride ldx); b is a backend
    /// buffer (Qwen2's q/k/v projection biases).
    virtual void add_bias(float* x, int n, int ldx, const float* b, int dim) = 0;

    /// In place, rotate_half layout on each head of x[n, heads, head_dim] (row stride ldx):
    /// for j < rot/2: (x_j, x_{j+rot/2}) rotated by the angle whose cos/sin are
    /// cos[i, j], sin[i, j] (backend buffers [n, rot/2] for the n rows, built on the host by
    /// src/rope and uploaded; they include the attention factor).
    /// Dimensions >= rot are left unchanged.
    virtual void rope(float* x, int n, int ldx, int heads, int head_dim, int rot_dim,
                      const float* cos, const float* sin) = 0;

    /// Causal GQA attention for n queries at positions pos0 .. pos0+n-1.
    /// q [n, H, hd] (row stride ldq), k_cache/v_cache hold keys/values for positions
    /// 0 .. pos0+n-1, written by store_kv with the same `bf16` (layout: see store_kv).
    /// out [n, H, hd] (row stride ldo). scale = 1/sqrt(hd).
    /// Memory does not grow with n × positions (online softmax over key tiles).
    /// `bf16`: the model runs in bf16; the backend may take its products in bf16 (inputs
    /// rounded to bf16, f32 accumulation and softmax), as bf16 frameworks do.
    /// `window` > 0: sliding-window attention, the query at position p sees keys
    /// max(0, p - window + 1) .. p (transformers' sliding_window: kv > q - window); 0 = keys 0 .. p.
    virtual void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache,
                           int cap, int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo,
                           bool bf16, int window) = 0;

    /// Writes k/v rows [n, KV, hd] (row strides ldk, ldv) into the caches at positions pos0 ..
    /// pos0+n-1. Caches are backend buffers of kv_cache_floats(cap, KV, hd, bf16) floats each.
    /// bf16 = false: the layout is [KV, cap, hd] f32 (a copy). bf16 = true (the model runs in
    /// bf16, as attention's flag): the backend may keep its own layout (cpu with AVX512_BF16:
    /// bf16 tiles, see cpu/kernels.h), read only by attention(..., bf16 = true); positions are then
    /// stored in order from 0 (a session may store again from an earlier position).
    virtual void store_kv(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache,
                          float* v_cache, int cap, int n_kv_heads, int head_dim, bool bf16) = 0;

    /// Floats of each of the two KV caches store_kv(..., bf16) fills for `cap` positions.
    virtual size_t kv_cache_floats(int cap, int n_kv_heads, int head_dim, bool bf16) const {
        (void)bf16;
        return static_cast<size_t>(n_kv_heads) * cap * head_dim;
    }

    /// out[n, I] = silu(gu[:, :I]) * gu[:, I:]   (gu [n, 2I], gate first)
    virtual void swiglu(const float* gu, float* out, int n, int inter) = 0;

    /// x[i] += y[i] for n elements
    virtual void add(float* x, const float* y, size_t n) = 0;

    /// Embedding rows: out[n, dim] = table[tokens[i]] (table: backend buffer f32 [vocab, dim];
    /// tokens: host [n], each in [0, vocab)).
    virtual void embed(const float* table, const int* tokens, int n, int dim, float* out) = 0;

    /// For each row i of x [n, hidden]: log-softmax of x_i · Wᵀ (W = LM head [vocab, hidden]).
    /// targets and logprob are host arrays [n] (either may be nullptr).
    /// logprob[i] = log p(targets[i]) (skipped when targets[i] < 0, logprob[i] = 0), in double.
    /// If logits != nullptr it receives the full [n, vocab] logits (host memory), else the
    /// backend never stores more than a bounded block of logits.
    /// argmax[i] (host, may be nullptr) = the most likely token (greedy decoding).
    virtual void lm_head_logprobs(const float* x, int n, const Matrix& w, const int* targets, double* logprob,
                                  float* logits, int* argmax) = 0;

    virtual StageTimes* stage_times() { return nullptr; }

    /// Rows the model hands to each per-layer op at once (bounds its scratch: a few
    /// [rows, intermediate] buffers). A GPU needs thousands of rows to fill its GEMMs.
    virtual int block_rows() const { return 256; }

    /// Measured rate of this device's dense GEMM with bf16 inputs and f32 accumulation
    /// (GFLOP/s, large square problem) for benchmarks; 0 when the backend does not measure it
    /// (cpu: see cpu/peak.h).
    virtual double measure_dense_bf16_gflops() { return 0; }
};

struct BackendOptions {
    std::string name = "cpu";  // "cpu" | "cuda"
    int threads = 0;           // cpu: 0 = all cores
    std::string isa;           // cpu: force a kernel level ("avx512bf16", "avx512", "avx2", "scalar"); "" = best
};

/// The compute ceiling a throughput estimate scales (sweep time estimates): for "cpu", the
/// peak of a `vdpbf16ps` loop when `bf16` and the CPU has AVX512_BF16, else of an FMA loop,
/// measured now on `threads` threads for `seconds`. `what` (may be nullptr) names the loop.
double measure_compute_peak_gflops(const std::string& backend, bool bf16, int threads, double seconds,
                                   std::string* what = nullptr);

/// Creates a backend; throws Error for an unknown or unavailable one.
std::unique_ptr<Backend> make_backend(const BackendOptions& opts);

}  // namespace rb::backend
