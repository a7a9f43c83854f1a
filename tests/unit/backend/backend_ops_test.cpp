// Test bodies of the backend-ops test (see backend_ops.h): every Backend op against its scalar
// reference, one TEST_P per op. References: cpu::ref (the library's double-accumulated
// definitions of gemm, attention, per-head RMSNorm, swiglu and log-sum-exp) and, for the ops that have none
// there, the plain loops below. Tolerances are per op and dtype, derived next to each test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/test_util.h"
#include "unit/backend/backend_ops.h"
#include "unit/backend/round_bf16.h"

namespace rb::test {
namespace {

using backend::Backend;
using backend::WeightType;

const double k_u = std::ldexp(1.0, -24);  // f32 unit roundoff
const double k_u_bf16 = std::ldexp(1.0, -8);  // bf16 unit roundoff: 8-bit significand, round to nearest: 2^(1-8)/2

/// A backend buffer (freed with the test), filled from the host or left uninitialised.
class Buf {
public:
    Buf(Backend& be, size_t n) : m_be(be), m_n(n), m_p(be.alloc(n)) {}
    Buf(Backend& be, const std::vector<float>& v) : Buf(be, v.size()) { be.upload(m_p, v.data(), v.size()); }
    ~Buf() { m_be.release(m_p); }
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
    float* get() const { return m_p; }
    std::vector<float> host() const {
        std::vector<float> v(m_n);
        m_be.download(v.data(), m_p, m_n);
        return v;
    }

private:
    Backend& m_be;
    size_t m_n;
    float* m_p;
};

// ---- matmul ---------------------------------------------------------------------------------------

struct GemmShape {
    int m, n, k;
};

// Per-element tolerance of y = x · Wᵀ against the double reference on the weights the backend
// holds (bf16 tests pass bf16-representable W, so converting them is exact):
//  - f32 accumulation in any blocked order: the probabilistic bound λ·√k·u·Σ|x_p w_p|
//    (Higham & Mary 2019) with λ = 4, plus u·|ref| for rounding the result and 1e-6 near zero
//    (as in kernels_test.cpp);
//  - bf16 weights: the backend may also round x to bf16 (avx512bf16, cuda): each product changes
//    by at most k_u_bf16·|x_p w_p| = 2^-8·|x_p w_p| (bf16 × bf16 products are exact in f32), so
//    + 2^-8·Σ|x_p w_p|.
double gemm_tol(double ref, double mag, int k, WeightType wt) {
    double tol = 1e-6 + k_u * std::fabs(ref) + 4.0 * std::sqrt(static_cast<double>(k)) * k_u * mag;
    if (wt == WeightType::bf16) tol += k_u_bf16 * mag;
    return tol;
}

/// Reference y [m, n] and Σ|x w| [m, n] for x [m, k] (row stride ldx) and W [n, k].
void gemm_reference(const std::vector<float>& x, int m, int ldx, const std::vector<float>& w, int n, int k,
                    std::vector<float>* ref, std::vector<float>* mag) {
    ref->assign(static_cast<size_t>(m) * n, 0.f);
    mag->assign(ref->size(), 0.f);
    cpu::ref::gemm(x.data(), m, ldx, w.data(), n, k, ref->data(), n);
    std::vector<float> ax(x.size()), aw(w.size());
    for (size_t i = 0; i < x.size(); i++) ax[i] = std::fabs(x[i]);
    for (size_t i = 0; i < w.size(); i++) aw[i] = std::fabs(w[i]);
    cpu::ref::gemm(ax.data(), m, ldx, aw.data(), n, k, mag->data(), n);
}

void check_matmul(Backend& be, const GemmShape& c, WeightType wt) {
    const int ldx = c.k + 3, ldy = c.n + 5;
    auto x = random_vec(static_cast<size_t>(c.m) * ldx, 1000 + c.m * 7 + c.k);
    auto w = random_vec(static_cast<size_t>(c.n) * c.k, 2000 + c.n * 13 + c.k);
    if (wt == WeightType::bf16) w = round_bf16(w);
    auto mat = be.upload_matrix(w.data(), c.n, c.k, wt);
    ASSERT_EQ(mat->rows(), c.n);
    ASSERT_EQ(mat->cols(), c.k);
    ASSERT_EQ(mat->type(), wt);
    const float sentinel = 12345.f;
    Buf xb(be, x), yb(be, std::vector<float>(static_cast<size_t>(c.m) * ldy, sentinel));
    be.matmul(xb.get(), c.m, ldx, *mat, yb.get(), ldy);
    const auto y = yb.host();
    std::vector<float> ref, mag;
    gemm_reference(x, c.m, ldx, w, c.n, c.k, &ref, &mag);
    for (int i = 0; i < c.m; i++) {
        for (int j = 0; j < c.n; j++) {
            const size_t r = static_cast<size_t>(i) * c.n + j;
            const double got = y[static_cast<size_t>(i) * ldy + j];
            ASSERT_LE(std::fabs(got - ref[r]), gemm_tol(ref[r], mag[r], c.k, wt))
                << weight_type_name(wt) << " m=" << c.m << " n=" << c.n << " k=" << c.k << " at (" << i << ", " << j
                << "): got " << got << " want " << ref[r];
        }
        for (int j = c.n; j < ldy; j++)
            ASSERT_EQ(y[static_cast<size_t>(i) * ldy + j], sentinel) << "wrote past n at row " << i << " col " << j;
    }
}

const GemmShape k_gemm_shapes[] = {{1, 1, 1},    {2, 5, 3},    {7, 33, 17},  {33, 100, 257}, {1, 130, 513},
                                   {300, 64, 300}, {5, 47, 1030}, {600, 33, 40}, {20, 70, 4097}};

TEST_P(BackendOps, MatmulF32) {
    for (const auto& c : k_gemm_shapes) ASSERT_NO_FATAL_FAILURE(check_matmul(be(), c, WeightType::f32));
}

TEST_P(BackendOps, MatmulBf16) {
    for (const auto& c : k_gemm_shapes) ASSERT_NO_FATAL_FAILURE(check_matmul(be(), c, WeightType::bf16));
}

// ---- rmsnorm --------------------------------------------------------------------------------------

// y = x · r · g with r = 1/sqrt(mean(x²) + eps): the sum of squares in double (both backends),
// r rounded to f32 (u) and two f32 products (u each): |err| <= 3u·|ref| (+O(u²)); 4u allowed.
TEST_P(BackendOps, Rmsnorm) {
    for (int dim : {1, 7, 64, 1000, 4100})
        for (bool in_place : {false, true}) {
            const int n = 6;
            const float eps = 1e-5f;
            auto x = random_vec(static_cast<size_t>(n) * dim, 300 + dim, -2.f, 2.f);
            auto g = random_vec(dim, 400 + dim, 0.5f, 1.5f);
            Buf xb(be(), x), gb(be(), g), yb(be(), static_cast<size_t>(n) * dim);
            float* y = in_place ? xb.get() : yb.get();
            be().rmsnorm(xb.get(), gb.get(), y, n, dim, eps);
            const auto got = in_place ? xb.host() : yb.host();
            for (int i = 0; i < n; i++) {
                double ss = 0;
                for (int c = 0; c < dim; c++) ss += static_cast<double>(x[i * dim + c]) * x[i * dim + c];
                const double r = 1.0 / std::sqrt(ss / dim + eps);
                for (int c = 0; c < dim; c++) {
                    const double want = x[i * dim + c] * r * g[c];
                    ASSERT_LE(std::fabs(got[i * dim + c] - want), 1e-30 + 4 * k_u * std::fabs(want))
                        << "dim=" << dim << " in_place=" << in_place << " at (" << i << ", " << c << ")";
                }
            }
        }
}

// ---- rmsnorm_heads --------------------------------------------------------------------------------

// In place on each head of x[n, heads, hd] (row stride ldx); reference cpu::ref::rmsnorm_heads
// (double). The Rmsnorm bound: sum of squares in double, r and two products in f32: 3u·|ref|;
// 4u allowed. The row padding past the heads is untouched.
TEST_P(BackendOps, RmsnormHeads) {
    struct Case {
        int n, heads, head_dim;
    };
    for (const Case& c : {Case{1, 1, 1}, Case{5, 4, 16}, Case{7, 32, 128}, Case{3, 2, 256}, Case{300, 8, 64},
                          Case{2, 3, 96}}) {
        const int ldx = c.heads * c.head_dim + 5;
        const float eps = 1e-6f;
        auto x = random_vec(static_cast<size_t>(c.n) * ldx, 310 + c.head_dim, -2.f, 2.f);
        auto g = random_vec(c.head_dim, 410 + c.head_dim, 0.5f, 1.5f);
        Buf xb(be(), x), gb(be(), g);
        be().rmsnorm_heads(xb.get(), c.n, ldx, c.heads, c.head_dim, gb.get(), eps);
        const auto got = xb.host();
        auto want = x;
        cpu::ref::rmsnorm_heads(want.data(), c.n, ldx, c.heads, c.head_dim, g.data(), eps);
        for (size_t i = 0; i < got.size(); i++) {
            if (static_cast<int>(i % ldx) >= c.heads * c.head_dim) {
                ASSERT_EQ(got[i], x[i]) << "changed padding at row " << i / ldx << " col " << i % ldx;
                continue;
            }
            ASSERT_LE(std::fabs(got[i] - static_cast<double>(want[i])), 1e-30 + 4 * k_u * std::fabs(want[i]))
                << "n=" << c.n << " heads=" << c.heads << " hd=" << c.head_dim << " at row " << i / ldx << " col "
                << i % ldx << ": got " << got[i] << " want " << want[i];
        }
    }
}

// ---- add_bias -------------------------------------------------------------------------------------

// One f32 addition per element: exactly the host's x + b; the row padding past dim is untouched.
TEST_P(BackendOps, AddBias) {
    for (int n : {1, 7, 300})
        for (int dim : {1, 37, 5000}) {
            const int ldx = dim + 3;
            auto x = random_vec(static_cast<size_t>(n) * ldx, 320 + n + dim), b = random_vec(dim, 420 + dim, -5.f, 5.f);
            Buf xb(be(), x), bb(be(), b);
            be().add_bias(xb.get(), n, ldx, bb.get(), dim);
            const auto got = xb.host();
            for (int i = 0; i < n; i++)
                for (int c = 0; c < ldx; c++) {
                    const size_t at = static_cast<size_t>(i) * ldx + c;
                    ASSERT_EQ(got[at], c < dim ? x[at] + b[c] : x[at]) << "n=" << n << " dim=" << dim << " at (" << i
                                                                       << ", " << c << ")";
                }
        }
}

// ---- rope -----------------------------------------------------------------------------------------

// (a, b) -> (a c - b s, b c + a s) in f32 (contracted to FMA or not): each output within
// 2u·(sum of its two products' magnitudes) of the exact value; 4u allowed. Dimensions >= rot and the row padding past
// the heads are untouched.
TEST_P(BackendOps, Rope) {
    struct Case {
        int n, heads, head_dim, rot;
    };
    for (const Case& c : {Case{1, 1, 2, 2}, Case{5, 3, 16, 16}, Case{4, 4, 16, 8}, Case{7, 32, 64, 64},
                          Case{3, 2, 128, 32}, Case{300, 2, 8, 8}}) {
        const int ldx = c.heads * c.head_dim + 7, half = c.rot / 2;
        auto x = random_vec(static_cast<size_t>(c.n) * ldx, 500 + c.n + c.head_dim, -3.f, 3.f);
        auto ang = random_vec(static_cast<size_t>(c.n) * half, 600 + c.rot, -4.f, 4.f);
        std::vector<float> cs(ang.size()), sn(ang.size());
        for (size_t i = 0; i < ang.size(); i++) {
            cs[i] = static_cast<float>(1.3 * std::cos(ang[i]));  // an attention factor of 1.3 is folded in
            sn[i] = static_cast<float>(1.3 * std::sin(ang[i]));
        }
        Buf xb(be(), x), cb(be(), cs), sb(be(), sn);
        be().rope(xb.get(), c.n, ldx, c.heads, c.head_dim, c.rot, cb.get(), sb.get());
        const auto got = xb.host();
        for (int i = 0; i < c.n; i++)
            for (int e = 0; e < ldx; e++) {
                const size_t at = static_cast<size_t>(i) * ldx + e;
                const int h = e / c.head_dim, d = e % c.head_dim;
                if (h >= c.heads || d >= c.rot) {
                    ASSERT_EQ(got[at], x[at]) << "changed untouched element (" << i << ", " << e << ")";
                    continue;
                }
                const int j = d % half;
                const double a = x[at - d + j], b = x[at - d + j + half];
                const double co = cs[static_cast<size_t>(i) * half + j], si = sn[static_cast<size_t>(i) * half + j];
                const double want = d < half ? a * co - b * si : b * co + a * si;
                const double mag = d < half ? std::fabs(a * co) + std::fabs(b * si) : std::fabs(b * co) + std::fabs(a * si);
                const double tol = 1e-30 + 4 * k_u * mag;
                ASSERT_LE(std::fabs(got[at] - want), tol) << "n=" << c.n << " hd=" << c.head_dim << " rot=" << c.rot
                                                          << " at (" << i << ", " << e << "): got " << got[at]
                                                          << " want " << want;
            }
    }
}

// ---- attention ------------------------------------------------------------------------------------

struct AttnCase {
    int n, pos0, heads, kv_heads, head_dim;
    int window = 0;  // sliding window (0: none)
};

// Several query blocks, decoding rows (n = 1), GQA groups 1..8 (3 included), head dims from 6 to
// 256 (odd multiples of 4, past one key tile, padded tensor-core tiles).
const AttnCase k_attn_cases[] = {
    {1, 0, 4, 2, 8},      {1, 37, 4, 1, 16},    {5, 0, 4, 4, 16},    {70, 0, 8, 2, 8},   {33, 100, 32, 4, 64},
    {1, 300, 32, 4, 64},  {130, 70, 8, 1, 64},  {20, 10, 4, 2, 80},  {9, 60, 2, 1, 128}, {3, 0, 6, 3, 24},
    {65, 130, 16, 4, 64}, {7, 5, 4, 2, 6},      {40, 90, 6, 2, 32},  {4, 20, 2, 1, 256}, {200, 0, 8, 1, 64},
    {17, 3, 4, 1, 96},
    // Sliding windows: one key (itself), shorter than a key tile, straddling tiles, longer than
    // every row's history (no effect), decoding, GQA blocks whose rows start in different tiles.
    {200, 0, 8, 1, 64, 1}, {70, 0, 8, 2, 8, 16},  {33, 100, 32, 4, 64, 50}, {130, 70, 8, 1, 64, 100},
    {1, 300, 32, 4, 64, 64}, {9, 60, 2, 1, 128, 500}, {20, 10, 4, 2, 80, 7}, {4, 20, 2, 1, 256, 5},
    {65, 130, 16, 4, 64, 129}, {7, 5, 4, 2, 6, 3},
};

/// Positions 0 .. n-1 of a host cache [KV, cap, hd] as store_kv's rows [n, KV, hd].
std::vector<float> cache_rows(const std::vector<float>& cache, int cap, int KV, int hd, int n) {
    std::vector<float> rows(static_cast<size_t>(n) * KV * hd);
    for (int h = 0; h < KV; h++)
        for (int t = 0; t < n; t++)
            std::copy_n(cache.begin() + (static_cast<size_t>(h) * cap + t) * hd, hd,
                        rows.begin() + (static_cast<size_t>(t) * KV + h) * hd);
    return rows;
}

/// KV caches of `cap` positions on the backend, in store_kv's layout for `bf16`, filled with NaN
/// and then given positions 0 .. n_keys-1 of kc/vc ([KV, cap, hd] host) through store_kv, in
/// blocks of `blk` positions (as a prefill, then decoding, stores them).
struct KvCaches {
    Buf k, v;
    KvCaches(Backend& be, const std::vector<float>& kc, const std::vector<float>& vc, int cap, int KV, int hd,
             int n_keys, bool bf16, int blk)
        : k(be, std::vector<float>(be.kv_cache_floats(cap, KV, hd, bf16), NAN)),
          v(be, std::vector<float>(be.kv_cache_floats(cap, KV, hd, bf16), NAN)) {
        if (n_keys <= 0) return;
        Buf kb(be, cache_rows(kc, cap, KV, hd, n_keys)), vb(be, cache_rows(vc, cap, KV, hd, n_keys));
        for (int b = 0; b < n_keys; b += blk) {
            const size_t off = static_cast<size_t>(b) * KV * hd;
            be.store_kv(kb.get() + off, KV * hd, vb.get() + off, KV * hd, std::min(blk, n_keys - b), b, k.get(), v.get(),
                        cap, KV, hd, bf16);
        }
    }
};

void check_attention(Backend& be, const AttnCase& c, bool bf16) {
    const int cap = c.pos0 + c.n + 3;
    const int ldq = c.heads * c.head_dim + 2, ldo = c.heads * c.head_dim + 5;
    auto q = random_vec(static_cast<size_t>(c.n) * ldq, 31 + c.n, -3.f, 3.f);
    auto kc = random_vec(static_cast<size_t>(c.kv_heads) * cap * c.head_dim, 41 + c.pos0);
    auto vc = random_vec(static_cast<size_t>(c.kv_heads) * cap * c.head_dim, 51 + c.head_dim);
    if (bf16) {
        q = round_bf16(q);
        kc = round_bf16(kc);
        vc = round_bf16(vc);
    }
    // The cache past pos0 + n holds NaN: a backend that reads it into a product that should be
    // masked away (0 · NaN) fails.
    for (int h = 0; h < c.kv_heads; h++)
        for (int t = c.pos0 + c.n; t < cap; t++)
            for (int d = 0; d < c.head_dim; d++) {
                kc[(static_cast<size_t>(h) * cap + t) * c.head_dim + d] = NAN;
                vc[(static_cast<size_t>(h) * cap + t) * c.head_dim + d] = NAN;
            }
    const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
    const float sentinel = -777.f;
    // Keys stored through store_kv: the prompt's in blocks of 64, then this call's block.
    const KvCaches kv(be, kc, vc, cap, c.kv_heads, c.head_dim, c.pos0 + c.n, bf16, c.pos0 > 0 ? 64 : c.n);
    Buf qb(be, q), ob(be, std::vector<float>(static_cast<size_t>(c.n) * ldo, sentinel));
    be.attention(qb.get(), ldq, c.n, c.pos0, kv.k.get(), kv.v.get(), cap, c.heads, c.kv_heads, c.head_dim, scale,
                 ob.get(), ldo, bf16, c.window);
    const auto out = ob.host();
    std::vector<float> ref(out.size(), sentinel);
    cpu::ref::attention(q.data(), ldq, c.n, c.pos0, kc.data(), vc.data(), cap, c.heads, c.kv_heads, c.head_dim, scale,
                        ref.data(), ldo, c.window);
    // f32: outputs are softmax-weighted means of V in [-1, 1]; scores are f32 dot products (error
    // <= hd·u·|q||k|·scale ~ 1e-5 with |q| <= 3), exp within a few ulp, sums over <= 500 keys in
    // f32: below 5e-5 + 1e-4·|ref| (the cpu kernels' tolerance, kernels_test.cpp).
    // bf16: on bf16 inputs (rounded above, so Q·Kᵀ is exact up to f32 accumulation) the backend may
    // round P to bf16 too: |δp_j| <= 2^-8 p_j (bf16 unit roundoff), so |δo| <= 2^-8 Σ p_j |v_j| / Σ p_j
    // <= 2^-8 max|v| = 2^-8; with the f32 terms, 4e-3 > 2^-8 + 5e-5.
    for (size_t i = 0; i < out.size(); i++) {
        const double tol = bf16 ? 4e-3 : 5e-5 + 1e-4 * std::fabs(ref[i]);
        ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), tol)
            << (bf16 ? "bf16" : "f32") << " n=" << c.n << " pos0=" << c.pos0 << " H=" << c.heads << " KV=" << c.kv_heads
            << " hd=" << c.head_dim << " window=" << c.window << " at row " << i / ldo << " col " << i % ldo << ": got " << out[i] << " want "
            << ref[i];
    }
}

