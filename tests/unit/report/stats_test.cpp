// Statistics against hand-computed values. Each expected number is derived in a comment;
// tolerances are 1e-12 relative (double arithmetic of a handful of terms) unless stated.
#include <gtest/gtest.h>

#include <cmath>

#include "report/stats.h"

namespace rb::report {
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

TEST(Stats, SplitMix64ReferenceVectors) {
    // Published SplitMix64 outputs for seed 0 (Vigna's reference implementation).
    SplitMix64 g(0);
    EXPECT_EQ(g.next(), 0xe220a8397b1dcdafULL);
    EXPECT_EQ(g.next(), 0x6e789e6aa1b965f4ULL);
    EXPECT_EQ(g.next(), 0x06c45d188009454fULL);
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

}  // namespace
}  // namespace rb::report
