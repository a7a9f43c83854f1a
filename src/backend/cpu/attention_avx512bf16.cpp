// bf16 flash-attention tile kernel (compiled with -mavx512bf16 for this file only), used when
// the model runs in bf16 (weights and activations, as TinyLlama's own dtype): the same tiling
// and online softmax as attention_avx512.cpp, but both products use vdpbf16ps with f32
// accumulation, on Q, K, V and P rounded to bf16 (round to nearest even):
//   S[6, 64]  = Q2[6, hd/2] · Kt2            Kt2 [hd/2][64]: pairs (K[j][2c], K[j][2c+1])
//   O[6, hd] += P2[6, 32] · V2               V2 [32][hd]: pairs (V[2p][c], V[2p+1][c])
// K and V are read from the bf16 tile cache (kernels.h, detail::bf16 cache layout), which
// store_kv_bf16 below writes once per key, so no tile is converted again per query block.
// The scores, the softmax and O stay f32. The softmax works in base 2 with the scale folded
// into one FMA (p = 2^(s·scale·log2 e - m)), keeps the running sums as 16-lane vectors (one
// horizontal sum per row at the end) and computes the M rows' corrections in one vector
// exp2, without a library call inside the register block. Requires an even head_dim.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_bk = k_attn_tile;  // keys per tile
constexpr int k_mr = 6;            // query rows per register block



// 2^x for x <= ~0 (the softmax's shifted scores; -inf and x < -150 give 0): 2^n · 2^r with
// n = round(x), |r| <= 1/2, a degree-5 polynomial (least squares in relative error on Chebyshev
// nodes, coefficients rounded to f32; evaluated in f32 its relative error is < 2.3e-7 on a 2e5-point
// grid of [-1/2, 1/2], next to the 2^-9 of P's rounding to bf16), vscalefps applies 2^n (underflow
// to 0). The attention tests check the kernel against the double reference.
inline __m512 exp2_nonpos(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-150.f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(0.0013266970636323094f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.009675459936261177f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.05550742521882057f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.24022121727466583f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.6931469440460205f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0000001192092896f));
    return _mm512_scalef_ps(p, n);
}

