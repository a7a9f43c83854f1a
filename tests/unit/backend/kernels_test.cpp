// CPU kernels (gemm, attention) against their scalar references, at every ISA level this CPU
// supports (force_isa), plus packing, determinism across thread counts and CPU detection.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/aligned_buf.h"
#include "backend/cpu/kernels.h"
#include "common/test_util.h"
#include "unit/backend/round_bf16.h"

namespace rb::cpu {
namespace {

using backend::WeightType;
using test::random_vec;
using test::round_bf16;

std::vector<Isa> supported_levels() {
    std::vector<Isa> out;
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512bf16})
        if (static_cast<int>(i) <= static_cast<int>(detected_isa())) out.push_back(i);
    return out;
}

// Restores the default (best) level when a test ends, pass or fail.
struct IsaGuard {
    explicit IsaGuard(Isa i) { force_isa(i); }
    ~IsaGuard() { force_isa(Isa::avx512bf16); }
};

TEST(CpuFeatures, DetectionIsSane) {
    const Isa d = detected_isa();
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    // detect() also checks the OS saves the wide registers (xgetbv), so it may be lower, never higher.
    if (static_cast<int>(d) >= static_cast<int>(Isa::avx2)) EXPECT_TRUE(avx2);
    if (static_cast<int>(d) >= static_cast<int>(Isa::avx512)) EXPECT_TRUE(avx512);
    std::printf("detected isa: %s, active: %s, gemm f32: %s, gemm bf16: %s\n", isa_name(d), isa_name(active_isa()),
                gemm_kernel_name(WeightType::f32), gemm_kernel_name(WeightType::bf16));
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512bf16}) {
        Isa back;
        ASSERT_TRUE(parse_isa(isa_name(i), &back));
        EXPECT_EQ(back, i);
    }
    Isa dummy;
    EXPECT_FALSE(parse_isa("sse9", &dummy));
    {
        IsaGuard g(Isa::scalar);
        EXPECT_EQ(active_isa(), Isa::scalar);
    }
    EXPECT_EQ(active_isa(), d);
}

TEST(Bf16, RoundToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    // 1 + 2^-8 is exactly half way between bf16 1.0 and 1.0078125: ties to even (1.0).
    EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
    // 1 + 3*2^-8: half way between 1.0078125 (odd mantissa) and 1.015625: rounds up to even.
    EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);
    EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

struct GemmCase {
    int m, n, k;
};

// Checks y against the double-accumulated reference on the same (possibly bf16-rounded) inputs.
// Tolerance: the kernels accumulate in f32 in a blocked order, so |err| is bounded in practice by
// the probabilistic rounding-error bound lambda*sqrt(k)*u*sum_p |x_p w_p| (Higham & Mary 2019),
// u = 2^-24; lambda = 4 leaves a wide margin, plus u*|ref| for rounding the reference itself
// and 1e-6 for results near zero.
void check_gemm(const GemmCase& c, WeightType wt, Isa isa, int threads) {
    IsaGuard guard(isa);
    const int ldx = c.k + 3, ldy = c.n + 5;
    auto x = random_vec(static_cast<size_t>(c.m) * ldx, 1000 + c.m * 7 + c.k);
    auto w = random_vec(static_cast<size_t>(c.n) * c.k, 2000 + c.n * 13 + c.k);
    auto packed = pack_matrix(w.data(), c.n, c.k, wt);
    ASSERT_EQ(packed->rows(), c.n);
    ASSERT_EQ(packed->cols(), c.k);
    const float sentinel = 12345.f;
    std::vector<float> y(static_cast<size_t>(c.m) * ldy, sentinel);
    ThreadPool pool(threads);
    gemm(x.data(), c.m, ldx, *packed, y.data(), ldy, pool);

    std::vector<float> xr = x, wr = w;
    if (wt == WeightType::bf16) {
        wr = round_bf16(w);
        if (gemm_rounds_x_to_bf16(wt)) xr = round_bf16(x);
    }
    std::vector<float> ref(static_cast<size_t>(c.m) * c.n), mag(ref.size());
    ref::gemm(xr.data(), c.m, ldx, wr.data(), c.n, c.k, ref.data(), c.n);
    std::vector<float> ax(xr.size()), aw(wr.size());
    for (size_t i = 0; i < xr.size(); i++) ax[i] = std::fabs(xr[i]);
    for (size_t i = 0; i < wr.size(); i++) aw[i] = std::fabs(wr[i]);
    ref::gemm(ax.data(), c.m, ldx, aw.data(), c.n, c.k, mag.data(), c.n);
    const double u = std::ldexp(1.0, -24);
    for (int i = 0; i < c.m; i++) {
        for (int j = 0; j < c.n; j++) {
            const double got = y[static_cast<size_t>(i) * ldy + j], want = ref[static_cast<size_t>(i) * c.n + j];
            const double tol = 1e-6 + u * std::fabs(want) + 4.0 * std::sqrt(static_cast<double>(c.k)) * u * mag[static_cast<size_t>(i) * c.n + j];
            ASSERT_LE(std::fabs(got - want), tol)
                << "isa " << isa_name(isa) << " " << weight_type_name(wt) << " m=" << c.m << " n=" << c.n << " k=" << c.k
                << " at (" << i << ", " << j << "): got " << got << " want " << want;
        }
        for (int j = c.n; j < ldy; j++)
            ASSERT_EQ(y[static_cast<size_t>(i) * ldy + j], sentinel) << "wrote past n at row " << i << " col " << j;
    }
}

