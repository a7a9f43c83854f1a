// ropebench report DB [--out DIR] [--no-plots] [--bootstrap N] [--seed S]
// Reads a results store and writes the report (src/report/report.h, docs/report.md).
#include <fmt/format.h>

#include "command.h"
#include "report/report.h"
#include "report/store.h"
#include "util/error.h"
#include "util/log.h"

namespace rb::app {
namespace {

struct ReportArgs {
    std::string db;
    rb::report::ReportOptions opts;
    bool no_plots = false;
};

const CommandRegistrar k_reg("report", 90, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<ReportArgs>();
    auto* sub = app.add_subcommand("report", "Statistics, tables, plots and an HTML page from a results store");
    sub->add_option("DB", a->db, "results store (SQLite file written by `sweep`)")->required();
    sub->add_option("--out", a->opts.out_dir, "output folder (default: <DB without extension>_report)");
    sub->add_option("--bootstrap", a->opts.bootstrap_resamples, "bootstrap resamples for intervals the report computes")
        ->check(CLI::Range(1, 1000000));
    sub->add_option("--seed", a->opts.seed, "bootstrap seed");
    sub->add_flag("--no-plots", a->no_plots, "skip figures and report.html");
    return [a]() {
        if (a->opts.out_dir.empty()) {
            std::string base = a->db;
            if (auto dot = base.rfind('.'); dot != std::string::npos && base.find('/', dot) == std::string::npos)
                base = base.substr(0, dot);
            a->opts.out_dir = base + "_report";
        }
        a->opts.plots = !a->no_plots;
        auto s = rb::report::write_report(a->db, a->opts);  // refuses a store with nothing done
        for (auto& n : s.notes) log_warn("report: {}", n);
        log_info("report: {} done, {} failed, {} pending, {} running; {} files in {}", s.done, s.failed, s.pending, s.running,
                 s.files.size(), a->opts.out_dir);
        fmt::print("{}\n", a->opts.out_dir);
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
