// Line charts with Cairo: axes with "nice" ticks (linear or log), grid, axis labels,
// title, legend, optional confidence bands, markers and vertical reference lines; PNG
// (image surface) or SVG (svg surface) chosen by the file extension. Colours default to
// the Okabe-Ito palette (colour-blind safe), cycling in series order.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace rb::plot {

struct Rgb {
    double r, g, b;  // 0..1
};

/// Okabe & Ito (2008) colour-blind-safe palette, black last: orange, sky blue, bluish
/// green, yellow, blue, vermillion, reddish purple, black.
const std::array<Rgb, 8>& okabe_ito();

struct Series {
    std::string label;           // legend text; empty = not in the legend
    std::vector<double> x, y;    // same length; non-finite points (or <= 0 on a log axis) break the line
    std::optional<Rgb> color;    // default: okabe_ito()[series index % 8]
    bool dashed = false;
    bool markers = false;        // a dot at every point
    std::vector<double> y_lo, y_hi;  // optional band (e.g. a 95% interval), same length as x, drawn translucent
};

struct VLine {
    double x;
    std::string label;  // drawn at the top of the line
};

struct LineChart {
    std::string title, x_label, y_label;
    std::vector<Series> series;
    std::vector<VLine> vlines;  // dashed grey reference lines (e.g. the trained context)
    bool log_x = false, log_y = false;
    std::optional<double> x_min, x_max, y_min, y_max;  // axis limits (default: from the data)
    int width = 960, height = 600;                    // pixels (PNG) or points (SVG)
};

/// Writes `chart` to `path`: ".png" → PNG, ".svg" → SVG (case-insensitive). Throws Error
/// for another extension, an empty chart or a write failure.
void save_line_chart(const LineChart& chart, const std::string& path);

/// Tick positions for [lo, hi]: "nice" steps (1, 2, 5 × 10^k) on a linear axis, decades
/// (plus 2 and 5 when the range spans fewer than three decades) on a log axis.
std::vector<double> axis_ticks(double lo, double hi, bool log, int target = 6);

}  // namespace rb::plot
