// Statistics for the report: descriptive summaries, Pearson and Spearman correlations with
// Fisher-z intervals, Wilson intervals and a seeded percentile bootstrap.
//
// Undefined values (too few points, a constant column, an interval with no width to
// estimate) are std::nullopt, never NaN; format() prints them as "undefined" and
// to_json() as null (with a sibling "*_note" where the caller adds one).
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rb::report {

using Num = std::optional<double>;

/// "undefined" for nullopt, else the value with `sig` significant digits.
std::string format(Num v, int sig = 4);
/// null for nullopt (never NaN), else the number.
nlohmann::json to_json(Num v);

Num mean(const std::vector<double>& xs);
/// Sample standard deviation (n - 1); undefined for n < 2.
Num stddev(const std::vector<double>& xs);
/// Quantile with linear interpolation between order statistics (Hyndman & Fan type 7,
/// the default of R and numpy): h = (n-1)p, q = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
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
};

struct Correlation {
    size_t n = 0;
    Num r;          // undefined for n < 3 or a constant column
    Num lo, hi;     // 95% interval; undefined for n < 4 or |r| = 1
    std::string note;  // why something is undefined ("" when all is defined)
};

constexpr double k_z975 = 1.959963984540054;  // standard normal 97.5% quantile

/// tanh(atanh r -+ 1.96 se), se = 1/sqrt(n-3) (Fisher) or sqrt((1 + r^2/2)/(n-3))
/// (Bonett & Wright, for Spearman); undefined for n < 4 or |r| >= 1.
Interval fisher_z_interval(double r, size_t n, bool bonett_wright = false);

/// Pearson r with the Fisher-z interval tanh(atanh r ± z / sqrt(n - 3)).
Correlation pearson(const std::vector<double>& x, const std::vector<double>& y);
/// Spearman rho (Pearson on average ranks, so ties are handled) with a Fisher-z interval
/// using the Bonett & Wright (2000) standard error sqrt((1 + rho^2 / 2) / (n - 3)).
Correlation spearman(const std::vector<double>& x, const std::vector<double>& y);

/// Wilson score interval for k successes out of n (z = 1.96); undefined for n = 0.
Interval wilson(int64_t k, int64_t n, double z = k_z975);

/// Deterministic generator (SplitMix64) so bootstrap results are the same on every
/// platform and standard library.
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t seed) : m_state(seed) {}
    uint64_t next();
    /// Uniform index in [0, n) (multiply-shift; bias < n / 2^64).
    size_t index(size_t n);

private:
    uint64_t m_state;
};

/// Percentile bootstrap: `resamples` resamples of xs with replacement (SplitMix64(seed)),
/// statistic on each, interval = type-7 quantiles at (1-level)/2 and (1+level)/2.
/// Undefined for fewer than 2 values.
Interval bootstrap_ci(const std::vector<double>& xs, const std::function<double(const std::vector<double>&)>& stat,
                      int resamples, uint64_t seed, double level = 0.95);

}  // namespace rb::report
