// CUDA kernels of the cuda backend (contracts in kernels.h). Launch errors are left for the
// caller's cudaGetLastError check (cuda_backend.cpp).
#include <cuda_bf16.h>

#include <cfloat>
#include <climits>
#include <cstdint>

#include "backend/cuda/kernels.h"

namespace rb::cuda {
namespace {

constexpr unsigned k_full = 0xffffffffu;

// Grid sizes stay within CUDA's limits (x: 2^31-1, y: 65535); kernels loop over the rest.
inline unsigned grid_y(int rows) { return static_cast<unsigned>(rows < 65535 ? (rows > 0 ? rows : 1) : 65535); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(k_full, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(k_full, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(k_full, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ double block_sum(double v) {
    __shared__ double part[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // part[] may still be read by a previous call
    if (lane == 0) part[warp] = v;
    __syncthreads();
    double r = lane < warps ? part[lane] : 0.0;
    return warp_sum(r);
}

// ---- elementwise and row kernels --------------------------------------------------------------

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, int rows, int cols, size_t ldx,
                                   __nv_bfloat16* __restrict__ y) {
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
            y[static_cast<size_t>(r) * cols + c] = __float2bfloat16_rn(x[static_cast<size_t>(r) * ldx + c]);
}

// RMSNorm of one vector by the whole block (rmsnorm and rmsnorm_heads).
__device__ void rmsnorm_block(const float* xr, const float* __restrict__ g, float* yr, int dim, float eps) {
    double ss = 0;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) ss += static_cast<double>(xr[c]) * xr[c];
    ss = block_sum(ss);
    const float r = static_cast<float>(1.0 / sqrt(ss / dim + eps));
    // y may alias x: each element is read and written by the same thread, after the reduction.
    for (int c = threadIdx.x; c < dim; c += blockDim.x) yr[c] = xr[c] * r * g[c];
}

__global__ void rmsnorm_kernel(const float* x, const float* __restrict__ g, float* y, int dim, float eps) {
    rmsnorm_block(x + static_cast<size_t>(blockIdx.x) * dim, g, y + static_cast<size_t>(blockIdx.x) * dim, dim, eps);
}

// Block (i, y): row i, heads y, y + gridDim.y, ...
__global__ void rmsnorm_heads_kernel(float* x, int ldx, int heads, int head_dim, const float* __restrict__ g, float eps) {
    for (int h = blockIdx.y; h < heads; h += gridDim.y) {
        float* v = x + static_cast<size_t>(blockIdx.x) * ldx + static_cast<size_t>(h) * head_dim;
        rmsnorm_block(v, g, v, head_dim, eps);
    }
}

__global__ void add_bias_kernel(float* x, int n, int ldx, const float* __restrict__ b, int dim) {
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        float* xr = x + static_cast<size_t>(r) * ldx;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < dim; c += gridDim.x * blockDim.x) xr[c] += b[c];
    }
}

__global__ void rope_kernel(float* x, int ldx, int heads, int head_dim, int half, const float* __restrict__ cos,
                            const float* __restrict__ sin) {
    const size_t i = blockIdx.x;
    const float* c = cos + i * half;
    const float* s = sin + i * half;
    for (int e = threadIdx.x; e < heads * half; e += blockDim.x) {
        const int h = e / half, j = e - h * half;
        float* v = x + i * ldx + static_cast<size_t>(h) * head_dim;
        const float a = v[j], b = v[j + half];
        v[j] = a * c[j] - b * s[j];
        v[j + half] = b * c[j] + a * s[j];
    }
}

__global__ void store_kv_kernel(const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int n,
                                int pos0, float* k_cache, float* v_cache, int cap, int head_dim) {
    const int h = blockIdx.x;
    for (int i = blockIdx.y; i < n; i += gridDim.y) {
        const size_t dst = (static_cast<size_t>(h) * cap + pos0 + i) * head_dim;
        const size_t sk = static_cast<size_t>(i) * ldk + static_cast<size_t>(h) * head_dim;
        const size_t sv = static_cast<size_t>(i) * ldv + static_cast<size_t>(h) * head_dim;
        for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
            k_cache[dst + d] = k[sk + d];
            v_cache[dst + d] = v[sv + d];
        }
    }
}

__global__ void swiglu_kernel(const float* __restrict__ gu, float* __restrict__ out, int n, int inter) {
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        const float* gr = gu + static_cast<size_t>(r) * 2 * inter;
        float* o = out + static_cast<size_t>(r) * inter;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < inter; c += gridDim.x * blockDim.x) {
            const float g = gr[c];
            o[c] = g / (1.0f + expf(-g)) * gr[inter + c];  // expf(-g) = inf for g < -88: silu = -0
        }
    }
}