// One row of n f32 values -> n/2 bf16 pairs (dst[c] = bf16(x[2c]) | bf16(x[2c+1]) << 16), n even.
inline void to_pairs(const float* x, int n, uint32_t* dst) {
    for (int c0 = 0; c0 < n; c0 += 32) {
        const __m512 lo = _mm512_maskz_loadu_ps(count_mask(n - c0), x + c0);
        const __m512 hi = _mm512_maskz_loadu_ps(count_mask(n - c0 - 16), x + c0 + 16);
        _mm512_mask_storeu_epi32(dst + c0 / 2, count_mask((n - c0) / 2), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

struct Ctx {
    const AttnTask* t;
    int hp;              // head_dim / 2
    int hdp;             // head_dim rounded up to 16 (row stride of O and V2)
    float c2;            // scale · log2(e)
    const uint32_t* q2;  // [R][hp]
    const uint32_t* kt;  // [hp][k_bk] of the current key tile
    const uint32_t* v2;  // [k_bk/2][hdp] of the current key tile
    float* o;            // [R][hdp]
    float* m;            // [R] running max of s·c2 (-inf before the first visible key)
    float* l;            // [R][16] running sums, lane-wise
    uint32_t* p2;        // [k_mr][k_bk/2]
};

template <int M>
void block(const Ctx& x, int r0, int t0, int nk) {
    const AttnTask& t = *x.t;
    const uint32_t* qp[M];
    int lim[M], lo[M];
    block_rows<M>(t, r0, lim, lo);
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) qp[i] = x.q2 + static_cast<size_t>(r0 + i) * x.hp;
    __m512 s[M][4];
    attention_scores<Bf16Dot, M>(qp, x.hp, x.kt, s);  // S = Q2 · Kt2
    // Row maxima of the visible scores (masked lanes: -inf; unread cache lanes never count).
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __mmask16 mk[M][4];
    // Lane i = row i's maximum, gathered in a register: six scalar stores read back as one vector
    // would stall on store-to-load forwarding.
    __m512 tmax = ninf;
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
        visible_masks(lim[i], lo[i], t0, nk, mk[i]);
        __m512 mx = _mm512_mask_mov_ps(ninf, mk[i][0], s[i][0]);
        for (int v = 1; v < 4; v++) mx = _mm512_mask_max_ps(mx, mk[i][v], mx, s[i][v]);
        tmax = _mm512_mask_mov_ps(tmax, static_cast<__mmask16>(1u << i), _mm512_set1_ps(_mm512_reduce_max_ps(mx)));
    }
    // New maxima (in units of s·c2, c2 > 0 keeps the order) and the corrections 2^(m_old - m_new)
    // of the M rows in one vector: 0 where the row had no visible key yet, 1 where it still has none.
    const __m512 c2 = _mm512_set1_ps(x.c2);
    const __mmask16 rows = count_mask(M);
    const __m512 m_old = _mm512_maskz_loadu_ps(rows, x.m + r0);
    const __m512 m_new = _mm512_max_ps(m_old, _mm512_mul_ps(tmax, c2));
    __m512 corr = exp2_nonpos(_mm512_sub_ps(m_old, m_new));
    corr = _mm512_mask_mov_ps(corr, _mm512_cmp_ps_mask(m_old, ninf, _CMP_EQ_OQ), _mm512_setzero_ps());
    corr = _mm512_mask_mov_ps(corr, _mm512_cmp_ps_mask(m_new, ninf, _CMP_EQ_OQ), _mm512_set1_ps(1.f));
    _mm512_mask_storeu_ps(x.m + r0, rows, m_new);
    alignas(64) float corr_a[16], mn_a[16];
    _mm512_store_ps(corr_a, corr);
    _mm512_store_ps(mn_a, m_new);
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
        // p = 2^(s·c2 - m_new) on the visible lanes, 0 elsewhere (also for rows with none visible).
        const __m512 mn = _mm512_set1_ps(mn_a[i]);
        __m512 pv[4];
        for (int v = 0; v < 4; v++)
            pv[v] = _mm512_maskz_mov_ps(mk[i][v], exp2_nonpos(_mm512_fmsub_ps(s[i][v], c2, mn)));
        // P as key pairs; the running sums use the f32 values (the rounding of P to bf16 is
        // the only change against the f32 kernel, |δp| <= 2^-9 p).
        uint32_t* p2 = x.p2 + i * (k_bk / 2);
        _mm512_store_si512(p2, (__m512i)_mm512_cvtne2ps_pbh(pv[1], pv[0]));
        _mm512_store_si512(p2 + 16, (__m512i)_mm512_cvtne2ps_pbh(pv[3], pv[2]));
        float* lrow = x.l + static_cast<size_t>(r0 + i) * 16;
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(pv[0], pv[1]), _mm512_add_ps(pv[2], pv[3]));
        _mm512_store_ps(lrow, _mm512_fmadd_ps(_mm512_load_ps(lrow), _mm512_set1_ps(corr_a[i]), sum));
    }
    const int jmax = std::clamp(lim[M - 1] - t0 + 1, 0, nk);
    // O = O·corr + P · V, one key pair per step.
    const int jpmax = (jmax + 1) / 2;
    attention_pv<Bf16Dot, M>(x.o, x.hdp, t.head_dim, r0, corr_a, jpmax, x.p2, k_bk / 2, x.v2, x.hdp);
}

