// CUDA kernels behind the cuda backend (kernels.cu), as host functions that launch on `s`.
// Every pointer is device memory unless stated; shapes [rows, cols], row-major, f32 unless
// stated. Each launcher has the contract of the Backend op it implements (backend.h); the
// references they are tested against are those of the backend-ops test.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace rb::cuda {

/// y[rows, cols] (bf16 bits, row stride cols) = round-to-nearest-even(x[rows, cols]) (row stride ldx).
void launch_f32_to_bf16(const float* x, int rows, int cols, size_t ldx, uint16_t* y, cudaStream_t s);

/// y[n, dim] = x / rms(x) * g   (sum of squares in double; y may alias x)
void launch_rmsnorm(const float* x, const float* g, float* y, int n, int dim, float eps, cudaStream_t s);

/// In place, x[i, h·hd : (h+1)·hd] = that head / rms(head) * g for each of the n rows (row
/// stride ldx) and heads (sum of squares in double; g [head_dim]).
void launch_rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps, cudaStream_t s);

/// x[i, 0:dim] += b[0:dim] for each of the n rows of x (row stride ldx).
void launch_add_bias(float* x, int n, int ldx, const float* b, int dim, cudaStream_t s);

/// In-place rotate_half RoPE of x[n, heads, head_dim] (row stride ldx) from cos/sin [n, rot/2].
void launch_rope(float* x, int n, int ldx, int heads, int head_dim, int rot_dim, const float* cos, const float* sin,
                 cudaStream_t s);

/// k/v rows [n, KV, hd] (row strides ldk, ldv) into caches [KV, cap, hd] at pos0.
void launch_store_kv(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache,
                     float* v_cache, int cap, int n_kv_heads, int head_dim, cudaStream_t s);

/// out[n, I] = silu(gu[:, :I]) * gu[:, I:]
void launch_swiglu(const float* gu, float* out, int n, int inter, cudaStream_t s);

/// out[n, dim] = table[tokens[i]]   (tokens: device [n])
void launch_embed(const float* table, const int* tokens, int n, int dim, float* out, cudaStream_t s);

/// x[i] += y[i]
void launch_add(float* x, const float* y, size_t n, cudaStream_t s);

/// Per row i of logits [n, vocab] (row stride vocab): lse = log Σ exp (double), argmax[i]
/// (first index on ties; may be nullptr), logprob[i] = logits[i, targets[i]] - lse
/// (0 when targets is nullptr or targets[i] < 0; logprob may be nullptr).
void launch_logsumexp_rows(const float* logits, int n, int vocab, const int* targets, double* logprob, int* argmax,
                           cudaStream_t s);

/// Arguments of Backend::attention (all device pointers).
struct AttentionArgs {
    const float* q;  // [n, H, hd], row stride ldq
    int ldq;
    int n, pos0;
    const float* k_cache;  // [KV, cap, hd]
    const float* v_cache;
    int cap, n_heads, n_kv_heads, head_dim;
    float scale;
    float* out;  // [n, H, hd], row stride ldo
    int ldo;
    int window;  // > 0: the query at position p sees keys max(0, p - window + 1) .. p; 0: keys 0 .. p
};

/// Causal (optionally sliding-window) GQA flash attention (online softmax over key tiles held in shared memory).
/// bf16: Q·Kᵀ and P·V on bf16 tensor cores (mma.sync m16n8k16, f32 accumulation and softmax)
/// when attention_bf16_supported(); otherwise, and for !bf16, the f32 kernel (CUDA cores).
void launch_attention(const AttentionArgs& a, bool bf16, cudaStream_t s);
/// True when launch_attention(bf16 = true) takes the tensor-core path for these arguments:
/// head_dim <= 128 and a multiple of 4, k/v caches 16-byte aligned.
bool attention_bf16_supported(const AttentionArgs& a);
/// Largest head_dim the attention kernels take.
constexpr int k_max_head_dim = 256;

}  // namespace rb::cuda
