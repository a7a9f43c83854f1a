#include "util/plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace rb::plot {

const std::array<Rgb, 8>& okabe_ito() {
    static const std::array<Rgb, 8> p = {{
        {230 / 255.0, 159 / 255.0, 0 / 255.0},    // orange
        {86 / 255.0, 180 / 255.0, 233 / 255.0},   // sky blue
        {0 / 255.0, 158 / 255.0, 115 / 255.0},    // bluish green
        {240 / 255.0, 228 / 255.0, 66 / 255.0},   // yellow
        {0 / 255.0, 114 / 255.0, 178 / 255.0},    // blue
        {213 / 255.0, 94 / 255.0, 0 / 255.0},     // vermillion
        {204 / 255.0, 121 / 255.0, 167 / 255.0},  // reddish purple
        {0.0, 0.0, 0.0},                          // black
    }};
    return p;
}

namespace {

double nice_step(double range, int target) {
    double raw = range / std::max(target, 1);
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double f = raw / mag;
    double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    return nice * mag;
}

std::string tick_label(double v, bool log) {
    if (v == 0) return "0";
    double a = std::fabs(v);
    if (log || a >= 1e5 || a < 1e-3) {
        // powers of ten and large/small values: compact %g
        return fmt::format("{:g}", v);
    }
    std::string s = fmt::format("{:.6g}", v);
    return s;
}

struct Axis {
    double lo, hi;
    bool log;
    double px0, px1;  // pixel positions of lo and hi
    double map(double v) const {
        double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
        return px0 + t * (px1 - px0);
    }
    bool usable(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

void data_range(const LineChart& c, bool for_x, double& lo, double& hi) {
    bool log = for_x ? c.log_x : c.log_y;
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    auto take = [&](double v) {
        if (!std::isfinite(v) || (log && v <= 0)) return;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    };
    for (auto& s : c.series) {
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); i++) {
            if (for_x) {
                take(s.x[i]);
            } else {
                take(s.y[i]);
                if (i < s.y_lo.size()) take(s.y_lo[i]);
                if (i < s.y_hi.size()) take(s.y_hi[i]);
            }
        }
    }
    if (for_x)
        for (auto& v : c.vlines) take(v.x);
    if (!std::isfinite(lo)) {
        lo = log ? 1 : 0;
        hi = log ? 10 : 1;
    }
    if (lo == hi) {
        if (log) {
            lo /= 2;
            hi *= 2;
        } else {
            double d = lo == 0 ? 1 : std::fabs(lo) * 0.1;
            lo -= d;
            hi += d;
        }
    } else if (!for_x) {
        // a little headroom on y
        if (log) {
            double span = std::log10(hi) - std::log10(lo);
            lo = std::pow(10.0, std::log10(lo) - 0.04 * span);
            hi = std::pow(10.0, std::log10(hi) + 0.04 * span);
        } else {
            double span = hi - lo;
            lo -= 0.04 * span;
            hi += 0.04 * span;
        }
    }
}

void set_color(cairo_t* cr, const Rgb& c, double a = 1.0) { cairo_set_source_rgba(cr, c.r, c.g, c.b, a); }

double text_width(cairo_t* cr, const std::string& s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.c_str(), &e);
    return e.x_advance;
}