__global__ void embed_kernel(const float* __restrict__ table, const int* __restrict__ tokens, int n, int dim,
                             float* __restrict__ out) {
    for (int i = blockIdx.y; i < n; i += gridDim.y) {
        const float* row = table + static_cast<size_t>(tokens[i]) * dim;
        float* o = out + static_cast<size_t>(i) * dim;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < dim; c += gridDim.x * blockDim.x) o[c] = row[c];
    }
}

__global__ void add_kernel(float* x, const float* __restrict__ y, size_t n) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x)
        x[i] += y[i];
}

// (m2, a2) replaces (m1, a1) as the running (max, first index of the max); INT_MAX = no element yet.
__device__ __forceinline__ bool beats(float m2, int a2, float m1, int a1) {
    return a2 != INT_MAX && (a1 == INT_MAX || m2 > m1 || (m2 == m1 && a2 < a1));
}

// One block per row. Pass 1: max and its first index; pass 2: Σ exp(l - max), f32 terms in
// (0, 1] summed per thread (<= vocab/256 terms), then in double across threads.
__global__ void logsumexp_kernel(const float* __restrict__ logits, int vocab, const int* __restrict__ targets,
                                 double* logprob, int* argmax) {
    const float* l = logits + static_cast<size_t>(blockIdx.x) * vocab;
    float mx = -INFINITY;
    int am = INT_MAX;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) {
        const float x = l[v];
        if (am == INT_MAX || x > mx) {
            mx = x;
            am = v;
        }
    }
    // (max, first index) across the block.
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(k_full, mx, o);
        const int a2 = __shfl_xor_sync(k_full, am, o);
        if (beats(m2, a2, mx, am)) {
            mx = m2;
            am = a2;
        }
    }
    __shared__ float smx[32];
    __shared__ int sam[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) {
        smx[warp] = mx;
        sam[warp] = am;
    }
    __syncthreads();
    for (int w = 0; w < warps; w++)
        if (beats(smx[w], sam[w], mx, am)) {
            mx = smx[w];
            am = sam[w];
        }
    float sum = 0.f;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) sum += expf(l[v] - mx);
    const double total = block_sum(static_cast<double>(sum));
    if (threadIdx.x == 0) {
        const double lse = static_cast<double>(mx) + log(total);
        if (argmax) argmax[blockIdx.x] = am;
        if (logprob) {
            const int t = targets ? targets[blockIdx.x] : -1;
            logprob[blockIdx.x] = t >= 0 ? static_cast<double>(l[t]) - lse : 0.0;
        }
    }
}

// ---- attention ------------------------------------------------------------------------------------
//
// Rows: for KV head kvh (blockIdx.y), row R in [0, n·G) is query position p = R / G of head
// h = kvh·G + R % G (G = H / KV), so the G heads sharing a KV head share every key tile a block
// loads. Block b covers rows [b·BM, (b+1)·BM); row R sees keys first_key(R) .. pos0 + p
// (first_key = 0 without a window). Blocks run from the last (longest) rows first to balance the
// causal triangle. A block's key loop starts at the tile holding the first key any of its rows sees.

