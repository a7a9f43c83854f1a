// Wilson intervals against closed forms, quantiles, and the document bootstrap.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "eval/stats.h"

using namespace rb;

TEST(Wilson, ClosedFormsAtTheEdges) {
    // k = n: lower = n / (n + z²); k = 0: upper = z² / (n + z²) (center == half).
    const double z2 = k_z95 * k_z95;  // 3.841459
    auto a = wilson_interval(10, 10);
    ASSERT_TRUE(a);
    EXPECT_NEAR(a->lo, 10 / (10 + z2), 1e-12);  // 0.72246
    EXPECT_EQ(a->hi, 1.0);
    auto b = wilson_interval(0, 10);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->lo, 0.0);
    EXPECT_NEAR(b->hi, z2 / (10 + z2), 1e-12);  // 0.27753
    auto c = wilson_interval(1, 1);
    EXPECT_NEAR(c->lo, 1 / (1 + z2), 1e-12);    // 0.20654
    EXPECT_EQ(c->hi, 1.0);
    EXPECT_FALSE(wilson_interval(0, 0));
}

TEST(Wilson, HandValues) {
    // 5/10: center 0.5, half = z/(1+z²/10)·sqrt(0.025 + z²/400) = 1.416009·0.186021 = 0.263407.
    auto a = wilson_interval(5, 10);
    EXPECT_NEAR(a->lo, 0.236593, 1e-5);
    EXPECT_NEAR(a->hi, 0.763407, 1e-5);
    // methodology.md §3.6: 20/20 → [0.84, 1.00], 50/50 → [0.93, 1.00] (2 decimals).
    EXPECT_NEAR(wilson_interval(20, 20)->lo, 0.84, 0.005);
    EXPECT_NEAR(wilson_interval(50, 50)->lo, 0.93, 0.005);
    // 88/110: center (0.8 + 1.920730/110)/(1 + 3.841459/110) = 0.817461/1.034922 = 0.789877,
    // half = 1.959964/1.034922 · sqrt(0.16/110 + 3.841459/48400) = 1.893829 · 0.039165 = 0.074172.
    auto d = wilson_interval(88, 110);
    EXPECT_NEAR(d->lo, 0.715705, 1e-5);
    EXPECT_NEAR(d->hi, 0.864049, 1e-5);
}

TEST(Quantile, Type7Interpolation) {
    std::vector<double> v = {1, 2, 3, 4, 5};
    EXPECT_DOUBLE_EQ(quantile_sorted(v, 0), 1);
    EXPECT_DOUBLE_EQ(quantile_sorted(v, 1), 5);
    EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.5), 3);
    EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.1), 1.4);  // h = 0.4
    EXPECT_DOUBLE_EQ(quantile_sorted({7}, 0.3), 7);
}

TEST(Bootstrap, UndefinedBelowTwoDocuments) {
    EXPECT_FALSE(bootstrap_pooled_ppl({1.0}, {1}, 100, 1));
    EXPECT_FALSE(bootstrap_pooled_ppl({}, {}, 100, 1));
}

TEST(Bootstrap, DrawsAreMt19937ModN) {
    // Specified draws: unit = rng() % n with std::mt19937_64(seed); three resamples by hand.
    std::vector<double> nll = {1.0, 4.0, 10.0};
    std::vector<int64_t> cnt = {1, 2, 5};
    auto b = bootstrap_pooled_ppl(nll, cnt, 3, 42, true);
    ASSERT_TRUE(b);
    ASSERT_EQ(b->values.size(), 3u);
    std::mt19937_64 rng(42);
    for (int r = 0; r < 3; r++) {
        double s = 0;
        int64_t c = 0;
        for (int j = 0; j < 3; j++) {
            auto u = rng() % 3;
            s += nll[u];
            c += cnt[u];
        }
        EXPECT_DOUBLE_EQ(b->values[r], std::exp(s / c)) << "resample " << r;
    }
}

TEST(Bootstrap, TwoDocumentHandCase) {
    // Docs A (nll 1, 1 token) and B (nll 3, 1 token). A resample of 2 is AA (e¹, p=1/4),
    // AB/BA (e², 1/2) or BB (e³, 1/4); the 2.5% and 97.5% quantiles are e¹ and e³.
    auto b = bootstrap_pooled_ppl({1.0, 3.0}, {1, 1}, 2000, 7, true);
    ASSERT_TRUE(b);
    int n1 = 0, n2 = 0, n3 = 0;
    for (double v : b->values) {
        if (std::abs(v - std::exp(1.0)) < 1e-12) n1++;
        else if (std::abs(v - std::exp(2.0)) < 1e-12) n2++;
        else if (std::abs(v - std::exp(3.0)) < 1e-12) n3++;
        else ADD_FAILURE() << "unexpected resample value " << v;
    }
    EXPECT_EQ(n1 + n2 + n3, 2000);
    // Binomial(2000, 1/2): sd 22; ±5 sd.
    EXPECT_NEAR(n2, 1000, 112);
    EXPECT_NEAR(n1, 500, 100);
    EXPECT_DOUBLE_EQ(b->ci.lo, std::exp(1.0));
    EXPECT_DOUBLE_EQ(b->ci.hi, std::exp(3.0));
    // Fixed seed: deterministic; another seed: other draws.
    auto again = bootstrap_pooled_ppl({1.0, 3.0}, {1, 1}, 2000, 7, true);
    EXPECT_EQ(again->values, b->values);
    auto other = bootstrap_pooled_ppl({1.0, 3.0}, {1, 1}, 2000, 8, true);
    EXPECT_NE(other->values, b->values);
}
