#include "report/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace rb::report {

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

Num quantile(std::vector<double> xs, double p) {
    if (xs.empty() || !(p >= 0 && p <= 1)) return std::nullopt;
    std::sort(xs.begin(), xs.end());
    double h = (static_cast<double>(xs.size()) - 1) * p;
    size_t lo = static_cast<size_t>(std::floor(h));
    if (lo + 1 >= xs.size()) return xs.back();
    return xs[lo] + (h - static_cast<double>(lo)) * (xs[lo + 1] - xs[lo]);
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
    return {std::tanh(z - k_z975 * se), std::tanh(z + k_z975 * se)};
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
    double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
    double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

uint64_t SplitMix64::next() {
    uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

size_t SplitMix64::index(size_t n) {
    return static_cast<size_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
}

Interval bootstrap_ci(const std::vector<double>& xs, const std::function<double(const std::vector<double>&)>& stat,
                      int resamples, uint64_t seed, double level) {
    if (xs.size() < 2 || resamples < 1) return {};
    SplitMix64 rng(seed);
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

}  // namespace rb::report
