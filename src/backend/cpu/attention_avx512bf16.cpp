// bf16 flash-attention tile kernel (compiled with -mavx512bf16 for this file only), used when
// the model runs in bf16 (weights and activations, as TinyLlama's own dtype): the same tiling
// and online softmax as attention_avx512.cpp, but both products use vdpbf16ps with f32
// accumulation, on Q, K, V and P rounded to bf16 (round to nearest even):
//   S[6, 64]  = Q2[6, hd/2] · Kt2            Kt2 [hd/2][64]: pairs (K[j][2c], K[j][2c+1])
//   O[6, hd] += P2[6, 32] · V2               V2 [32][hd]: pairs (V[2p][c], V[2p+1][c])
// The scores, the softmax and O stay f32. Requires an even head_dim (attention.cpp checks).
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
constexpr int k_mr = 6;            // query rows per register block



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
    const uint32_t* q2;  // [R][hp]
    const uint32_t* kt;  // [hp][k_bk] of the current key tile
    const uint32_t* v2;  // [k_bk/2][hdp] of the current key tile
    float* o;            // [R][hdp]
    float* m;            // [R] running max
    float* l;            // [R] running sum
    uint32_t* p2;        // [k_mr][k_bk/2]
};

template <int M>
void block(const Ctx& x, int r0, int t0, int nk) {
    const AttnTask& t = *x.t;
    const int G = t.group;
    const uint32_t* qp[M];
    int lim[M], lo[M];
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
        qp[i] = x.q2 + static_cast<size_t>(r0 + i) * x.hp;
        lim[i] = t.pos_first + (r0 + i) / G;
        lo[i] = attention_first_key(t, lim[i]);
    }
    __m512 s[M][4];