struct RowMap {
    int G, kvh, row0, total_rows, kv_first, kv_len, window;
    __device__ RowMap(const AttentionArgs& a, int bm, int bn) {
        G = a.n_heads / a.n_kv_heads;
        kvh = blockIdx.y;
        row0 = (gridDim.x - 1 - blockIdx.x) * bm;
        total_rows = a.n * G;
        window = a.window;
        const int p_last = min(a.n - 1, (row0 + bm - 1) / G);
        kv_len = a.pos0 + p_last + 1;  // keys any row of the block may see
        kv_first = first_key(row0, a.pos0) / bn * bn;
    }
    // Offset of row R's head vector in a [n, H, hd] tensor with row stride ld.
    __device__ size_t offset(int R, int ld, int hd) const {
        return static_cast<size_t>(R / G) * ld + static_cast<size_t>(kvh * G + R % G) * hd;
    }
    __device__ int last_key(int R, int pos0) const { return pos0 + R / G; }
    __device__ int first_key(int R, int pos0) const {
        return window > 0 ? max(0, pos0 + R / G - window + 1) : 0;
    }
};

// f32 path (CUDA cores): BM = 32 rows, BN = 32 keys, 4 warps; warp w owns rows w + 4k (k < 8),
// lane j holds key j of the tile for the scores and head dims j + 32m of the outputs.
// Shared: Q [32][hd], K [32][hd|1] (odd stride: no bank conflicts across keys), V [32][hd].
constexpr int k_f_bm = 32, k_f_bn = 32, k_f_threads = 128, k_f_rows = k_f_bm / (k_f_threads / 32),
              k_f_dpl = k_max_head_dim / 32;

size_t attention_f32_smem(int hd) {
    return sizeof(float) * (static_cast<size_t>(k_f_bm) * hd + static_cast<size_t>(k_f_bn) * (hd | 1) +
                            static_cast<size_t>(k_f_bn) * hd);
}

__global__ void __launch_bounds__(k_f_threads) attention_f32_kernel(AttentionArgs a) {
    extern __shared__ float fsm[];
    const int hd = a.head_dim, ks = hd | 1;
    float* sq = fsm;
    float* sk = sq + k_f_bm * hd;
    float* sv = sk + k_f_bn * ks;
    const RowMap rm(a, k_f_bm, k_f_bn);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const float* kb = a.k_cache + static_cast<size_t>(rm.kvh) * a.cap * hd;
    const float* vb = a.v_cache + static_cast<size_t>(rm.kvh) * a.cap * hd;

    for (int i = threadIdx.x; i < k_f_bm * hd; i += k_f_threads) {
        const int r = i / hd, d = i - r * hd, R = rm.row0 + r;
        sq[i] = R < rm.total_rows ? a.q[rm.offset(R, a.ldq, hd) + d] : 0.f;
    }
    float m[k_f_rows], l[k_f_rows], o[k_f_rows][k_f_dpl];
    int lim[k_f_rows], lo[k_f_rows];
#pragma unroll
    for (int k = 0; k < k_f_rows; k++) {
        m[k] = -INFINITY;
        l[k] = 0.f;
        lim[k] = rm.last_key(rm.row0 + warp + 4 * k, a.pos0);
        lo[k] = rm.first_key(rm.row0 + warp + 4 * k, a.pos0);
#pragma unroll
        for (int j = 0; j < k_f_dpl; j++) o[k][j] = 0.f;
    }
    for (int k0 = rm.kv_first; k0 < rm.kv_len; k0 += k_f_bn) {
        __syncthreads();  // Q written / previous tile consumed
        for (int i = threadIdx.x; i < k_f_bn * hd; i += k_f_threads) {
            const int c = i / hd, d = i - c * hd, key = k0 + c;
            const bool ok = key < rm.kv_len;  // past kv_len the cache is uninitialised: zeros, masked below
            sk[c * ks + d] = ok ? kb[static_cast<size_t>(key) * hd + d] : 0.f;
            sv[c * hd + d] = ok ? vb[static_cast<size_t>(key) * hd + d] : 0.f;
        }
        __syncthreads();
        const int key = k0 + lane;
#pragma unroll
        for (int k = 0; k < k_f_rows; k++) {
            const float* qr = sq + (warp + 4 * k) * hd;
            const float* kr = sk + lane * ks;
            float dot = 0.f;
            for (int d = 0; d < hd; d++) dot = fmaf(qr[d], kr[d], dot);
            const float s = (key >= lo[k] && key <= lim[k] && key < rm.kv_len) ? dot * a.scale : -INFINITY;
            const float mn = fmaxf(m[k], warp_max(s));
            const float base = mn == -INFINITY ? 0.f : mn;  // a row with every key masked so far
            const float p = expf(s - base);
            const float alpha = expf(m[k] - base);
            m[k] = mn;
            l[k] = l[k] * alpha + warp_sum(p);
#pragma unroll
            for (int j = 0; j < k_f_dpl; j++) o[k][j] *= alpha;
            for (int c = 0; c < k_f_bn; c++) {
                const float pc = __shfl_sync(k_full, p, c);
                const float* vr = sv + c * hd;
#pragma unroll
                for (int j = 0; j < k_f_dpl; j++) {
                    const int d = lane + 32 * j;
                    if (d < hd) o[k][j] = fmaf(pc, vr[d], o[k][j]);
                }
            }
        }
    }
#pragma unroll
    for (int k = 0; k < k_f_rows; k++) {
        const int R = rm.row0 + warp + 4 * k;
        if (R >= rm.total_rows) continue;
        float* out = a.out + rm.offset(R, a.ldo, hd);
        const float inv = 1.f / l[k];
#pragma unroll
        for (int j = 0; j < k_f_dpl; j++) {
            const int d = lane + 32 * j;
            if (d < hd) out[d] = o[k][j] * inv;
        }
    }
}

