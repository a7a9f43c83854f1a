// The report's figures, one function per figure (docs/report.md "Figures"), drawn with
// the one plot engine (util/plot). A figure whose data is absent is skipped with a note.
#pragma once
#include <string>
#include <vector>

#include "report/analysis.h"
#include "rope/rope.h"
#include "util/plot.h"

namespace rb::report {

struct Figure {
    std::string name, caption;
};

/// Collects the figures written into `dir` (PNG + SVG each) and the notes of skipped ones.
struct FigureSet {
    std::string dir;
    std::vector<Figure> figures;
    std::vector<std::string> notes;
    void add(const std::string& name, const std::string& caption, int w, int h, const plot::DrawFn& draw);
};

void fig_method_comparison(const Analysis& a, FigureSet& out);
void fig_heatmap_ppl(const Analysis& a, FigureSet& out);
void fig_metrics_vs_context(const Analysis& a, FigureSet& out);
void fig_param_effects(const Analysis& a, FigureSet& out);  // one figure per method
void fig_passkey_depth(const Analysis& a, FigureSet& out);  // one figure per method
void fig_nll_position(const Analysis& a, FigureSet& out);   // one figure per L past the trained context
void fig_rope_scaling(const Analysis& a, FigureSet& out);
void fig_scatter_matrix(const Analysis& a, FigureSet& out);
void fig_where_it_breaks(const Analysis& a, FigureSet& out);
/// The colour of a method in every figure (plain RoPE: dark grey).
plot::Rgb method_color(const Analysis& a, const std::string& method);
/// Every figure above, in the report's order.
void draw_figures(const Analysis& a, FigureSet& out);

/// One rope configuration's curve for rope_scale_panel.
struct RopeCurve {
    std::string label;
    RopeTables t;
    std::vector<double> plain;  // plain RoPE inv_freq of the same geometry
    std::optional<plot::Rgb> color;
    bool dashed = false;
};
/// The per-pair scale factor plain inv_freq / scaled inv_freq (log y), the panel of
/// `ropebench rope --plot` and of the report's rope_scaling figure.
plot::LinePanel rope_scale_panel(const std::vector<RopeCurve>& curves);
/// The per-pair wavelength 2*pi / inv_freq after scaling (log y), with reference lines.
plot::LinePanel rope_wavelength_panel(const std::vector<RopeCurve>& curves, const std::vector<plot::HLine>& marks);

}  // namespace rb::report