TEST_P(BackendOps, AttentionF32) {
    for (const auto& c : k_attn_cases) ASSERT_NO_FATAL_FAILURE(check_attention(be(), c, false));
}

TEST_P(BackendOps, AttentionBf16) {
    for (const auto& c : k_attn_cases) ASSERT_NO_FATAL_FAILURE(check_attention(be(), c, true));
}

// A long causal prefill in blocks (as the model runs it): every block's rows see the keys stored
// so far, including many 64-key tiles and the diagonal inside one; with a sliding window of 300
// (Mistral-style), later blocks skip the tiles before their window.
TEST_P(BackendOps, AttentionLongPrefillInBlocks) {
    const int L = 700, H = 8, KV = 2, hd = 64, cap = L, blk = 256;
    auto q = round_bf16(random_vec(static_cast<size_t>(L) * H * hd, 7, -3.f, 3.f));
    auto kc = round_bf16(random_vec(static_cast<size_t>(KV) * cap * hd, 8));
    auto vc = round_bf16(random_vec(static_cast<size_t>(KV) * cap * hd, 9));
    Buf qb(be(), q), ob(be(), q.size());
    for (int window : {0, 300}) {
        std::vector<float> ref(q.size());
        cpu::ref::attention(q.data(), H * hd, L, 0, kc.data(), vc.data(), cap, H, KV, hd, 0.125f, ref.data(), H * hd,
                            window);
        for (bool bf16 : {false, true}) {
            const KvCaches kv(be(), kc, vc, cap, KV, hd, L, bf16, blk);
            for (int b = 0; b < L; b += blk) {
                const int t = std::min(blk, L - b);
                be().attention(qb.get() + static_cast<size_t>(b) * H * hd, H * hd, t, b, kv.k.get(), kv.v.get(), cap,
                               H, KV, hd, 0.125f, ob.get() + static_cast<size_t>(b) * H * hd, H * hd, bf16, window);
            }
            const auto out = ob.host();
            for (size_t i = 0; i < out.size(); i++)  // tolerances of check_attention
                ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), bf16 ? 4e-3 : 5e-5 + 1e-4 * std::fabs(ref[i]))
                    << (bf16 ? "bf16" : "f32") << " window=" << window << " at position " << i / (H * hd)
                    << " element " << i % (H * hd);
        }
    }
}

