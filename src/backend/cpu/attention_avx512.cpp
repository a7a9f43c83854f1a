// AVX-512 flash-attention tile kernel (compiled with -mavx512f/bw/vl/dq -mfma for this file only).
// One task = the R = n_pos*G query rows of one KV group. For each tile of 64 keys the keys are
// transposed once into Kt [hd][64]; then for each block of 6 rows:
//   S[6, 64]  = Q[6, hd] · Kt            24 zmm accumulators, exact causal mask per row
//   online softmax in registers (vectorised exp), P[6, 64] kept in L1
//   O[6, hd] = O·corr + P · V[64, hd]    hd in chunks of 64 (4 zmm per row), masked tails
// Any head_dim works (tails masked); rows never depend on other rows or on the thread split.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/exp_avx512.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

constexpr int k_bk = k_attn_tile;  // keys per tile
constexpr int k_mr = 6;   // query rows per register block



struct Ctx {
    const AttnTask* t;
    int rows;        // R
    int hdp;         // head_dim rounded up to 16 (row stride of O)
    const float* kt; // [hd][k_bk] of the current key tile
    float* o;        // [R][hdp]
    float* m;        // [R] running max
    float* l;        // [R] running sum
    float* p;        // [k_mr][k_bk]
};

template <int M>
void block(const Ctx& x, int r0, int t0, int nk) {
    const AttnTask& t = *x.t;
    const int hd = t.head_dim, G = t.group;
    const float* qp[M];
    int lim[M], lo[M];
    block_rows<M>(t, r0, lim, lo);
#pragma GCC unroll 8
    for (int i = 0; i < M; i++)
        qp[i] = t.q + static_cast<size_t>((r0 + i) / G) * t.ldq + static_cast<size_t>((r0 + i) % G) * hd;
    __m512 s[M][4];
    attention_scores<F32Dot, M>(qp, hd, x.kt, s);  // S = Q · Kt
    // Online softmax, one row at a time (all in registers).
    const __m512 scale = _mm512_set1_ps(t.scale);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    float corr[M];
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
        const int r = r0 + i;
        __mmask16 mk[4];
        visible_masks(lim[i], lo[i], t0, nk, mk);
        __m512 z[4];
        for (int v = 0; v < 4; v++) z[v] = _mm512_mask_mul_ps(ninf, mk[v], s[i][v], scale);
        const float tmax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(z[0], z[1]), _mm512_max_ps(z[2], z[3])));
        const float m_old = x.m[r];
        const float m_new = std::max(m_old, tmax);
        if ((mk[0] | mk[1] | mk[2] | mk[3]) == 0 || m_new == -INFINITY) {  // no visible key in this tile for this row
            corr[i] = 1.f;
            for (int v = 0; v < 4; v++) _mm512_store_ps(x.p + i * k_bk + 16 * v, _mm512_setzero_ps());
            continue;
        }
        corr[i] = m_old == -INFINITY ? 0.f : std::exp(m_old - m_new);
        const __m512 mn = _mm512_set1_ps(m_new);
        __m512 sum = _mm512_setzero_ps();
        for (int v = 0; v < 4; v++) {
            const __m512 pv = _mm512_maskz_mov_ps(mk[v], exp512(_mm512_sub_ps(z[v], mn)));
            sum = _mm512_add_ps(sum, pv);
            _mm512_store_ps(x.p + i * k_bk + 16 * v, pv);
        }
        x.l[r] = x.l[r] * corr[i] + _mm512_reduce_add_ps(sum);
        x.m[r] = m_new;
    }
    // O = O·corr + P · V, one key per step.
    const int jmax = std::clamp(lim[M - 1] - t0 + 1, 0, nk);
    attention_pv<F32Dot, M>(x.o, x.hdp, hd, r0, corr, jmax, x.p, k_bk, t.v + static_cast<size_t>(t0) * hd, hd);
}

void task(const AttnTask& t) {
    static thread_local AlignedBuf<float> o_buf, m_buf, l_buf, p_buf;
    const int hd = t.head_dim;
    const int R = t.n_pos * t.group;
    Ctx x;
    x.t = &t;
    x.rows = R;
    x.hdp = (hd + 15) / 16 * 16;
    x.o = o_buf.get(static_cast<size_t>(R) * x.hdp);
    x.m = m_buf.get(R);
    x.l = l_buf.get(R);
    x.p = p_buf.get(k_mr * k_bk);
    std::fill(x.o, x.o + static_cast<size_t>(R) * x.hdp, 0.f);
    std::fill(x.m, x.m + R, -INFINITY);
    std::fill(x.l, x.l + R, 0.f);

    attention_blocks<k_mr>(
        t, R, [&](int t0) { x.kt = t.kt + static_cast<size_t>(t0 / k_bk) * hd * k_bk; },  // Kt[c][j] = K[t0 + j][c]
        [&]<int M>(int r0, int t0, int nk) { block<M>(x, r0, t0, nk); });
    attention_write_out(t, R, x.o, x.hdp, x.l);
}

// One tile of keys K[nk, hd] (row stride hd) -> Kt[hd][k_bk], zero for keys >= nk: 16x16 blocks
// transposed in registers (unpack, shuffle, 128-bit lane shuffles).
void transpose_tile(const float* k, int nk, int hd, float* dst) {
    for (int cb = 0; cb < hd; cb += 16) {
        const __mmask16 cm = count_mask(hd - cb);
        for (int jb = 0; jb < k_bk; jb += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = jb + i < nk ? _mm512_maskz_loadu_ps(cm, k + static_cast<size_t>(jb + i) * hd + cb) : _mm512_setzero_ps();
            __m512 t[16], u[16];
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            // u[4q + c]: per 128-bit lane L, column 4L + c of rows 4q .. 4q+3.
            for (int q = 0; q < 4; q++) {
                u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
                u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
                u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
                u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
            }
            const int cols = std::min(16, hd - cb);
            for (int c = 0; c < 4; c++) {
                const __m512 v = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), v2 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
                const __m512 x = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88),
                             x2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
                const __m512 col[4] = {_mm512_shuffle_f32x4(v, x, 0x88), _mm512_shuffle_f32x4(v2, x2, 0x88),
                                       _mm512_shuffle_f32x4(v, x, 0xDD), _mm512_shuffle_f32x4(v2, x2, 0xDD)};
                for (int e = 0; e < 4; e++) {  // column c + 4e of the block
                    const int cc = c + 4 * e;
                    if (cc < cols) _mm512_store_ps(dst + static_cast<size_t>(cb + cc) * k_bk + jb, col[e]);
                }
            }
        }
    }
}

}  // namespace

AttnFn attention_kernel_avx512() { return task; }
AttnTransposeFn attention_transpose_avx512() { return transpose_tile; }

}  // namespace rb::cpu::detail
