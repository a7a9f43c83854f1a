// CPU kernels behind the cpu backend. Every kernel has a plain scalar reference
// (kernels_ref.cpp) that tests compare against; fast paths dispatch at run time on the
// CPU's features (cpu_features.h) and can be forced down to a fallback level.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "util/huge_buffer.h"
#include "util/thread_pool.h"

namespace rb::cpu {

/// Instruction-set level the fast kernels may use.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3 };
Isa detected_isa();          // what this CPU supports (cpuid + OS xsave state)
Isa active_isa();            // min(detected, forced)
void force_isa(Isa level);   // tests/benchmarks: cap the level (e.g. to exercise fallbacks)
const char* isa_name(Isa i);
bool parse_isa(const char* name, Isa* out);

/// A packed weight W [rows=N, cols=K] for y = x · Wᵀ. Layout is private to gemm.cpp.
struct PackedMatrix : backend::Matrix {
    int n = 0, k = 0;
    backend::WeightType wtype = backend::WeightType::f32;
    HugeBuffer storage;  // packed panels (64-byte aligned, huge pages where available)
    int rows() const override { return n; }
    int cols() const override { return k; }
    backend::WeightType type() const override { return wtype; }
    size_t bytes() const override { return storage.size(); }
    const uint8_t* data() const { return storage.data(); }
};

/// Packs W [n, k] (row-major f32) as `type`, panels split between the pool's threads when given.
std::unique_ptr<PackedMatrix> pack_matrix(const float* w, int n, int k, backend::WeightType type, ThreadPool* pool = nullptr);

/// y[m, n] = x[m, k] · Wᵀ   (ldx, ldy row strides), threads split the work with a fixed partition.
void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy, ThreadPool& pool);

/// Causal GQA flash attention; same contract as Backend::attention. `bf16`: products in bf16
/// (vdpbf16ps, f32 accumulation) where the CPU has AVX512_BF16 and head_dim is even.
void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, ThreadPool& pool,
               bool bf16 = false, int window = 0);
/// True when attention(..., bf16 = true) takes the bf16 path (for tests and the benchmark).
bool attention_bf16_available(int head_dim);

// ---- the bf16 KV cache (where attention_bf16_available): keys and values stored once, rounded to
// bf16, in the layout the bf16 attention kernel reads (detail::bf16 cache layout below), so no
// call converts or transposes the cache again. Used by the cpu backend for bf16 models. ----

/// Floats to allocate for each of k_cache and v_cache (64-byte aligned): n_kv_heads × bf16_cache_head_floats.
size_t attention_bf16_cache_floats(int cap, int n_kv_heads, int head_dim);
/// store_kv into the bf16 cache: k/v rows [n, KV, hd] (row strides ldk, ldv) at positions
/// pos0 .. pos0+n-1. Positions must be stored in order from 0 (any block sizes; storing again
/// from an earlier position, as a truncated session does, is fine): storing a tile's first key
/// zeroes the tile, so the lanes the kernel reads past the last stored key are zeros.
void store_kv_bf16(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache, float* v_cache,
                   int cap, int n_kv_heads, int head_dim);
/// attention(..., bf16 = true) on caches written by store_kv_bf16 (same results bit for bit).
void attention_bf16_cache(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
                          int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, ThreadPool& pool,
                          int window = 0);

// ---- GEMM epilogues (gemm_epilogue*.cpp): the elementwise passes after the MLP and LM-head GEMMs,
// vectorised at AVX-512 with a polynomial exp (relative error < 2e-7), scalar otherwise ----

/// out[n, inter] = silu(gu[i, :inter]) * gu[i, inter:]   (gu [n, 2*inter] gate first; out row stride inter)
void swiglu(const float* gu, float* out, int n, int inter, ThreadPool& pool);
/// Row statistics of logits [n, vocab] (row stride ld): lse[i] = log Σ_v exp(l[i][v]) (double),
/// argmax[i] = index of the largest logit, the first one on ties (argmax may be nullptr).
/// log p(t) of row i is then l[i][t] - lse[i].
void logsumexp_rows(const float* logits, int n, int vocab, int ld, double* lse, int* argmax, ThreadPool& pool);

