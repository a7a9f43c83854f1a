// The shared statistics (util/stats) against hand-computed values. Each expected number is derived in a comment;
// tolerances are 1e-12 relative (double arithmetic of a handful of terms) unless stated.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "util/stats.h"

namespace rb {
namespace {

constexpr double k_tol = 1e-12;

TEST(Stats, Descriptive) {
    // x = 2 4 4 4 5 5 7 9: sum 40, mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32;
    // sample variance 32/7, std sqrt(32/7) = 2.1380899352993950.
    std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
    EXPECT_NEAR(*mean(x), 5.0, k_tol);
    EXPECT_NEAR(*stddev(x), std::sqrt(32.0 / 7.0), k_tol);
    EXPECT_NEAR(*stddev(x), 2.138089935299395, 1e-12);
    // type 7: h = (n-1)p. median: h = 3.5 -> x[3] + 0.5 (x[4]-x[3]) = 4 + 0.5 = 4.5
    EXPECT_NEAR(*median(x), 4.5, k_tol);
    // q25: h = 1.75 -> x[1] + .75 (x[2]-x[1]) = 4; q75: h = 5.25 -> 5 + .25*(7-5) = 5.5
    EXPECT_NEAR(*quantile(x, 0.25), 4.0, k_tol);
    EXPECT_NEAR(*quantile(x, 0.75), 5.5, k_tol);
    EXPECT_NEAR(*quantile(x, 0.0), 2.0, k_tol);
    EXPECT_NEAR(*quantile(x, 1.0), 9.0, k_tol);
    // geomean(1, 10, 100) = 10
    EXPECT_NEAR(*geomean({1, 10, 100}), 10.0, 1e-12);
    Summary s = summarize(x);
    EXPECT_EQ(s.n, 8u);
    EXPECT_EQ(*s.min, 2.0);
    EXPECT_EQ(*s.max, 9.0);
}

TEST(Stats, UndefinedIsNotNan) {
    EXPECT_FALSE(mean({}).has_value());
    EXPECT_FALSE(stddev({3.0}).has_value());  // n < 2
    EXPECT_FALSE(median({}).has_value());
    EXPECT_FALSE(geomean({1.0, 0.0}).has_value());
    EXPECT_EQ(format(stddev({3.0})), "undefined");
    EXPECT_TRUE(to_json(std::nullopt).is_null());
    EXPECT_TRUE(to_json(std::nan("")).is_null());
    EXPECT_EQ(format(std::nan("")), "undefined");
    EXPECT_EQ(format(2.5), "2.5");
}

TEST(Stats, AverageRanksWithTies) {
    // 2 4 5 4 5 -> sorted 2 4 4 5 5: ranks 1, (2+3)/2, (4+5)/2
    auto r = average_ranks({2, 4, 5, 4, 5});
    std::vector<double> want = {1, 2.5, 4.5, 2.5, 4.5};
    ASSERT_EQ(r.size(), want.size());
    for (size_t i = 0; i < r.size(); i++) EXPECT_EQ(r[i], want[i]) << i;
}

TEST(Stats, PearsonHand) {
    // x = 1..5 (mean 3), y = 2 4 5 4 5 (mean 4); dx = -2 -1 0 1 2, dy = -2 0 1 0 1.
    // Sxy = 4 + 0 + 0 + 0 + 2 = 6, Sxx = 10, Syy = 4 + 0 + 1 + 0 + 1 = 6 -> r = 6/sqrt(60).
    // Fisher: z = atanh r, se = 1/sqrt(5-3); CI = tanh(z -+ 1.959964 se) = [-0.340082, 0.984236].
    Correlation c = pearson({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5});
    EXPECT_EQ(c.n, 5u);
    EXPECT_NEAR(*c.r, 6.0 / std::sqrt(60.0), k_tol);
    EXPECT_NEAR(*c.lo, -0.34008203518751035, 1e-12);
    EXPECT_NEAR(*c.hi, 0.9842357551507267, 1e-12);
    EXPECT_TRUE(c.note.empty());
}

TEST(Stats, FisherIntervalMatchesMethodologyNumbers) {
    // methodology.md §5: r = -0.9 with n = 9 -> [-0.98, -0.59]; n = 24 -> [-0.96, -0.78]
    // (two decimals there, hence the 0.005 tolerance).
    Interval a = fisher_z_interval(-0.9, 9), b = fisher_z_interval(-0.9, 24);
    EXPECT_NEAR(*a.lo, -0.98, 0.005);
    EXPECT_NEAR(*a.hi, -0.59, 0.005);
    EXPECT_NEAR(*b.lo, -0.96, 0.005);
    EXPECT_NEAR(*b.hi, -0.78, 0.005);
    EXPECT_FALSE(fisher_z_interval(0.5, 3).lo.has_value());
    EXPECT_FALSE(fisher_z_interval(1.0, 30).lo.has_value());
}

TEST(Stats, SpearmanHandWithTies) {
    // ranks x = 1..5, ranks y = 1 2.5 4.5 2.5 4.5 (mean 3): dy = -2 -.5 1.5 -.5 1.5;
    // Sxy = 4 + .5 + 0 - .5 + 3 = 7, Sxx = 10, Syy = 4 + .25 + 2.25 + .25 + 2.25 = 9
    // rho = 7 / sqrt(90). Bonett-Wright se = sqrt((1 + rho^2/2) / 2): CI [-0.549332, 0.986851].
    Correlation c = spearman({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5});
    EXPECT_NEAR(*c.r, 7.0 / std::sqrt(90.0), k_tol);
    EXPECT_NEAR(*c.lo, -0.5493319918646762, 1e-12);
    EXPECT_NEAR(*c.hi, 0.9868508924745121, 1e-12);
    // monotone but non-linear: rho = 1 exactly, interval undefined (|r| = 1)
    Correlation m = spearman({1, 2, 3, 4}, {1, 8, 27, 1000});
    EXPECT_NEAR(*m.r, 1.0, k_tol);
    EXPECT_FALSE(m.lo.has_value());
    EXPECT_NE(m.note.find("|r| = 1"), std::string::npos);
}

TEST(Stats, CorrelationUndefinedCases) {
    Correlation a = pearson({1, 2}, {3, 4});  // n < 3
    EXPECT_FALSE(a.r.has_value());
    EXPECT_EQ(format(a.r), "undefined");
    EXPECT_NE(a.note.find("n = 2"), std::string::npos);
    Correlation b = spearman({1, 2, 3, 4}, {1, 1, 1, 1});  // constant column (passkey saturated)
    EXPECT_FALSE(b.r.has_value());
    EXPECT_NE(b.note.find("constant"), std::string::npos);
    Correlation c = pearson({1, 2, 3}, {1, 3, 2});  // n = 3: r defined (0.5), interval not
    EXPECT_NEAR(*c.r, 0.5, k_tol);
    EXPECT_FALSE(c.lo.has_value());
}

TEST(Stats, WilsonHand) {
    // k=7, n=10, z=1.959964: p=.7, z^2=3.841459; centre = (.7 + .192073)/(1.384146) = 0.644498;
    // half = z/1.384146 * sqrt(.021 + .0096036) = 0.247720 -> [0.396778, 0.892209]
    Interval w = wilson(7, 10);
    EXPECT_NEAR(*w.lo, 0.39677814746114537, 1e-12);
    EXPECT_NEAR(*w.hi, 0.8922087325936989, 1e-12);
    // k=0: lower bound 0, upper z^2/(n+z^2) = 3.841459/13.841459 = 0.277533
    Interval z = wilson(0, 10);
    EXPECT_NEAR(*z.lo, 0.0, 1e-15);
    EXPECT_NEAR(*z.hi, 0.2775327998628892, 1e-12);
    EXPECT_FALSE(wilson(0, 0).lo.has_value());
}

TEST(Stats, BootstrapSeededAndHandChecked) {
    auto m = [](const std::vector<double>& v) { return *mean(v); };
    // xs = {0, 1}: a resample's mean is 0, .5 or 1 with probabilities 1/4, 1/2, 1/4, so
    // with 4000 resamples the 2.5% quantile is 0 and the 97.5% quantile is 1 (the chance
    // that fewer than 2.5% of 4000 draws are 0 is negligible: expected 1000).
    Interval a = bootstrap_ci({0, 1}, m, 4000, 7);
    EXPECT_EQ(*a.lo, 0.0);
    EXPECT_EQ(*a.hi, 1.0);
    // fixed seed: identical; other seed: (almost surely) different endpoints
    std::vector<double> xs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    Interval b1 = bootstrap_ci(xs, m, 2000, 42), b2 = bootstrap_ci(xs, m, 2000, 42);
    // another seed: with irrational-spaced data every resample mean is distinct, so the
    // endpoints differ unless the resamples are identical
    std::vector<double> irr;
    for (int i = 1; i <= 10; i++) irr.push_back(std::sqrt(2.0 + i));
    Interval c1 = bootstrap_ci(irr, m, 200, 42), c2 = bootstrap_ci(irr, m, 200, 43);
    EXPECT_EQ(*b1.lo, *b2.lo);
    EXPECT_EQ(*b1.hi, *b2.hi);
    EXPECT_TRUE(*c1.lo != *c2.lo || *c1.hi != *c2.hi);
    // normal approximation: mean 5.5 +- 1.96 * sd_pop/sqrt(n) = 5.5 +- 1.96*2.8723/3.1623 = [3.72, 7.28];
    // tolerance 0.35 covers Monte Carlo error at B=2000 and the percentile method's small-n skew.
    EXPECT_NEAR(*b1.lo, 3.72, 0.35);
    EXPECT_NEAR(*b1.hi, 7.28, 0.35);
    // constant data: the interval collapses to the value; one point: undefined
    Interval c = bootstrap_ci({3, 3, 3}, m, 100, 1);
    EXPECT_EQ(*c.lo, 3.0);
    EXPECT_EQ(*c.hi, 3.0);
    EXPECT_FALSE(bootstrap_ci({3}, m, 100, 1).lo.has_value());
}

TEST(Wilson, ClosedFormsAtTheEdges) {
    // k = n: lower = n / (n + z²); k = 0: upper = z² / (n + z²) (center == half).
    const double z2 = k_z95 * k_z95;  // 3.841459
    auto a = wilson(10, 10);
    EXPECT_NEAR(*a.lo, 10 / (10 + z2), 1e-12);  // 0.72246
    EXPECT_EQ(*a.hi, 1.0);
    auto b = wilson(0, 10);
    EXPECT_EQ(*b.lo, 0.0);
    EXPECT_NEAR(*b.hi, z2 / (10 + z2), 1e-12);  // 0.27753
    auto c = wilson(1, 1);
    EXPECT_NEAR(*c.lo, 1 / (1 + z2), 1e-12);    // 0.20654
    EXPECT_EQ(*c.hi, 1.0);
    EXPECT_FALSE(wilson(0, 0).defined());
}

TEST(Wilson, HandValues) {
    // 5/10: center 0.5, half = z/(1+z²/10)·sqrt(0.025 + z²/400) = 1.416009·0.186021 = 0.263407.
    auto a = wilson(5, 10);
    EXPECT_NEAR(*a.lo, 0.236593, 1e-5);
    EXPECT_NEAR(*a.hi, 0.763407, 1e-5);
    // methodology.md §3.6: 20/20 → [0.84, 1.00], 50/50 → [0.93, 1.00] (2 decimals).
    EXPECT_NEAR(*wilson(20, 20).lo, 0.84, 0.005);
    EXPECT_NEAR(*wilson(50, 50).lo, 0.93, 0.005);
    // 88/110: center (0.8 + 1.920730/110)/(1 + 3.841459/110) = 0.817461/1.034922 = 0.789877,
    // half = 1.959964/1.034922 · sqrt(0.16/110 + 3.841459/48400) = 1.893829 · 0.039165 = 0.074172.
    auto d = wilson(88, 110);
    EXPECT_NEAR(*d.lo, 0.715705, 1e-5);
    EXPECT_NEAR(*d.hi, 0.864049, 1e-5);
}

TEST(Quantile, Type7Interpolation) {
    std::vector<double> v = {1, 2, 3, 4, 5};
    EXPECT_DOUBLE_EQ(*quantile_sorted(v, 0), 1);
    EXPECT_DOUBLE_EQ(*quantile_sorted(v, 1), 5);
    EXPECT_DOUBLE_EQ(*quantile_sorted(v, 0.5), 3);
    EXPECT_DOUBLE_EQ(*quantile_sorted(v, 0.1), 1.4);  // h = 0.4
    EXPECT_DOUBLE_EQ(*quantile_sorted({7}, 0.3), 7);
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
    EXPECT_DOUBLE_EQ(*b->ci.lo, std::exp(1.0));
    EXPECT_DOUBLE_EQ(*b->ci.hi, std::exp(3.0));
    // Fixed seed: deterministic; another seed: other draws.
    auto again = bootstrap_pooled_ppl({1.0, 3.0}, {1, 1}, 2000, 7, true);
    EXPECT_EQ(again->values, b->values);
    auto other = bootstrap_pooled_ppl({1.0, 3.0}, {1, 1}, 2000, 8, true);
    EXPECT_NE(other->values, b->values);
}

TEST(Bootstrap, BlockOfOneIsTheOrdinaryDraw) {
    // resample_indices(block = 1) = one rng() % n per unit, the draws eval's records specify.
    Rng a(5);
    std::mt19937_64 ref(5);
    for (int r = 0; r < 4; r++)
        for (size_t u : resample_indices(a, 7, 1)) EXPECT_EQ(u, ref() % 7);
}

TEST(Bootstrap, MovingBlocksAreConsecutive) {
    // n = 10, block 3: ceil(10/3) = 4 blocks, starts = rng() % 8, cut to 10 indices.
    Rng a(11);
    std::mt19937_64 ref(11);
    std::vector<size_t> want;
    while (want.size() < 10) {
        size_t s = ref() % 8;
        for (size_t j = 0; j < 3 && want.size() < 10; j++) want.push_back(s + j);
    }
    EXPECT_EQ(resample_indices(a, 10, 3), want);
    EXPECT_EQ(block_length(1), 1u);
    EXPECT_EQ(block_length(27), 3u);  // cbrt 27 = 3
    EXPECT_EQ(block_length(100), 5u);  // cbrt 100 = 4.64
}

TEST(Bootstrap, BlocksWidenTheIntervalOfCorrelatedUnits) {
    // 60 units in 6 runs of 10 equal values (strong lag-1 correlation): blocks of 10 keep
    // runs together, so the resampled mean varies more than with independent draws.
    std::vector<double> nll;
    std::vector<int64_t> cnt;
    for (int run = 0; run < 6; run++)
        for (int i = 0; i < 10; i++) nll.push_back(run % 2 ? 3.0 : 1.0), cnt.push_back(1);
    auto iid = bootstrap_pooled_ppl(nll, cnt, 2000, 3, false, 1);
    auto blk = bootstrap_pooled_ppl(nll, cnt, 2000, 3, false, 10);
    ASSERT_TRUE(iid && blk);
    EXPECT_EQ(blk->block, 10u);
    EXPECT_GT(std::log(*blk->ci.hi / *blk->ci.lo), 1.5 * std::log(*iid->ci.hi / *iid->ci.lo));
}

}  // namespace
}  // namespace rb