const std::vector<GemmCase>& gemm_cases() {
    static const std::vector<GemmCase> cases = [] {
        std::vector<GemmCase> v;
        const std::pair<int, int> nk[] = {{1, 1}, {5, 3}, {32, 64}, {33, 17}, {100, 257}, {64, 300}, {130, 513}, {47, 1030}};
        for (int m : {1, 2, 7, 33, 300})
            for (auto [n, k] : nk) v.push_back({m, n, k});
        // More rows than one row block (mc micro-panels) and more k than one k block (kc) of
        // every kernel, so the blocked paths (accumulating into y) run at every level.
        v.push_back({600, 33, 40});
        v.push_back({33, 40, 2100});
        v.push_back({20, 70, 4097});
        return v;
    }();
    return cases;
}

TEST(Gemm, F32MatchesReferenceAtEveryLevel) {
    for (Isa isa : supported_levels())
        for (const auto& c : gemm_cases()) ASSERT_NO_FATAL_FAILURE(check_gemm(c, WeightType::f32, isa, 2));
}

TEST(Gemm, Bf16MatchesReferenceAtEveryLevel) {
    for (Isa isa : supported_levels())
        for (const auto& c : gemm_cases()) ASSERT_NO_FATAL_FAILURE(check_gemm(c, WeightType::bf16, isa, 2));
}

TEST(Gemm, KernelsAcrossLevels) {
    // Every level reports a kernel; bf16 weights round x only where the CPU has vdpbf16ps.
    for (Isa isa : supported_levels()) {
        IsaGuard g(isa);
        EXPECT_NE(std::string(gemm_kernel_name(WeightType::f32)), "");
        EXPECT_FALSE(gemm_rounds_x_to_bf16(WeightType::f32));
        EXPECT_EQ(gemm_rounds_x_to_bf16(WeightType::bf16), isa == Isa::avx512bf16) << isa_name(isa);
    }
}

TEST(Gemm, SameBitsForAnyThreadCount) {
    // m = 1 takes the decoding path (two panels streamed together), m = 45 the blocked one.
    for (WeightType wt : {WeightType::f32, WeightType::bf16})
      for (int m : {1, 45}) {
        const int n = 200, k = 700;
        auto x = random_vec(static_cast<size_t>(m) * k, 7);
        auto w = random_vec(static_cast<size_t>(n) * k, 8);
        auto packed = pack_matrix(w.data(), n, k, wt);
        std::vector<float> y1(static_cast<size_t>(m) * n), y3(y1.size());
        ThreadPool p1(1), p3(3);
        gemm(x.data(), m, k, *packed, y1.data(), n, p1);
        gemm(x.data(), m, k, *packed, y3.data(), n, p3);
        ASSERT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)), 0) << weight_type_name(wt) << " m=" << m;
      }
}