// A session truncated back to an earlier length (keys stored again from there, with other values,
// as shared-prefix evaluation does): attention sees the new keys only, in both layouts. Then
// decoding steps (one position per store_kv) across a tile boundary.
TEST_P(BackendOps, AttentionAfterTruncationAndDecoding) {
    const int H = 8, KV = 2, hd = 64, cap = 300, first = 200, cut = 130, L = 260;
    auto q = round_bf16(random_vec(static_cast<size_t>(L) * H * hd, 17, -3.f, 3.f));
    auto k_old = round_bf16(random_vec(static_cast<size_t>(KV) * cap * hd, 18));
    auto v_old = round_bf16(random_vec(static_cast<size_t>(KV) * cap * hd, 19));
    auto kc = round_bf16(random_vec(static_cast<size_t>(KV) * cap * hd, 20));
    auto vc = round_bf16(random_vec(static_cast<size_t>(KV) * cap * hd, 21));
    for (int h = 0; h < KV; h++)  // the same prefix 0 .. cut-1
        for (int t = 0; t < cut; t++)
            for (int d = 0; d < hd; d++) {
                const size_t at = (static_cast<size_t>(h) * cap + t) * hd + d;
                kc[at] = k_old[at];
                vc[at] = v_old[at];
            }
    std::vector<float> ref(q.size());
    cpu::ref::attention(q.data(), H * hd, L, 0, kc.data(), vc.data(), cap, H, KV, hd, 0.125f, ref.data(), H * hd, 0);
    for (bool bf16 : {false, true}) {
        KvCaches kv(be(), k_old, v_old, cap, KV, hd, first, bf16, 64);  // positions 0 .. first-1, old values
        // Rows of the new keys/values (positions cut .. L-1 are stored from them).
        Buf kb(be(), cache_rows(kc, cap, KV, hd, L)), vb(be(), cache_rows(vc, cap, KV, hd, L)), qb(be(), q),
            ob(be(), q.size());
        auto store = [&](int p0, int n) {
            const size_t off = static_cast<size_t>(p0) * KV * hd;
            be().store_kv(kb.get() + off, KV * hd, vb.get() + off, KV * hd, n, p0, kv.k.get(), kv.v.get(), cap, KV, hd,
                          bf16);
        };
        auto attend = [&](int p0, int n) {
            const size_t off = static_cast<size_t>(p0) * H * hd;
            be().attention(qb.get() + off, H * hd, n, p0, kv.k.get(), kv.v.get(), cap, H, KV, hd, 0.125f,
                           ob.get() + off, H * hd, bf16, 0);
        };
        store(cut, 50);  // truncated to `cut`: a block of 50 over the old keys
        attend(cut, 50);
        for (int p = cut + 50; p < L; p++) {  // decoding, past the old keys and the tile at 192
            store(p, 1);
            attend(p, 1);
        }
        const auto out = ob.host();
        for (size_t i = static_cast<size_t>(cut) * H * hd; i < out.size(); i++)  // tolerances of check_attention
            ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), bf16 ? 4e-3 : 5e-5 + 1e-4 * std::fabs(ref[i]))
                << (bf16 ? "bf16" : "f32") << " at position " << i / (H * hd) << " element " << i % (H * hd);
    }
}

