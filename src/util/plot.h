// The one plot engine (Cairo): heatmaps, line plots with interval bars and bands, box
// plots and a scatter matrix, used by the report and by `ropebench rope --plot`. Each
// figure is drawn once into a cairo_t, so the same code writes the PNG (image surface)
// and the SVG (svg surface). Categories use the Okabe & Ito (2008)
// colour-blind-safe palette; continuous values use viridis (perceptually uniform,
// monotone in lightness, readable in greyscale and by colour-blind readers).
#pragma once
#include <cairo.h>

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/stats.h"

namespace rb::plot {

struct Rgb {
    double r = 0, g = 0, b = 0;  // 0..1
};
/// Okabe-Ito: orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple, black.
const std::array<Rgb, 8>& okabe_ito();
/// Category colour i (cycles through okabe_ito; yellow last since it is faint on white).
Rgb category_color(size_t i);
/// Viridis at t in [0, 1] (piecewise-linear through 11 anchor colours of matplotlib's map).
Rgb viridis(double t);
/// The t in [0, 1] whose viridis colour is nearest to c (1/1024 resolution), for tests.
double viridis_position(const Rgb& c);
/// Relative luminance (sRGB, Rec. 709 weights on linearized channels).
double luminance(const Rgb& c);

struct Rect {
    double x = 0, y = 0, w = 0, h = 0;
};

using DrawFn = std::function<void(cairo_t*)>;
/// Draws a w×h figure into `path`: ".png" → PNG, ".svg" → SVG (case-insensitive). Written
/// to a temporary file beside it and renamed into place; the temporary is removed on any
/// failure. Throws Error for another extension or a write failure.
void save_figure(const std::string& path, int w, int h, const DrawFn& draw);
/// save_figure to base + ".png" and base + ".svg".
void save_png_svg(const std::string& base, int w, int h, const DrawFn& draw);

// ---- heatmap ----
struct Heatmap {
    std::string title, x_label, y_label;
    std::vector<std::string> row_labels, col_labels;
    std::vector<std::vector<Num>> values;               // [rows][cols]; nullopt = no data (hatched grey)
    std::vector<std::vector<std::string>> annotations;  // optional [rows][cols] cell text (default: value)
};
struct HeatmapFigure {
    std::string title, value_label;  // value_label: the colour bar's title (with units)
    std::vector<Heatmap> panels;     // side by side, one shared colour scale
    bool log_scale = false;          // colour by log10(value)
    Num vmin, vmax;                  // colour range (default: data range)
    int width = 1000, height = 520;
};
struct HeatmapLayout {
    std::vector<std::vector<std::vector<Rect>>> cells;  // [panel][row][col]
    double vmin = 0, vmax = 1;                          // colour range actually used
};
HeatmapLayout heatmap_layout(const HeatmapFigure& f);
/// Colour position t in [0, 1] of value v under the figure's scale.
double heatmap_t(const HeatmapFigure& f, const HeatmapLayout& l, double v);
void draw_heatmap(cairo_t* cr, const HeatmapFigure& f);

// ---- line plots ----
struct LineSeries {
    std::string label;           // legend text (figure-level legend, first occurrence wins)
    std::vector<double> x, y;    // same length; non-finite y breaks the line
    std::vector<Num> lo, hi;     // optional interval bars, same length as x
    std::vector<Num> band_lo, band_hi;  // optional band (translucent fill between), same length as x
    std::optional<Rgb> color;    // default category_color(series index)
    bool dashed = false, markers = true, line = true;
};
struct VLine {
    double x = 0;
    std::string label;
};
struct HLine {
    double y = 0;
    std::string label;
};
struct LinePanel {
    std::string title, x_label, y_label;
    bool log_x = false, log_y = false;
    std::vector<LineSeries> series;
    std::vector<VLine> vlines;
    std::vector<HLine> hlines;  // dashed grey reference lines across the panel
    Num y_min, y_max;
    std::vector<double> x_ticks;  // explicit x tick positions (e.g. the context lengths); empty = automatic
};
struct LineFigure {
    std::string title;
    std::vector<LinePanel> panels;
    int cols = 0;  // 0 = all in one row up to 3
    std::string legend_title;
    int width = 1200, height = 520;
};
void draw_lines(cairo_t* cr, const LineFigure& f);

// ---- box plots ----
struct BoxPanel {
    std::string title, y_label;
    bool log_y = false;
    std::vector<std::string> groups;           // x categories
    std::vector<std::vector<double>> values;   // [group][point]
    Num y_min, y_max;                          // axis range from the quantity's domain (default: data)
    std::vector<Rgb> colors;                   // per group (default: category_color(group index))
};
struct BoxFigure {
    std::string title;
    std::vector<BoxPanel> panels;
    int width = 1200, height = 520;
};
/// Tukey box plots: box = quartiles (type 7), line = median, whiskers to the furthest point
/// within 1.5 IQR, points beyond drawn; every point also drawn as a dot; n under each box.
/// A group with fewer than k_min_box points gets its points only (a box of 2 points is
/// no summary).
inline constexpr size_t k_min_box = 5;
void draw_boxes(cairo_t* cr, const BoxFigure& f);

// ---- scatter matrix ----
struct ScatterMatrix {
    std::string title;
    std::vector<std::string> var_labels;       // k variables
    std::vector<bool> log_axis;                // per variable
    std::vector<std::optional<std::pair<double, double>>> domain;  // per variable: fixed axis range (accuracy: [0, 1]); else the data's
    std::vector<std::vector<double>> data;     // [k][n]; NaN = missing for that point
    std::vector<size_t> category;              // [n] colour index
    std::vector<std::string> category_labels;  // legend
    std::string category_title;
    int width = 1000, height = 900;
};
/// Off-diagonal: scatter of variable j (x) against i (y), coloured by category; diagonal:
/// histogram of variable i.
void draw_scatter_matrix(cairo_t* cr, const ScatterMatrix& m);

/// "Nice" tick positions (1, 2, 5 × 10^k steps; decades on a log axis).
std::vector<double> axis_ticks(double lo, double hi, bool log, int target = 6);

}  // namespace rb::plot