#pragma GCC unroll 8
    for (int i = 0; i < M; i++)
        for (int v = 0; v < 4; v++) s[i][v] = _mm512_setzero_ps();
    const uint32_t* kt = x.kt;
    for (int c = 0; c < x.hp; c++, kt += k_bk) {
        const __m512bh k0 = (__m512bh)_mm512_load_si512(kt), k1 = (__m512bh)_mm512_load_si512(kt + 16),
                       k2 = (__m512bh)_mm512_load_si512(kt + 32), k3 = (__m512bh)_mm512_load_si512(kt + 48);
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(qp[i][c]));
            s[i][0] = _mm512_dpbf16_ps(s[i][0], a, k0);
            s[i][1] = _mm512_dpbf16_ps(s[i][1], a, k1);
            s[i][2] = _mm512_dpbf16_ps(s[i][2], a, k2);
            s[i][3] = _mm512_dpbf16_ps(s[i][3], a, k3);
        }
    }
    const __m512 scale = _mm512_set1_ps(t.scale);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    float corr[M];
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
        const int r = r0 + i;
        const int valid = std::clamp(lim[i] - t0 + 1, 0, nk);  // keys t0 .. t0+valid-1 are not in the future
        const int below = std::clamp(lo[i] - t0, 0, nk);          // keys t0 .. t0+below-1 are out of the window
        __mmask16 mk[4];
        __m512 z[4];
        for (int v = 0; v < 4; v++) {
            mk[v] = count_mask(valid - 16 * v) & static_cast<__mmask16>(~count_mask(below - 16 * v));
            z[v] = _mm512_mask_mul_ps(ninf, mk[v], s[i][v], scale);
        }
        const float tmax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(z[0], z[1]), _mm512_max_ps(z[2], z[3])));
        const float m_old = x.m[r];
        const float m_new = std::max(m_old, tmax);
        uint32_t* p2 = x.p2 + i * (k_bk / 2);
        if (valid <= below || m_new == -INFINITY) {
            corr[i] = 1.f;
            _mm512_store_si512(p2, _mm512_setzero_si512());
            _mm512_store_si512(p2 + 16, _mm512_setzero_si512());
            continue;
        }
        corr[i] = m_old == -INFINITY ? 0.f : std::exp(m_old - m_new);
        const __m512 mn = _mm512_set1_ps(m_new);
        __m512 sum = _mm512_setzero_ps();
        __m512 pv[4];
        for (int v = 0; v < 4; v++) {
            pv[v] = _mm512_maskz_mov_ps(mk[v], exp512(_mm512_sub_ps(z[v], mn)));
            sum = _mm512_add_ps(sum, pv[v]);
        }
        // P as key pairs; the running sum uses the f32 values (the rounding of P to bf16 is
        // the only change against the f32 kernel, |δp| <= 2^-9 p).
        _mm512_store_si512(p2, (__m512i)_mm512_cvtne2ps_pbh(pv[1], pv[0]));
        _mm512_store_si512(p2 + 16, (__m512i)_mm512_cvtne2ps_pbh(pv[3], pv[2]));
        x.l[r] = x.l[r] * corr[i] + _mm512_reduce_add_ps(sum);
        x.m[r] = m_new;
    }
    const int jmax = std::clamp(lim[M - 1] - t0 + 1, 0, nk);
    const int jpmax = (jmax + 1) / 2;
    for (int cv0 = 0; cv0 < x.hdp; cv0 += 64) {
        __mmask16 vm[4];
        for (int v = 0; v < 4; v++) vm[v] = count_mask(t.head_dim - cv0 - 16 * v);
        __m512 acc[M][4];
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            const __m512 cr = _mm512_set1_ps(corr[i]);
            float* orow = x.o + static_cast<size_t>(r0 + i) * x.hdp + cv0;
            for (int v = 0; v < 4; v++)
                acc[i][v] = vm[v] ? _mm512_mul_ps(cr, _mm512_load_ps(orow + 16 * v)) : _mm512_setzero_ps();
        }
        const uint32_t* vr = x.v2 + cv0;
        for (int jp = 0; jp < jpmax; jp++, vr += x.hdp) {
            const __m512bh v0 = (__m512bh)_mm512_maskz_loadu_epi32(vm[0], vr),
                           v1 = (__m512bh)_mm512_maskz_loadu_epi32(vm[1], vr + 16),
                           v2 = (__m512bh)_mm512_maskz_loadu_epi32(vm[2], vr + 32),
                           v3 = (__m512bh)_mm512_maskz_loadu_epi32(vm[3], vr + 48);
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) {
                const __m512bh pj = (__m512bh)_mm512_set1_epi32(static_cast<int>(x.p2[i * (k_bk / 2) + jp]));
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], pj, v0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], pj, v1);
                acc[i][2] = _mm512_dpbf16_ps(acc[i][2], pj, v2);
                acc[i][3] = _mm512_dpbf16_ps(acc[i][3], pj, v3);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            float* orow = x.o + static_cast<size_t>(r0 + i) * x.hdp + cv0;
            for (int v = 0; v < 4; v++)
                if (vm[v]) _mm512_store_ps(orow + 16 * v, acc[i][v]);
        }
    }
}

// V2[p][c] = bf16(V[t0+2p][c]) | bf16(V[t0+2p+1][c]) << 16 for the nk keys of the tile (zero past them).
void pack_v_tile(const float* v, int nk, int hd, int hdp, uint32_t* dst) {
    alignas(64) static const uint16_t k_idx[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                  8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_load_si512(k_idx);
    for (int p = 0; p < k_bk / 2; p++) {
        const int j0 = 2 * p, j1 = 2 * p + 1;
        for (int c0 = 0; c0 < hdp; c0 += 16) {
            const __mmask16 cm = count_mask(hd - c0);
            const __m512 a = j0 < nk ? _mm512_maskz_loadu_ps(cm, v + static_cast<size_t>(j0) * hd + c0) : _mm512_setzero_ps();
            const __m512 b = j1 < nk ? _mm512_maskz_loadu_ps(cm, v + static_cast<size_t>(j1) * hd + c0) : _mm512_setzero_ps();
            const __m512i ab = _mm512_inserti64x4(_mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(a)),
                                                  (__m256i)_mm512_cvtneps_pbh(b), 1);
            _mm512_store_si512(dst + static_cast<size_t>(p) * hdp + c0, _mm512_permutexvar_epi16(idx, ab));
        }
    }
}