// bf16 path (tensor cores, sm_80+): mma.sync m16n8k16 bf16 × bf16 → f32 (PTX ISA fragment
// layouts: groupID g = lane / 4, t = lane % 4; A 16×16 row-major: a0 (g, 2t..2t+1), a1 (g+8, 2t..),
// a2 (g, 2t+8..), a3 (g+8, 2t+8..); B 16×8 column-major: b0 (k = 2t..2t+1, n = g), b1 (k = 2t+8.., g);
// C 16×8: c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1)). Two bf16 in a 32-bit register, the lower
// index in the low half.
//
// BM = 128 rows (8 warps × 16), BN = 64 keys, head dim padded to HDP (a multiple of 16; zeros
// past hd). Shared: Q [BM][HDP+8] at the start, then K [BN][HDP+8] and Vᵀ [HDP][BN+8] (bf16;
// the +8 padding makes the fragment loads conflict-free). S = Q·Kᵀ stays in registers; its C
// fragments of two adjacent 8-key tiles are exactly the A fragment of P for 16 keys (P rounded
// to bf16). The next key tile is loaded into registers (f32, float4) while this one computes.
constexpr int k_b_bm = 128, k_b_bn = 64, k_b_threads = 256;

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ uint32_t ld32(const __nv_bfloat16* p) { return *reinterpret_cast<const uint32_t*>(p); }

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();  // built only for sm_80+ (CMAKE_CUDA_ARCHITECTURES); never reached there
#endif
}

template <int HDP>
struct BfTile {
    static constexpr int qs = HDP + 8;      // Q / K row stride (bf16 elements)
    static constexpr int vs = k_b_bn + 8;   // Vᵀ row stride
    static constexpr int chunks = HDP / 4;  // float4 chunks per key row
    static constexpr int loads = k_b_bn * chunks / k_b_threads;  // float4 per thread per tile (K; same for V)
    static constexpr size_t q_bytes = sizeof(__nv_bfloat16) * k_b_bm * qs;
    static constexpr size_t kv_bytes = sizeof(__nv_bfloat16) * (k_b_bn * qs + HDP * vs);
    static constexpr size_t smem = q_bytes > kv_bytes ? q_bytes : kv_bytes;
    static_assert(HDP % 16 == 0 && loads >= 1 && k_b_bn * chunks % k_b_threads == 0, "tile shape");
};