// ---- scalar references (kernels_ref.cpp): the definition of each kernel's result ----
namespace ref {
/// y[m, n] = x[m, k] · W[n, k]ᵀ, accumulated in double.
void gemm(const float* x, int m, int ldx, const float* w, int n, int k, float* y, int ldy);
/// Plain softmax attention (materialises one row of scores at a time), double accumulation.
/// window > 0: the query at position p sees keys max(0, p - window + 1) .. p.
void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, int window = 0);
/// RMSNorm of each head vector of x[n, heads, hd] (row stride ldx), in place, in double.
void rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps);
/// silu in double: out = g / (1 + exp(-g)) * u.
void swiglu(const float* gu, float* out, int n, int inter);
/// Max-shifted sum of exp in double.
void logsumexp_rows(const float* logits, int n, int vocab, int ld, double* lse, int* argmax);
}  // namespace ref

/// bf16 helpers (round to nearest even), shared by packing and tests.
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);

/// Which kernel variant gemm() uses at the active level for a weight type (for logs/benchmarks),
/// e.g. "avx512bf16 dpbf16 14x32" or "avx2 f32 6x16".
const char* gemm_kernel_name(backend::WeightType t);
/// True when gemm() at the active level rounds the activations x to bf16 (bf16 weights on a
/// CPU with AVX512_BF16: vdpbf16ps multiplies bf16 pairs). Otherwise x stays f32 and bf16
/// weights are widened to f32 exactly.
bool gemm_rounds_x_to_bf16(backend::WeightType t);