TEST(Gemm, ZeroK) {
    auto packed = pack_matrix(nullptr, 3, 0, WeightType::f32);
    std::vector<float> y(6, 1.f);
    float x = 0;
    ThreadPool pool(2);
    gemm(&x, 2, 0, *packed, y.data(), 3, pool);
    for (float v : y) EXPECT_EQ(v, 0.f);
}

struct AttnCase {
    int n, pos0, heads, kv_heads, head_dim;
    int window = 0;  // sliding window (0 = none)
};

// Outputs are softmax-weighted means of V entries in [-1, 1]. Scores are f32 dot products
// (error <= hd*u*|q||k|*scale ~ 1e-5 with |q| <= 3), the vectorised exp is accurate to ~2e-7
// relative, and sums run over <= 500 keys in f32; together well below atol 5e-5 + rtol 1e-4.
void check_attention(const AttnCase& c, Isa isa, int threads) {
    IsaGuard guard(isa);
    const int cap = c.pos0 + c.n + 3;
    const int ldq = c.heads * c.head_dim + 2, ldo = c.heads * c.head_dim + 5;
    auto q = random_vec(static_cast<size_t>(c.n) * ldq, 31 + c.n, -3.f, 3.f);
    auto kc = random_vec(static_cast<size_t>(c.kv_heads) * cap * c.head_dim, 41 + c.pos0);
    auto vc = random_vec(static_cast<size_t>(c.kv_heads) * cap * c.head_dim, 51 + c.head_dim);
    const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
    const float sentinel = -777.f;
    std::vector<float> out(static_cast<size_t>(c.n) * ldo, sentinel), ref(out.size(), sentinel);
    ThreadPool pool(threads);
    attention(q.data(), ldq, c.n, c.pos0, kc.data(), vc.data(), cap, c.heads, c.kv_heads, c.head_dim, scale, out.data(), ldo,
              pool, false, c.window);
    ref::attention(q.data(), ldq, c.n, c.pos0, kc.data(), vc.data(), cap, c.heads, c.kv_heads, c.head_dim, scale, ref.data(),
                   ldo, c.window);
    for (size_t i = 0; i < out.size(); i++) {
        const double tol = 5e-5 + 1e-4 * std::fabs(ref[i]);
        ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), tol)
            << "isa " << isa_name(isa) << " n=" << c.n << " pos0=" << c.pos0 << " H=" << c.heads << " KV=" << c.kv_heads
            << " hd=" << c.head_dim << " window=" << c.window << " at row " << i / ldo << " col " << i % ldo << ": got " << out[i] << " want " << ref[i];
    }
}

TEST(Attention, MatchesReferenceAtEveryLevel) {
    const AttnCase cases[] = {
        {1, 0, 4, 2, 8},      {1, 37, 4, 1, 16},   {5, 0, 4, 4, 16},   {70, 0, 8, 2, 8},   {33, 100, 32, 4, 64},
        {1, 300, 32, 4, 64},  {130, 70, 8, 1, 64}, {20, 10, 4, 2, 80}, {9, 60, 2, 1, 128}, {3, 0, 6, 3, 24},
        {65, 130, 16, 4, 64},
    };
    for (Isa isa : supported_levels())
        for (const auto& c : cases) ASSERT_NO_FATAL_FAILURE(check_attention(c, isa, 2));
}

// Sliding window: keys p-window+1 .. p. Windows of 1 (a row sees only itself), smaller and
// larger than a 64-key tile, not a multiple of it, reaching or not the start of the cache,
// queries that start inside or past the first window; same tolerance as without a window.
TEST(Attention, SlidingWindowMatchesReferenceAtEveryLevel) {
    const AttnCase cases[] = {
        {5, 0, 4, 2, 8, 1},      {70, 0, 8, 2, 8, 16},    {33, 100, 32, 4, 64, 40}, {1, 300, 32, 4, 64, 64},
        {130, 70, 8, 1, 64, 65}, {20, 10, 4, 2, 80, 200}, {9, 60, 2, 1, 128, 7},    {65, 130, 16, 4, 64, 129},
        {200, 0, 4, 1, 32, 100},
    };
    for (Isa isa : supported_levels())
        for (const auto& c : cases) ASSERT_NO_FATAL_FAILURE(check_attention(c, isa, 2));
}

