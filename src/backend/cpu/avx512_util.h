// Pieces shared by the AVX-512 kernels (f32 files built with the avx512 flags, bf16 files with the
// avx512bf16 flags): the 16-lane vector type for tile_util.h / peak_loops.h; the GEMM micro-kernel
// and decoding GEMV written once over the multiply-add (F32Dot, Bf16Dot); the flash-attention
// block's parts (visible-key masks, Q·Kᵀ, P·V update, block walk, epilogue). Include only from
// files compiled with AVX-512 flags. Unnamed namespace: each file keeps its own copy compiled
// with its own flags (see tile_util.h).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "backend/cpu/aligned_buf.h"  // AlignedBuf, used with these helpers
#include "backend/cpu/kernels.h"
#include "backend/cpu/tile_util.h"

namespace rb::cpu::detail {
namespace {

/// Mask of the first `cnt` of 16 lanes: none for cnt <= 0, all for cnt >= 16.
inline __mmask16 count_mask(int cnt) {
    return static_cast<__mmask16>((1u << std::clamp(cnt, 0, 16)) - 1u);  // branch-free (clamp: cmov)
}

struct Zmm {
    using Reg = __m512;
    using Mask = __mmask16;
    static constexpr int width = 16;
    static Reg zero() { return _mm512_setzero_ps(); }
    static Reg set1(float v) { return _mm512_set1_ps(v); }
    static Reg load(const float* p) { return _mm512_load_ps(p); }
    static Reg loadu(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, Reg v) { _mm512_store_ps(p, v); }
    static void storeu(float* p, Reg v) { _mm512_storeu_ps(p, v); }
    static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
    static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
    static Mask mask(int cnt) { return count_mask(cnt); }
    static Reg maskz_loadu(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void mask_storeu(float* p, Mask m, Reg v) { _mm512_mask_storeu_ps(p, m, v); }
    /// bf16 pairs (64-byte aligned): the even / odd elements widened to f32 (exact).
    using IReg = __m512i;
    static IReg loadi(const void* p) { return _mm512_load_si512(p); }
    static Reg bf16_even(IReg w) { return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)); }
    static Reg bf16_odd(IReg w) { return _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(static_cast<int>(0xffff0000u)))); }
};

// ---- products with one multiply-add instruction per vector (f32: vfmadd, bf16: vdpbf16ps) ----
// A Dot names the 4-byte words of the broadcast operand (Dot::Word: an f32 value, or a bf16 pair
// holding two k) and three steps: bcast(word) broadcasts one; loadb(p) loads the 64 bytes at p
// (16 lanes, aligned) that one word multiplies, loadb_masked(m, words) the lanes m of 16 words
// (others zero); madd(acc, a, b) adds their products to the f32 lanes of acc.

/// f32 operands: one word per k.
struct F32Dot {
    using Word = float;
    static __m512 bcast(float a) { return _mm512_set1_ps(a); }
    static __m512 loadb(const uint8_t* p) { return _mm512_load_ps(reinterpret_cast<const float*>(p)); }
    static __m512 loadb_masked(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static __m512 madd(__m512 acc, __m512 a, __m512 b) { return _mm512_fmadd_ps(a, b, acc); }
};

#ifdef __AVX512BF16__
/// bf16 operands: one word = a bf16 pair (two k), f32 accumulation.
struct Bf16Dot {
    using Word = uint32_t;
    static __m512bh bcast(uint32_t a) { return (__m512bh)_mm512_set1_epi32(static_cast<int>(a)); }
    static __m512bh loadb(const uint8_t* p) { return (__m512bh)_mm512_load_si512(p); }
    static __m512bh loadb_masked(__mmask16 m, const uint32_t* p) { return (__m512bh)_mm512_maskz_loadu_epi32(m, p); }
    static __m512 madd(__m512 acc, __m512bh a, __m512bh b) { return _mm512_dpbf16_ps(acc, a, b); }
};
#endif

// GEMM: the 32 columns of a weight panel take 128 bytes per word.

/// The micro-kernel (GemmKernel::run) of M <= MR rows: C[M, nc] (+)= A · B over `words` words, M
/// rows x 32 columns of accumulators; per word one panel row (2 loads) and M broadcasts.
template <class Dot, int MR, int M>
inline void gemm_tile(int words, const typename Dot::Word* a, const uint8_t* b, float* c, int ldc, int nc,
                      bool accumulate) {
    __m512 c0[M], c1[M];
    zero_tile<Zmm, M>(c0, c1);
    prefetch_c_tile<M>(c, ldc);
#pragma GCC unroll 2
    for (int w = 0; w < words; w++) {
        const auto b0 = Dot::loadb(b), b1 = Dot::loadb(b + 64);
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const auto av = Dot::bcast(a[i]);
            c0[i] = Dot::madd(c0[i], av, b0);
            c1[i] = Dot::madd(c1[i], av, b1);
        }
        a += MR;
        b += 128;
    }
    store_tile<Zmm, M>(c0, c1, c, ldc, nc, accumulate);
}