// ---- store_kv -------------------------------------------------------------------------------------

// A copy: exact, and nothing else in the caches changes.
TEST_P(BackendOps, StoreKv) {
    const int n = 5, pos0 = 3, cap = 12, KV = 3, hd = 8, ldk = KV * hd + 4, ldv = KV * hd + 9;
    auto k = random_vec(static_cast<size_t>(n) * ldk, 70), v = random_vec(static_cast<size_t>(n) * ldv, 71);
    const std::vector<float> fill(static_cast<size_t>(KV) * cap * hd, -9.f);
    Buf kb(be(), k), vb(be(), v), kc(be(), fill), vc(be(), fill);
    be().store_kv(kb.get(), ldk, vb.get(), ldv, n, pos0, kc.get(), vc.get(), cap, KV, hd, false);
    const auto gk = kc.host(), gv = vc.host();
    for (int h = 0; h < KV; h++)
        for (int t = 0; t < cap; t++)
            for (int d = 0; d < hd; d++) {
                const size_t at = (static_cast<size_t>(h) * cap + t) * hd + d;
                const bool written = t >= pos0 && t < pos0 + n;
                const float wk = written ? k[static_cast<size_t>(t - pos0) * ldk + h * hd + d] : -9.f;
                const float wv = written ? v[static_cast<size_t>(t - pos0) * ldv + h * hd + d] : -9.f;
                ASSERT_EQ(gk[at], wk) << "k head " << h << " position " << t << " dim " << d;
                ASSERT_EQ(gv[at], wv) << "v head " << h << " position " << t << " dim " << d;
            }
}