// The bf16 path (AVX512_BF16): Q, K, V and the softmax weights P are rounded to bf16 (round to
// nearest even), products accumulate in f32. Against the double reference on the same
// bf16-rounded Q, K, V, the only further change is P's rounding, |δp_j| <= 2^-9 p_j, so
// |δo| <= 2^-9 Σ_j p_j |v_j| / l <= 2^-9 max|v| = 2^-9 (V in [-1, 1]); plus the f32 terms of
// the f32 kernel. Tolerance 2.5e-3 = 1.28 × 2^-9 + 5e-5.
TEST(Attention, Bf16PathMatchesReferenceOnRoundedInputs) {
    if (!cpu::attention_bf16_available(64)) {
        // Not silent: ctest shows the skip and its reason. CI runs on AVX512_BF16 machines.
        GTEST_SKIP() << "this CPU has no AVX512_BF16: the bf16 attention path cannot run here";
    }
    const AttnCase cases[] = {{1, 0, 4, 2, 8},    {1, 300, 32, 4, 64}, {33, 100, 32, 4, 64}, {130, 70, 8, 1, 64},
                              {20, 10, 4, 2, 80}, {9, 60, 2, 1, 128},  {3, 0, 6, 3, 24},     {65, 130, 16, 4, 64},
                              {7, 5, 4, 2, 6},    {130, 70, 8, 1, 64, 65}, {33, 100, 32, 4, 64, 40}};
    for (const auto& c : cases) {
        const int cap = c.pos0 + c.n + 3;
        const int ldq = c.heads * c.head_dim + 2, ldo = c.heads * c.head_dim + 5;
        auto q = round_bf16(random_vec(static_cast<size_t>(c.n) * ldq, 31 + c.n, -3.f, 3.f));
        auto kc = round_bf16(random_vec(static_cast<size_t>(c.kv_heads) * cap * c.head_dim, 41 + c.pos0));
        auto vc = round_bf16(random_vec(static_cast<size_t>(c.kv_heads) * cap * c.head_dim, 51 + c.head_dim));
        const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
        std::vector<float> out(static_cast<size_t>(c.n) * ldo, -777.f), ref(out.size(), -777.f), f32(out.size(), -777.f);
        ThreadPool pool(2);
        attention(q.data(), ldq, c.n, c.pos0, kc.data(), vc.data(), cap, c.heads, c.kv_heads, c.head_dim, scale, out.data(),
                  ldo, pool, true, c.window);
        attention(q.data(), ldq, c.n, c.pos0, kc.data(), vc.data(), cap, c.heads, c.kv_heads, c.head_dim, scale, f32.data(),
                  ldo, pool, false, c.window);
        ref::attention(q.data(), ldq, c.n, c.pos0, kc.data(), vc.data(), cap, c.heads, c.kv_heads, c.head_dim, scale,
                       ref.data(), ldo, c.window);
        double worst = 0;
        bool differs = false;
        for (size_t i = 0; i < out.size(); i++) {
            const double d = std::fabs(static_cast<double>(out[i]) - ref[i]);
            worst = std::max(worst, d);
            differs |= out[i] != f32[i];
            ASSERT_LE(d, 2.5e-3) << "n=" << c.n << " pos0=" << c.pos0 << " H=" << c.heads << " KV=" << c.kv_heads
                                 << " hd=" << c.head_dim << " at row " << i / ldo << " col " << i % ldo;
        }
        // The path really ran: P's rounding makes it differ from the f32 kernel somewhere
        // (except for a single key, where P = 1 exactly).
        if (c.pos0 + c.n > 1) EXPECT_TRUE(differs) << "bf16 path gave the f32 kernel's bits: not taken?";
        std::printf("bf16 attention n=%d pos0=%d hd=%d: max |diff| vs reference %.2e\n", c.n, c.pos0, c.head_dim, worst);
    }
}