// Thread's share of key tile [k0, k0 + BN): float4 chunk e = threadIdx.x + j·threads of the
// [BN][HDP/4] chunks (hd % 4 == 0: a chunk is all inside the head or all padding).
template <int HDP>
__device__ __forceinline__ void bf_load(float4 (&kr)[BfTile<HDP>::loads], float4 (&vr)[BfTile<HDP>::loads],
                                        const float* kb, const float* vb, int k0, int kv_len, int hd) {
    using T = BfTile<HDP>;
#pragma unroll
    for (int j = 0; j < T::loads; j++) {
        const int e = threadIdx.x + j * k_b_threads, c = e / T::chunks, d = (e % T::chunks) * 4, key = k0 + c;
        if (key < kv_len && d < hd) {
            kr[j] = *reinterpret_cast<const float4*>(kb + static_cast<size_t>(key) * hd + d);
            vr[j] = *reinterpret_cast<const float4*>(vb + static_cast<size_t>(key) * hd + d);
        } else {
            kr[j] = make_float4(0.f, 0.f, 0.f, 0.f);  // the cache past kv_len is uninitialised: never NaN·0
            vr[j] = kr[j];
        }
    }
}
template <int HDP>
__device__ __forceinline__ void bf_store(const float4 (&kr)[BfTile<HDP>::loads], const float4 (&vr)[BfTile<HDP>::loads],
                                         __nv_bfloat16* sk, __nv_bfloat16* svt) {
    using T = BfTile<HDP>;
#pragma unroll
    for (int j = 0; j < T::loads; j++) {
        const int e = threadIdx.x + j * k_b_threads, c = e / T::chunks, d = (e % T::chunks) * 4;
        __nv_bfloat162* kd = reinterpret_cast<__nv_bfloat162*>(sk + c * T::qs + d);
        kd[0] = __floats2bfloat162_rn(kr[j].x, kr[j].y);
        kd[1] = __floats2bfloat162_rn(kr[j].z, kr[j].w);
        svt[(d + 0) * T::vs + c] = __float2bfloat16_rn(vr[j].x);
        svt[(d + 1) * T::vs + c] = __float2bfloat16_rn(vr[j].y);
        svt[(d + 2) * T::vs + c] = __float2bfloat16_rn(vr[j].z);
        svt[(d + 3) * T::vs + c] = __float2bfloat16_rn(vr[j].w);
    }
}