void task(const AttnTask& t) {
    static thread_local AlignedBuf<uint32_t> q_buf, p2_buf;
    static thread_local AlignedBuf<float> o_buf, m_buf, l_buf, lsum_buf;
    const int hd = t.head_dim;
    const int R = t.n_pos * t.group;
    Ctx x;
    x.t = &t;
    x.hp = hd / 2;
    x.hdp = bf16_cache_hdp(hd);
    x.c2 = t.scale * 1.44269504088896341f;
    uint32_t* q2 = q_buf.get(static_cast<size_t>(R) * x.hp + 16);
    for (int r = 0; r < R; r++)
        to_pairs(t.q + static_cast<size_t>(r / t.group) * t.ldq + static_cast<size_t>(r % t.group) * hd, hd,
                 q2 + static_cast<size_t>(r) * x.hp);
    x.q2 = q2;
    x.o = o_buf.get(static_cast<size_t>(R) * x.hdp);
    x.m = m_buf.get(R + 16);
    x.l = l_buf.get(static_cast<size_t>(R) * 16);
    x.p2 = p2_buf.get(k_mr * k_bk / 2);
    std::fill(x.o, x.o + static_cast<size_t>(R) * x.hdp, 0.f);
    std::fill(x.m, x.m + R, -INFINITY);
    std::fill(x.l, x.l + static_cast<size_t>(R) * 16, 0.f);

    const auto* kc = reinterpret_cast<const uint32_t*>(t.kt);
    const auto* vc = reinterpret_cast<const uint32_t*>(t.v);
    const size_t tile_u32 = bf16_cache_tile_u32(hd);
    attention_blocks<k_mr>(
        t, R,
        [&](int t0) {
            x.kt = kc + static_cast<size_t>(t0 / k_bk) * tile_u32;
            x.v2 = vc + static_cast<size_t>(t0 / k_bk) * tile_u32;
        },
        [&]<int M>(int r0, int t0, int nk) { block<M>(x, r0, t0, nk); });
    float* lsum = lsum_buf.get(R);
    for (int r = 0; r < R; r++) lsum[r] = _mm512_reduce_add_ps(_mm512_load_ps(x.l + static_cast<size_t>(r) * 16));
    attention_write_out(t, R, x.o, x.hdp, lsum);
}

// Writes key/value rows p = pos0 .. pos0+n-1 of one KV head into its tiles (layout in kernels.h);
// zeroes a tile when its first key is stored, so lanes past the last stored key hold zeros.
void store_head(const float* k, int ldk, const float* v, int ldv, int n, int pos0, uint32_t* kc, uint32_t* vc, int hd) {
    const int hdp = bf16_cache_hdp(hd);
    const size_t tile_u32 = bf16_cache_tile_u32(hd);
    alignas(64) uint32_t kp[128];
    alignas(64) uint16_t vb[256];
    for (int i = 0; i < n; i++) {
        const int p = pos0 + i, j = p % k_bk;
        uint32_t* kt = kc + static_cast<size_t>(p / k_bk) * tile_u32;
        auto* vt = reinterpret_cast<uint16_t*>(vc + static_cast<size_t>(p / k_bk) * tile_u32);
        if (j == 0) {
            std::fill(kt, kt + tile_u32, 0u);
            std::fill(vt, vt + 2 * tile_u32, uint16_t(0));
        }
        const float* kr = k + static_cast<size_t>(i) * ldk;
        const float* vr = v + static_cast<size_t>(i) * ldv;
        for (int c0 = 0; c0 < hd; c0 += 256) {
            const int w = std::min(256, hd - c0);
            to_pairs(kr + c0, w, kp);
            for (int c = 0; c < w / 2; c++) kt[static_cast<size_t>(c0 / 2 + c) * k_bk + j] = kp[c];
            for (int c = 0; c < w; c += 16)
                _mm256_store_si256(reinterpret_cast<__m256i*>(vb + c),
                                   (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(count_mask(w - c), vr + c0 + c)));
            uint16_t* vrow = vt + static_cast<size_t>(j / 2) * hdp * 2 + (j & 1);
            for (int c = 0; c < w; c++) vrow[static_cast<size_t>(c0 + c) * 2] = vb[c];
        }
    }
}

}  // namespace

AttnFn attention_kernel_avx512bf16() { return task; }

void store_kv_bf16_avx512bf16(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache,
                              float* v_cache, int cap, int n_kv_heads, int head_dim) {
    const size_t head = bf16_cache_head_floats(cap, head_dim);
    for (int g = 0; g < n_kv_heads; g++)
        store_head(k + static_cast<size_t>(g) * head_dim, ldk, v + static_cast<size_t>(g) * head_dim, ldv, n, pos0,
                   reinterpret_cast<uint32_t*>(k_cache + g * head), reinterpret_cast<uint32_t*>(v_cache + g * head),
                   head_dim);
}

}  // namespace rb::cpu::detail