// ---- swiglu ---------------------------------------------------------------------------------------

// silu(g)·u against double: an exp within a few ulp (cpu: polynomial, < 2e-7 relative), one f32
// addition, division and product: < 1e-6 relative. Gates span [-30, 30] (both tails) and one
// is -95, where e^-g overflows to inf and silu is -0.
TEST_P(BackendOps, Swiglu) {
    for (int inter : {1, 15, 37, 300, 5000}) {
        const int n = 5;
        auto gu = random_vec(static_cast<size_t>(n) * 2 * inter, 60 + inter, -30.f, 30.f);
        gu[0] = -95.f;
        Buf gb(be(), gu), ob(be(), static_cast<size_t>(n) * inter);
        be().swiglu(gb.get(), ob.get(), n, inter);
        const auto out = ob.host();
        std::vector<float> ref(out.size());
        cpu::ref::swiglu(gu.data(), ref.data(), n, inter);
        for (size_t i = 0; i < out.size(); i++)
            ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), 1e-30 + 1e-6 * std::fabs(ref[i]))
                << "inter=" << inter << " at " << i << ": got " << out[i] << " want " << ref[i];
    }
}

// ---- add ------------------------------------------------------------------------------------------

// One f32 addition per element: exactly the host's x + y.
TEST_P(BackendOps, Add) {
    for (size_t n : {size_t{1}, size_t{1000}, size_t{100003}}) {
        auto x = random_vec(n, 80), y = random_vec(n, 81, -100.f, 100.f);
        Buf xb(be(), x), yb(be(), y);
        be().add(xb.get(), yb.get(), n);
        const auto got = xb.host();
        for (size_t i = 0; i < n; i++) ASSERT_EQ(got[i], x[i] + y[i]) << "n=" << n << " at " << i;
    }
}