// Long by nature: a fused kernel (load, scores, online softmax, output) whose stages share registers and shared memory.
template <int HDP>
__global__ void __launch_bounds__(k_b_threads) attention_bf16_kernel(AttentionArgs a, float scale_log2) {
    using T = BfTile<HDP>;
    __shared__ __align__(16) unsigned char smem[T::smem];
    __nv_bfloat16* sq = reinterpret_cast<__nv_bfloat16*>(smem);               // [BM][qs], first
    __nv_bfloat16* sk = reinterpret_cast<__nv_bfloat16*>(smem);               // [BN][qs], then
    __nv_bfloat16* svt = sk + k_b_bn * T::qs;                                  // [HDP][vs]
    const RowMap rm(a, k_b_bm, k_b_bn);
    const int hd = a.head_dim;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const float* kb = a.k_cache + static_cast<size_t>(rm.kvh) * a.cap * hd;
    const float* vb = a.v_cache + static_cast<size_t>(rm.kvh) * a.cap * hd;

    // Q tile -> shared (bf16) -> A fragments in registers.
    for (int i = threadIdx.x; i < k_b_bm * HDP; i += k_b_threads) {
        const int r = i / HDP, d = i % HDP, R = rm.row0 + r;
        const float x = (R < rm.total_rows && d < hd) ? a.q[rm.offset(R, a.ldq, hd) + d] : 0.f;
        sq[r * T::qs + d] = __float2bfloat16_rn(x);
    }
    __syncthreads();
    uint32_t qf[HDP / 16][4];
    const int ra = warp * 16 + g;  // this thread's rows: ra and ra + 8
#pragma unroll
    for (int kc = 0; kc < HDP / 16; kc++) {
        qf[kc][0] = ld32(sq + ra * T::qs + kc * 16 + 2 * t);
        qf[kc][1] = ld32(sq + (ra + 8) * T::qs + kc * 16 + 2 * t);
        qf[kc][2] = ld32(sq + ra * T::qs + kc * 16 + 8 + 2 * t);
        qf[kc][3] = ld32(sq + (ra + 8) * T::qs + kc * 16 + 8 + 2 * t);
    }
    const int lim_a = rm.last_key(rm.row0 + ra, a.pos0), lim_b = rm.last_key(rm.row0 + ra + 8, a.pos0);
    const int lo_a = rm.first_key(rm.row0 + ra, a.pos0), lo_b = rm.first_key(rm.row0 + ra + 8, a.pos0);

    float4 kr[T::loads], vr[T::loads];  // the next key tile, f32, on its way to shared memory
    float o[HDP / 8][4];
#pragma unroll
    for (int dt = 0; dt < HDP / 8; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;  // l: this thread's partial row sums

    bf_load<HDP>(kr, vr, kb, vb, rm.kv_first, rm.kv_len, hd);
    for (int k0 = rm.kv_first; k0 < rm.kv_len; k0 += k_b_bn) {
        __syncthreads();  // Q fragments read / previous tile consumed
        bf_store<HDP>(kr, vr, sk, svt);
        __syncthreads();
        if (k0 + k_b_bn < rm.kv_len) bf_load<HDP>(kr, vr, kb, vb, k0 + k_b_bn, rm.kv_len, hd);  // in flight during the math

        float s[k_b_bn / 8][4];
#pragma unroll
        for (int nt = 0; nt < k_b_bn / 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
            const __nv_bfloat16* krow = sk + (nt * 8 + g) * T::qs;
#pragma unroll
            for (int kc = 0; kc < HDP / 16; kc++)
                mma_bf16(s[nt], qf[kc], ld32(krow + kc * 16 + 2 * t), ld32(krow + kc * 16 + 8 + 2 * t));
        }
        float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < k_b_bn / 8; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int key = k0 + nt * 8 + 2 * t + e;
                s[nt][e] = key >= lo_a && key <= lim_a ? s[nt][e] * scale_log2 : -INFINITY;
                s[nt][2 + e] = key >= lo_b && key <= lim_b ? s[nt][2 + e] * scale_log2 : -INFINITY;
                mx_a = fmaxf(mx_a, s[nt][e]);
                mx_b = fmaxf(mx_b, s[nt][2 + e]);
            }
        // A row's 64 scores live in the 4 threads of its quad.
        mx_a = fmaxf(mx_a, __shfl_xor_sync(k_full, mx_a, 1));
        mx_a = fmaxf(mx_a, __shfl_xor_sync(k_full, mx_a, 2));
        mx_b = fmaxf(mx_b, __shfl_xor_sync(k_full, mx_b, 1));
        mx_b = fmaxf(mx_b, __shfl_xor_sync(k_full, mx_b, 2));
        const float mn_a = fmaxf(m_a, mx_a), mn_b = fmaxf(m_b, mx_b);
        const float base_a = mn_a == -INFINITY ? 0.f : mn_a, base_b = mn_b == -INFINITY ? 0.f : mn_b;
        const float al_a = exp2f(m_a - base_a), al_b = exp2f(m_b - base_b);
        m_a = mn_a;
        m_b = mn_b;
        float rs_a = 0.f, rs_b = 0.f;
#pragma unroll
        for (int nt = 0; nt < k_b_bn / 8; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                s[nt][e] = exp2f(s[nt][e] - base_a);
                s[nt][2 + e] = exp2f(s[nt][2 + e] - base_b);
                rs_a += s[nt][e];
                rs_b += s[nt][2 + e];
            }
        l_a = l_a * al_a + rs_a;
        l_b = l_b * al_b + rs_b;
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++) {
            o[dt][0] *= al_a;
            o[dt][1] *= al_a;
            o[dt][2] *= al_b;
            o[dt][3] *= al_b;
        }
#pragma unroll
        for (int kc = 0; kc < k_b_bn / 16; kc++) {
            const uint32_t pa[4] = {pack_bf16(s[2 * kc][0], s[2 * kc][1]), pack_bf16(s[2 * kc][2], s[2 * kc][3]),
                                    pack_bf16(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                                    pack_bf16(s[2 * kc + 1][2], s[2 * kc + 1][3])};
#pragma unroll
            for (int dt = 0; dt < HDP / 8; dt++) {
                const __nv_bfloat16* vrow = svt + (dt * 8 + g) * T::vs + kc * 16;
                mma_bf16(o[dt], pa, ld32(vrow + 2 * t), ld32(vrow + 8 + 2 * t));
            }
        }
    }
    l_a += __shfl_xor_sync(k_full, l_a, 1);
    l_a += __shfl_xor_sync(k_full, l_a, 2);
    l_b += __shfl_xor_sync(k_full, l_b, 1);
    l_b += __shfl_xor_sync(k_full, l_b, 2);
    // Rows ra (accumulator halves 0, 1) and ra + 8 (halves 2, 3).
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int R = rm.row0 + ra + 8 * half;
        if (R >= rm.total_rows) continue;
        float* out = a.out + rm.offset(R, a.ldo, hd);
        const float inv = 1.f / (half ? l_b : l_a);
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++) {
            const int d = dt * 8 + 2 * t;
            if (d < hd) out[d] = o[dt][2 * half] * inv;
            if (d + 1 < hd) out[d + 1] = o[dt][2 * half + 1] * inv;
        }
    }
}