void draw(cairo_t* cr, const LineChart& c) {
    const double W = c.width, H = c.height;
    const double fs = std::max(11.0, std::min(W, H) / 48.0);  // base font size
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);

    // background
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);

    // legend size (outside the plot, on the right)
    cairo_set_font_size(cr, fs);
    double legend_w = 0;
    size_t n_legend = 0;
    for (auto& s : c.series)
        if (!s.label.empty()) {
            legend_w = std::max(legend_w, text_width(cr, s.label));
            n_legend++;
        }
    legend_w = std::min(legend_w, W * 0.35);
    double right = n_legend ? legend_w + 3.2 * fs + 10 : 2 * fs;

    double top = c.title.empty() ? 1.5 * fs : 3.0 * fs;
    double bottom = H - (c.x_label.empty() ? 2.6 * fs : 4.2 * fs);

    // y range first, to know the tick label width
    double ylo, yhi, xlo, xhi;
    data_range(c, false, ylo, yhi);
    data_range(c, true, xlo, xhi);
    if (c.y_min) ylo = *c.y_min;
    if (c.y_max) yhi = *c.y_max;
    if (c.x_min) xlo = *c.x_min;
    if (c.x_max) xhi = *c.x_max;
    if (!(yhi > ylo) || !(xhi > xlo) || (c.log_y && ylo <= 0) || (c.log_x && xlo <= 0))
        throw Error("plot: {}: invalid axis limits", c.title);
    auto yt = axis_ticks(ylo, yhi, c.log_y);
    auto xt = axis_ticks(xlo, xhi, c.log_x);
    double ytw = 0;
    cairo_set_font_size(cr, fs * 0.9);
    for (double v : yt) ytw = std::max(ytw, text_width(cr, tick_label(v, c.log_y)));
    double left = ytw + (c.y_label.empty() ? 1.2 * fs : 2.8 * fs) + 6;

    Axis ax{xlo, xhi, c.log_x, left, W - right};
    Axis ay{ylo, yhi, c.log_y, bottom, top};

    // grid + ticks
    cairo_set_line_width(cr, 1.0);
    cairo_set_font_size(cr, fs * 0.9);
    for (double v : yt) {
        double y = ay.map(v);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, left, y);
        cairo_line_to(cr, W - right, y);
        cairo_stroke(cr);
        std::string s = tick_label(v, c.log_y);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        cairo_move_to(cr, left - 6 - text_width(cr, s), y + fs * 0.3);
        cairo_show_text(cr, s.c_str());
    }
    for (double v : xt) {
        double x = ax.map(v);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, x, top);
        cairo_line_to(cr, x, bottom);
        cairo_stroke(cr);
        std::string s = tick_label(v, c.log_x);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        cairo_move_to(cr, x - text_width(cr, s) / 2, bottom + 1.3 * fs);
        cairo_show_text(cr, s.c_str());
    }
    // frame
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, left, top, W - right - left, bottom - top);
    cairo_stroke(cr);

    // clip to the plot area for data
    cairo_save(cr);
    cairo_rectangle(cr, left, top, W - right - left, bottom - top);
    cairo_clip(cr);

    // vertical reference lines
    for (auto& v : c.vlines) {
        if (!ax.usable(v.x)) continue;
        double x = ax.map(v.x);
        double dash[] = {4.0, 4.0};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        cairo_set_line_width(cr, 1.2);
        cairo_move_to(cr, x, top);
        cairo_line_to(cr, x, bottom);
        cairo_stroke(cr);
        cairo_set_dash(cr, nullptr, 0, 0);
        if (!v.label.empty()) {
            cairo_set_font_size(cr, fs * 0.8);
            cairo_move_to(cr, x + 4, top + fs);
            cairo_show_text(cr, v.label.c_str());
        }
    }

    const auto& pal = okabe_ito();
    for (size_t si = 0; si < c.series.size(); si++) {
        const Series& s = c.series[si];
        Rgb col = s.color ? *s.color : pal[si % pal.size()];
        size_t n = std::min(s.x.size(), s.y.size());
        // band
        if (s.y_lo.size() >= n && s.y_hi.size() >= n && n > 0) {
            set_color(cr, col, 0.18);
            size_t i = 0;
            while (i < n) {
                // one polygon per run of usable points
                size_t j = i;
                while (j < n && ax.usable(s.x[j]) && ay.usable(s.y_lo[j]) && ay.usable(s.y_hi[j])) j++;
                if (j - i >= 2) {
                    cairo_move_to(cr, ax.map(s.x[i]), ay.map(s.y_hi[i]));
                    for (size_t k = i + 1; k < j; k++) cairo_line_to(cr, ax.map(s.x[k]), ay.map(s.y_hi[k]));
                    for (size_t k = j; k-- > i;) cairo_line_to(cr, ax.map(s.x[k]), ay.map(s.y_lo[k]));
                    cairo_close_path(cr);
                    cairo_fill(cr);
                }
                i = j + 1;
            }
        }
        // line
        set_color(cr, col);
        cairo_set_line_width(cr, 2.2);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        if (s.dashed) {
            double dash[] = {7.0, 4.0};
            cairo_set_dash(cr, dash, 2, 0);
        }
        bool pen = false;
        for (size_t i = 0; i < n; i++) {
            if (!ax.usable(s.x[i]) || !ay.usable(s.y[i])) {
                pen = false;
                continue;
            }
            double x = ax.map(s.x[i]), y = ay.map(s.y[i]);
            if (pen)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            pen = true;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, nullptr, 0, 0);
        if (s.markers || n == 1) {
            for (size_t i = 0; i < n; i++) {
                if (!ax.usable(s.x[i]) || !ay.usable(s.y[i])) continue;
                cairo_arc(cr, ax.map(s.x[i]), ay.map(s.y[i]), 3.2, 0, 2 * M_PI);
                cairo_fill(cr);
            }
        }
    }
    cairo_restore(cr);

    // title and axis labels
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (!c.title.empty()) {
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, fs * 1.15);
        double tw = text_width(cr, c.title);
        cairo_move_to(cr, std::max(4.0, (left + W - right) / 2 - tw / 2), 1.9 * fs);
        cairo_show_text(cr, c.title.c_str());
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    }
    cairo_set_font_size(cr, fs);
    if (!c.x_label.empty()) {
        double tw = text_width(cr, c.x_label);
        cairo_move_to(cr, (left + W - right) / 2 - tw / 2, H - 0.9 * fs);
        cairo_show_text(cr, c.x_label.c_str());
    }
    if (!c.y_label.empty()) {
        double tw = text_width(cr, c.y_label);
        cairo_save(cr);
        cairo_move_to(cr, 1.4 * fs, (top + bottom) / 2 + tw / 2);
        cairo_rotate(cr, -M_PI / 2);
        cairo_show_text(cr, c.y_label.c_str());
        cairo_restore(cr);
    }

    // legend
    if (n_legend) {
        cairo_set_font_size(cr, fs);
        double lx = W - right + 10, ly = top + 0.5 * fs;
        for (size_t si = 0; si < c.series.size(); si++) {
            const Series& s = c.series[si];
            if (s.label.empty()) continue;
            Rgb col = s.color ? *s.color : pal[si % pal.size()];
            set_color(cr, col);
            cairo_set_line_width(cr, 2.6);
            if (s.dashed) {
                double dash[] = {5.0, 3.0};
                cairo_set_dash(cr, dash, 2, 0);
            }
            cairo_move_to(cr, lx, ly + 0.5 * fs);
            cairo_line_to(cr, lx + 2.2 * fs, ly + 0.5 * fs);
            cairo_stroke(cr);
            cairo_set_dash(cr, nullptr, 0, 0);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            std::string label = s.label;
            for (size_t keep = s.label.size(); keep > 1 && text_width(cr, label) > legend_w + 0.5;) {
                keep--;
                label = s.label.substr(0, keep) + "...";
            }
            cairo_move_to(cr, lx + 2.8 * fs, ly + 0.85 * fs);
            cairo_show_text(cr, label.c_str());
            ly += 1.6 * fs;
        }
    }
}

