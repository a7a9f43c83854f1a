// Interval estimates for the metrics (methodology.md §5): Wilson score intervals for
// passkey accuracies, percentile bootstrap over documents for pooled perplexities.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace rb {

struct Interval {
    double lo = 0, hi = 0;
};

/// z for a two-sided 95% interval (the 0.975 normal quantile).
inline constexpr double k_z95 = 1.959963984540054;

/// Wilson score interval for k successes in n trials (Wilson 1927):
///   center = (p + z²/2n) / (1 + z²/n),  half = z/(1 + z²/n) · sqrt(p(1−p)/n + z²/4n²).
/// Exactly 0 / 1 at k = 0 / k = n. nullopt when n = 0.
std::optional<Interval> wilson_interval(int64_t k, int64_t n, double z = k_z95);

/// The p-quantile of sorted values with linear interpolation between order statistics
/// (Hyndman–Fan type 7, numpy's default): h = (n−1)p, v[⌊h⌋] + (h−⌊h⌋)(v[⌊h⌋+1] − v[⌊h⌋]).
double quantile_sorted(const std::vector<double>& sorted, double p);

struct Bootstrap {
    Interval ci;
    int resamples = 0;
    uint64_t seed = 0;
    std::vector<double> values;  // the resampled statistics, in draw order (when kept)
};

/// Percentile bootstrap (95%) of the pooled perplexity exp(Σ nll / Σ count) over units
/// (documents): each resample draws units.size() units with replacement; unit index =
/// rng() mod n with std::mt19937_64(seed) (fully specified by the C++ standard, so the
/// draws are the same on every platform). nullopt with fewer than 2 units.
std::optional<Bootstrap> bootstrap_pooled_ppl(const std::vector<double>& nll_sum, const std::vector<int64_t>& count,
                                             int resamples, uint64_t seed, bool keep_values = false);

}  // namespace rb