template <int HDP>
void launch_bf16(const AttentionArgs& a, unsigned blocks, cudaStream_t s) {
    const float scale_log2 = a.scale * 1.4426950408889634f;  // exp(x) = exp2(x · log2 e)
    attention_bf16_kernel<HDP><<<dim3(blocks, a.n_kv_heads), k_b_threads, 0, s>>>(a, scale_log2);
}

}  // namespace

void launch_f32_to_bf16(const float* x, int rows, int cols, size_t ldx, uint16_t* y, cudaStream_t s) {
    if (rows <= 0 || cols <= 0) return;
    const unsigned gx = static_cast<unsigned>((cols + 255) / 256 < 64 ? (cols + 255) / 256 : 64);
    f32_to_bf16_kernel<<<dim3(gx, grid_y(rows)), 256, 0, s>>>(x, rows, cols, ldx, reinterpret_cast<__nv_bfloat16*>(y));
}

void launch_rmsnorm(const float* x, const float* g, float* y, int n, int dim, float eps, cudaStream_t s) {
    if (n <= 0) return;
    rmsnorm_kernel<<<n, 256, 0, s>>>(x, g, y, dim, eps);
}

void launch_rmsnorm_heads(float* x, int n, int ldx, int heads, int head_dim, const float* g, float eps, cudaStream_t s) {
    if (n <= 0 || heads <= 0 || head_dim <= 0) return;
    rmsnorm_heads_kernel<<<dim3(n, grid_y(heads)), head_dim >= 128 ? 128 : 64, 0, s>>>(x, ldx, heads, head_dim, g, eps);
}

void launch_add_bias(float* x, int n, int ldx, const float* b, int dim, cudaStream_t s) {
    if (n <= 0 || dim <= 0) return;
    const unsigned gx = static_cast<unsigned>((dim + 255) / 256 < 64 ? (dim + 255) / 256 : 64);
    add_bias_kernel<<<dim3(gx, grid_y(n)), 256, 0, s>>>(x, n, ldx, b, dim);
}

