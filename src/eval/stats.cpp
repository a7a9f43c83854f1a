#include "eval/stats.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "util/error.h"

namespace rb {

std::optional<Interval> wilson_interval(int64_t k, int64_t n, double z) {
    if (n <= 0) return std::nullopt;
    RB_CHECK(k >= 0 && k <= n);
    const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
    const double denom = 1 + z2 / nn;
    const double center = (p + z2 / (2 * nn)) / denom;
    const double half = z / denom * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    Interval r{std::max(0.0, center - half), std::min(1.0, center + half)};
    if (k == 0) r.lo = 0;  // center == half analytically; avoid a rounding residue
    if (k == n) r.hi = 1;
    return r;
}

double quantile_sorted(const std::vector<double>& v, double p) {
    RB_CHECK(!v.empty() && p >= 0 && p <= 1);
    const double h = (static_cast<double>(v.size()) - 1) * p;
    const size_t i = static_cast<size_t>(std::floor(h));
    if (i + 1 >= v.size()) return v.back();
    return v[i] + (h - static_cast<double>(i)) * (v[i + 1] - v[i]);
}

std::optional<Bootstrap> bootstrap_pooled_ppl(const std::vector<double>& nll, const std::vector<int64_t>& count,
                                             int resamples, uint64_t seed, bool keep_values) {
    RB_CHECK(nll.size() == count.size());
    const size_t n = nll.size();
    if (n < 2 || resamples < 1) return std::nullopt;
    std::mt19937_64 rng(seed);
    std::vector<double> vals(static_cast<size_t>(resamples));
    for (auto& v : vals) {
        double s = 0;  // NLL sums in double (STYLE.md)
        int64_t c = 0;
        for (size_t j = 0; j < n; j++) {
            size_t u = static_cast<size_t>(rng() % n);
            s += nll[u];
            c += count[u];
        }
        v = c > 0 ? std::exp(s / static_cast<double>(c)) : NAN;
    }
    Bootstrap b;
    b.resamples = resamples;
    b.seed = seed;
    if (keep_values) b.values = vals;
    std::sort(vals.begin(), vals.end());
    b.ci = {quantile_sorted(vals, 0.025), quantile_sorted(vals, 0.975)};
    return b;
}

}  // namespace rb