// ---- embed ----------------------------------------------------------------------------------------

// A copy of rows of the table: exact. Rows repeat; the wide rows span several thread blocks.
TEST_P(BackendOps, Embed) {
    struct Case {
        int vocab, dim, n;
    };
    for (const Case& c : {Case{50, 24, 7}, Case{3, 1, 4}, Case{8, 70000, 130}}) {
        auto table = random_vec(static_cast<size_t>(c.vocab) * c.dim, 90 + c.dim);
        std::vector<int> tokens(c.n);
        std::mt19937 rng(91);
        for (int i = 0; i < c.n; i++) tokens[i] = i == 0 ? c.vocab - 1 : static_cast<int>(rng() % c.vocab);
        Buf tb(be(), table), ob(be(), static_cast<size_t>(c.n) * c.dim);
        be().embed(tb.get(), tokens.data(), c.n, c.dim, ob.get());
        const auto got = ob.host();
        for (int i = 0; i < c.n; i++)
            ASSERT_EQ(std::memcmp(got.data() + static_cast<size_t>(i) * c.dim,
                                  table.data() + static_cast<size_t>(tokens[i]) * c.dim, c.dim * sizeof(float)),
                      0)
                << "dim=" << c.dim << " row " << i << " (token " << tokens[i] << ")";
    }
}

