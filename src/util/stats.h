// The statistics shared by eval (record intervals) and report (summaries, rankings,
// correlations): descriptive summaries, Pearson and Spearman correlations with Fisher-z
// intervals, Wilson intervals, and one seeded bootstrap (plain or moving-block) on one
// generator. docs/report.md and docs/record-schema.md describe how each is used.
//
// Undefined values (too few points, a constant column, an interval with no width to
// estimate) are std::nullopt, never NaN; format() prints them as "undefined" and
// to_json() as null.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace rb {

using Num = std::optional<double>;

/// "undefined" for nullopt, else the value with `sig` significant digits.
std::string format(Num v, int sig = 4);
/// null for nullopt (never NaN), else the number.
nlohmann::json to_json(Num v);

Num mean(const std::vector<double>& xs);
/// Sample standard deviation (n - 1); undefined for n < 2.
Num stddev(const std::vector<double>& xs);
/// The p-quantile of sorted values, linear interpolation between order statistics
/// (Hyndman & Fan type 7, the default of R and numpy): h = (n-1)p,
/// v[floor h] + (h - floor h)(v[floor h + 1] - v[floor h]). Undefined for an empty vector.
Num quantile_sorted(const std::vector<double>& sorted, double p);
/// quantile_sorted of a sorted copy.
Num quantile(std::vector<double> xs, double p);
Num median(const std::vector<double>& xs);
/// exp(mean(log x)); undefined when any x <= 0 or xs is empty.
Num geomean(const std::vector<double>& xs);

struct Summary {
    size_t n = 0;
    Num mean, std, min, q25, median, q75, max;
};
Summary summarize(const std::vector<double>& xs);

/// Ranks 1..n, ties get the average of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& xs);

struct Interval {
    Num lo, hi;
    bool defined() const { return lo.has_value() && hi.has_value(); }
};

struct Correlation {
    size_t n = 0;
    Num r;             // undefined for n < 3 or a constant column
    Num lo, hi;        // 95% interval; undefined for n < 4 or |r| = 1
    std::string note;  // why something is undefined ("" when all is defined)
};

/// z for a two-sided 95% interval (the 0.975 standard normal quantile).
inline constexpr double k_z95 = 1.959963984540054;

/// tanh(atanh r -+ z se), se = 1/sqrt(n-3) (Fisher) or sqrt((1 + r^2/2)/(n-3)) (Bonett &
/// Wright 2000, for Spearman); undefined for n < 4 or |r| >= 1.
Interval fisher_z_interval(double r, size_t n, bool bonett_wright = false);
/// Pearson r with the Fisher-z interval.
Correlation pearson(const std::vector<double>& x, const std::vector<double>& y);
/// Spearman rho (Pearson on average ranks, so ties are handled), Bonett-Wright interval.
Correlation spearman(const std::vector<double>& x, const std::vector<double>& y);

/// Wilson score interval for k successes in n trials (Wilson 1927):
///   centre = (p + z²/2n) / (1 + z²/n),  half = z/(1 + z²/n) · sqrt(p(1−p)/n + z²/4n²).
/// Exactly 0 / 1 at k = 0 / k = n; undefined for n <= 0 or k outside [0, n].
Interval wilson(int64_t k, int64_t n, double z = k_z95);

/// The one generator of every bootstrap: std::mt19937_64(seed) (fully specified by the
/// C++ standard, so the draws are the same on every platform), index = rng() mod n.
class Rng {
public:
    explicit Rng(uint64_t seed) : m_g(seed) {}
    size_t index(size_t n) { return static_cast<size_t>(m_g() % n); }

private:
    std::mt19937_64 m_g;
};

/// Indices of one resample of n ordered units: ceil(n / block) blocks of `block`
/// consecutive units, each starting at rng.index(n - block + 1), concatenated and cut to
/// n (the moving-block bootstrap, Künsch 1989). block = 1 is the ordinary bootstrap
/// (index = rng.index(n) per unit). block is clamped to [1, n].
std::vector<size_t> resample_indices(Rng& rng, size_t n, size_t block = 1);

/// Block length for units that are consecutive segments of longer documents:
/// round(n^(1/3)) (the rate of Hall, Horowitz & Jing 1995), at least 1.
size_t block_length(size_t n);

struct Bootstrap {
    Interval ci;
    int resamples = 0;
    uint64_t seed = 0;
    size_t block = 1;
    std::vector<double> values;  // the resampled statistics, in draw order (when kept)
};

/// Percentile bootstrap (95%) of the pooled perplexity exp(Σ nll / Σ count) over units
/// (documents or segments), resampled with resample_indices(Rng(seed), n, block).
/// nullopt with fewer than 2 units or resamples < 1.
std::optional<Bootstrap> bootstrap_pooled_ppl(const std::vector<double>& nll_sum, const std::vector<int64_t>& count,
                                             int resamples, uint64_t seed, bool keep_values = false, size_t block = 1);

/// Percentile bootstrap of stat(xs) (ordinary, Rng(seed)): interval = type-7 quantiles
/// at (1-level)/2 and (1+level)/2. Undefined for fewer than 2 values.
Interval bootstrap_ci(const std::vector<double>& xs, const std::function<double(const std::vector<double>&)>& stat,
                      int resamples, uint64_t seed, double level = 0.95);

}  // namespace rb
