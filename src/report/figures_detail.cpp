// Per-method, per-position and rope figures (figures.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "report/figures.h"

namespace rb::report {

using namespace rb::plot;

namespace {

constexpr double k_two_pi = 6.28318530717958647692;


// The member of `e` that belongs to `method` (its params describe the entry for that method).
const Experiment* member_of(const Entry& e, const std::string& method) {
    for (auto* x : e.members)
        if (x->method == method) return x;
    return e.rep;
}

// Best entry per method at L (plain RoPE first), the configurations the per-L text names.
std::vector<std::pair<std::string, const Entry*>> named_at(const Analysis& a, int64_t L) {
    std::vector<std::pair<std::string, const Entry*>> v;
    if (auto* p = a.baseline_at(L)) v.push_back({"default", p});
    for (auto& m : a.methods)
        if (auto* b = a.best_of_method(m, L, Metric::ppl)) v.push_back({m, b});
    return v;
}

std::string curve_label(const std::string& m, const Entry* e) {
    return m == "default" ? "plain RoPE (reference)" : member_of(*e, m)->config;
}

// NLL-by-position series of an entry (bucket centres), with an optional band.
LineSeries position_series(const Entry& e, const std::string& label, const Rgb& c) {
    LineSeries s;
    s.label = label;
    s.color = c;
    const PositionCurve& pc = *e.curve;
    s.markers = pc.mean_nll.size() <= 40;
    for (size_t i = 0; i < pc.mean_nll.size(); i++) {
        if (!std::isfinite(pc.mean_nll[i])) continue;
        s.x.push_back((static_cast<double>(i) + 0.5) * static_cast<double>(pc.size));
        s.y.push_back(pc.mean_nll[i]);
    }
    return s;
}

// Band: the range over the method's other distinct configurations at L, bucket by bucket.
void add_config_band(LineSeries& s, const std::vector<const Entry*>& others, int64_t size) {
    if (others.size() < 2) return;
    for (double x : s.x) {
        size_t b = static_cast<size_t>(x / static_cast<double>(size));
        Num lo, hi;
        for (auto* e : others) {
            if (!e->curve || e->curve->size != size || b >= e->curve->mean_nll.size()) continue;
            double v = e->curve->mean_nll[b];
            if (!std::isfinite(v)) continue;
            lo = lo ? std::min(*lo, v) : v;
            hi = hi ? std::max(*hi, v) : v;
        }
        s.band_lo.push_back(lo);
        s.band_hi.push_back(hi);
    }
}

std::vector<const Entry*> method_entries(const Analysis& a, const std::string& m, int64_t L) {
    std::vector<const Entry*> v;
    for (auto& e : a.entries.at(L))
        if (!e.baseline && e.has(m) && e.curve) v.push_back(&e);
    return v;
}

// The NLL-by-position panel at L: each named configuration, bands over the method's others.
LinePanel position_panel(const Analysis& a, int64_t L, int64_t& size, bool& banded) {
    LinePanel lp;
    lp.x_label = "token position in the window (bucket centre)";
    lp.y_label = "mean NLL (nats / token)";
    size = 0;
    banded = false;
    for (auto& [m, e] : named_at(a, L)) {
        if (!e->curve) continue;
        LineSeries s = position_series(*e, curve_label(m, e), method_color(a, m));
        s.dashed = m == "default";
        if (m != "default") add_config_band(s, method_entries(a, m, L), e->curve->size);
        banded |= !s.band_lo.empty();
        size = std::max(size, e->curve->size);
        lp.series.push_back(s);
    }
    if (a.trained_ctx) lp.vlines.push_back({static_cast<double>(*a.trained_ctx), "trained length"});
    return lp;
}

std::vector<RopeCurve> rope_curves(const Analysis& a, int64_t L, std::vector<std::string>& missing) {
    std::vector<RopeCurve> v;
    for (auto& [m, e] : named_at(a, L)) {
        auto rv = rope_view(member_of(*e, m));
        if (!rv) {
            missing.push_back(member_of(*e, m)->config);
            continue;
        }
        v.push_back({curve_label(m, e), rv->t, rv->plain, method_color(a, m), m == "default"});
    }
    return v;
}

}  // namespace

plot::LinePanel rope_scale_panel(const std::vector<RopeCurve>& curves) {
    LinePanel lp;
    lp.x_label = "dimension pair i (high frequency -> low frequency)";
    lp.y_label = "plain inv_freq / scaled inv_freq (log)";
    lp.log_y = true;
    for (auto& c : curves) {
        LineSeries s;
        s.label = c.label;
        s.color = c.color;
        s.dashed = c.dashed;
        s.markers = c.t.inv_freq.size() <= 32;
        for (size_t i = 0; i < c.t.inv_freq.size() && i < c.plain.size(); i++) {
            s.x.push_back(static_cast<double>(i));
            s.y.push_back(c.plain[i] / c.t.inv_freq[i]);
        }
        lp.series.push_back(s);
        if (lp.x_ticks.empty() && s.x.size() <= 16)  // integer pair indices
            for (double x : s.x) lp.x_ticks.push_back(x);
    }
    return lp;
}

plot::LinePanel rope_wavelength_panel(const std::vector<RopeCurve>& curves, const std::vector<HLine>& marks) {
    LinePanel lp = rope_scale_panel(curves);
    lp.y_label = "wavelength 2 pi / inv_freq after scaling (tokens, log)";
    for (size_t k = 0; k < curves.size(); k++) {
        auto& s = lp.series[k];
        for (size_t i = 0; i < s.x.size(); i++) s.y[i] = k_two_pi / curves[k].t.inv_freq[i];
    }
    lp.hlines = marks;
    return lp;
}

void fig_nll_position(const Analysis& a, FigureSet& out) {
    for (auto& [L, es] : a.entries) {
        if (a.trained_ctx && L <= *a.trained_ctx) continue;
        int64_t size = 0;
        bool banded = false;
        LinePanel lp = position_panel(a, L, size, banded);
        if (lp.series.empty()) {
            out.notes.push_back(fmt::format("NLL-vs-position plot for L={} skipped: no record holds ppl.buckets.", L));
            continue;
        }
        LineFigure f;
        f.title = fmt::format("Mean NLL by position at L = {} (best configuration per method{})", L,
                              banded ? "; band: range over its other configurations" : "");
        f.panels = {lp};
        f.width = 1200;
        f.height = 560;
        std::string buckets = size == k_figure_bucket ? fmt::format("{}-token buckets", size)
                                                      : fmt::format("{}-token buckets as stored (the records' buckets are "
                                                                    "coarser than {} tokens)",
                                                                    size, k_figure_bucket);
        out.add(fmt::format("nll_position_L{}", L),
                fmt::format("Mean NLL per window position at L = {} in {}; lines: each method's best configuration, dashed: "
                            "plain RoPE; {}dashed vertical line: trained length.",
                            L, buckets, banded ? "bands: range over the method's other distinct configurations; " : ""),
                f.width, f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
    }
}

void fig_rope_scaling(const Analysis& a, FigureSet& out) {
    if (a.entries.empty()) return;
    int64_t L = a.entries.rbegin()->first;
    std::vector<std::string> missing;
    auto curves = rope_curves(a, L, missing);
    if (!missing.empty()) {
        std::string x;
        for (auto& s : missing) x += (x.empty() ? "" : "; ") + s;
        out.notes.push_back("RoPE scaling curve skipped for " + x +
                            ": the record lacks model.head_dim or rope.resolved (the geometry needed to compute inv_freq).");
    }
    if (curves.empty()) return;
    for (auto& c : curves)
        if (c.t.attention_factor != 1.0) c.label += fmt::format(" (attn {:.3g})", c.t.attention_factor);
    LineFigure f;
    f.title = fmt::format("RoPE scale factor per dimension pair at L = {} (the configurations the summary names)", L);
    f.panels = {rope_scale_panel(curves)};
    f.width = 1250;
    f.height = 560;
    out.add("rope_scaling",
            fmt::format("Scale factor per dimension pair of plain RoPE and each method's best configuration at L = {}, "
                        "computed with src/rope from the records.",
                        L),
            f.width, f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
}

void fig_where_it_breaks(const Analysis& a, FigureSet& out) {
    if (!a.trained_ctx || a.entries.empty() || a.entries.rbegin()->first <= *a.trained_ctx) return;
    int64_t L = a.entries.rbegin()->first, T = *a.trained_ctx, size = 0;
    bool banded = false;
    LinePanel left = position_panel(a, L, size, banded);
    std::vector<std::string> missing;
    auto curves = rope_curves(a, L, missing);
    if (left.series.empty() || curves.empty()) {
        out.notes.push_back("where_it_breaks skipped: it needs ppl.buckets and the model geometry in the records.");
        return;
    }
    left.title = fmt::format("NLL by position at L = {}", L);
    for (auto& s : left.series) s.band_lo.clear(), s.band_hi.clear();
    LinePanel right = rope_wavelength_panel(
        curves, {{static_cast<double>(T), fmt::format("trained length T = {}", T)}, {static_cast<double>(L), fmt::format("L = {}", L)}});
    right.title = "wavelength of each rope dimension after scaling";
    LineFigure f;
    f.title = fmt::format("Where each configuration breaks: loss past the trained length T = {} beside the rotary "
                          "wavelengths it was trained on",
                          T);
    f.panels = {left, right};
    f.cols = 2;
    f.width = 1500;
    f.height = 600;
    out.add("where_it_breaks",
            fmt::format("Left: mean NLL per window position at L = {} (best configuration per method, plain RoPE dashed), "
                        "trained length marked. Right: each dimension pair's wavelength after scaling; pairs whose "
                        "wavelength exceeds T never completed a turn in training, and a configuration breaks where the "
                        "positions past T put those pairs at angles never seen.",
                        L),
            f.width, f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
}

}  // namespace rb::report
