#include "report/report.h"

#include <filesystem>

#include "report/analysis.h"
#include "report/figures.h"
#include "report/store.h"
#include "report/writers.h"
#include "util/error.h"

namespace rb::report {

std::string safe_name(const std::string& s) {
    std::string o;
    for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
    return o.empty() ? "_" : o;
}

ReportSummary write_report(const std::string& db, const ReportOptions& opts) {
    if (opts.out_dir.empty()) throw Error("report: --out: output folder missing");
    Store st = read_store(db);
    // A report of nothing is not a report: no file is written.
    size_t done = 0, failed = 0;
    for (const auto& e : st.experiments) {
        done += e.status == Status::done;
        failed += e.status == Status::failed;
    }
    if (done == 0)
        throw Error("{}: no experiment is done ({} of {} failed); nothing to report", db, failed, st.experiments.size());
    Analysis a = analyze(st, opts);
    Output out{opts.out_dir, {}};
    std::filesystem::create_directories(opts.out_dir);
    FigureSet figs{(std::filesystem::path(opts.out_dir) / "figures").string(), {}, {}};
    if (opts.plots) draw_figures(a, figs);
    write_comprehensive_json(a, out);
    write_results_json(a, out);
    write_csv(a, out);
    write_txt(a, opts, out);
    if (!opts.plots) figs.notes.push_back("report.html skipped: plots disabled");
    write_md(a, figs, out);
    if (opts.plots) write_html(a, figs, out);
    ReportSummary r;
    r.done = a.done.size();
    r.failed = a.failed.size();
    r.pending = a.pending.size();
    r.running = a.running.size();
    r.files = out.files;
    for (auto& f : figs.figures) {
        r.figures.push_back(f.name);
        r.files.push_back("figures/" + f.name + ".png");
        r.files.push_back("figures/" + f.name + ".svg");
    }
    r.notes = a.notes;
    r.notes.insert(r.notes.end(), figs.notes.begin(), figs.notes.end());
    return r;
}

}  // namespace rb::report
