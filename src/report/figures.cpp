#include "report/figures.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

namespace rb::report {

using namespace rb::plot;

void FigureSet::add(const std::string& name, const std::string& caption, int w, int h, const DrawFn& draw) {
    std::filesystem::create_directories(dir);
    save_png_svg((std::filesystem::path(dir) / name).string(), w, h, draw);
    figures.push_back({name, caption});
}

namespace {


// The longest L past the trained context with results (the longest L without one).
std::optional<int64_t> focus_length(const Analysis& a) {
    if (a.entries.empty()) return std::nullopt;
    return a.entries.rbegin()->first;
}

std::vector<double> ctx_ticks(const Analysis& a) {
    std::vector<double> t;
    for (auto& [L, es] : a.entries) t.push_back(static_cast<double>(L));
    return t;
}

// The entries of `method` at L (or the plain-RoPE entry for "default").
std::vector<const Entry*> entries_of(const Analysis& a, const std::string& method, int64_t L) {
    std::vector<const Entry*> v;
    auto it = a.entries.find(L);
    if (it == a.entries.end()) return v;
    for (auto& e : it->second)
        if (method == "default" ? e.baseline : (!e.baseline && e.has(method))) v.push_back(&e);
    return v;
}

std::string plain_label() { return "plain RoPE (reference)"; }

}  // namespace

Rgb method_color(const Analysis& a, const std::string& m) {
    auto it = std::find(a.methods.begin(), a.methods.end(), m);
    return it == a.methods.end() ? Rgb{0.3, 0.3, 0.3} : category_color(static_cast<size_t>(it - a.methods.begin()));
}

void fig_method_comparison(const Analysis& a, FigureSet& out) {
    auto L = focus_length(a);
    if (!L) return;
    std::vector<std::string> groups = a.methods;
    groups.insert(groups.begin(), "default");
    BoxFigure f;
    f.title = fmt::format("Distinct configurations of each method at L = {} (box from n >= {}, points below)", *L, k_min_box);
    struct P {
        Metric m;
        const char* title;
        const char* y;
        bool log;
    };
    for (P p : {P{Metric::ppl, "Perplexity", "PPL (log scale)", true}, P{Metric::longppl, "LongPPL", "LongPPL (log scale)", true},
                P{Metric::passkey, "Passkey retrieval", "accuracy (fraction correct)", false}}) {
        BoxPanel bp{p.title, p.y, p.log, {}, {}, {}, {}, {}};
        if (p.m == Metric::passkey) bp.y_min = -0.02, bp.y_max = 1.02;
        bool any = false;
        for (auto& g : groups) {
            std::vector<double> v;
            for (auto* e : entries_of(a, g, *L))
                if (auto x = entry_value(e, p.m)) v.push_back(*x), any = true;
            bp.groups.push_back(g == "default" ? "plain RoPE" : g);
            bp.colors.push_back(method_color(a, g));
            bp.values.push_back(v);
        }
        if (any) f.panels.push_back(bp);
    }
    if (f.panels.empty()) return;
    f.width = std::clamp((90 * static_cast<int>(groups.size()) + 100) * static_cast<int>(f.panels.size()), 900, 1700);
    f.height = 520;
    out.add("method_comparison",
            fmt::format("Each method's distinct configurations at L = {} (aliases once); a box needs at least {} points, "
                        "fewer are drawn as points; n under each group.",
                        *L, k_min_box),
            f.width, f.height, [f](cairo_t* cr) { draw_boxes(cr, f); });
}

void fig_heatmap_ppl(const Analysis& a, FigureSet& out) {
    if (a.entries.empty()) return;
    std::vector<std::string> rows = a.methods;
    rows.insert(rows.begin(), "default");
    HeatmapFigure f;
    f.title = "Perplexity by method and context length";
    f.value_label = "PPL";
    f.log_scale = true;
    Heatmap best{"best configuration", "context length L (tokens)", "method", {}, {}, {}, {}},
        avg{"geometric mean over distinct configurations", "context length L (tokens)", "", {}, {}, {}, {}};
    for (auto& [L, es] : a.entries) best.col_labels.push_back(std::to_string(L)), avg.col_labels.push_back(std::to_string(L));
    for (auto& m : rows) {
        std::string name = m == "default" ? "plain RoPE" : m;
        best.row_labels.push_back(name);
        avg.row_labels.push_back(name);
        std::vector<Num> rb, ra;
        for (auto& [L, es] : a.entries) {
            std::vector<double> xs;
            Num lo;
            for (auto* e : entries_of(a, m, L))
                if (auto v = entry_value(e, Metric::ppl)) xs.push_back(*v), lo = lo ? std::min(*lo, *v) : *v;
            rb.push_back(lo);
            ra.push_back(geomean(xs));
        }
        best.values.push_back(rb);
        avg.values.push_back(ra);
    }
    f.panels = {best, avg};
    f.width = std::max(900, 300 + 2 * 110 * static_cast<int>(a.entries.size()) + 300);
    f.height = std::max(300, 140 + 46 * static_cast<int>(rows.size()));
    out.add("heatmap_ppl",
            "PPL of each method's best configuration (left) and the geometric mean over its distinct configurations (right); "
            "viridis, log colour scale, darker = lower PPL.",
            f.width, f.height, [f](cairo_t* cr) { draw_heatmap(cr, f); });
}

void fig_metrics_vs_context(const Analysis& a, FigureSet& out) {
    LineFigure f;
    f.title = "Best configuration per method vs context length (bars: 95% intervals where defined)";
    struct P {
        Metric m;
        const char* title;
        const char* y;
        bool log;
    };
    std::vector<std::string> ms = a.methods;
    ms.insert(ms.begin(), "default");
    for (P p : {P{Metric::ppl, "Perplexity", "PPL (log scale; bars: bootstrap, n >= 10 docs)", true},
                P{Metric::longppl, "LongPPL", "LongPPL (log scale; no interval)", true},
                P{Metric::passkey, "Passkey retrieval", "accuracy (bars: Wilson 95%)", false}}) {
        LinePanel lp;
        lp.title = p.title;
        lp.x_label = "context length L (tokens, log scale)";
        lp.y_label = p.y;
        lp.log_x = true;
        lp.log_y = p.log;
        lp.x_ticks = ctx_ticks(a);
        if (p.m == Metric::passkey) lp.y_min = -0.02, lp.y_max = 1.02;
        bool any = false;
        for (auto& m : ms) {
            LineSeries s;
            s.label = m == "default" ? plain_label() : m;
            s.color = method_color(a, m);
            s.dashed = m == "default";
            for (auto& [L, es] : a.entries) {
                const Entry* b = m == "default" ? a.baseline_at(L) : a.best_of_method(m, L, p.m);
                if (!b || !entry_value(b, p.m)) continue;
                s.x.push_back(static_cast<double>(L));
                s.y.push_back(*entry_value(b, p.m));
                const CiValue* c = entry_ci(b, p.m);
                s.lo.push_back(c ? c->ci.lo : std::nullopt);
                s.hi.push_back(c ? c->ci.hi : std::nullopt);
                any = true;
            }
            lp.series.push_back(s);
        }
        if (a.trained_ctx) lp.vlines.push_back({static_cast<double>(*a.trained_ctx), "trained"});
        if (any) f.panels.push_back(lp);
    }
    if (f.panels.empty()) return;
    f.width = 430 * static_cast<int>(f.panels.size()) + 240;
    f.height = 520;
    out.add("metrics_vs_context",
            "Best configuration of each method at each L and plain RoPE (dashed); bars: the report's 95% intervals (PPL: "
            "bootstrap over >= 10 documents, absent below; passkey: Wilson); dashed vertical line: trained context.",
            f.width, f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
}

namespace {

// Numeric rope_scaling keys of `method` with at least two values among its entries.
std::vector<std::string> varied_keys(const Analysis& a, const std::string& method) {
    std::map<std::string, std::set<double>> vals;
    for (auto* e : a.all_entries())
        for (auto* x : e->members)
            if (x->method == method && x->params.is_object())
                for (auto it = x->params.begin(); it != x->params.end(); ++it)
                    if (it->is_number() && it.key() != "original_max_position_embeddings") vals[it.key()].insert(it->get<double>());
    std::vector<std::string> keys;
    for (auto& [k, v] : vals)
        if (v.size() >= 2) keys.push_back(k);
    return keys;
}

LinePanel param_panel(const Analysis& a, const std::string& method, const std::string& key, Metric me) {
    LinePanel lp;
    lp.title = fmt::format("{} vs {}", metric_name(me), key);
    lp.x_label = key + " (rope_scaling value)";
    lp.y_label = me == Metric::passkey ? "passkey accuracy" : std::string(metric_name(me)) + " (log scale)";
    lp.log_y = me != Metric::passkey;
    if (me == Metric::passkey) lp.y_min = -0.02, lp.y_max = 1.02;
    size_t li = 0;
    for (auto& [L, es] : a.entries) {
        std::map<double, std::vector<double>> pts;
        for (auto& e : es)
            for (auto* x : e.members)
                if (x->method == method && x->params.is_object() && x->params.contains(key) && x->params[key].is_number()) {
                    if (auto v = entry_value(&e, me)) pts[x->params[key].get<double>()].push_back(*v);
                    break;  // an entry counts once
                }
        Rgb col = category_color(li++);
        if (pts.empty()) continue;
        LineSeries dots, line;
        dots.color = line.color = col;
        dots.line = false;
        line.label = fmt::format("L={}", L);
        line.markers = false;
        for (auto& [x, ys] : pts) {
            for (double y : ys) dots.x.push_back(x), dots.y.push_back(y);
            line.x.push_back(x);
            line.y.push_back(me == Metric::passkey ? *mean(ys) : *geomean(ys));
        }
        lp.series.push_back(dots);
        lp.series.push_back(line);
    }
    return lp;
}

}  // namespace

void fig_param_effects(const Analysis& a, FigureSet& out) {
    for (auto& m : a.methods) {
        LineFigure f;
        f.title = fmt::format("Parameter effects: {} (dots: distinct configurations; line: geometric mean / mean per value)", m);
        f.legend_title = "context length";
        for (auto& k : varied_keys(a, m))
            for (Metric me : k_metrics) {
                LinePanel lp = param_panel(a, m, k, me);
                if (!lp.series.empty()) f.panels.push_back(lp);
            }
        if (f.panels.empty()) continue;
        f.cols = 3;
        size_t rows = (f.panels.size() + 2) / 3;
        f.width = 1400;
        f.height = 80 + 380 * static_cast<int>(rows);
        out.add("param_effects_" + safe_name(m),
                fmt::format("Metric vs each numeric rope_scaling parameter of {}, one colour per context length.", m), f.width,
                f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
    }
}

void fig_passkey_depth(const Analysis& a, FigureSet& out) {
    for (auto& m : a.methods) {
        std::set<double> depths;
        std::map<int64_t, const Entry*> best;
        for (auto& [L, es] : a.entries)
            if (auto* b = a.best_of_method(m, L, Metric::passkey)) {
                best[L] = b;
                for (auto& d : b->rep->record->passkey->per_depth) depths.insert(d.depth);
            }
        if (best.empty() || depths.empty()) continue;
        HeatmapFigure f;
        f.title = fmt::format("Passkey accuracy by needle depth and context length: {}", m);
        f.value_label = "accuracy (fraction correct)";
        f.vmin = 0.0;
        f.vmax = 1.0;
        Heatmap h;
        h.title = "best passkey configuration at each L; cell: accuracy, n trials";
        h.x_label = "context length L (tokens)";
        h.y_label = "needle depth";
        for (auto& [L, e] : best) h.col_labels.push_back(std::to_string(L));
        for (double d : depths) {
            h.row_labels.push_back(fmt::format("{:.0f}%", d * 100));
            std::vector<Num> row;
            std::vector<std::string> ann;
            for (auto& [L, e] : best) {
                Num v;
                std::string t;
                for (auto& pd : e->rep->record->passkey->per_depth)
                    if (pd.depth == d && pd.trials > 0)
                        v = static_cast<double>(pd.correct) / pd.trials, t = fmt::format("{:.2f}\nn={}", *v, pd.trials);
                row.push_back(v);
                ann.push_back(t);
            }
            h.values.push_back(row);
            h.annotations.push_back(ann);
        }
        f.panels = {h};
        f.width = std::max(700, 420 + 110 * static_cast<int>(best.size()));
        f.height = std::max(360, 150 + 40 * static_cast<int>(depths.size()));
        out.add("passkey_depth_" + safe_name(m), fmt::format("Passkey accuracy of {} by depth (rows) and L (columns).", m), f.width,
                f.height, [f](cairo_t* cr) { draw_heatmap(cr, f); });
    }
}

void fig_scatter_matrix(const Analysis& a, FigureSet& out) {
    auto all = a.all_entries();
    std::vector<Metric> ms;
    for (Metric me : k_metrics)
        if (std::any_of(all.begin(), all.end(), [&](auto* e) { return entry_value(e, me).has_value(); })) ms.push_back(me);
    if (ms.size() < 2) {
        out.notes.push_back("Scatter matrix skipped: fewer than two metrics were measured.");
        return;
    }
    ScatterMatrix sm;
    sm.title = "Metric scatter matrix (one point per distinct configuration, colour = context length)";
    for (Metric me : ms) {
        sm.var_labels.push_back(me == Metric::passkey ? "passkey accuracy" : std::string(metric_name(me)) + " (log)");
        sm.log_axis.push_back(me != Metric::passkey);
        sm.domain.push_back(me == Metric::passkey ? std::optional<std::pair<double, double>>(std::pair(0.0, 1.0)) : std::nullopt);
        std::vector<double> col;
        for (auto* e : all) col.push_back(entry_value(e, me).value_or(std::nan("")));
        sm.data.push_back(col);
    }
    std::map<int64_t, size_t> li;
    for (auto& [L, es] : a.entries) li[L] = sm.category_labels.size(), sm.category_labels.push_back(fmt::format("L={}", L));
    for (auto* e : all) sm.category.push_back(li[e->ctx]);
    sm.category_title = "context length";
    sm.width = 300 * static_cast<int>(ms.size()) + 260;
    sm.height = 300 * static_cast<int>(ms.size()) + 100;
    out.add("scatter_matrix", "Pairwise scatter of the metrics over distinct configurations (log axes for PPL and LongPPL); "
            "diagonal: histograms.", sm.width, sm.height, [sm](cairo_t* cr) { draw_scatter_matrix(cr, sm); });
}

void draw_figures(const Analysis& a, FigureSet& out) {
    fig_where_it_breaks(a, out);
    fig_metrics_vs_context(a, out);
    fig_nll_position(a, out);
    fig_heatmap_ppl(a, out);
    fig_method_comparison(a, out);
    fig_rope_scaling(a, out);
    fig_param_effects(a, out);
    fig_passkey_depth(a, out);
    fig_scatter_matrix(a, out);
}

}  // namespace rb::report
