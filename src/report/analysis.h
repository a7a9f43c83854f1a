// What the report computes from a store, before any table or figure is drawn
// (docs/report.md "Rules"):
//   - entries: at each L, the done experiments that compute the same thing (same model,
//     identical rope tables and attention factor, built with src/rope) form one entry;
//     the others are its aliases. Every count, ranking, correlation and figure uses entries.
//   - per-L rankings, and an overall method ranking = mean rank across the lengths past
//     the trained context (spread and coverage shown); plain RoPE is a reference row.
//   - the context-extension answer per method: NLL beyond the trained length vs within it
//     (from the records' position buckets), and PPL against plain RoPE at the trained length.
//   - intervals the report computes itself: PPL bootstrap over >= 10 documents (moving
//     blocks when documents were split), Wilson for passkey; correlations per L.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/report.h"
#include "report/store.h"
#include "rope/rope.h"
#include "util/stats.h"

namespace rb::report {

enum class Metric { ppl, longppl, passkey };
inline constexpr Metric k_metrics[] = {Metric::ppl, Metric::longppl, Metric::passkey};
const char* metric_name(Metric m);
inline bool lower_better(Metric m) { return m != Metric::passkey; }
Num value(const Experiment* e, Metric m);

/// Fewest units for a bootstrap interval; below it the report prints "no CI: n = k".
inline constexpr size_t k_min_bootstrap_units = 10;
/// Bucket width of the NLL-by-position figures (re-bucketed from finer records).
inline constexpr int64_t k_figure_bucket = 64;

struct CiValue {
    Interval ci;
    size_t n = 0;        // units (documents / segments, passkey trials)
    std::string method;  // "bootstrap" | "block bootstrap (b=3)" | "wilson" | ""
    std::string note;    // "no CI: n = 2" when undefined
};

/// NLL by window position, possibly re-bucketed.
struct PositionCurve {
    int64_t size = 0;
    std::vector<double> mean_nll;  // NaN where a bucket holds no token
    std::vector<double> count;
};

/// One distinct computation at one L.
struct Entry {
    int64_t ctx = 0;
    const Experiment* rep = nullptr;              // representative (the plain-RoPE row in a baseline group)
    std::vector<const Experiment*> members;       // rep first
    bool baseline = false;                        // identical to plain RoPE (rope tables and attention factor 1)
    std::vector<std::string> methods;             // distinct methods among members (rep's first)
    CiValue ppl_ci, passkey_ci;
    std::optional<PositionCurve> curve;           // from ppl.buckets
    Num nll_within, nll_beyond;                   // mean NLL at window positions < T and >= T
    std::optional<int64_t> breaks_at;             // first bucket start >= T whose NLL exceeds nll_within

    std::string label() const;                    // rep's config, "(= alias; alias)" appended
    std::vector<std::string> aliases() const;     // other members' configs
    bool has(const std::string& method) const;
};

struct MethodAtL {
    std::string method;
    const Entry* best = nullptr;  // by PPL
    double rank = 0;              // among methods at this L (1 = best; ties share the mean rank)
};

struct MethodRank {
    std::string method;
    std::vector<double> ranks;   // one per ranked length it has a result at
    Num mean_rank, min_rank, max_rank;
    size_t lengths = 0, of = 0;  // lengths with a result, ranked lengths
    Num geo_ratio_to_plain;      // geometric mean over those lengths of best PPL / plain RoPE PPL
    int position = 0;            // 1 = best overall
};

/// The context-extension answer for one method at one L > T.
struct Extension {
    std::string method;
    int64_t ctx = 0;
    const Entry* entry = nullptr;
    Num ppl_all, ppl_within, ppl_beyond;  // exp(mean NLL) over all / < T / >= T window positions
    Num plain_at_T;                       // plain RoPE PPL at L = T (same leading tokens under truncate)
    bool degrades = false;                // NLL beyond T above NLL within T
};

struct CorrRow {
    std::string pair;
    int64_t ctx = 0;
    Correlation pearson, spearman;
};

struct Analysis {
    const Store* store = nullptr;
    std::vector<const Experiment*> done, failed, pending, running;
    std::vector<std::string> methods;   // scaled methods (not the plain-RoPE "default")
    std::vector<int64_t> contexts;      // every ctx in the store
    std::vector<int64_t> ranked_contexts;  // contexts of the overall ranking (L > T when any)
    std::optional<int64_t> trained_ctx;
    double compute_s = 0, compute_done_s = 0;
    std::map<int64_t, std::vector<Entry>> entries;  // by L, sorted by PPL (entries without PPL last)
    std::map<int64_t, std::vector<MethodAtL>> per_l;  // by L, sorted by rank
    std::vector<MethodRank> overall;                 // sorted by position
    std::vector<Extension> extension;
    std::vector<CorrRow> corr;
    std::vector<std::string> notes;
    size_t aliased = 0;  // experiments folded into another entry

    const Entry* baseline_at(int64_t L) const;
    const Entry* best_at(int64_t L, Metric m, bool scaled_only) const;
    const Entry* best_of_method(const std::string& method, int64_t L, Metric m) const;
    std::vector<const Entry*> all_entries() const;
};

Analysis analyze(const Store& st, const ReportOptions& opts);

/// The rope tables an experiment ran with at its L (computed with src/rope from the
/// record's model geometry and rope.resolved) and plain RoPE's inverse frequencies for
/// the same model; nullopt when the record lacks model.head_dim or the base.
struct RopeView {
    RopeTables t;
    std::vector<double> plain;  // [rotary_dim / 2]
    bool is_plain = false;      // tables equal plain RoPE, attention factor 1
};
std::optional<RopeView> rope_view(const Experiment* e);

/// better(a, b): a strictly better than b on m; passkey ties broken by lower PPL.
bool better(const Entry* a, const Entry* b, Metric m);
Num entry_value(const Entry* e, Metric m);
/// The report's interval of the entry on m (PPL bootstrap, passkey Wilson; LongPPL none).
const CiValue* entry_ci(const Entry* e, Metric m);

}  // namespace rb::report