void launch_rope(float* x, int n, int ldx, int heads, int head_dim, int rot_dim, const float* cos, const float* sin,
                 cudaStream_t s) {
    if (n <= 0 || rot_dim < 2 || heads <= 0) return;
    rope_kernel<<<n, 256, 0, s>>>(x, ldx, heads, head_dim, rot_dim / 2, cos, sin);
}

void launch_store_kv(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache,
                     float* v_cache, int cap, int n_kv_heads, int head_dim, cudaStream_t s) {
    if (n <= 0 || n_kv_heads <= 0 || head_dim <= 0) return;
    const int threads = head_dim >= 128 ? 128 : ((head_dim + 31) / 32) * 32;
    store_kv_kernel<<<dim3(n_kv_heads, grid_y(n)), threads, 0, s>>>(k, ldk, v, ldv, n, pos0, k_cache, v_cache, cap,
                                                                     head_dim);
}

void launch_swiglu(const float* gu, float* out, int n, int inter, cudaStream_t s) {
    if (n <= 0 || inter <= 0) return;
    const unsigned gx = static_cast<unsigned>((inter + 255) / 256 < 64 ? (inter + 255) / 256 : 64);
    swiglu_kernel<<<dim3(gx, grid_y(n)), 256, 0, s>>>(gu, out, n, inter);
}

void launch_embed(const float* table, const int* tokens, int n, int dim, float* out, cudaStream_t s) {
    if (n <= 0 || dim <= 0) return;
    const unsigned gx = static_cast<unsigned>((dim + 255) / 256 < 64 ? (dim + 255) / 256 : 64);
    embed_kernel<<<dim3(gx, grid_y(n)), 256, 0, s>>>(table, tokens, n, dim, out);
}

void launch_add(float* x, const float* y, size_t n, cudaStream_t s) {
    if (n == 0) return;
    const size_t blocks = (n + 255) / 256;
    add_kernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, s>>>(x, y, n);
}

void launch_logsumexp_rows(const float* logits, int n, int vocab, const int* targets, double* logprob, int* argmax,
                           cudaStream_t s) {
    if (n <= 0) return;
    logsumexp_kernel<<<n, 256, 0, s>>>(logits, vocab, targets, logprob, argmax);
}

bool attention_bf16_supported(const AttentionArgs& a) {
    const auto addr = reinterpret_cast<uintptr_t>(a.k_cache) | reinterpret_cast<uintptr_t>(a.v_cache);
    return a.head_dim > 0 && a.head_dim <= 128 && a.head_dim % 4 == 0 && addr % 16 == 0;
}

void launch_attention(const AttentionArgs& a, bool bf16, cudaStream_t s) {
    if (a.n <= 0) return;
    const int G = a.n_heads / a.n_kv_heads;
    const long long rows = static_cast<long long>(a.n) * G;
    if (bf16 && attention_bf16_supported(a)) {
        const auto blocks = static_cast<unsigned>((rows + k_b_bm - 1) / k_b_bm);
        if (a.head_dim <= 16)
            launch_bf16<16>(a, blocks, s);
        else if (a.head_dim <= 32)
            launch_bf16<32>(a, blocks, s);
        else if (a.head_dim <= 64)
            launch_bf16<64>(a, blocks, s);
        else
            launch_bf16<128>(a, blocks, s);
        return;
    }
    const size_t smem = attention_f32_smem(a.head_dim);
    if (smem > 48 * 1024)  // past the default limit (head_dim > 128): opt in (sm_80+: up to 163 KiB)
        cudaFuncSetAttribute(attention_f32_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    const auto blocks = static_cast<unsigned>((rows + k_f_bm - 1) / k_f_bm);
    attention_f32_kernel<<<dim3(blocks, a.n_kv_heads), k_f_threads, smem, s>>>(a);
}

}  // namespace rb::cuda