/// GemmKernel::gemv2 for one row of x against two panels streamed together: `words` words of the
/// packed row (a_stride apart). Two words per step go into separate accumulators (8 independent
/// chains), summed at the end.
template <class Dot>
inline void gemv2_panels(int words, const void* a_v, int a_stride, const void* b0_v, const void* b1_v, float* y0,
                         float* y1, int nc0, int nc1) {
    const auto* a = static_cast<const typename Dot::Word*>(a_v);
    const auto* b0 = static_cast<const uint8_t*>(b0_v);
    const auto* b1 = static_cast<const uint8_t*>(b1_v ? b1_v : b0_v);
    __m512 s[8];
    for (auto& v : s) v = _mm512_setzero_ps();
    int w = 0;
    for (; w + 2 <= words; w += 2) {
        const auto a0 = Dot::bcast(a[0]), a1 = Dot::bcast(a[a_stride]);
        s[0] = Dot::madd(s[0], a0, Dot::loadb(b0));
        s[1] = Dot::madd(s[1], a0, Dot::loadb(b0 + 64));
        s[2] = Dot::madd(s[2], a1, Dot::loadb(b0 + 128));
        s[3] = Dot::madd(s[3], a1, Dot::loadb(b0 + 192));
        s[4] = Dot::madd(s[4], a0, Dot::loadb(b1));
        s[5] = Dot::madd(s[5], a0, Dot::loadb(b1 + 64));
        s[6] = Dot::madd(s[6], a1, Dot::loadb(b1 + 128));
        s[7] = Dot::madd(s[7], a1, Dot::loadb(b1 + 192));
        a += 2 * a_stride;
        b0 += 256;
        b1 += 256;
    }
    if (w < words) {
        const auto a0 = Dot::bcast(a[0]);
        s[0] = Dot::madd(s[0], a0, Dot::loadb(b0));
        s[1] = Dot::madd(s[1], a0, Dot::loadb(b0 + 64));
        s[4] = Dot::madd(s[4], a0, Dot::loadb(b1));
        s[5] = Dot::madd(s[5], a0, Dot::loadb(b1 + 64));
    }
    auto store = [](float* y, int nc, __m512 lo, __m512 hi) {
        _mm512_mask_storeu_ps(y, count_mask(nc), lo);
        _mm512_mask_storeu_ps(y + 16, count_mask(nc - 16), hi);
    };
    store(y0, nc0, _mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
    if (b1_v) store(y1, nc1, _mm512_add_ps(s[4], s[6]), _mm512_add_ps(s[5], s[7]));
}

// ---- flash attention (attention_avx512.cpp, attention_avx512bf16.cpp) ----

/// The lanes of the 4 × 16 keys of the tile at t0 (nk keys) that a query at position p, whose
/// window starts at key lo, sees: keys t0 .. p (not in the future) from lo on. None set: the
/// query sees no key of the tile.
inline void visible_masks(int p, int lo, int t0, int nk, __mmask16 mk[4]) {
    static_assert(k_attn_tile == 64, "one 64-bit word of key lanes");
    const int valid = std::clamp(p - t0 + 1, 0, nk);  // keys t0 .. t0+valid-1 are not in the future
    const int below = std::clamp(lo - t0, 0, nk);     // keys t0 .. t0+below-1 are out of the window
    auto low = [](int n) { return n >= 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1; };  // lanes < n, n in [0, 64]
    const uint64_t bits = low(valid) & ~low(below);  // branch-free: a handful of scalar ops per row
    for (int v = 0; v < 4; v++) mk[v] = static_cast<__mmask16>(bits >> (16 * v));
}

/// The rows of a register block of M query rows from r0 of task t: the position lim[i] of row i
/// (query (r0+i) / G) and the first key lo[i] it sees.
template <int M>
inline void block_rows(const AttnTask& t, int r0, int* lim, int* lo) {
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
        lim[i] = t.pos_first + (r0 + i) / t.group;
        lo[i] = attention_first_key(t, lim[i]);
    }
}

/// The Q·Kᵀ half of a register block: s[i][0..3] = scores of query row q[i] (`words` words)
/// against the 64 keys of a transposed tile kt (per word, 64 keys' words: 256 bytes).
template <class Dot, int M>
inline void attention_scores(const typename Dot::Word* const* q, int words, const void* kt_v, __m512 (&s)[M][4]) {
#pragma GCC unroll 8
    for (int i = 0; i < M; i++)
        for (int v = 0; v < 4; v++) s[i][v] = _mm512_setzero_ps();
    const auto* kt = static_cast<const uint8_t*>(kt_v);
    for (int c = 0; c < words; c++, kt += 4 * k_attn_tile) {
        const auto k0 = Dot::loadb(kt), k1 = Dot::loadb(kt + 64), k2 = Dot::loadb(kt + 128), k3 = Dot::loadb(kt + 192);
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            const auto a = Dot::bcast(q[i][c]);
            s[i][0] = Dot::madd(s[i][0], a, k0);
            s[i][1] = Dot::madd(s[i][1], a, k1);
            s[i][2] = Dot::madd(s[i][2], a, k2);
            s[i][3] = Dot::madd(s[i][3], a, k3);
        }
    }
}