void task(const AttnTask& t) {
    static thread_local AlignedBuf<uint32_t> q_buf, v_buf, p2_buf;
    static thread_local AlignedBuf<float> o_buf, m_buf, l_buf;
    const int hd = t.head_dim;
    const int R = t.n_pos * t.group;
    Ctx x;
    x.t = &t;
    x.hp = hd / 2;
    x.hdp = (hd + 15) / 16 * 16;
    uint32_t* q2 = q_buf.get(static_cast<size_t>(R) * x.hp + 16);
    for (int r = 0; r < R; r++)
        to_pairs(t.q + static_cast<size_t>(r / t.group) * t.ldq + static_cast<size_t>(r % t.group) * hd, hd,
                 q2 + static_cast<size_t>(r) * x.hp);
    x.q2 = q2;
    uint32_t* v2 = v_buf.get(static_cast<size_t>(k_bk / 2) * x.hdp);
    x.v2 = v2;
    x.o = o_buf.get(static_cast<size_t>(R) * x.hdp);
    x.m = m_buf.get(R);
    x.l = l_buf.get(R);
    x.p2 = p2_buf.get(k_mr * k_bk / 2);
    std::fill(x.o, x.o + static_cast<size_t>(R) * x.hdp, 0.f);
    std::fill(x.m, x.m + R, -INFINITY);
    std::fill(x.l, x.l + R, 0.f);

    const int last = t.pos_first + t.n_pos - 1;
    // Sliding window: tiles wholly before the first query's window hold no visible key.
    const int first = attention_first_key(t, t.pos_first) / k_bk * k_bk;
    for (int t0 = first; t0 <= last; t0 += k_bk) {
        const int nk = std::min(k_bk, last + 1 - t0);
        x.kt = reinterpret_cast<const uint32_t*>(t.kt) + static_cast<size_t>(t0 / k_bk) * x.hp * k_bk;
        pack_v_tile(t.v + static_cast<size_t>(t0) * hd, nk, hd, x.hdp, v2);
        for (int r0 = 0; r0 < R; r0 += k_mr) {
            const int rows = std::min(k_mr, R - r0);
            if (t.pos_first + (r0 + rows - 1) / t.group < t0) continue;
            if (attention_first_key(t, t.pos_first + r0 / t.group) >= t0 + nk) continue;  // all before the window
            switch (rows) {
                case 1: block<1>(x, r0, t0, nk); break;
                case 2: block<2>(x, r0, t0, nk); break;
                case 3: block<3>(x, r0, t0, nk); break;
                case 4: block<4>(x, r0, t0, nk); break;
                case 5: block<5>(x, r0, t0, nk); break;
                default: block<6>(x, r0, t0, nk); break;
            }
        }
    }
    attention_write_out(t, R, x.o, x.hdp, x.l);
}

// K tile -> bf16 pairs per key row, then the 32-bit transpose of attention_avx512.cpp:
// dst [hd/2][k_bk] of pairs (bits stored in a float array).
void transpose_tile_bf16(const float* k, int nk, int hd, float* dst) {
    static thread_local AlignedBuf<uint32_t> rows;
    const int hp = hd / 2;
    uint32_t* tmp = rows.get(static_cast<size_t>(k_bk) * hp + 16);
    for (int j = 0; j < nk; j++) to_pairs(k + static_cast<size_t>(j) * hd, hd, tmp + static_cast<size_t>(j) * hp);
    attention_transpose_avx512()(reinterpret_cast<const float*>(tmp), nk, hp, dst);
}

}  // namespace

AttnFn attention_kernel_avx512bf16() { return task; }
AttnTransposeFn attention_transpose_avx512bf16() { return transpose_tile_bf16; }

}  // namespace rb::cpu::detail
