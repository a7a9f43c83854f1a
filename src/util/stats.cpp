#include "util/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace rb {

std::string format(Num v, int sig) {
    if (!v || !std::isfinite(*v)) return "undefined";
    return fmt::format("{:.{}g}", *v, sig);
}

nlohmann::json to_json(Num v) {
    if (!v || !std::isfinite(*v)) return nullptr;
    return *v;
}

Num mean(const std::vector<double>& xs) {
    if (xs.empty()) return std::nullopt;
    double s = 0;
    for (double x : xs) s += x;
    return s / static_cast<double>(xs.size());
}

Num stddev(const std::vector<double>& xs) {
    if (xs.size() < 2) return std::nullopt;
    double m = *mean(xs), s = 0;
    for (double x : xs) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(xs.size() - 1));
}

Num quantile_sorted(const std::vector<double>& v, double p) {
    if (v.empty() || !(p >= 0 && p <= 1)) return std::nullopt;
    const double h = (static_cast<double>(v.size()) - 1) * p;
    const size_t i = static_cast<size_t>(std::floor(h));
    if (i + 1 >= v.size()) return v.back();
    return v[i] + (h - static_cast<double>(i)) * (v[i + 1] - v[i]);
}

Num quantile(std::vector<double> xs, double p) {
    std::sort(xs.begin(), xs.end());
    return quantile_sorted(xs, p);
}

Num median(const std::vector<double>& xs) { return quantile(xs, 0.5); }

Num geomean(const std::vector<double>& xs) {
    if (xs.empty()) return std::nullopt;
    double s = 0;
    for (double x : xs) {
        if (!(x > 0)) return std::nullopt;
        s += std::log(x);
    }
    return std::exp(s / static_cast<double>(xs.size()));
}

Summary summarize(const std::vector<double>& xs) {
    Summary s;
    s.n = xs.size();
    s.mean = mean(xs);
    s.std = stddev(xs);
    if (!xs.empty()) {
        s.min = *std::min_element(xs.begin(), xs.end());
        s.max = *std::max_element(xs.begin(), xs.end());
    }
    s.q25 = quantile(xs, 0.25);
    s.median = quantile(xs, 0.5);
    s.q75 = quantile(xs, 0.75);
    return s;
}

std::vector<double> average_ranks(const std::vector<double>& xs) {
    std::vector<size_t> idx(xs.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return xs[a] < xs[b]; });
    std::vector<double> r(xs.size());
    for (size_t i = 0; i < idx.size();) {
        size_t j = i;
        while (j + 1 < idx.size() && xs[idx[j + 1]] == xs[idx[i]]) j++;
        double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
        for (size_t k = i; k <= j; k++) r[idx[k]] = avg;
        i = j + 1;
    }
    return r;
}

namespace {

Correlation correlate(const std::vector<double>& x, const std::vector<double>& y, bool bonett_wright) {
    Correlation c;
    c.n = std::min(x.size(), y.size());
    if (c.n < 3) {
        c.note = fmt::format("undefined: n = {} < 3", c.n);
        return c;
    }
    double mx = 0, my = 0;
    for (size_t i = 0; i < c.n; i++) mx += x[i], my += y[i];
    mx /= static_cast<double>(c.n);
    my /= static_cast<double>(c.n);
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < c.n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx == 0 || syy == 0) {
        c.note = "undefined: constant column";
        return c;
    }
    double r = std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
    c.r = r;
    if (c.n < 4) {
        c.note = "interval undefined: n = 3 (Fisher z needs n > 3)";
        return c;
    }
    if (std::fabs(r) >= 1.0) {
        c.note = "interval undefined: |r| = 1";
        return c;
    }
    Interval iv = fisher_z_interval(r, c.n, bonett_wright);
    c.lo = iv.lo;
    c.hi = iv.hi;
    return c;
}

}  // namespace