// ---- internals shared by gemm*.cpp / attention*.cpp (not an interface for other folders) ----
// The per-ISA files write each piece of logic once, as templates over a vector type or a
// multiply-add (tile_util.h: ISA-neutral skeleton; avx2_util.h, avx512_util.h: vector types,
// GEMM micro-kernel, GEMV, flash-attention block parts; peak_loops.h: the ceilings' loops),
// instantiated inside each ISA file with its own flags.
namespace detail {

/// Packed weight layout (identical for every ISA level, so force_isa may change at any time):
/// panels of k_nr = 32 consecutive rows of W (= 32 output columns of y), panel p holds
///   f32 : float  [k][32]          W[32p + c][kk] at kk*32 + c
///   bf16: uint16 [kp/2][32][2]    W[32p + c][kk] at (kk/2)*64 + 2c + (kk&1),  kp = k rounded up to even
/// Rows past n and the padding column kk = k (bf16, odd k) are zero. Each panel is 64-byte aligned.
constexpr int k_nr = 32;

/// A GEMM micro-kernel family for one (ISA level, weight type).
///   run(m, kc, a, b, c, ldc, nc, accumulate):  C[m, nc] (+)= A[m, kc] · B[kc, nc]
///     m <= mr rows, kc k-elements (even when the weights are bf16), nc <= 32 valid columns;
///     a: packed A micro-panel at k offset (f32 [kc][mr] or, when a_bf16, uint32 bf16 pairs [kc/2][mr]);
///     b: weight panel at the same k offset; c: y rows, row stride ldc.
///   pack_a(x, rows, ldx, k, kp, dst): packs rows (<= mr) of x [rows, k] into one A micro-panel of kp columns
///     (columns k..kp-1 zero).
struct GemmKernel {
    const char* name;
    int mr;
    bool a_bf16;
    int kc;  // k block (elements, even)
    int mc;  // row block (in micro-panels)
    void (*run)(int m, int kc, const void* a, const void* b, float* c, int ldc, int nc, bool accumulate);
    void (*pack_a)(const float* x, int rows, int ldx, int k, int kp, void* dst);
    /// Optional, one row of x (decoding): y0 = x . panel b0 and, when b1 is not null, y1 = x .
    /// panel b1, over the whole padded k, the two panels streamed together (two memory streams
    /// per thread keep more loads in flight than one). `a` is the packed row (a_stride elements
    /// apart per k step: per k for f32 x, per k pair for bf16 x); nc0/nc1 columns are stored.
    void (*gemv2)(int kp, const void* a, int a_stride, const void* b0, const void* b1, float* y0, float* y1, int nc0,
                  int nc1) = nullptr;
};

/// Generic f32 A packing into [kp][mr] (used by kernels that keep x in f32).
void pack_a_f32(const float* x, int rows, int ldx, int k, int kp, void* dst, int mr);

// Per-ISA kernel tables (nullptr when that file was not built for the level).
const GemmKernel* gemm_kernel_avx2(backend::WeightType t);
const GemmKernel* gemm_kernel_avx512(backend::WeightType t);
const GemmKernel* gemm_kernel_avx512bf16(backend::WeightType t);

/// Attention over one work item: the `rows` query rows of one KV group (row r = query i*G + h,
/// G = n_heads / n_kv_heads), see attention.cpp for the argument contract.
struct AttnTask {
    const float* q;        // q rows of this task: element (i, h, c) at q[i*ldq + h*head_dim + c]
    int ldq;
    int n_pos;             // query positions in this task
    int pos_first;         // absolute position of the first query
    int window;            // > 0: query at position p sees keys p-window+1 .. p only
    int group;             // G query heads per KV head
    const float* k;        // [cap, hd] keys of this KV head
    const float* v;        // [cap, hd] values
    const float* kt;       // keys of this KV head transposed per tile of k_attn_tile keys:
                           // tile j at kt + j*hd*k_attn_tile, [hd][k_attn_tile] (zero past the last key);
                           // only set for kernels that ask for it (attention_wants_kt).
                           // bf16 kernel: kt and v are this head's bf16 cache tiles (layout below)
    int head_dim;
    float scale;
    float* out;            // element (i, h, c) at out[i*ldo + h*head_dim + c]
    int ldo;
};
constexpr int k_attn_tile = 64;
using AttnFn = void (*)(const AttnTask& t);
AttnFn attention_kernel_avx2();
AttnFn attention_kernel_avx512();
AttnFn attention_kernel_avx512bf16();  // kt, v: the head's bf16 cache tiles
/// Transposes one tile of keys K[nk, hd] (row stride hd, nk <= k_attn_tile) into
/// dst [hd][k_attn_tile] (64-byte aligned), zero for keys >= nk.
using AttnTransposeFn = void (*)(const float* k, int nk, int hd, float* dst);
AttnTransposeFn attention_transpose_avx512();

/// bf16 cache layout: per KV head, tiles of k_attn_tile = 64 positions, tile_u32 = 32·hdp 32-bit
/// words apart (hdp = head_dim rounded up to 16; 64-byte aligned), the same for keys and values:
///   K tile: uint32 [hd/2][64]   word (c, j) = bf16(K[p][2c]) | bf16(K[p][2c+1]) << 16, j = p % 64
///   V tile: uint32 [32][hdp]    word (j/2, c) holds bf16(V[p][c]) in its low half for even j,
///                               in its high half for odd j
/// (the operands of vdpbf16ps for Q·Kᵀ and P·V). Rounding: vcvtne2ps2bf16 (nearest even).
inline int bf16_cache_hdp(int hd) { return (hd + 15) / 16 * 16; }
inline size_t bf16_cache_tile_u32(int hd) { return static_cast<size_t>(k_attn_tile / 2) * bf16_cache_hdp(hd); }
inline size_t bf16_cache_head_floats(int cap, int hd) {
    return static_cast<size_t>((cap + k_attn_tile - 1) / k_attn_tile) * bf16_cache_tile_u32(hd);
}
void store_kv_bf16_avx512bf16(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache,
                              float* v_cache, int cap, int n_kv_heads, int head_dim);

// Epilogue rows (gemm_epilogue_avx512.cpp); rows [b, e).
void swiglu_rows_avx512(const float* gu, float* out, size_t b, size_t e, int inter);
void logsumexp_rows_avx512(const float* logits, size_t b, size_t e, int vocab, int ld, double* lse, int* argmax);
void attention_task_generic(const AttnTask& t);
/// First key a query at position p sees (0 without a window).
inline int attention_first_key(const AttnTask& t, int p) { return t.window > 0 && p - t.window + 1 > 0 ? p - t.window + 1 : 0; }

}  // namespace detail

}  // namespace rb::cpu