// ---- lm_head_logprobs -----------------------------------------------------------------------------

// Logits: the matmul tolerance (gemm_tol). log p(t) = l_t - lse: |δ| <= |δl_t| + max_v |δl_v| +
// the log-sum-exp's own error (exp within a few ulp, f32 partial sums of <= 256 terms in (0, 1]:
// < 1e-5, as for cpu::logsumexp_rows). Argmax: the chosen token's reference logit is within
// 2·max tolerance of the reference maximum (exact whenever the top two are further apart).
void check_lm_head(Backend& be, int n, int vocab, int hidden, WeightType wt, bool want_logits) {
    auto x = random_vec(static_cast<size_t>(n) * hidden, 100 + n, -2.f, 2.f);
    auto w = random_vec(static_cast<size_t>(vocab) * hidden, 101 + vocab);
    if (wt == WeightType::bf16) w = round_bf16(w);
    auto mat = be.upload_matrix(w.data(), vocab, hidden, wt);
    std::vector<int> targets(n);
    std::mt19937 rng(102);
    for (int i = 0; i < n; i++) targets[i] = i % 7 == 3 ? -1 : static_cast<int>(rng() % vocab);
    Buf xb(be, x);
    std::vector<double> lp(n, 99.0);
    std::vector<int> am(n, -5);
    std::vector<float> logits(want_logits ? static_cast<size_t>(n) * vocab : 0);
    be.lm_head_logprobs(xb.get(), n, *mat, targets.data(), lp.data(), want_logits ? logits.data() : nullptr, am.data());

    std::vector<float> ref, mag;
    gemm_reference(x, n, hidden, w, vocab, hidden, &ref, &mag);
    std::vector<double> lse(n);
    std::vector<int> ref_am(n);
    cpu::ref::logsumexp_rows(ref.data(), n, vocab, vocab, lse.data(), ref_am.data());
    for (int i = 0; i < n; i++) {
        double max_tol = 0;
        for (int v = 0; v < vocab; v++) {
            const size_t r = static_cast<size_t>(i) * vocab + v;
            const double tol = gemm_tol(ref[r], mag[r], hidden, wt);
            max_tol = std::max(max_tol, tol);
            if (want_logits) {
                ASSERT_LE(std::fabs(logits[r] - ref[r]), tol) << weight_type_name(wt) << " logit (" << i << ", " << v << ")";
            }
        }
        const int t = targets[i];
        const double want = t >= 0 ? ref[static_cast<size_t>(i) * vocab + t] - lse[i] : 0.0;
        ASSERT_LE(std::fabs(lp[i] - want), 2 * max_tol + 1e-5)
            << weight_type_name(wt) << " vocab=" << vocab << " row " << i << " target " << t;
        ASSERT_GE(am[i], 0) << "row " << i;
        ASSERT_LT(am[i], vocab) << "row " << i;
        const double top = ref[static_cast<size_t>(i) * vocab + ref_am[i]];
        ASSERT_GE(ref[static_cast<size_t>(i) * vocab + am[i]], top - 2 * max_tol)
            << "row " << i << ": argmax " << am[i] << ", reference " << ref_am[i];
    }
    // Only argmax wanted (greedy decoding): the same tokens, nothing else touched.
    std::vector<int> am2(n, -5);
    be.lm_head_logprobs(xb.get(), n, *mat, nullptr, nullptr, nullptr, am2.data());
    EXPECT_EQ(am2, am);
}

TEST_P(BackendOps, LmHeadLogprobs) {
    for (WeightType wt : {WeightType::f32, WeightType::bf16}) {
        ASSERT_NO_FATAL_FAILURE(check_lm_head(be(), 300, 1000, 64, wt, true));   // several row blocks (cpu: 128)
        ASSERT_NO_FATAL_FAILURE(check_lm_head(be(), 5, 32000, 48, wt, false));  // Llama-sized vocabulary
        ASSERT_NO_FATAL_FAILURE(check_lm_head(be(), 1, 7, 3, wt, true));        // decoding, tiny
    }
}

}  // namespace
}  // namespace rb::test