Interval fisher_z_interval(double r, size_t n, bool bonett_wright) {
    if (n < 4 || !(std::fabs(r) < 1.0)) return {};
    double se = bonett_wright ? std::sqrt((1.0 + r * r / 2.0) / (static_cast<double>(n) - 3.0))
                              : 1.0 / std::sqrt(static_cast<double>(n) - 3.0);
    double z = std::atanh(r);
    return {std::tanh(z - k_z95 * se), std::tanh(z + k_z95 * se)};
}

Correlation pearson(const std::vector<double>& x, const std::vector<double>& y) { return correlate(x, y, false); }

Correlation spearman(const std::vector<double>& x, const std::vector<double>& y) {
    size_t n = std::min(x.size(), y.size());
    std::vector<double> xs(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<double> ys(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n));
    return correlate(average_ranks(xs), average_ranks(ys), true);
}

Interval wilson(int64_t k, int64_t n, double z) {
    if (n <= 0 || k < 0 || k > n) return {};
    const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
    const double denom = 1 + z2 / nn;
    const double centre = (p + z2 / (2 * nn)) / denom;
    const double half = z / denom * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    Interval r{std::max(0.0, centre - half), std::min(1.0, centre + half)};
    if (k == 0) r.lo = 0.0;  // centre == half analytically; avoid a rounding residue
    if (k == n) r.hi = 1.0;
    return r;
}

std::vector<size_t> resample_indices(Rng& rng, size_t n, size_t block) {
    std::vector<size_t> idx;
    if (n == 0) return idx;
    block = std::clamp<size_t>(block, 1, n);
    idx.reserve(n + block);
    while (idx.size() < n) {
        size_t start = rng.index(n - block + 1);
        for (size_t j = 0; j < block && idx.size() < n; j++) idx.push_back(start + j);
    }
    return idx;
}

size_t block_length(size_t n) {
    return std::max<size_t>(1, static_cast<size_t>(std::lround(std::cbrt(static_cast<double>(n)))));
}

std::optional<Bootstrap> bootstrap_pooled_ppl(const std::vector<double>& nll, const std::vector<int64_t>& count,
                                             int resamples, uint64_t seed, bool keep_values, size_t block) {
    const size_t n = std::min(nll.size(), count.size());
    if (n < 2 || resamples < 1) return std::nullopt;
    Rng rng(seed);
    std::vector<double> vals(static_cast<size_t>(resamples));
    for (auto& v : vals) {
        double s = 0;  // NLL sums in double (STYLE.md)
        int64_t c = 0;
        for (size_t u : resample_indices(rng, n, block)) {
            s += nll[u];
            c += count[u];
        }
        v = c > 0 ? std::exp(s / static_cast<double>(c)) : NAN;
    }
    Bootstrap b;
    b.resamples = resamples;
    b.seed = seed;
    b.block = std::clamp<size_t>(block, 1, n);
    if (keep_values) b.values = vals;
    std::vector<double> fin;
    for (double v : vals)
        if (std::isfinite(v)) fin.push_back(v);
    std::sort(fin.begin(), fin.end());
    b.ci = {quantile_sorted(fin, 0.025), quantile_sorted(fin, 0.975)};
    return b;
}

Interval bootstrap_ci(const std::vector<double>& xs, const std::function<double(const std::vector<double>&)>& stat,
                      int resamples, uint64_t seed, double level) {
    if (xs.size() < 2 || resamples < 1) return {};
    Rng rng(seed);
    std::vector<double> stats, sample(xs.size());
    stats.reserve(static_cast<size_t>(resamples));
    for (int b = 0; b < resamples; b++) {
        for (auto& v : sample) v = xs[rng.index(xs.size())];
        double s = stat(sample);
        if (std::isfinite(s)) stats.push_back(s);
    }
    if (stats.size() < 2) return {};
    return {quantile(stats, (1 - level) / 2), quantile(stats, (1 + level) / 2)};
}

}  // namespace rb
