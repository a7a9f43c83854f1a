// The report's files (docs/report.md): each written through a temporary file beside it
// and renamed into place (util/mapped_file write_file, util/plot save_figure), so a
// reader never sees a half-written file and a failure leaves no temporary behind.
#pragma once
#include <string>
#include <vector>

#include "report/analysis.h"
#include "report/figures.h"

namespace rb::report {

struct Output {
    std::string dir;
    std::vector<std::string> files;  // written, relative to dir
    void save(const std::string& rel, const std::string& text);
};

/// comprehensive_results.json and <method>_results.json.
void write_comprehensive_json(const Analysis& a, Output& out);
/// results.json laid out like lm-evaluation-harness output (results, configs, versions,
/// n-samples, higher_is_better, config).
void write_results_json(const Analysis& a, Output& out);
/// results.csv: one row per experiment and metric (tidy), one column per rope parameter.
void write_csv(const Analysis& a, Output& out);
void write_txt(const Analysis& a, const ReportOptions& o, Output& out);
void write_md(const Analysis& a, const FigureSet& figs, Output& out);
void write_html(const Analysis& a, const FigureSet& figs, Output& out);

}  // namespace rb::report
