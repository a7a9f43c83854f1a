// `ropebench report`: reads a results store (and nothing else) and writes
//   comprehensive_results.json, <method>_results.json, results.csv, REPORT.md,
//   detailed_statistics.txt, figures/*.png + *.svg and a self-contained report.html.
// Every number is computed from the store's done rows; failed, pending and running rows
// are listed and counted, never used in a statistic. docs/report.md describes the rules.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rb::report {

struct ReportOptions {
    std::string out_dir;
    int bootstrap_resamples = 2000;  // for the bootstrap intervals the report computes itself
    uint64_t seed = 1234;
    bool plots = true;
};

struct ReportSummary {
    size_t done = 0, failed = 0, pending = 0, running = 0;
    std::vector<std::string> files;    // written, relative to out_dir
    std::vector<std::string> figures;  // figure base names (figures/<name>.png|svg)
    std::vector<std::string> notes;    // skipped plots, data warnings
};

/// Reads `db` and writes the report into opts.out_dir (created if needed). Throws Error (and
/// writes nothing) when no experiment of the store is done.
ReportSummary write_report(const std::string& db, const ReportOptions& opts);

/// Methods (JSON file names) are sanitized to [A-Za-z0-9_.-].
std::string safe_name(const std::string& s);

}  // namespace rb::report