std::string lower_ext(const std::string& path) {
    auto dot = path.rfind('.');
    if (dot == std::string::npos) return "";
    std::string e = path.substr(dot + 1);
    for (auto& ch : e) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return e;
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, bool log, int target) {
    std::vector<double> t;
    if (!(hi > lo)) return t;
    if (!log) {
        double step = nice_step(hi - lo, target);
        double start = std::ceil(lo / step - 1e-9) * step;
        for (double v = start; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
        return t;
    }
    int k0 = static_cast<int>(std::floor(std::log10(lo) + 1e-12)), k1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-12));
    int decades = k1 - k0;
    std::vector<double> mult = std::log10(hi / lo) < 3 ? std::vector<double>{1, 2, 5} : std::vector<double>{1};
    int every = std::max(1, decades / std::max(target, 1) + (decades % std::max(target, 1) ? 1 : 0));
    for (int k = k0; k <= k1; k++) {
        if (mult.size() == 1 && (k - k0) % every) continue;
        for (double m : mult) {
            double v = m * std::pow(10.0, k);
            if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) t.push_back(v);
        }
    }
    if (t.size() < 2) {
        // less than a decade with no 1/2/5 inside: fall back to linear-style ticks
        t = axis_ticks(lo, hi, false, target);
        t.erase(std::remove_if(t.begin(), t.end(), [](double v) { return v <= 0; }), t.end());
    }
    return t;
}

void save_line_chart(const LineChart& chart, const std::string& path) {
    if (chart.width < 100 || chart.height < 100)
        throw Error("plot: {}: size {}x{} too small", path, chart.width, chart.height);
    std::string ext = lower_ext(path);
    if (ext != "png" && ext != "svg") throw Error("plot: {}: unknown image type '.{}', expected .png or .svg", path, ext);
    cairo_surface_t* surf = ext == "png" ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, chart.width, chart.height)
                                         : cairo_svg_surface_create(path.c_str(), chart.width, chart.height);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        std::string msg = cairo_status_to_string(cairo_surface_status(surf));
        cairo_surface_destroy(surf);
        throw Error("plot: {}: cannot create the image: {}", path, msg);
    }
    cairo_t* cr = cairo_create(surf);
    try {
        draw(cr, chart);
    } catch (...) {
        cairo_destroy(cr);
        cairo_surface_destroy(surf);
        throw;
    }
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && ext == "png") st = cairo_surface_write_to_png(surf, path.c_str());
    cairo_surface_finish(surf);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surf);
    cairo_surface_destroy(surf);
    if (st != CAIRO_STATUS_SUCCESS) throw Error("plot: {}: cannot write the image: {}", path, cairo_status_to_string(st));
}

}  // namespace rb::plot