// The bf16 KV cache (kernels.h, detail bf16 cache layout) word by word against its scalar
// definition (f32_to_bf16, round to nearest even; inputs in [-1, 1] have no denormals, which
// vcvtne2ps2bf16 would flush), stored in blocks and single positions as sessions do; the lanes
// of the last tile past the stored keys are zero although the buffer started as NaN. Then
// attention on that cache gives the bits of attention(..., bf16 = true) on the f32 cache.
TEST(Attention, Bf16CacheLayoutAndSameBitsAsF32CacheEntry) {
    if (!cpu::attention_bf16_available(64)) GTEST_SKIP() << "this CPU has no AVX512_BF16";
    for (int hd : {6, 64, 80}) {
        const int KV = 2, H = 4, cap = 150, n_keys = 131, ld = KV * hd + 3;
        auto k = random_vec(static_cast<size_t>(n_keys) * ld, 81 + hd), v = random_vec(static_cast<size_t>(n_keys) * ld, 82 + hd);
        const size_t floats = attention_bf16_cache_floats(cap, KV, hd);
        AlignedBuf<float> kb, vb;
        float* kc = kb.get(floats);
        float* vc = vb.get(floats);
        std::fill(kc, kc + floats, NAN);
        std::fill(vc, vc + floats, NAN);
        for (auto [p0, n] : {std::pair{0, 70}, {70, 1}, {71, 60}})
            store_kv_bf16(k.data() + static_cast<size_t>(p0) * ld, ld, v.data() + static_cast<size_t>(p0) * ld, ld, n, p0,
                          kc, vc, cap, KV, hd);
        const int hdp = (hd + 15) / 16 * 16;
        const size_t head = floats / KV, tile = static_cast<size_t>(32) * hdp;
        for (int g = 0; g < KV; g++)
            for (int p = 0; p < (n_keys + 63) / 64 * 64; p++) {
                const auto* kt = reinterpret_cast<const uint32_t*>(kc + g * head) + p / 64 * tile;
                const auto* vt = reinterpret_cast<const uint16_t*>(vc + g * head + p / 64 * tile);
                const int j = p % 64;
                for (int c = 0; c < hd; c++) {
                    const float kf = p < n_keys ? k[static_cast<size_t>(p) * ld + g * hd + c] : 0.f;
                    const float vf = p < n_keys ? v[static_cast<size_t>(p) * ld + g * hd + c] : 0.f;
                    const uint32_t kw = kt[static_cast<size_t>(c / 2) * 64 + j];
                    ASSERT_EQ(static_cast<uint16_t>(c % 2 ? kw >> 16 : kw & 0xffff), f32_to_bf16(kf))
                        << "K hd=" << hd << " head " << g << " position " << p << " dim " << c;
                    ASSERT_EQ(vt[(static_cast<size_t>(j / 2) * hdp + c) * 2 + (j & 1)], f32_to_bf16(vf))
                        << "V hd=" << hd << " head " << g << " position " << p << " dim " << c;
                }
            }
        // The same keys as an f32 cache [KV, cap, hd].
        std::vector<float> kf(static_cast<size_t>(KV) * cap * hd), vf(kf.size());
        for (int g = 0; g < KV; g++)
            for (int p = 0; p < n_keys; p++)
                for (int c = 0; c < hd; c++) {
                    kf[(static_cast<size_t>(g) * cap + p) * hd + c] = k[static_cast<size_t>(p) * ld + g * hd + c];
                    vf[(static_cast<size_t>(g) * cap + p) * hd + c] = v[static_cast<size_t>(p) * ld + g * hd + c];
                }
        const int n = 40, pos0 = n_keys - n;
        auto q = random_vec(static_cast<size_t>(n) * H * hd, 83, -3.f, 3.f);
        std::vector<float> o1(q.size()), o2(q.size());
        ThreadPool pool(2);
        attention_bf16_cache(q.data(), H * hd, n, pos0, kc, vc, cap, H, KV, hd, 0.3f, o1.data(), H * hd, pool);
        attention(q.data(), H * hd, n, pos0, kf.data(), vf.data(), cap, H, KV, hd, 0.3f, o2.data(), H * hd, pool, true);
        ASSERT_EQ(std::memcmp(o1.data(), o2.data(), o1.size() * sizeof(float)), 0) << "hd=" << hd;
    }
}

