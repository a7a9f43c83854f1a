#include "util/plot.h"

#include <cairo-svg.h>
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <cmath>
#include <limits>
#include <map>

#include "util/error.h"

namespace rb::plot {

const std::array<Rgb, 8>& okabe_ito() {
    static const std::array<Rgb, 8> p = {{
        {230 / 255.0, 159 / 255.0, 0 / 255.0},
        {86 / 255.0, 180 / 255.0, 233 / 255.0},
        {0 / 255.0, 158 / 255.0, 115 / 255.0},
        {240 / 255.0, 228 / 255.0, 66 / 255.0},
        {0 / 255.0, 114 / 255.0, 178 / 255.0},
        {213 / 255.0, 94 / 255.0, 0 / 255.0},
        {204 / 255.0, 121 / 255.0, 167 / 255.0},
        {0.0, 0.0, 0.0},
    }};
    return p;
}

Rgb category_color(size_t i) {
    static const int order[8] = {4, 5, 2, 0, 1, 6, 7, 3};  // blue, vermillion, green, orange, sky, purple, black, yellow
    return okabe_ito()[order[i % 8]];
}

Rgb viridis(double t) {
    static const double a[11][3] = {{68, 1, 84},    {72, 36, 117},  {65, 68, 135},  {53, 95, 141},
                                    {42, 120, 142}, {33, 145, 140}, {34, 168, 132}, {68, 191, 112},
                                    {122, 209, 81}, {189, 223, 38}, {253, 231, 37}};
    if (!std::isfinite(t)) t = 0;
    t = std::clamp(t, 0.0, 1.0) * 10.0;
    int i = std::min(9, static_cast<int>(std::floor(t)));
    double f = t - i;
    Rgb c;
    c.r = (a[i][0] + f * (a[i + 1][0] - a[i][0])) / 255.0;
    c.g = (a[i][1] + f * (a[i + 1][1] - a[i][1])) / 255.0;
    c.b = (a[i][2] + f * (a[i + 1][2] - a[i][2])) / 255.0;
    return c;
}

double viridis_position(const Rgb& c) {
    double best = 0, best_d = std::numeric_limits<double>::infinity();
    for (int i = 0; i <= 1024; i++) {
        Rgb v = viridis(i / 1024.0);
        double d = (v.r - c.r) * (v.r - c.r) + (v.g - c.g) * (v.g - c.g) + (v.b - c.b) * (v.b - c.b);
        if (d < best_d) best_d = d, best = i / 1024.0;
    }
    return best;
}

double luminance(const Rgb& c) {
    auto lin = [](double u) { return u <= 0.04045 ? u / 12.92 : std::pow((u + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

namespace {

bool ends_with_ci(const std::string& s, const std::string& ext) {
    if (s.size() < ext.size()) return false;
    for (size_t i = 0; i < ext.size(); i++)
        if (std::tolower(static_cast<unsigned char>(s[s.size() - ext.size() + i])) != ext[i]) return false;
    return true;
}

// Draws into `tmp` (PNG or SVG); returns the Cairo status.
cairo_status_t render(const std::string& tmp, bool png, int w, int h, const DrawFn& draw) {
    cairo_surface_t* surf = png ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h)
                                : cairo_svg_surface_create(tmp.c_str(), w, h);
    cairo_status_t st = cairo_surface_status(surf);
    if (st != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return st;
    }
    cairo_t* cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    try {
        draw(cr);
    } catch (...) {
        cairo_destroy(cr);
        cairo_surface_destroy(surf);
        throw;
    }
    st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && png) st = cairo_surface_write_to_png(surf, tmp.c_str());
    cairo_surface_finish(surf);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surf);
    cairo_surface_destroy(surf);
    return st;
}

}  // namespace

void save_figure(const std::string& path, int w, int h, const DrawFn& draw) {
    bool png = ends_with_ci(path, ".png");
    if (!png && !ends_with_ci(path, ".svg")) throw Error("{}: the file name must end in .png or .svg", path);
    std::string tmp = path + ".tmp" + std::to_string(::getpid());
    std::error_code ec;
    cairo_status_t st;
    try {
        st = render(tmp, png, w, h, draw);
    } catch (...) {
        std::filesystem::remove(tmp, ec);
        throw;
    }
    if (st != CAIRO_STATUS_SUCCESS) {
        std::filesystem::remove(tmp, ec);
        throw Error("{}: cannot write the image: {}", path, cairo_status_to_string(st));
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::error_code ec2;
        std::filesystem::remove(tmp, ec2);
        throw Error("{}: cannot rename into place: {}", path, ec.message());
    }
}

void save_png_svg(const std::string& base, int w, int h, const DrawFn& draw) {
    save_figure(base + ".png", w, h, draw);
    save_figure(base + ".svg", w, h, draw);
}

// ---------------------------------------------------------------- shared helpers
namespace {

constexpr double k_fs = 13.0;  // base font size (px / pt)

void color(cairo_t* cr, const Rgb& c, double a = 1.0) { cairo_set_source_rgba(cr, c.r, c.g, c.b, a); }

double text_w(cairo_t* cr, const std::string& s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.c_str(), &e);
    return e.x_advance;
}

void font(cairo_t* cr, double size, bool bold = false) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

// anchor: 0 left, 0.5 centre, 1 right; y is the baseline
void text(cairo_t* cr, double x, double y, const std::string& s, double anchor = 0) {
    cairo_move_to(cr, x - anchor * text_w(cr, s), y);
    cairo_show_text(cr, s.c_str());
}

void text_vertical(cairo_t* cr, double x, double y_centre, const std::string& s) {
    cairo_save(cr);
    cairo_move_to(cr, x, y_centre + text_w(cr, s) / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, s.c_str());
    cairo_restore(cr);
}

std::string fit(cairo_t* cr, const std::string& s, double max_w) {
    if (text_w(cr, s) <= max_w) return s;
    std::string t = s;
    while (t.size() > 1 && text_w(cr, t + "...") > max_w) t.pop_back();
    return t + "...";
}

std::string tick_label(double v) {
    if (v == 0) return "0";
    double a = std::fabs(v);
    if (a >= 1e5 || a < 1e-3) return fmt::format("{:.2g}", v);
    return fmt::format("{:.6g}", v);
}

struct Axis {
    double lo = 0, hi = 1;
    bool log = false;
    double p0 = 0, p1 = 1;  // pixel positions of lo and hi
    double map(double v) const {
        double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
        return p0 + t * (p1 - p0);
    }
    bool ok(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

// Range of values with a little padding; sane fallbacks for empty or constant data.
void pad_range(double& lo, double& hi, bool log, double pad = 0.05) {
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
        lo = log ? 1 : 0;
        hi = log ? 10 : 1;
        return;
    }
    if (log) {
        double a = std::log10(lo), b = std::log10(hi);
        if (a == b) a -= 0.3, b += 0.3;
        double s = b - a;
        lo = std::pow(10.0, a - pad * s);
        hi = std::pow(10.0, b + pad * s);
    } else {
        if (lo == hi) {
            double d = lo == 0 ? 1 : std::fabs(lo) * 0.1;
            lo -= d, hi += d;
        }
        double s = hi - lo;
        lo -= pad * s;
        hi += pad * s;
    }
}

// Draws the grid, ticks, frame, labels and title of a plot area.
void axes(cairo_t* cr, const Rect& r, const Axis& ax, const Axis& ay, const std::string& title,
          const std::string& x_label, const std::string& y_label, bool x_ticks = true,
          const std::vector<double>& x_tick_at = {}) {
    cairo_set_line_width(cr, 1.0);
    font(cr, k_fs * 0.85);
    for (double v : axis_ticks(ay.lo, ay.hi, ay.log)) {
        double y = ay.map(v);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, r.x, y);
        cairo_line_to(cr, r.x + r.w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        cairo_move_to(cr, r.x - 4, y);
        cairo_line_to(cr, r.x, y);
        cairo_stroke(cr);
        text(cr, r.x - 6, y + k_fs * 0.3, tick_label(v), 1.0);
    }
    if (x_ticks)
        for (double v : x_tick_at.empty() ? axis_ticks(ax.lo, ax.hi, ax.log) : x_tick_at) {
            if (v < std::min(ax.lo, ax.hi) || v > std::max(ax.lo, ax.hi)) continue;
            double x = ax.map(v);
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
            cairo_move_to(cr, x, r.y);
            cairo_line_to(cr, x, r.y + r.h);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            cairo_move_to(cr, x, r.y + r.h);
            cairo_line_to(cr, x, r.y + r.h + 4);
            cairo_stroke(cr);
            text(cr, x, r.y + r.h + k_fs * 1.2, tick_label(v), 0.5);
        }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_rectangle(cr, r.x, r.y, r.w, r.h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    font(cr, k_fs);
    if (!x_label.empty()) text(cr, r.x + r.w / 2, r.y + r.h + k_fs * 2.6, fit(cr, x_label, r.w + 40), 0.5);
    if (!y_label.empty()) text_vertical(cr, r.x - 52, r.y + r.h / 2, fit(cr, y_label, r.h));
    if (!title.empty()) {
        font(cr, k_fs, true);
        text(cr, r.x + r.w / 2, r.y - 8, fit(cr, title, r.w + 40), 0.5);
    }
}

void figure_title(cairo_t* cr, double w, const std::string& title) {
    if (title.empty()) return;
    cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
    double size = k_fs * 1.25;
    font(cr, size, true);
    while (text_w(cr, title) > w - 20 && size > k_fs * 0.8) font(cr, size *= 0.95, true);
    text(cr, w / 2, k_fs * 1.8, fit(cr, title, w - 20), 0.5);
}

// Panel rectangles in a grid inside `area`, leaving room for tick labels and axis titles.
std::vector<Rect> grid(const Rect& area, size_t n, int cols) {
    std::vector<Rect> out;
    if (n == 0) return out;
    size_t c = cols > 0 ? static_cast<size_t>(cols) : std::min<size_t>(n, 3);
    size_t rows = (n + c - 1) / c;
    double cw = area.w / static_cast<double>(c), ch = area.h / static_cast<double>(rows);
    for (size_t i = 0; i < n; i++) {
        double x = area.x + static_cast<double>(i % c) * cw, y = area.y + static_cast<double>(i / c) * ch;
        out.push_back({x + 72, y + 30, cw - 72 - 16, ch - 30 - 48});
    }
    return out;
}

// Words of `s` in lines no wider than max_w (a word longer than max_w gets its own line).
std::vector<std::string> wrap(cairo_t* cr, const std::string& s, double max_w) {
    std::vector<std::string> lines;
    std::string cur, word;
    auto flush_word = [&] {
        if (word.empty()) return;
        std::string cand = cur.empty() ? word : cur + " " + word;
        if (!cur.empty() && text_w(cr, cand) > max_w) lines.push_back(cur), cand = word;
        cur = cand;
        word.clear();
    };
    for (char c : s) {
        if (c == ' ') flush_word();
        else word += c;
    }
    flush_word();
    if (!cur.empty()) lines.push_back(cur);
    return lines;
}

constexpr double k_legend_max_w = 330;  // wider labels wrap onto more lines

// Legend entries: a line sample (or a dot) and the label, wrapped, never cut.
void legend(cairo_t* cr, double x, double y, const std::vector<std::pair<std::string, Rgb>>& items,
            const std::string& heading, double max_w, bool lines = true) {
    font(cr, k_fs * 0.9);
    if (!heading.empty()) {
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        font(cr, k_fs * 0.9, true);
        for (auto& l : wrap(cr, heading, max_w)) text(cr, x, y + k_fs, l), y += k_fs * 1.2;
        font(cr, k_fs * 0.9);
        y += k_fs * 0.3;
    }
    for (auto& [label, c] : items) {
        color(cr, c);
        if (lines) {
            cairo_set_line_width(cr, 2.5);
            cairo_move_to(cr, x, y + k_fs * 0.55);
            cairo_line_to(cr, x + 22, y + k_fs * 0.55);
            cairo_stroke(cr);
        }
        cairo_arc(cr, x + 11, y + k_fs * 0.55, 3.5, 0, 2 * M_PI);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        for (auto& l : wrap(cr, label, max_w - 30)) {
            text(cr, x + 28, y + k_fs * 0.9, l);
            y += k_fs * 1.2;
        }
        y += k_fs * 0.35;
    }
}

double legend_width(cairo_t* cr, const std::vector<std::pair<std::string, Rgb>>& items, const std::string& heading) {
    font(cr, k_fs * 0.9);
    double w = heading.empty() ? 0 : text_w(cr, heading) + 10;
    for (auto& it : items) w = std::max(w, text_w(cr, it.first) + 40);
    return std::min(w, k_legend_max_w);
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, bool log, int target) {
    std::vector<double> t;
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return t;
    if (!log) {
        double raw = (hi - lo) / std::max(target, 1);
        double mag = std::pow(10.0, std::floor(std::log10(raw)));
        double f = raw / mag;
        double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
        for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
            t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
        return t;
    }
    if (lo <= 0) return t;
    int k0 = static_cast<int>(std::floor(std::log10(lo))), k1 = static_cast<int>(std::ceil(std::log10(hi)));
    // the sparsest multiplier set that gives at least 3 ticks: decades, then 1-2-5, then finer
    const std::vector<std::vector<double>> sets = {{1}, {1, 2, 5}, {1, 1.5, 2, 3, 5, 7}};
    for (const auto& mult : sets) {
        t.clear();
        for (int k = k0; k <= k1; k++)
            for (double m : mult) {
                double v = m * std::pow(10.0, k);
                if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) t.push_back(v);
            }
        if (t.size() >= 3) {
            size_t every = (t.size() + 7) / 8;  // at most ~8 labels across many decades
            std::vector<double> thin;
            for (size_t i = 0; i < t.size(); i += every) thin.push_back(t[i]);
            return thin;
        }
    }
    t = axis_ticks(lo, hi, false, target);
    t.erase(std::remove_if(t.begin(), t.end(), [](double v) { return v <= 0; }), t.end());
    return t;
}

// ---------------------------------------------------------------- heatmap
namespace {
constexpr double k_hm_left = 150, k_hm_right = 120, k_hm_top = 64, k_hm_bottom = 70, k_hm_gap = 150;
}

HeatmapLayout heatmap_layout(const HeatmapFigure& f) {
    HeatmapLayout l;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (auto& p : f.panels)
        for (auto& row : p.values)
            for (auto& v : row)
                if (v && std::isfinite(*v) && (!f.log_scale || *v > 0)) lo = std::min(lo, *v), hi = std::max(hi, *v);
    if (f.vmin) lo = *f.vmin;
    if (f.vmax) hi = *f.vmax;
    if (!std::isfinite(lo)) lo = f.log_scale ? 1 : 0, hi = f.log_scale ? 10 : 1;
    if (lo == hi) hi = f.log_scale ? lo * 1.01 : lo + 1e-9;
    l.vmin = lo;
    l.vmax = hi;
    size_t np = std::max<size_t>(1, f.panels.size());
    double avail = f.width - k_hm_left - k_hm_right - k_hm_gap * static_cast<double>(np - 1);
    double pw = avail / static_cast<double>(np);
    for (size_t pi = 0; pi < f.panels.size(); pi++) {
        const Heatmap& p = f.panels[pi];
        size_t nr = std::max<size_t>(1, p.row_labels.size()), nc = std::max<size_t>(1, p.col_labels.size());
        double x0 = k_hm_left + static_cast<double>(pi) * (pw + k_hm_gap);
        double cw = pw / static_cast<double>(nc), ch = (f.height - k_hm_top - k_hm_bottom) / static_cast<double>(nr);
        std::vector<std::vector<Rect>> cells(p.row_labels.size());
        for (size_t r = 0; r < p.row_labels.size(); r++)
            for (size_t c = 0; c < p.col_labels.size(); c++)
                cells[r].push_back({x0 + static_cast<double>(c) * cw, k_hm_top + static_cast<double>(r) * ch, cw, ch});
        l.cells.push_back(std::move(cells));
    }
    return l;
}

double heatmap_t(const HeatmapFigure& f, const HeatmapLayout& l, double v) {
    if (f.log_scale) {
        if (!(v > 0)) return 0;
        return std::clamp((std::log10(v) - std::log10(l.vmin)) / (std::log10(l.vmax) - std::log10(l.vmin)), 0.0, 1.0);
    }
    return std::clamp((v - l.vmin) / (l.vmax - l.vmin), 0.0, 1.0);
}

// Long by nature: one figure drawn top to bottom (layout, cells, colour bar, labels) over shared layout values.
void draw_heatmap(cairo_t* cr, const HeatmapFigure& f) {
    HeatmapLayout l = heatmap_layout(f);
    figure_title(cr, f.width, f.title);
    for (size_t pi = 0; pi < f.panels.size(); pi++) {
        const Heatmap& p = f.panels[pi];
        const auto& cells = l.cells[pi];
        if (cells.empty() || cells[0].empty()) continue;
        Rect first = cells.front().front(), last = cells.back().back();
        Rect area{first.x, first.y, last.x + last.w - first.x, last.y + last.h - first.y};
        for (size_t r = 0; r < cells.size(); r++)
            for (size_t c = 0; c < cells[r].size(); c++) {
                const Rect& q = cells[r][c];
                Num v = r < p.values.size() && c < p.values[r].size() ? p.values[r][c] : std::nullopt;
                if (v && std::isfinite(*v) && (!f.log_scale || *v > 0)) {
                    Rgb col = viridis(heatmap_t(f, l, *v));
                    color(cr, col);
                    cairo_rectangle(cr, q.x, q.y, q.w, q.h);
                    cairo_fill(cr);
                    std::string ann = r < p.annotations.size() && c < p.annotations[r].size() ? p.annotations[r][c]
                                                                                             : format(v, 3);
                    font(cr, std::min(k_fs * 0.9, q.h * 0.35));
                    if (luminance(col) > 0.35) cairo_set_source_rgb(cr, 0, 0, 0);
                    else cairo_set_source_rgb(cr, 1, 1, 1);
                    // annotation may hold two lines separated by '\n'
                    auto nl = ann.find('\n');
                    if (nl == std::string::npos) {
                        text(cr, q.x + q.w / 2, q.y + q.h / 2 + k_fs * 0.3, fit(cr, ann, q.w - 4), 0.5);
                    } else {
                        text(cr, q.x + q.w / 2, q.y + q.h / 2 - k_fs * 0.2, fit(cr, ann.substr(0, nl), q.w - 4), 0.5);
                        font(cr, std::min(k_fs * 0.75, q.h * 0.3));
                        text(cr, q.x + q.w / 2, q.y + q.h / 2 + k_fs * 0.9, fit(cr, ann.substr(nl + 1), q.w - 4), 0.5);
                    }
                } else {
                    cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
                    cairo_rectangle(cr, q.x, q.y, q.w, q.h);
                    cairo_fill(cr);
                    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
                    font(cr, k_fs * 0.8);
                    text(cr, q.x + q.w / 2, q.y + q.h / 2 + k_fs * 0.3, "no data", 0.5);
                }
                cairo_set_source_rgb(cr, 1, 1, 1);
                cairo_set_line_width(cr, 1.0);
                cairo_rectangle(cr, q.x, q.y, q.w, q.h);
                cairo_stroke(cr);
            }
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        font(cr, k_fs * 0.85);
        for (size_t r = 0; r < cells.size(); r++)
            text(cr, area.x - 6, cells[r][0].y + cells[r][0].h / 2 + k_fs * 0.3, fit(cr, p.row_labels[r], k_hm_left - 60),
                 1.0);
        for (size_t c = 0; c < cells[0].size(); c++)
            text(cr, cells[0][c].x + cells[0][c].w / 2, area.y + area.h + k_fs * 1.3, fit(cr, p.col_labels[c], cells[0][c].w),
                 0.5);
        font(cr, k_fs);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        if (!p.x_label.empty()) text(cr, area.x + area.w / 2, area.y + area.h + k_fs * 2.9, p.x_label, 0.5);
        if (!p.y_label.empty()) text_vertical(cr, area.x - k_hm_left + 40, area.y + area.h / 2, p.y_label);
        if (!p.title.empty()) {
            font(cr, k_fs, true);
            text(cr, area.x + area.w / 2, area.y - 8, fit(cr, p.title, area.w + 60), 0.5);
        }
    }
    // colour bar
    double bx = f.width - k_hm_right + 30, by = k_hm_top, bh = f.height - k_hm_top - k_hm_bottom, bw = 18;
    for (int i = 0; i < 200; i++) {
        color(cr, viridis(1.0 - i / 199.0));
        cairo_rectangle(cr, bx, by + bh * i / 200.0, bw, bh / 200.0 + 0.6);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_stroke(cr);
    Axis a{l.vmin, l.vmax, f.log_scale, by + bh, by};
    font(cr, k_fs * 0.8);
    for (double v : axis_ticks(l.vmin, l.vmax, f.log_scale, 5)) {
        double y = a.map(v);
        cairo_move_to(cr, bx + bw, y);
        cairo_line_to(cr, bx + bw + 4, y);
        cairo_stroke(cr);
        text(cr, bx + bw + 6, y + k_fs * 0.3, tick_label(v));
    }
    font(cr, k_fs * 0.85);
    text_vertical(cr, bx - 8, by + bh / 2, f.value_label + (f.log_scale ? " (log scale)" : ""));
}

// ---------------------------------------------------------------- lines
namespace {

// A dashed grey reference line from (x0, y0) to (x1, y1), its label at (lx, ly).
void reference_line(cairo_t* cr, double x0, double y0, double x1, double y1, const std::string& label, double lx, double ly) {
    double dash[] = {5.0, 4.0};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 1.3);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    font(cr, k_fs * 0.8);
    text(cr, lx, ly, label);
}

// The translucent band between band_lo and band_hi, one polygon per run of defined points.
void draw_band(cairo_t* cr, const LineSeries& s, const Axis& ax, const Axis& ay, const Rgb& col) {
    size_t n = std::min({s.x.size(), s.band_lo.size(), s.band_hi.size()});
    auto ok = [&](size_t i) {
        return s.band_lo[i] && s.band_hi[i] && ax.ok(s.x[i]) && ay.ok(*s.band_lo[i]) && ay.ok(*s.band_hi[i]);
    };
    color(cr, col, 0.18);
    for (size_t i = 0; i < n;) {
        if (!ok(i)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < n && ok(j + 1)) j++;
        cairo_move_to(cr, ax.map(s.x[i]), ay.map(*s.band_hi[i]));
        for (size_t k = i + 1; k <= j; k++) cairo_line_to(cr, ax.map(s.x[k]), ay.map(*s.band_hi[k]));
        for (size_t k = j + 1; k-- > i;) cairo_line_to(cr, ax.map(s.x[k]), ay.map(*s.band_lo[k]));
        cairo_close_path(cr);
        cairo_fill(cr);
        i = j + 1;
    }
}

}  // namespace

// Long by nature: one figure drawn top to bottom (layout, axes, series, legend) over shared layout values.
void draw_lines(cairo_t* cr, const LineFigure& f) {
    figure_title(cr, f.width, f.title);
    std::vector<std::pair<std::string, Rgb>> items;
    for (auto& p : f.panels)
        for (size_t si = 0; si < p.series.size(); si++) {
            const auto& s = p.series[si];
            if (s.label.empty()) continue;
            if (std::none_of(items.begin(), items.end(), [&](auto& it) { return it.first == s.label; }))
                items.push_back({s.label, s.color ? *s.color : category_color(si)});
        }
    double lw = items.empty() ? 0 : legend_width(cr, items, f.legend_title) + 20;
    Rect area{0, k_fs * 2.6, f.width - lw, f.height - k_fs * 2.6};
    auto rects = grid(area, f.panels.size(), f.cols);
    for (size_t pi = 0; pi < f.panels.size(); pi++) {
        const LinePanel& p = f.panels[pi];
        const Rect& r = rects[pi];
        double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
        Axis probe_x{0, 1, p.log_x}, probe_y{0, 1, p.log_y};
        for (auto& s : p.series)
            for (size_t i = 0; i < s.x.size() && i < s.y.size(); i++) {
                if (!probe_x.ok(s.x[i])) continue;
                xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
                auto take = [&](double v) {
                    if (probe_y.ok(v)) ylo = std::min(ylo, v), yhi = std::max(yhi, v);
                };
                take(s.y[i]);
                if (i < s.lo.size() && s.lo[i]) take(*s.lo[i]);
                if (i < s.hi.size() && s.hi[i]) take(*s.hi[i]);
                if (i < s.band_lo.size() && s.band_lo[i]) take(*s.band_lo[i]);
                if (i < s.band_hi.size() && s.band_hi[i]) take(*s.band_hi[i]);
            }
        for (auto& v : p.vlines)
            if (probe_x.ok(v.x)) xlo = std::min(xlo, v.x), xhi = std::max(xhi, v.x);
        for (auto& h : p.hlines)
            if (probe_y.ok(h.y)) ylo = std::min(ylo, h.y), yhi = std::max(yhi, h.y);
        pad_range(xlo, xhi, p.log_x, 0.04);
        pad_range(ylo, yhi, p.log_y, 0.06);
        if (p.y_min) ylo = *p.y_min;
        if (p.y_max) yhi = *p.y_max;
        Axis ax{xlo, xhi, p.log_x, r.x, r.x + r.w}, ay{ylo, yhi, p.log_y, r.y + r.h, r.y};
        axes(cr, r, ax, ay, p.title, p.x_label, p.y_label, true, p.x_ticks);
        cairo_save(cr);
        cairo_rectangle(cr, r.x, r.y, r.w, r.h);
        cairo_clip(cr);
        for (auto& v : p.vlines)
            if (ax.ok(v.x)) reference_line(cr, ax.map(v.x), r.y, ax.map(v.x), r.y + r.h, v.label, ax.map(v.x) + 4, r.y + k_fs);
        for (auto& h : p.hlines)
            if (ay.ok(h.y)) reference_line(cr, r.x, ay.map(h.y), r.x + r.w, ay.map(h.y), h.label, r.x + 4, ay.map(h.y) - 4);
        for (size_t si = 0; si < p.series.size(); si++) {
            const LineSeries& s = p.series[si];
            Rgb col = s.color ? *s.color : category_color(si);
            size_t n = std::min(s.x.size(), s.y.size());
            draw_band(cr, s, ax, ay, col);
            color(cr, col);
            cairo_set_line_width(cr, 1.4);
            for (size_t i = 0; i < n; i++) {  // interval bars with caps
                if (i >= s.lo.size() || i >= s.hi.size() || !s.lo[i] || !s.hi[i] || !ax.ok(s.x[i])) continue;
                if (!ay.ok(*s.lo[i]) || !ay.ok(*s.hi[i])) continue;
                double x = ax.map(s.x[i]), y0 = ay.map(*s.lo[i]), y1 = ay.map(*s.hi[i]);
                cairo_move_to(cr, x, y0);
                cairo_line_to(cr, x, y1);
                cairo_move_to(cr, x - 4, y0);
                cairo_line_to(cr, x + 4, y0);
                cairo_move_to(cr, x - 4, y1);
                cairo_line_to(cr, x + 4, y1);
                cairo_stroke(cr);
            }
            if (s.line) {
                cairo_set_line_width(cr, 2.2);
                cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
                if (s.dashed) {
                    double dash[] = {7.0, 4.0};
                    cairo_set_dash(cr, dash, 2, 0);
                }
                bool pen = false;
                for (size_t i = 0; i < n; i++) {
                    if (!ax.ok(s.x[i]) || !ay.ok(s.y[i])) {
                        pen = false;
                        continue;
                    }
                    if (pen) cairo_line_to(cr, ax.map(s.x[i]), ay.map(s.y[i]));
                    else cairo_move_to(cr, ax.map(s.x[i]), ay.map(s.y[i]));
                    pen = true;
                }
                cairo_stroke(cr);
                cairo_set_dash(cr, nullptr, 0, 0);
            }
            if (s.markers)
                for (size_t i = 0; i < n; i++) {
                    if (!ax.ok(s.x[i]) || !ay.ok(s.y[i])) continue;
                    cairo_arc(cr, ax.map(s.x[i]), ay.map(s.y[i]), 3.6, 0, 2 * M_PI);
                    cairo_fill(cr);
                }
        }
        cairo_restore(cr);
    }
    if (!items.empty()) legend(cr, f.width - lw + 6, area.y + 30, items, f.legend_title, lw - 10);
}

// ---------------------------------------------------------------- box plots
// Long by nature: one figure drawn top to bottom (layout, axes, boxes, labels) over shared layout values.
void draw_boxes(cairo_t* cr, const BoxFigure& f) {
    figure_title(cr, f.width, f.title);
    Rect area{0, k_fs * 2.6, static_cast<double>(f.width), f.height - k_fs * 2.6};
    auto rects = grid(area, f.panels.size(), 0);
    for (size_t pi = 0; pi < f.panels.size(); pi++) {
        const BoxPanel& p = f.panels[pi];
        Rect r = rects[pi];
        r.h -= 14;  // room for the n line
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        Axis probe{0, 1, p.log_y};
        for (auto& g : p.values)
            for (double v : g)
                if (probe.ok(v)) lo = std::min(lo, v), hi = std::max(hi, v);
        pad_range(lo, hi, p.log_y, 0.06);
        if (p.y_min) lo = *p.y_min;
        if (p.y_max) hi = *p.y_max;
        size_t ng = std::max<size_t>(1, p.groups.size());
        Axis ax{0, static_cast<double>(ng), false, r.x, r.x + r.w}, ay{lo, hi, p.log_y, r.y + r.h, r.y};
        axes(cr, r, ax, ay, p.title, "", p.y_label, false);
        double slot = r.w / static_cast<double>(ng);
        for (size_t g = 0; g < p.groups.size(); g++) {
            double cx = r.x + (static_cast<double>(g) + 0.5) * slot, bw = std::min(slot * 0.5, 60.0);
            std::vector<double> v;
            if (g < p.values.size())
                for (double x : p.values[g])
                    if (probe.ok(x)) v.push_back(x);
            Rgb col = g < p.colors.size() ? p.colors[g] : category_color(g);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            font(cr, k_fs * 0.85);
            text(cr, cx, r.y + r.h + k_fs * 1.2, fit(cr, p.groups[g], slot - 4), 0.5);
            font(cr, k_fs * 0.75);
            text(cr, cx, r.y + r.h + k_fs * 2.3, fmt::format("n={}", v.size()), 0.5);
            if (v.empty()) continue;
            if (v.size() < k_min_box) {  // too few for quartiles: the points themselves
                color(cr, col, 0.9);
                for (size_t i = 0; i < v.size(); i++) {
                    double off = v.size() == 1 ? 0 : (static_cast<double>(i) / (v.size() - 1) - 0.5) * bw * 0.5;
                    cairo_arc(cr, cx + off, ay.map(v[i]), 4.0, 0, 2 * M_PI);
                    cairo_fill(cr);
                }
                continue;
            }
            std::sort(v.begin(), v.end());
            // quartiles on the axis scale (log values for a log axis) so the box is symmetric there
            std::vector<double> t = v;
            if (p.log_y)
                for (auto& x : t) x = std::log10(x);
            auto back = [&](double x) { return p.log_y ? std::pow(10.0, x) : x; };
            double q1 = *quantile(t, 0.25), q2 = *quantile(t, 0.5), q3 = *quantile(t, 0.75), iqr = q3 - q1;
            double wlo = t.front(), whi = t.back();
            for (double x : t)
                if (x >= q1 - 1.5 * iqr) {
                    wlo = x;
                    break;
                }
            for (auto it = t.rbegin(); it != t.rend(); ++it)
                if (*it <= q3 + 1.5 * iqr) {
                    whi = *it;
                    break;
                }
            double y1 = ay.map(back(q1)), y3 = ay.map(back(q3));
            color(cr, col, 0.35);
            cairo_rectangle(cr, cx - bw / 2, y3, bw, std::max(1.0, y1 - y3));
            cairo_fill(cr);
            color(cr, col);
            cairo_set_line_width(cr, 1.6);
            cairo_rectangle(cr, cx - bw / 2, y3, bw, std::max(1.0, y1 - y3));
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
            cairo_set_line_width(cr, 2.4);
            cairo_move_to(cr, cx - bw / 2, ay.map(back(q2)));
            cairo_line_to(cr, cx + bw / 2, ay.map(back(q2)));
            cairo_stroke(cr);
            color(cr, col);
            cairo_set_line_width(cr, 1.4);
            cairo_move_to(cr, cx, y3);
            cairo_line_to(cr, cx, ay.map(back(whi)));
            cairo_move_to(cr, cx, y1);
            cairo_line_to(cr, cx, ay.map(back(wlo)));
            cairo_move_to(cr, cx - bw / 4, ay.map(back(whi)));
            cairo_line_to(cr, cx + bw / 4, ay.map(back(whi)));
            cairo_move_to(cr, cx - bw / 4, ay.map(back(wlo)));
            cairo_line_to(cr, cx + bw / 4, ay.map(back(wlo)));
            cairo_stroke(cr);
            // every point, spread deterministically across the box width
            for (size_t i = 0; i < t.size(); i++) {
                double off = (static_cast<double>((i * 7919) % 97) / 96.0 - 0.5) * bw * 0.6;
                bool outlier = t[i] < wlo || t[i] > whi;
                color(cr, outlier ? Rgb{0.1, 0.1, 0.1} : col, outlier ? 0.9 : 0.55);
                cairo_arc(cr, cx + off, ay.map(back(t[i])), outlier ? 3.0 : 2.2, 0, 2 * M_PI);
                cairo_fill(cr);
            }
        }
    }
}

// ---------------------------------------------------------------- scatter matrix
// Long by nature: one figure drawn top to bottom (layout, panels, marks, labels) over shared layout values.
void draw_scatter_matrix(cairo_t* cr, const ScatterMatrix& m) {
    figure_title(cr, m.width, m.title);
    size_t k = m.var_labels.size();
    if (k == 0) return;
    std::vector<std::pair<std::string, Rgb>> items;
    for (size_t i = 0; i < m.category_labels.size(); i++) items.push_back({m.category_labels[i], category_color(i)});
    double lw = legend_width(cr, items, m.category_title) + 60;  // + room for the first row's right-hand ticks
    double left = 80, top = k_fs * 3.2, bottom = 60;
    double cell_w = (m.width - left - lw - 10) / static_cast<double>(k), cell_h = (m.height - top - bottom) / static_cast<double>(k);
    std::vector<Axis> axs(k);
    for (size_t v = 0; v < k; v++) {
        bool lg = v < m.log_axis.size() && m.log_axis[v];
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        Axis probe{0, 1, lg};
        for (double x : m.data[v])
            if (probe.ok(x)) lo = std::min(lo, x), hi = std::max(hi, x);
        if (v < m.domain.size() && m.domain[v]) {
            // The quantity's own domain, padded a little so points on its edges stay visible.
            lo = m.domain[v]->first;
            hi = m.domain[v]->second;
            const double pad = 0.04 * (hi - lo);
            lo -= pad;
            hi += pad;
        } else {
            pad_range(lo, hi, lg, 0.08);
        }
        axs[v] = Axis{lo, hi, lg, 0, 1};
    }
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++) {
            Rect r{left + static_cast<double>(j) * cell_w + 6, top + static_cast<double>(i) * cell_h + 6, cell_w - 12,
                   cell_h - 12};
            Axis ax = axs[j], ay = axs[i];
            ax.p0 = r.x, ax.p1 = r.x + r.w;
            ay.p0 = r.y + r.h, ay.p1 = r.y;
            cairo_set_source_rgb(cr, 0.985, 0.985, 0.985);
            cairo_rectangle(cr, r.x, r.y, r.w, r.h);
            cairo_fill(cr);
            // ticks on the outer row/column only
            font(cr, k_fs * 0.75);
            cairo_set_line_width(cr, 1.0);
            for (double v : axis_ticks(ax.lo, ax.hi, ax.log, 4)) {
                double x = ax.map(v);
                cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
                cairo_move_to(cr, x, r.y);
                cairo_line_to(cr, x, r.y + r.h);
                cairo_stroke(cr);
                if (i + 1 == k) {
                    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                    text(cr, x, r.y + r.h + k_fs * 1.1, tick_label(v), 0.5);
                }
            }
            if (i != j)
                for (double v : axis_ticks(ay.lo, ay.hi, ay.log, 4)) {
                    double y = ay.map(v);
                    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
                    cairo_move_to(cr, r.x, y);
                    cairo_line_to(cr, r.x + r.w, y);
                    cairo_stroke(cr);
                    if (j == 0) {
                        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                        text(cr, r.x - 4, y + k_fs * 0.25, tick_label(v), 1.0);
                    }
                    if (i == 0 && j + 1 == k) {  // the first row's y ticks go on the right
                        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                        text(cr, r.x + r.w + 4, y + k_fs * 0.25, tick_label(v), 0.0);
                    }
                }
            cairo_save(cr);
            cairo_rectangle(cr, r.x, r.y, r.w, r.h);
            cairo_clip(cr);
            if (i == j) {  // histogram of variable i (bins on the axis scale)
                const int nb = 12;
                std::vector<int> cnt(nb, 0);
                double a = ax.log ? std::log10(ax.lo) : ax.lo, b = ax.log ? std::log10(ax.hi) : ax.hi;
                for (double x : m.data[i]) {
                    if (!ax.ok(x)) continue;
                    double u = ax.log ? std::log10(x) : x;
                    int bi = std::clamp(static_cast<int>((u - a) / (b - a) * nb), 0, nb - 1);
                    cnt[static_cast<size_t>(bi)]++;
                }
                int mx = std::max(1, *std::max_element(cnt.begin(), cnt.end()));
                for (int bi = 0; bi < nb; bi++) {
                    double bx = r.x + r.w * bi / nb, bh = r.h * 0.9 * cnt[static_cast<size_t>(bi)] / mx;
                    cairo_set_source_rgb(cr, 0.55, 0.55, 0.6);
                    cairo_rectangle(cr, bx + 1, r.y + r.h - bh, r.w / nb - 2, bh);
                    cairo_fill(cr);
                }
            } else {
                for (size_t pt = 0; pt < m.data[i].size() && pt < m.data[j].size(); pt++) {
                    double x = m.data[j][pt], y = m.data[i][pt];
                    if (!ax.ok(x) || !ay.ok(y)) continue;
                    color(cr, category_color(pt < m.category.size() ? m.category[pt] : 0));
                    cairo_arc(cr, ax.map(x), ay.map(y), 3.4, 0, 2 * M_PI);
                    cairo_fill(cr);
                }
            }
            cairo_restore(cr);
            cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
            cairo_rectangle(cr, r.x, r.y, r.w, r.h);
            cairo_stroke(cr);
            font(cr, k_fs * 0.9);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            if (i + 1 == k) text(cr, r.x + r.w / 2, r.y + r.h + k_fs * 2.4, fit(cr, m.var_labels[j], r.w), 0.5);
            if (j == 0) text_vertical(cr, r.x - 46, r.y + r.h / 2, fit(cr, m.var_labels[i], r.h));
            if (i == j) {
                font(cr, k_fs * 0.8, true);
                text(cr, r.x + 6, r.y + k_fs, fit(cr, "histogram: " + m.var_labels[i], r.w - 10));
            }
        }
    if (!items.empty()) legend(cr, m.width - lw + 46, top, items, m.category_title, lw - 50, false);
}

}  // namespace rb::plot