/// The P·V half of a register block of M query rows from r0: for head_dim (hd) in chunks of 64
/// columns (4 vectors, masked tail), O[r0+i] = corr[i]·O[r0+i] + Σ_j P[i][j]·V[j] over j < n_steps,
/// P[i][j] at p[i*ldp + j], row j of V at v + j*ldv (words: f32, or pairs of P and of V rows).
/// O rows are hdp floats apart.
template <class Dot, int M>
inline void attention_pv(float* o, int hdp, int hd, int r0, const float* corr, int n_steps, const typename Dot::Word* p,
                         int ldp, const typename Dot::Word* v, size_t ldv) {
    for (int cv0 = 0; cv0 < hdp; cv0 += 64) {
        __mmask16 vm[4];
        for (int c = 0; c < 4; c++) vm[c] = count_mask(hd - cv0 - 16 * c);
        __m512 acc[M][4];
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            const __m512 cr = _mm512_set1_ps(corr[i]);
            float* orow = o + static_cast<size_t>(r0 + i) * hdp + cv0;
            for (int c = 0; c < 4; c++)
                acc[i][c] = vm[c] ? _mm512_mul_ps(cr, _mm512_load_ps(orow + 16 * c)) : _mm512_setzero_ps();
        }
        const typename Dot::Word* vr = v + cv0;
        for (int j = 0; j < n_steps; j++, vr += ldv) {
            const auto v0 = Dot::loadb_masked(vm[0], vr), v1 = Dot::loadb_masked(vm[1], vr + 16),
                       v2 = Dot::loadb_masked(vm[2], vr + 32), v3 = Dot::loadb_masked(vm[3], vr + 48);
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) {
                const auto pj = Dot::bcast(p[i * ldp + j]);
                acc[i][0] = Dot::madd(acc[i][0], pj, v0);
                acc[i][1] = Dot::madd(acc[i][1], pj, v1);
                acc[i][2] = Dot::madd(acc[i][2], pj, v2);
                acc[i][3] = Dot::madd(acc[i][3], pj, v3);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            float* orow = o + static_cast<size_t>(r0 + i) * hdp + cv0;
            for (int c = 0; c < 4; c++)
                if (vm[c]) _mm512_store_ps(orow + 16 * c, acc[i][c]);
        }
    }
}

/// Walks a task's R = n_pos·G query rows over its key tiles: for each tile of k_attn_tile keys
/// from the first one a query of the task sees (sliding window: earlier tiles hold no visible
/// key), tile(t0) once, then block.template operator()<M>(r0, t0, nk) for each block of M <= MR
/// rows from r0 that sees a key of it (nk: keys of the tile up to the task's last position).
template <int MR, class Tile, class Block>
inline void attention_blocks(const AttnTask& t, int R, Tile tile, Block block) {
    constexpr int bk = k_attn_tile;
    const int last = t.pos_first + t.n_pos - 1;
    const int first = attention_first_key(t, t.pos_first) / bk * bk;
    for (int t0 = first; t0 <= last; t0 += bk) {
        const int nk = std::min(bk, last + 1 - t0);
        tile(t0);
        for (int r0 = 0; r0 < R; r0 += MR) {
            const int rows = std::min(MR, R - r0);
            if (t.pos_first + (r0 + rows - 1) / t.group < t0) continue;  // all rows before the tile
            if (attention_first_key(t, t.pos_first + r0 / t.group) >= t0 + nk) continue;  // all rows' windows after it
            with_rows<MR>(rows, [&]<int M>() { block.template operator()<M>(r0, t0, nk); });
        }
    }
}

/// Flash-attention epilogue shared by the f32 and bf16 tile kernels: output row r (query r / G,
/// head r % G of the task) = O[r] / l[r], for the task's `rows` rows (O rows `hdp` apart).
inline void attention_write_out(const AttnTask& t, int rows, const float* o, int hdp, const float* l) {
    const int hd = t.head_dim;
    for (int r = 0; r < rows; r++) {
        const __m512 inv = _mm512_set1_ps(1.f / l[r]);
        const float* orow = o + static_cast<size_t>(r) * hdp;
        float* dst = t.out + static_cast<size_t>(r / t.group) * t.ldo + static_cast<size_t>(r % t.group) * hd;
        for (int c = 0; c < hd; c += 16)
            _mm512_mask_storeu_ps(dst + c, count_mask(hd - c), _mm512_mul_ps(inv, _mm512_load_ps(orow + c)));
    }
}

}  // namespace
}  // namespace rb::cpu::detail