TEST(Attention, SameBitsForAnyThreadCount) {
    const int n = 40, pos0 = 90, H = 8, KV = 2, hd = 64, cap = 140;
    auto q = random_vec(static_cast<size_t>(n) * H * hd, 1, -3.f, 3.f);
    auto kc = random_vec(static_cast<size_t>(KV) * cap * hd, 2);
    auto vc = random_vec(static_cast<size_t>(KV) * cap * hd, 3);
    for (Isa isa : supported_levels()) {
        IsaGuard g(isa);
        std::vector<float> o1(static_cast<size_t>(n) * H * hd), o3(o1.size());
        ThreadPool p1(1), p3(3);
        for (bool bf16 : {false, true}) {
            attention(q.data(), H * hd, n, pos0, kc.data(), vc.data(), cap, H, KV, hd, 0.125f, o1.data(), H * hd, p1, bf16);
            attention(q.data(), H * hd, n, pos0, kc.data(), vc.data(), cap, H, KV, hd, 0.125f, o3.data(), H * hd, p3, bf16);
            ASSERT_EQ(std::memcmp(o1.data(), o3.data(), o1.size() * sizeof(float)), 0) << isa_name(isa) << " bf16 " << bf16;
        }
    }
}

// silu·u against the double reference: the polynomial exp (< 2e-7 relative) and one f32 division
// and multiplication give a few ulp of relative error; gates span [-30, 30] so both tails run.
TEST(Epilogue, SwigluMatchesReferenceAtEveryLevel) {
    for (Isa isa : supported_levels()) {
        IsaGuard g(isa);
        for (int inter : {1, 15, 16, 37, 300}) {
            const int n = 5;
            auto gu = random_vec(static_cast<size_t>(n) * 2 * inter, 60 + inter, -30.f, 30.f);
            gu[0] = -95.f;  // e^-g overflows to inf: silu = -0
            std::vector<float> out(static_cast<size_t>(n) * inter), ref(out.size());
            ThreadPool pool(2);
            swiglu(gu.data(), out.data(), n, inter, pool);
            ref::swiglu(gu.data(), ref.data(), n, inter);
            for (size_t i = 0; i < out.size(); i++)
                ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), 1e-30 + 1e-6 * std::fabs(ref[i]))
                    << isa_name(isa) << " inter=" << inter << " at " << i << ": got " << out[i] << " want " << ref[i];
        }
    }
}

// log-sum-exp over up to 32000 logits: exp terms with < 2e-7 relative error, summed in f32 lanes
// of <= 64 terms each before double accumulation (relative error < 64*6e-8 ~ 4e-6 worst case),
// so |lse error| < 1e-5; argmax must match exactly (first index on ties).
TEST(Epilogue, LogSumExpMatchesReferenceAtEveryLevel) {
    for (Isa isa : supported_levels()) {
        IsaGuard g(isa);
        for (int vocab : {1, 7, 16, 33, 1000, 32000}) {
            const int n = 3, ld = vocab + 3;
            auto l = random_vec(static_cast<size_t>(n) * ld, 70 + vocab, -20.f, 20.f);
            if (vocab > 20) {
                l[static_cast<size_t>(1) * ld + 5] = 40.f;  // tie: the first index wins
                l[static_cast<size_t>(1) * ld + 17] = 40.f;
            }
            std::vector<double> lse(n), ref_lse(n);
            std::vector<int> am(n), ref_am(n);
            ThreadPool pool(2);
            logsumexp_rows(l.data(), n, vocab, ld, lse.data(), am.data(), pool);
            ref::logsumexp_rows(l.data(), n, vocab, ld, ref_lse.data(), ref_am.data());
            for (int i = 0; i < n; i++) {
                EXPECT_NEAR(lse[i], ref_lse[i], 1e-5) << isa_name(isa) << " vocab=" << vocab << " row " << i;
                EXPECT_EQ(am[i], ref_am[i]) << isa_name(isa) << " vocab=" << vocab << " row " << i;
            }
        }
    }
}

// Backend::rmsnorm_heads and Backend::add_bias: BackendOps (backend_ops_test.cpp), every level.

}  // namespace
}  // namespace rb::cpu
