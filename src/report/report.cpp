#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "report/charts.h"
#include "report/stats.h"
#include "report/store.h"
#include "rope/rope.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mapped_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rb::report {

std::string safe_name(const std::string& s) {
    std::string o;
    for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
    return o.empty() ? "_" : o;
}

namespace {

// ------------------------------------------------------------------ metric access
enum class Metric { ppl, longppl, passkey };
const Metric k_metrics[] = {Metric::ppl, Metric::longppl, Metric::passkey};
const char* metric_name(Metric m) { return m == Metric::ppl ? "PPL" : m == Metric::longppl ? "LongPPL" : "passkey"; }
bool lower_better(Metric m) { return m != Metric::passkey; }

Num value(const Experiment* e, Metric m) {
    if (!e->record) return std::nullopt;
    const Record& r = *e->record;
    switch (m) {
        case Metric::ppl: return r.ppl ? r.ppl->ppl : std::nullopt;
        case Metric::longppl: return r.longppl ? r.longppl->longppl : std::nullopt;
        case Metric::passkey: return r.passkey ? Num(r.passkey->accuracy) : std::nullopt;
    }
    return std::nullopt;
}
Interval interval(const Experiment* e, Metric m) {
    if (!e->record) return {};
    const Record& r = *e->record;
    if (m == Metric::ppl && r.ppl) return {r.ppl->ci_lo, r.ppl->ci_hi};
    if (m == Metric::passkey && r.passkey) return {r.passkey->ci_lo, r.passkey->ci_hi};
    return {};
}
// better(a, b): a strictly better than b on m; ties on passkey broken by lower PPL.
bool better(const Experiment* a, const Experiment* b, Metric m) {
    Num va = value(a, m), vb = value(b, m);
    if (!va) return false;
    if (!vb) return true;
    if (*va != *vb) return lower_better(m) ? *va < *vb : *va > *vb;
    if (m == Metric::passkey) {
        Num pa = value(a, Metric::ppl), pb = value(b, Metric::ppl);
        if (pa && (!pb || *pa < *pb)) return true;
    }
    return false;
}

std::string fnum(Num v, int sig = 4) { return format(v, sig); }
std::string fpct(Num v) { return v ? fmt::format("{:.1f}%", *v * 100) : "undefined"; }
// An interval that cannot be computed (one document, n < 4, |r| = 1) prints as "[no CI]",
// never as a bare "undefined" that reads like a unit next to the value ("1009 undefined").
std::string fci(const Interval& i, int sig = 4) {
    if (!i.lo || !i.hi) return "[no CI]";
    return fmt::format("[{}, {}]", format(i.lo, sig), format(i.hi, sig));
}

// ------------------------------------------------------------------ analysis
struct ConfigRow {
    std::string method, config;
    std::map<int64_t, const Experiment*> by_ctx;
    std::map<Metric, Num> score;  // ppl/longppl: mean log(value / best at L); passkey: mean accuracy
    std::map<Metric, size_t> n;   // contexts contributing
};

struct MethodRow {
    std::string method;
    size_t n_done = 0, n_failed = 0, n_pending = 0, n_configs = 0;
    Summary ppl;
    Num ppl_geomean, mean_passkey, mean_longppl_geo;
    Num score;                  // mean over L of log(best PPL of the method at L / best PPL of any method at L)
    size_t consist_k = 0, consist_n = 0;
    int rank = 0;
};

struct CorrRow {
    std::string pair, scope;
    Correlation pearson, spearman;
};

struct Analysis {
    const Store* store = nullptr;
    std::vector<const Experiment*> done, failed, pending, running;
    std::vector<std::string> methods;
    std::vector<int64_t> contexts;  // every ctx in the store
    std::optional<int64_t> trained_ctx;
    double compute_s = 0, compute_done_s = 0;
    std::map<std::pair<std::string, int64_t>, std::vector<const Experiment*>> cells;
    std::map<int64_t, std::vector<const Experiment*>> by_ctx;
    std::vector<MethodRow> ranking;
    std::vector<ConfigRow> configs;  // sorted by PPL score
    std::vector<CorrRow> corr;
    std::vector<std::string> notes;
};

const Experiment* best_of(const std::vector<const Experiment*>& v, Metric m) {
    const Experiment* b = nullptr;
    for (auto* e : v)
        if (value(e, m) && (!b || better(e, b, m))) b = e;
    return b;
}

const double k_consistency_tol = 0.10;  // within 10% of the per-L best PPL

Analysis analyze(const Store& st, const ReportOptions& opts) {
    Analysis a;
    a.store = &st;
    std::set<std::string> methods;
    std::set<int64_t> ctxs;
    std::map<int64_t, int> trained;
    std::set<std::string> hashes;
    for (auto& e : st.experiments) {
        methods.insert(e.method);
        ctxs.insert(e.ctx);
        if (e.wall_s) a.compute_s += *e.wall_s;
        switch (e.status) {
            case Status::done:
                a.done.push_back(&e);
                if (e.wall_s) a.compute_done_s += *e.wall_s;
                a.cells[{e.method, e.ctx}].push_back(&e);
                a.by_ctx[e.ctx].push_back(&e);
                if (e.record->trained_ctx) trained[*e.record->trained_ctx]++;
                if (!e.record->config_hash.empty()) hashes.insert(e.record->config_hash);
                if (e.record->longppl && e.record->longppl->n_key && *e.record->longppl->n_key < 100)
                    a.notes.push_back(fmt::format("LongPPL of {} at L={} rests on n_key = {} < 100 key tokens: unreliable",
                                                  e.config, e.ctx, *e.record->longppl->n_key));
                break;
            case Status::failed: a.failed.push_back(&e); break;
            case Status::pending: a.pending.push_back(&e); break;
            case Status::running: a.running.push_back(&e); break;
        }
    }
    for (auto& w : st.warnings) a.notes.push_back(fmt::format("{}: {}", st.path, w));
    a.methods.assign(methods.begin(), methods.end());
    a.contexts.assign(ctxs.begin(), ctxs.end());
    if (!trained.empty()) {
        a.trained_ctx = std::max_element(trained.begin(), trained.end(), [](auto& x, auto& y) { return x.second < y.second; })->first;
        if (trained.size() > 1) a.notes.push_back("records disagree on the trained context; the most common is used");
    }
    if (hashes.size() > 1)
        a.notes.push_back(fmt::format("the store holds {} different models (config_hash); configurations are grouped by "
                                      "method and rope parameters only",
                                      hashes.size()));

    // per-L best values of every metric
    std::map<int64_t, std::map<Metric, Num>> best_at;
    for (auto& [L, v] : a.by_ctx)
        for (Metric m : k_metrics)
            if (auto* b = best_of(v, m)) best_at[L][m] = value(b, m);

    // configurations
    std::map<std::pair<std::string, std::string>, ConfigRow> cfgs;
    for (auto* e : a.done) {
        auto& c = cfgs[{e->method, e->config}];
        c.method = e->method;
        c.config = e->config;
        c.by_ctx[e->ctx] = e;
    }
    for (auto& [k, c] : cfgs) {
        for (Metric m : k_metrics) {
            std::vector<double> xs;
            for (auto& [L, e] : c.by_ctx) {
                Num v = value(e, m);
                if (!v) continue;
                if (m == Metric::passkey) xs.push_back(*v);
                else xs.push_back(std::log(*v / *best_at[L][m]));
            }
            c.score[m] = mean(xs);
            c.n[m] = xs.size();
        }
        a.configs.push_back(c);
    }
    size_t max_cov = 0;
    for (auto& c : a.configs) max_cov = std::max(max_cov, c.n[Metric::ppl]);
    std::stable_sort(a.configs.begin(), a.configs.end(), [&](const ConfigRow& x, const ConfigRow& y) {
        Num sx = x.score.at(Metric::ppl), sy = y.score.at(Metric::ppl);
        if (!sx || !sy) return sx.has_value() && !sy.has_value();
        bool fx = x.n.at(Metric::ppl) == max_cov, fy = y.n.at(Metric::ppl) == max_cov;
        if (fx != fy) return fx;
        return *sx < *sy;
    });

    // methods
    for (auto& m : a.methods) {
        MethodRow r;
        r.method = m;
        std::vector<double> ppl, pk, lp, scores;
        std::set<std::string> cfg_names;
        for (auto& e : st.experiments) {
            if (e.method != m) continue;
            if (e.status == Status::done) {
                r.n_done++;
                cfg_names.insert(e.config);
                if (auto v = value(&e, Metric::ppl)) ppl.push_back(*v);
                if (auto v = value(&e, Metric::passkey)) pk.push_back(*v);
                if (auto v = value(&e, Metric::longppl)) lp.push_back(*v);
            } else if (e.status == Status::failed) {
                r.n_failed++;
            } else {
                r.n_pending++;
            }
        }
        r.n_configs = cfg_names.size();
        r.ppl = summarize(ppl);
        r.ppl_geomean = geomean(ppl);
        r.mean_passkey = mean(pk);
        r.mean_longppl_geo = geomean(lp);
        for (int64_t L : a.contexts) {
            auto it = a.cells.find({m, L});
            if (it == a.cells.end()) continue;
            auto* b = best_of(it->second, Metric::ppl);
            if (!b) continue;
            double ratio = *value(b, Metric::ppl) / *best_at[L][Metric::ppl];
            scores.push_back(std::log(ratio));
            r.consist_n++;
            if (ratio <= 1.0 + k_consistency_tol) r.consist_k++;
        }
        r.score = mean(scores);
        a.ranking.push_back(r);
    }
    std::stable_sort(a.ranking.begin(), a.ranking.end(), [](const MethodRow& x, const MethodRow& y) {
        if (!x.score || !y.score) return x.score.has_value() && !y.score.has_value();
        return *x.score < *y.score;
    });
    for (size_t i = 0; i < a.ranking.size(); i++) a.ranking[i].rank = static_cast<int>(i + 1);

    // correlations: pairs of metrics over done experiments that have both
    struct Pair {
        const char* name;
        Metric x, y;
    };
    const Pair pairs[] = {{"log PPL vs log LongPPL", Metric::ppl, Metric::longppl},
                          {"log PPL vs passkey", Metric::ppl, Metric::passkey},
                          {"log LongPPL vs passkey", Metric::longppl, Metric::passkey}};
    auto tr = [](Metric m, double v) { return m == Metric::passkey ? v : std::log(v); };
    for (auto& p : pairs) {
        auto add = [&](const std::vector<const Experiment*>& v, const std::string& scope) {
            std::vector<double> x, y, rx, ry;
            for (auto* e : v) {
                Num vx = value(e, p.x), vy = value(e, p.y);
                if (!vx || !vy) continue;
                x.push_back(tr(p.x, *vx));
                y.push_back(tr(p.y, *vy));
            }
            if (x.empty()) return;
            a.corr.push_back({p.name, scope, pearson(x, y), spearman(x, y)});
        };
        add(a.done, "pooled");
        for (auto& [L, v] : a.by_ctx) add(v, fmt::format("L={}", L));
    }
    (void)opts;
    return a;
}

// ------------------------------------------------------------------ tables (shared by MD and HTML)
struct Table {
    std::string id, caption;
    std::vector<std::string> head;
    std::vector<std::vector<std::string>> rows;
};

std::string md_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '|') o += "\\|";
        else if (c == '\n') o += ' ';
        else o += c;
    }
    return o;
}

std::string to_md(const Table& t) {
    std::string s;
    if (!t.caption.empty()) s += t.caption + "\n\n";
    s += "|";
    for (auto& h : t.head) s += " " + md_escape(h) + " |";
    s += "\n|";
    for (size_t i = 0; i < t.head.size(); i++) s += i == 0 ? "---|" : "---:|";
    s += "\n";
    for (auto& r : t.rows) {
        s += "|";
        for (auto& c : r) s += " " + md_escape(c) + " |";
        s += "\n";
    }
    if (t.rows.empty()) s += "| (none) |" + std::string(t.head.size() > 1 ? std::string(t.head.size() - 1, '|') : "") + "\n";
    return s + "\n";
}

std::string html_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string to_html(const Table& t) {
    std::string s = fmt::format("<table class=\"sortable\" id=\"{}\">", html_escape(t.id));
    if (!t.caption.empty()) s += "<caption>" + html_escape(t.caption) + "</caption>";
    s += "<thead><tr>";
    for (auto& h : t.head) s += "<th>" + html_escape(h) + "</th>";
    s += "</tr></thead><tbody>";
    for (auto& r : t.rows) {
        s += "<tr>";
        for (auto& c : r) s += "<td>" + html_escape(c) + "</td>";
        s += "</tr>";
    }
    if (t.rows.empty()) s += fmt::format("<tr><td colspan=\"{}\">(none)</td></tr>", t.head.size());
    return s + "</tbody></table>\n";
}


// ------------------------------------------------------------------ JSON export
json interval_json(const Interval& i) {
    if (!i.lo || !i.hi) return nullptr;
    return json::array({*i.lo, *i.hi});
}

json corr_json(const Correlation& c) {
    json j = {{"n", c.n}, {"r", to_json(c.r)}, {"ci95", interval_json({c.lo, c.hi})}};
    if (!c.note.empty()) j["note"] = c.note;
    return j;
}

json experiment_json(const Experiment& e) {
    json j = {{"id", e.id},
              {"method", e.method},
              {"config", e.config},
              {"params", e.params},
              {"ctx", e.ctx},
              {"status", status_name(e.status)},
              {"attempts", e.attempts},
              {"timings",
               {{"wall_s", to_json(e.wall_s)},
                {"started_at", e.started_at.empty() ? json(nullptr) : json(e.started_at)},
                {"finished_at", e.finished_at.empty() ? json(nullptr) : json(e.finished_at)}}},
              {"worker", e.worker},
              {"version", e.version}};
    if (e.status == Status::failed) j["error"] = e.error;
    if (!e.record) return j;
    const Record& r = *e.record;
    j["model"] = {{"path", r.model_path},
                  {"dtype", r.dtype},
                  {"config_hash", r.config_hash},
                  {"trained_ctx", r.trained_ctx ? json(*r.trained_ctx) : json(nullptr)}};
    j["rope"] = {{"resolved", r.rope_resolved}, {"attention_factor", to_json(r.attention_factor)}};
    json m = json::object(), counts = json::object();
    if (r.ppl) {
        const auto& p = *r.ppl;
        m["ppl"] = {{"value", to_json(p.ppl)},
                    {"ci95", interval_json({p.ci_lo, p.ci_hi})},
                    {"mean_nll", to_json(p.mean_nll)},
                    {"protocol", p.protocol}};
        counts["tokens_scored"] = p.tokens_scored;
        if (p.documents_used) counts["documents_used"] = *p.documents_used;
        if (p.documents_skipped) counts["documents_skipped"] = *p.documents_skipped;
        j["timings"]["ppl_wall_s"] = to_json(p.wall_s);
    }
    if (r.longppl) {
        const auto& p = *r.longppl;
        m["longppl"] = {{"value", to_json(p.longppl)}};
        if (!p.longppl) m["longppl"]["value_note"] = "undefined: no key tokens";
        if (p.n_key) counts["n_key"] = *p.n_key;
        j["timings"]["longppl_wall_s"] = to_json(p.wall_s);
    }
    if (r.passkey) {
        const auto& p = *r.passkey;
        json pd = json::array();
        for (auto& d : p.per_depth) {
            Interval w = wilson(d.correct, d.trials);
            pd.push_back({{"depth", d.depth},
                          {"trials", d.trials},
                          {"correct", d.correct},
                          {"accuracy", d.trials ? json(static_cast<double>(d.correct) / static_cast<double>(d.trials)) : json(nullptr)},
                          {"ci95", interval_json(w)}});
        }
        m["passkey"] = {{"accuracy", p.accuracy}, {"ci95", interval_json({p.ci_lo, p.ci_hi})}, {"per_depth", pd}};
        counts["passkey_trials"] = p.trials;
        counts["passkey_correct"] = p.correct;
        j["timings"]["passkey_wall_s"] = to_json(p.wall_s);
    }
    j["metrics"] = m;
    j["counts"] = counts;
    return j;
}

json summary_json(const Summary& s) {
    return {{"n", s.n},           {"mean", to_json(s.mean)},   {"std", to_json(s.std)},
            {"min", to_json(s.min)}, {"q25", to_json(s.q25)},   {"median", to_json(s.median)},
            {"q75", to_json(s.q75)}, {"max", to_json(s.max)}};
}

json method_json(const MethodRow& r) {
    return {{"method", r.method},
            {"rank", r.rank},
            {"experiments", {{"done", r.n_done}, {"failed", r.n_failed}, {"pending_or_running", r.n_pending}}},
            {"configs", r.n_configs},
            {"ppl", summary_json(r.ppl)},
            {"ppl_geomean", to_json(r.ppl_geomean)},
            {"mean_passkey_accuracy", to_json(r.mean_passkey)},
            {"longppl_geomean", to_json(r.mean_longppl_geo)},
            {"score_mean_log_ratio_to_best", to_json(r.score)},
            {"consistency", {{"within_10pct", r.consist_k}, {"contexts", r.consist_n},
                             {"fraction", r.consist_n ? json(static_cast<double>(r.consist_k) / r.consist_n) : json(nullptr)}}}};
}

// ------------------------------------------------------------------ figures
struct Figure {
    std::string name, caption;
    int w = 0, h = 0;
};

std::string ctx_label(int64_t L) { return fmt::format("{}", L); }

}  // namespace

// The report writer holds the analysis and the output paths.
namespace {

class Writer {
public:
    Writer(const Store& st, const ReportOptions& o) : m_st(st), m_o(o), m_a(analyze(st, o)) {}

    ReportSummary run();

private:
    const Store& m_st;
    const ReportOptions& m_o;
    Analysis m_a;
    std::vector<Figure> m_figs;
    std::vector<std::string> m_notes;  // skipped figures etc.
    std::vector<std::string> m_files;

    std::string out(const std::string& rel) const { return (fs::path(m_o.out_dir) / rel).string(); }
    void save(const std::string& rel, const std::string& text) {
        write_file(out(rel), text);
        m_files.push_back(rel);
    }
    void fig(const std::string& name, const std::string& caption, int w, int h, const chart::DrawFn& draw) {
        chart::save_png_svg(out("figures/" + name), w, h, draw);
        m_figs.push_back({name, caption, w, h});
        m_files.push_back("figures/" + name + ".png");
        m_files.push_back("figures/" + name + ".svg");
    }

    // tables
    Table t_summary_counts();
    Table t_ranking();
    Table t_context();
    Table t_top10();
    std::vector<Table> t_passkey_depth();
    Table t_corr();
    Table t_problems();
    Table t_best_per_ctx();
    std::vector<std::string> executive_summary();
    std::vector<std::pair<std::string, std::vector<std::string>>> recommendations();

    void figures();
    void write_json();
    void write_csv();
    void write_md();
    void write_txt();
    void write_html();

    const Experiment* best_cell(const std::string& m, int64_t L, Metric me) const {
        auto it = m_a.cells.find({m, L});
        return it == m_a.cells.end() ? nullptr : best_of(it->second, me);
    }
};

Table Writer::t_summary_counts() {
    Table t{"counts", "Experiments by status", {"status", "count"}, {}};
    t.rows = {{"done", std::to_string(m_a.done.size())},
              {"failed", std::to_string(m_a.failed.size())},
              {"pending", std::to_string(m_a.pending.size())},
              {"running", std::to_string(m_a.running.size())},
              {"total", std::to_string(m_st.experiments.size())}};
    return t;
}

Table Writer::t_ranking() {
    Table t{"ranking", "Method ranking (done experiments only)",
            {"rank", "method", "configs", "done", "failed", "pending", "mean PPL", "geo-mean PPL", "best PPL", "std PPL",
             "mean passkey acc", "consistency (L within 10% of best)", "score (mean log ratio to per-L best)"},
            {}};
    for (auto& r : m_a.ranking)
        t.rows.push_back({std::to_string(r.rank), r.method, std::to_string(r.n_configs), std::to_string(r.n_done),
                          std::to_string(r.n_failed), std::to_string(r.n_pending), fnum(r.ppl.mean), fnum(r.ppl_geomean),
                          fnum(r.ppl.min), fnum(r.ppl.std), fpct(r.mean_passkey),
                          r.consist_n ? fmt::format("{}/{}", r.consist_k, r.consist_n) : "undefined", fnum(r.score)});
    return t;
}

Table Writer::t_context() {
    Table t{"context", "Best configuration per method and context length (by PPL; 95% interval from the record)", {"method"}, {}};
    for (int64_t L : m_a.contexts) t.head.push_back(fmt::format("L={}", L));
    for (auto& m : m_a.methods) {
        std::vector<std::string> row{m};
        for (int64_t L : m_a.contexts) {
            auto* b = best_cell(m, L, Metric::ppl);
            row.push_back(b ? fmt::format("{} {} ({})", fnum(value(b, Metric::ppl)), fci(interval(b, Metric::ppl), 3), b->config)
                            : "-");
        }
        t.rows.push_back(row);
    }
    return t;
}

Table Writer::t_top10() {
    Table t{"top10", "Top-10 configurations by PPL score (mean over L of log(PPL / best PPL at L); 0 = best everywhere)",
            {"#", "configuration", "contexts", "PPL score", "mean passkey acc", "LongPPL score"}, {}};
    for (int64_t L : m_a.contexts) t.head.push_back(fmt::format("PPL L={}", L));
    for (size_t i = 0; i < m_a.configs.size() && i < 10; i++) {
        const auto& c = m_a.configs[i];
        std::vector<std::string> row{std::to_string(i + 1), c.config, std::to_string(c.n.at(Metric::ppl)),
                                     fnum(c.score.at(Metric::ppl)), fpct(c.score.at(Metric::passkey)),
                                     fnum(c.score.at(Metric::longppl))};
        for (int64_t L : m_a.contexts) {
            auto it = c.by_ctx.find(L);
            row.push_back(it == c.by_ctx.end() ? "-" : fnum(value(it->second, Metric::ppl)));
        }
        t.rows.push_back(row);
    }
    return t;
}

std::vector<Table> Writer::t_passkey_depth() {
    std::vector<Table> out;
    for (auto& m : m_a.methods) {
        std::set<double> depths;
        std::map<int64_t, const Experiment*> best;
        for (int64_t L : m_a.contexts)
            if (auto* b = best_cell(m, L, Metric::passkey)) {
                best[L] = b;
                for (auto& d : b->record->passkey->per_depth) depths.insert(d.depth);
            }
        if (best.empty()) continue;
        Table t{"passkey_" + safe_name(m),
                fmt::format("Passkey accuracy of {} by depth x length (best passkey configuration per L; correct/trials)", m),
                {"depth"}, {}};
        for (auto& [L, e] : best) t.head.push_back(fmt::format("L={} ({})", L, e->config));
        for (double d : depths) {
            std::vector<std::string> row{fmt::format("{:.0f}%", d * 100)};
            for (auto& [L, e] : best) {
                std::string cell = "-";
                for (auto& pd : e->record->passkey->per_depth)
                    if (pd.depth == d && pd.trials > 0)
                        cell = fmt::format("{:.2f} ({}/{})", static_cast<double>(pd.correct) / pd.trials, pd.correct, pd.trials);
                row.push_back(cell);
            }
            t.rows.push_back(row);
        }
        std::vector<std::string> all{"all"};
        for (auto& [L, e] : best)
            all.push_back(fmt::format("{:.2f} ({}/{}) {}", e->record->passkey->accuracy, e->record->passkey->correct,
                                      e->record->passkey->trials,
                                      fci(interval(e, Metric::passkey), 2)));
        t.rows.push_back(all);
        out.push_back(t);
    }
    return out;
}

Table Writer::t_corr() {
    Table t{"correlations", "Correlations between metrics (one point per done experiment having both)",
            {"pair", "scope", "n", "Pearson r", "Pearson 95% CI (Fisher z)", "Spearman rho",
             "Spearman 95% CI (Fisher z, Bonett-Wright SE)", "note"},
            {}};
    for (auto& c : m_a.corr) {
        std::string note = c.pearson.note;
        if (!c.spearman.note.empty() && c.spearman.note != note) note += (note.empty() ? "" : "; ") + ("rank: " + c.spearman.note);
        t.rows.push_back({c.pair, c.scope, std::to_string(c.pearson.n), fnum(c.pearson.r, 3),
                          fci({c.pearson.lo, c.pearson.hi}, 3), fnum(c.spearman.r, 3), fci({c.spearman.lo, c.spearman.hi}, 3),
                          note});
    }
    return t;
}

Table Writer::t_problems() {
    Table t{"problems", "Failed, pending and running experiments (not used in any statistic)",
            {"status", "method", "configuration", "L", "attempts", "id", "error"}, {}};
    for (auto* v : {&m_a.failed, &m_a.running, &m_a.pending})
        for (auto* e : *v) {
            std::string err = e->error;
            if (err.size() > 200) err = err.substr(0, 200) + "...";
            t.rows.push_back({status_name(e->status), e->method, e->config, std::to_string(e->ctx),
                              std::to_string(e->attempts), e->id.substr(0, 12), err});
        }
    return t;
}

Table Writer::t_best_per_ctx() {
    Table t{"best_per_ctx", "Best configuration per context length, by each metric",
            {"L", "best by PPL", "PPL", "best by LongPPL", "LongPPL", "best by passkey", "passkey acc"}, {}};
    for (int64_t L : m_a.contexts) {
        auto it = m_a.by_ctx.find(L);
        std::vector<std::string> row{std::to_string(L)};
        for (Metric m : k_metrics) {
            const Experiment* b = it == m_a.by_ctx.end() ? nullptr : best_of(it->second, m);
            row.push_back(b ? b->config : "-");
            std::string v = "-";
            if (b && m == Metric::passkey) v = fmt::format("{} {}", fpct(value(b, m)), fci(interval(b, m), 2));
            else if (b && m == Metric::ppl) v = fmt::format("{} {}", fnum(value(b, m)), fci(interval(b, m), 3));
            else if (b) v = fnum(value(b, m));  // LongPPL records carry no interval
            row.push_back(v);
        }
        t.rows.push_back(row);
    }
    return t;
}

std::vector<std::string> Writer::executive_summary() {
    std::vector<std::string> s;
    s.push_back(fmt::format("Experiments: {} total; {} done, {} failed, {} pending, {} running. Statistics use the {} done ones only.",
                            m_st.experiments.size(), m_a.done.size(), m_a.failed.size(), m_a.pending.size(),
                            m_a.running.size(), m_a.done.size()));
    s.push_back(fmt::format("Total compute time (sum of wall_s over all rows that report one): {:.1f} s ({:.2f} h); done rows: {:.1f} s.",
                            m_a.compute_s, m_a.compute_s / 3600, m_a.compute_done_s));
    s.push_back(fmt::format("Methods: {}; context lengths: {}; trained context: {}.", m_a.methods.size(),
                            [&] {
                                std::string x;
                                for (auto L : m_a.contexts) x += (x.empty() ? "" : ", ") + std::to_string(L);
                                return x;
                            }(),
                            m_a.trained_ctx ? std::to_string(*m_a.trained_ctx) : "not recorded"));
    for (Metric m : k_metrics) {
        const ConfigRow* best = nullptr;
        size_t cov = 0;
        for (auto& c : m_a.configs) cov = std::max(cov, c.n.at(m));
        for (auto& c : m_a.configs) {
            Num sc = c.score.at(m);
            if (!sc || c.n.at(m) != cov) continue;
            if (!best || (m == Metric::passkey ? *sc > *best->score.at(m) : *sc < *best->score.at(m))) best = &c;
        }
        if (!best) {
            s.push_back(fmt::format("Best configuration overall by {}: undefined (no done experiment measured it).", metric_name(m)));
            continue;
        }
        if (m == Metric::passkey)
            s.push_back(fmt::format("Best configuration overall by passkey: {} (mean accuracy {} over {} context lengths).",
                                    best->config, fpct(best->score.at(m)), best->n.at(m)));
        else
            s.push_back(fmt::format("Best configuration overall by {}: {} (mean log ratio to the per-L best {}, i.e. {} worse "
                                    "than the best at each L on average, over {} context lengths).",
                                    metric_name(m), best->config, fnum(best->score.at(m), 3),
                                    fpct(std::exp(*best->score.at(m)) - 1), best->n.at(m)));
    }
    for (int64_t L : m_a.contexts) {
        auto it = m_a.by_ctx.find(L);
        if (it == m_a.by_ctx.end()) {
            s.push_back(fmt::format("L={}: no done experiment.", L));
            continue;
        }
        std::string line = fmt::format("L={}:", L);
        for (Metric m : k_metrics) {
            auto* b = best_of(it->second, m);
            if (!b) continue;
            line += fmt::format(" best {} {} = {};", metric_name(m), b->config,
                                m == Metric::passkey ? fpct(value(b, m)) : fnum(value(b, m)));
        }
        s.push_back(line);
    }
    return s;
}

// Recommendations: each rule stated, then what the numbers give.
std::vector<std::pair<std::string, std::vector<std::string>>> Writer::recommendations() {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    {
        std::vector<std::string> f;
        if (m_a.ranking.empty() || !m_a.ranking[0].score) {
            f.push_back("No method has a PPL result: no recommendation.");
        } else {
            const auto& r0 = m_a.ranking[0];
            f.push_back(fmt::format("{} ranks first (score {}; its best config is on average {} above the per-L best PPL).",
                                    r0.method, fnum(r0.score, 3), fpct(std::exp(*r0.score) - 1)));
            if (m_a.ranking.size() > 1 && m_a.ranking[1].score) {
                double d = *m_a.ranking[1].score - *r0.score;
                f.push_back(d < 0.01 ? fmt::format("{} is within 1% (score difference {:.3g}): treat the two as tied.",
                                                   m_a.ranking[1].method, d)
                                     : fmt::format("Runner-up {} is {:.1f}% worse on the same score.", m_a.ranking[1].method,
                                                   (std::exp(d) - 1) * 100));
            }
        }
        out.push_back({"R1 (overall): recommend the method with the lowest score = mean over L of log(method's best PPL at L / "
                       "best PPL of any method at L); call methods within 0.01 (1%) of it tied.",
                       f});
    }
    {
        std::vector<std::string> f;
        for (auto& [L, v] : m_a.by_ctx) {
            std::vector<const Experiment*> s;
            for (auto* e : v)
                if (value(e, Metric::ppl)) s.push_back(e);
            std::sort(s.begin(), s.end(), [](auto* x, auto* y) { return better(x, y, Metric::ppl); });
            if (s.empty()) continue;
            std::string line = fmt::format("L={}: use {} (PPL {} {}).", L, s[0]->config, fnum(value(s[0], Metric::ppl)),
                                           fci(interval(s[0], Metric::ppl), 3));
            if (s.size() > 1) {
                Interval a = interval(s[0], Metric::ppl), b = interval(s[1], Metric::ppl);
                if (a.hi && b.lo)
                    line += *a.hi >= *b.lo ? fmt::format(" Not separated from {} (PPL {}): the 95% intervals overlap.",
                                                         s[1]->config, fnum(value(s[1], Metric::ppl)))
                                           : fmt::format(" Separated from the runner-up {} (PPL {}): intervals do not overlap.",
                                                         s[1]->config, fnum(value(s[1], Metric::ppl)));
                else
                    line += fmt::format(" Runner-up {} (PPL {}); no intervals to compare.", s[1]->config,
                                        fnum(value(s[1], Metric::ppl)));
            }
            f.push_back(line);
        }
        out.push_back({"R2 (per context length): recommend the lowest-PPL configuration at each L; say whether its 95% "
                       "interval overlaps the runner-up's.",
                       f});
    }
    {
        std::vector<std::string> f;
        for (auto& [L, v] : m_a.by_ctx) {
            std::vector<std::string> ok;
            bool any = false;
            for (auto* e : v) {
                if (!e->record->passkey) continue;
                any = true;
                if (auto lo = interval(e, Metric::passkey).lo; lo && *lo >= 0.8) ok.push_back(e->config);
            }
            if (!any) continue;
            f.push_back(ok.empty() ? fmt::format("L={}: no configuration retrieves reliably.", L)
                                   : fmt::format("L={}: reliable retrieval with {} configuration(s): {}.", L, ok.size(),
                                                 [&] {
                                                     std::string x;
                                                     for (size_t i = 0; i < ok.size() && i < 8; i++) x += (i ? "; " : "") + ok[i];
                                                     return ok.size() > 8 ? x + "; ..." : x;
                                                 }()));
        }
        out.push_back({"R3 (retrieval): a configuration retrieves reliably at L when the lower end of its passkey Wilson 95% "
                       "interval is at least 0.8.",
                       f});
    }
    {
        std::vector<std::string> f;
        for (auto& m : m_a.methods) {
            std::optional<double> base;
            int64_t base_L = 0, usable = -1;
            for (int64_t L : m_a.contexts) {
                auto* b = best_cell(m, L, Metric::ppl);
                if (!b) continue;
                double v = *value(b, Metric::ppl);
                if (!base) base = v, base_L = L;
                if (v <= 1.5 * *base) usable = L;
            }
            if (!base) continue;
            f.push_back(fmt::format("{}: usable up to L={} (reference: best PPL {} at L={}).", m, usable, fnum(*base), base_L));
        }
        out.push_back({"R4 (usable range): a method is usable up to the largest L at which its best PPL stays within 1.5x its "
                       "best PPL at the shortest evaluated L.",
                       f});
    }
    {
        std::vector<std::string> f;
        for (auto& c : m_a.corr) {
            if (c.pair != "log PPL vs passkey" || c.scope == "pooled") continue;
            if (!c.spearman.r)
                f.push_back(fmt::format("{}: Spearman undefined ({}): PPL says nothing about retrieval here.", c.scope, c.spearman.note));
            else if (c.spearman.hi && *c.spearman.hi < 0)
                f.push_back(fmt::format("{}: lower PPL goes with better retrieval (rho {}, 95% CI {}, n={}).", c.scope,
                                        fnum(c.spearman.r, 3), fci({c.spearman.lo, c.spearman.hi}, 3), c.spearman.n));
            else
                f.push_back(fmt::format("{}: PPL is not a reliable proxy for retrieval (rho {}, 95% CI {}, n={}).", c.scope,
                                        fnum(c.spearman.r, 3), fci({c.spearman.lo, c.spearman.hi}, 3), c.spearman.n));
        }
        out.push_back({"R5 (proxy check): within each L, PPL is a usable proxy for passkey retrieval only when the Spearman "
                       "interval of (log PPL, passkey) lies entirely below 0.",
                       f});
    }
    {
        std::vector<std::string> f;
        for (auto& n : m_a.notes)
            if (n.find("n_key") != std::string::npos) f.push_back(n);
        if (f.empty()) f.push_back("No LongPPL value rests on fewer than 100 key tokens.");
        out.push_back({"R6 (LongPPL reliability): flag LongPPL values computed from fewer than 100 key tokens.", f});
    }
    return out;
}

// ------------------------------------------------------------------ figures
void Writer::figures() {
    using namespace chart;
    fs::create_directories(out("figures"));
    const auto& M = m_a.methods;
    // 1. method comparison box plots
    {
        BoxFigure f;
        f.title = "Method comparison over the whole grid (every done experiment)";
        BoxPanel p1{"Perplexity", "PPL (log scale)", true, M, {}}, p2{"LongPPL", "LongPPL (log scale)", true, M, {}},
            p3{"Passkey retrieval", "accuracy (fraction correct)", false, M, {}};
        bool has_lp = false, has_pk = false;
        for (auto& m : M) {
            std::vector<double> a, b, c;
            for (auto* e : m_a.done) {
                if (e->method != m) continue;
                if (auto v = value(e, Metric::ppl)) a.push_back(*v);
                if (auto v = value(e, Metric::longppl)) b.push_back(*v), has_lp = true;
                if (auto v = value(e, Metric::passkey)) c.push_back(*v), has_pk = true;
            }
            p1.values.push_back(a);
            p2.values.push_back(b);
            p3.values.push_back(c);
        }
        f.panels.push_back(p1);
        if (has_lp) f.panels.push_back(p2);
        if (has_pk) f.panels.push_back(p3);
        f.width = 420 * static_cast<int>(f.panels.size()) + 60;
        f.height = 520;
        fig("method_comparison", "Box plots per method (quartiles, median, 1.5 IQR whiskers, every experiment a dot).", f.width,
            f.height, [f](cairo_t* cr) { draw_boxes(cr, f); });
    }
    // 2. heatmaps method x context (best and geometric-mean PPL)
    {
        HeatmapFigure f;
        f.title = "Perplexity by method and context length";
        f.value_label = "PPL";
        f.log_scale = true;
        Heatmap best{"best configuration", "context length L (tokens)", "method", M, {}, {}, {}},
            avg{"geometric mean over configurations", "context length L (tokens)", "", M, {}, {}, {}};
        for (auto L : m_a.contexts) best.col_labels.push_back(ctx_label(L)), avg.col_labels.push_back(ctx_label(L));
        for (auto& m : M) {
            std::vector<Num> rb, ra;
            for (auto L : m_a.contexts) {
                auto* b = best_cell(m, L, Metric::ppl);
                rb.push_back(b ? value(b, Metric::ppl) : std::nullopt);
                std::vector<double> xs;
                if (auto it = m_a.cells.find({m, L}); it != m_a.cells.end())
                    for (auto* e : it->second)
                        if (auto v = value(e, Metric::ppl)) xs.push_back(*v);
                ra.push_back(geomean(xs));
            }
            best.values.push_back(rb);
            avg.values.push_back(ra);
        }
        f.panels = {best, avg};
        f.width = std::max(900, 300 + 2 * 110 * static_cast<int>(m_a.contexts.size()) + 300);
        f.height = std::max(300, 140 + 46 * static_cast<int>(M.size()));
        fig("heatmap_ppl", "PPL of the best configuration (left) and the geometric mean over configurations (right); viridis, log colour scale, darker = lower PPL.",
            f.width, f.height, [f](cairo_t* cr) { draw_heatmap(cr, f); });
    }
    // 3. metrics vs context length (best config per method and L, intervals from the records)
    {
        LineFigure f;
        f.title = "Best configuration per method vs context length (bars: 95% intervals from the records)";
        struct P {
            Metric m;
            const char* title;
            const char* y;
            bool log;
        };
        for (P p : {P{Metric::ppl, "Perplexity", "PPL (log scale)", true}, P{Metric::longppl, "LongPPL", "LongPPL (log scale)", true},
                    P{Metric::passkey, "Passkey retrieval", "accuracy (Wilson 95% bars)", false}}) {
            LinePanel lp;
            lp.title = p.title;
            lp.x_label = "context length L (tokens, log scale)";
            lp.y_label = p.y;
            lp.log_x = true;
            lp.log_y = p.log;
            for (auto& [L, v] : m_a.by_ctx) lp.x_ticks.push_back(static_cast<double>(L));
            if (p.m == Metric::passkey) lp.y_min = -0.03, lp.y_max = 1.03;
            bool any = false;
            for (size_t mi = 0; mi < M.size(); mi++) {
                LineSeries s;
                s.label = M[mi];
                s.color = category_color(mi);
                for (auto L : m_a.contexts) {
                    auto* b = best_cell(M[mi], L, p.m);
                    if (!b) continue;
                    s.x.push_back(static_cast<double>(L));
                    s.y.push_back(*value(b, p.m));
                    Interval iv = interval(b, p.m);
                    s.lo.push_back(iv.lo);
                    s.hi.push_back(iv.hi);
                    any = true;
                }
                lp.series.push_back(s);
            }
            if (m_a.trained_ctx) lp.vlines.push_back({static_cast<double>(*m_a.trained_ctx), "trained"});
            if (any) f.panels.push_back(lp);
        }
        f.width = 400 * static_cast<int>(f.panels.size()) + 200;
        f.height = 500;
        if (!f.panels.empty())
            fig("metrics_vs_context", "Best configuration per method at each L; dashed line: trained context.", f.width, f.height,
                [f](cairo_t* cr) { draw_lines(cr, f); });
    }
    // 4. parameter effects
    for (auto& m : M) {
        std::set<std::string> keys;
        for (auto* e : m_a.done)
            if (e->method == m && e->params.is_object())
                for (auto it = e->params.begin(); it != e->params.end(); ++it)
                    if (it->is_number() && it.key() != "original_max_position_embeddings") keys.insert(it.key());
        LineFigure f;
        f.title = fmt::format("Parameter effects: {} (dots: every configuration; line: geometric mean / mean at each value)", m);
        for (auto& k : keys) {
            std::set<double> distinct;
            for (auto* e : m_a.done)
                if (e->method == m && e->params.is_object() && e->params.contains(k) && e->params[k].is_number())
                    distinct.insert(e->params[k].get<double>());
            if (distinct.size() < 2) continue;
            for (Metric me : k_metrics) {
                LinePanel lp;
                lp.title = fmt::format("{} vs {}", metric_name(me), k);
                lp.x_label = k + " (rope_scaling value)";
                lp.y_label = me == Metric::passkey ? "passkey accuracy" : std::string(metric_name(me)) + " (log scale)";
                lp.log_y = me != Metric::passkey;
                bool any = false;
                for (size_t li = 0; li < m_a.contexts.size(); li++) {
                    int64_t L = m_a.contexts[li];
                    std::map<double, std::vector<double>> pts;
                    for (auto* e : m_a.done)
                        if (e->method == m && e->ctx == L && e->params.is_object() && e->params.contains(k) &&
                            e->params[k].is_number())
                            if (auto v = value(e, me)) pts[e->params[k].get<double>()].push_back(*v);
                    if (pts.empty()) continue;
                    any = true;
                    LineSeries dots, line;
                    dots.color = line.color = category_color(li);
                    dots.line = false;
                    line.label = fmt::format("L={}", L);
                    line.markers = false;
                    for (auto& [x, ys] : pts) {
                        for (double y : ys) dots.x.push_back(x), dots.y.push_back(y);
                        line.x.push_back(x);
                        line.y.push_back(me == Metric::passkey ? *mean(ys) : *geomean(ys));
                    }
                    lp.series.push_back(dots);
                    lp.series.push_back(line);
                }
                if (any) f.panels.push_back(lp);
            }
        }
        if (f.panels.empty()) continue;
        f.cols = 3;
        size_t rows = (f.panels.size() + 2) / 3;
        f.width = 1380;
        f.height = 80 + 360 * static_cast<int>(rows);
        fig("param_effects_" + safe_name(m), fmt::format("Metric vs each numeric rope_scaling parameter of {}, one colour per context length.", m),
            f.width, f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
    }
    // 5. passkey depth x length per method
    for (auto& m : M) {
        std::set<double> depths;
        std::map<int64_t, const Experiment*> best;
        for (auto L : m_a.contexts)
            if (auto* b = best_cell(m, L, Metric::passkey)) {
                best[L] = b;
                for (auto& d : b->record->passkey->per_depth) depths.insert(d.depth);
            }
        if (best.empty() || depths.empty()) continue;
        HeatmapFigure f;
        f.title = fmt::format("Passkey accuracy by needle depth and context length: {}", m);
        f.value_label = "accuracy (fraction correct)";
        f.vmin = 0.0;
        f.vmax = 1.0;
        Heatmap h;
        h.title = "best passkey configuration at each L; cell: accuracy, n trials";
        h.x_label = "context length L (tokens)";
        h.y_label = "needle depth";
        for (auto& [L, e] : best) h.col_labels.push_back(ctx_label(L));
        for (double d : depths) {
            h.row_labels.push_back(fmt::format("{:.0f}%", d * 100));
            std::vector<Num> row;
            std::vector<std::string> ann;
            for (auto& [L, e] : best) {
                Num v;
                std::string a;
                for (auto& pd : e->record->passkey->per_depth)
                    if (pd.depth == d && pd.trials > 0) {
                        v = static_cast<double>(pd.correct) / pd.trials;
                        a = fmt::format("{:.2f}\nn={}", *v, pd.trials);
                    }
                row.push_back(v);
                ann.push_back(a);
            }
            h.values.push_back(row);
            h.annotations.push_back(ann);
        }
        f.panels = {h};
        f.width = std::max(700, 420 + 110 * static_cast<int>(best.size()));
        f.height = std::max(360, 150 + 40 * static_cast<int>(depths.size()));
        fig("passkey_depth_" + safe_name(m), fmt::format("Passkey accuracy of {} by depth (rows) and L (columns).", m), f.width,
            f.height, [f](cairo_t* cr) { draw_heatmap(cr, f); });
    }
    // 6. NLL vs token position, per L
    for (auto L : m_a.contexts) {
        if (m_a.trained_ctx && L <= *m_a.trained_ctx) continue;
        if (!m_a.by_ctx.count(L)) continue;  // nothing done at this L
        LineFigure f;
        f.title = fmt::format("Mean NLL per position bucket at L={} (best PPL configuration per method)", L);
        LinePanel lp;
        lp.x_label = "token position (bucket centre)";
        lp.y_label = "mean NLL (nats / token)";
        bool any = false;
        for (size_t mi = 0; mi < M.size(); mi++) {
            auto* b = best_cell(M[mi], L, Metric::ppl);
            if (!b || !b->record->ppl->buckets) continue;
            const auto& bk = *b->record->ppl->buckets;
            LineSeries s;
            s.label = b->config;
            s.color = category_color(mi);
            s.markers = bk.count.size() <= 40;
            for (size_t i = 0; i < bk.count.size(); i++) {
                if (bk.count[i] <= 0) continue;
                s.x.push_back((static_cast<double>(i) + 0.5) * static_cast<double>(bk.size));
                s.y.push_back(bk.nll_sum[i] / bk.count[i]);
            }
            if (!s.x.empty()) lp.series.push_back(s), any = true;
        }
        if (!any) {
            m_notes.push_back(fmt::format("NLL-vs-position plot for L={} skipped: no record holds ppl.buckets.", L));
            continue;
        }
        if (m_a.trained_ctx) lp.vlines.push_back({static_cast<double>(*m_a.trained_ctx), "trained context"});
        f.panels = {lp};
        f.width = 1100;
        f.height = 520;
        fig(fmt::format("nll_position_L{}", L),
            fmt::format("Mean NLL by token position at L={}; the dashed line marks the trained context.", L), f.width, f.height,
            [f](cairo_t* cr) { draw_lines(cr, f); });
    }
    // 7. RoPE scaling curves of the best configuration per method
    {
        LineFigure f;
        f.title = "RoPE scale factor per dimension pair (best configuration per method by PPL score)";
        LinePanel lp;
        lp.x_label = "dimension pair i (high frequency -> low frequency)";
        lp.y_label = "plain inv_freq / scaled inv_freq (log scale)";
        lp.log_y = true;
        std::vector<std::string> missing;
        for (size_t mi = 0; mi < M.size(); mi++) {
            const ConfigRow* c = nullptr;
            for (auto& cr : m_a.configs)
                if (cr.method == M[mi] && cr.score.at(Metric::ppl)) {
                    c = &cr;
                    break;
                }
            if (!c) continue;
            const Experiment* e = c->by_ctx.rbegin()->second;  // longest L
            const Record& r = *e->record;
            if (!r.head_dim || r.rope_resolved.is_null()) {
                missing.push_back(c->config);
                continue;
            }
            try {
                RopeGeometry g;
                g.head_dim = static_cast<int>(*r.head_dim);
                g.rope_theta = r.rope_theta ? *r.rope_theta : 10000.0;
                g.max_position_embeddings = static_cast<int>(r.trained_ctx ? *r.trained_ctx : e->ctx);
                if (r.partial_rotary_factor) g.partial_rotary_factor = *r.partial_rotary_factor;
                RopeConfig cfg = parse_rope_config(g, r.rope_resolved);
                RopeTables t = compute_rope_tables(cfg, static_cast<int>(e->ctx));
                std::vector<double> plain = plain_inv_freq(t.rotary_dim, cfg.theta);
                LineSeries s;
                s.label = fmt::format("{} (L={})", c->config, e->ctx);
                if (t.attention_factor != 1.0) s.label += fmt::format(" attn {:.3g}", t.attention_factor);
                s.color = category_color(mi);
                s.markers = t.inv_freq.size() <= 32;
                for (size_t i = 0; i < t.inv_freq.size(); i++) {
                    s.x.push_back(static_cast<double>(i));
                    s.y.push_back(plain[i] / t.inv_freq[i]);
                }
                lp.series.push_back(s);
            } catch (const Error& ex) {
                missing.push_back(fmt::format("{} ({})", c->config, ex.what()));
            }
        }
        if (!missing.empty()) {
            std::string x;
            for (auto& s : missing) x += (x.empty() ? "" : "; ") + s;
            m_notes.push_back("RoPE scaling curve skipped for " + x +
                              ": the record lacks model.head_dim or rope.resolved (the geometry needed to compute inv_freq).");
        }
        if (!lp.series.empty()) {
            f.panels = {lp};
            f.width = 1200;
            f.height = 540;
            fig("rope_scaling", "Scale factor per dimension pair of each method's best configuration (computed with src/rope).",
                f.width, f.height, [f](cairo_t* cr) { draw_lines(cr, f); });
        }
    }
    // 8. correlation scatter matrix
    {
        ScatterMatrix sm;
        sm.title = "Metric scatter matrix (one point per done experiment, colour = context length)";
        std::vector<Metric> ms;
        for (Metric me : k_metrics) {
            size_t n = 0;
            for (auto* e : m_a.done) n += value(e, me).has_value();
            if (n) ms.push_back(me);
        }
        if (ms.size() >= 2) {
            for (Metric me : ms) {
                sm.var_labels.push_back(me == Metric::passkey ? "passkey accuracy" : std::string(metric_name(me)) + " (log)");
                sm.log_axis.push_back(me != Metric::passkey);
                std::vector<double> col;
                for (auto* e : m_a.done) col.push_back(value(e, me).value_or(std::nan("")));
                sm.data.push_back(col);
            }
            std::map<int64_t, size_t> li;
            for (auto& [L, v] : m_a.by_ctx) {
                li[L] = sm.category_labels.size();
                sm.category_labels.push_back(fmt::format("L={}", L));
            }
            for (auto* e : m_a.done) sm.category.push_back(li[e->ctx]);
            sm.category_title = "context length";
            sm.width = 300 * static_cast<int>(ms.size()) + 260;
            sm.height = 300 * static_cast<int>(ms.size()) + 100;
            fig("scatter_matrix", "Pairwise scatter of the metrics (log axes for PPL and LongPPL); diagonal: histograms.", sm.width,
                sm.height, [sm](cairo_t* cr) { draw_scatter_matrix(cr, sm); });
        } else {
            m_notes.push_back("Scatter matrix skipped: fewer than two metrics were measured.");
        }
    }
}

// ------------------------------------------------------------------ writers
void Writer::write_json() {
    json all = json::array();
    for (auto& e : m_st.experiments) all.push_back(experiment_json(e));
    json methods = json::array();
    for (auto& r : m_a.ranking) methods.push_back(method_json(r));
    json corr = json::array();
    for (auto& c : m_a.corr) corr.push_back({{"pair", c.pair}, {"scope", c.scope}, {"pearson", corr_json(c.pearson)}, {"spearman", corr_json(c.spearman)}});
    json j = {{"schema", "ropebench.report/1"},
              {"source", {{"db", m_st.path}, {"meta", m_st.meta}}},
              {"counts",
               {{"total", m_st.experiments.size()},
                {"done", m_a.done.size()},
                {"failed", m_a.failed.size()},
                {"pending", m_a.pending.size()},
                {"running", m_a.running.size()}}},
              {"total_compute_s", m_a.compute_s},
              {"trained_ctx", m_a.trained_ctx ? json(*m_a.trained_ctx) : json(nullptr)},
              {"contexts", m_a.contexts},
              {"methods", methods},
              {"correlations", corr},
              {"notes", m_a.notes},
              {"experiments", all}};
    save("comprehensive_results.json", j.dump(2) + "\n");
    for (auto& r : m_a.ranking) {
        json ex = json::array();
        for (auto& e : m_st.experiments)
            if (e.method == r.method) ex.push_back(experiment_json(e));
        json mj = {{"schema", "ropebench.report.method/1"}, {"method", r.method}, {"summary", method_json(r)}, {"experiments", ex}};
        json per_ctx = json::object();
        for (auto L : m_a.contexts) {
            auto it = m_a.cells.find({r.method, L});
            if (it == m_a.cells.end()) continue;
            std::vector<double> p;
            for (auto* e : it->second)
                if (auto v = value(e, Metric::ppl)) p.push_back(*v);
            auto* b = best_of(it->second, Metric::ppl);
            per_ctx[std::to_string(L)] = {{"ppl", summary_json(summarize(p))}, {"best_config", b ? json(b->config) : json(nullptr)}};
        }
        mj["per_context"] = per_ctx;
        save(safe_name(r.method) + "_results.json", mj.dump(2) + "\n");
    }
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

void Writer::write_csv() {
    std::string s =
        "id,method,config,params,ctx,status,ppl,ppl_ci_lo,ppl_ci_hi,tokens_scored,longppl,n_key,passkey_accuracy,passkey_correct,"
        "passkey_trials,passkey_ci_lo,passkey_ci_hi,wall_s,attempts,error\n";
    auto n = [](Num v) { return v ? fmt::format("{:.10g}", *v) : std::string(); };
    for (auto& e : m_st.experiments) {
        std::vector<std::string> f{e.id, e.method, e.config, e.params.dump(), std::to_string(e.ctx), status_name(e.status)};
        const Record* r = e.record ? &*e.record : nullptr;
        bool hp = r && r->ppl, hl = r && r->longppl, hk = r && r->passkey;
        f.push_back(hp ? n(r->ppl->ppl) : "");
        f.push_back(hp ? n(r->ppl->ci_lo) : "");
        f.push_back(hp ? n(r->ppl->ci_hi) : "");
        f.push_back(hp ? std::to_string(r->ppl->tokens_scored) : "");
        f.push_back(hl ? n(r->longppl->longppl) : "");
        f.push_back(hl && r->longppl->n_key ? std::to_string(*r->longppl->n_key) : "");
        f.push_back(hk ? n(r->passkey->accuracy) : "");
        f.push_back(hk ? std::to_string(r->passkey->correct) : "");
        f.push_back(hk ? std::to_string(r->passkey->trials) : "");
        f.push_back(hk ? n(r->passkey->ci_lo) : "");
        f.push_back(hk ? n(r->passkey->ci_hi) : "");
        f.push_back(n(e.wall_s));
        f.push_back(std::to_string(e.attempts));
        f.push_back(e.error);
        for (size_t i = 0; i < f.size(); i++) s += (i ? "," : "") + csv_field(f[i]);
        s += "\n";
    }
    save("results.csv", s);
}

const char* k_definitions[] = {
    "Only rows with status done enter a statistic; failed, pending and running rows are counted and listed.",
    "PPL, LongPPL and passkey values, their 95% intervals (bootstrap over documents for PPL, Wilson for passkey) and the "
    "per-bucket NLL come from the eval records as stored.",
    "Score of a configuration (or method) on PPL: mean over the context lengths L it was evaluated at of log(PPL / best PPL "
    "of any done experiment at L); 0 means best at every L, 0.1 means about 10.5% above the best on average. A method's "
    "score uses its best configuration at each L. Configurations that cover every context length rank ahead of ones that "
    "do not.",
    "Consistency of a method: the fraction of context lengths at which its best configuration's PPL is within 10% of the "
    "best PPL of any method at that L (k/n).",
    "Mean PPL, std PPL and best PPL of a method: over every done experiment of the method (all configurations and L); the "
    "geometric mean is also shown since PPL spans orders of magnitude.",
    "Correlations: one point per done experiment with both metrics. Pearson r on log PPL / log LongPPL (passkey accuracy "
    "untransformed) with the Fisher z interval tanh(atanh r +- 1.96/sqrt(n-3)). Spearman rho = Pearson on average ranks "
    "(ties share ranks) with a Fisher z interval using the Bonett & Wright (2000) standard error sqrt((1 + rho^2/2)/(n-3)). "
    "r is undefined for n < 3 or a constant column; the interval is undefined for n < 4 or |r| = 1. Pooled correlations "
    "are dominated by L itself (all metrics degrade with L): read the within-L rows.",
    "Statistics computed here (detailed_statistics.txt) include a percentile bootstrap of the mean log PPL across "
    "configurations (SplitMix64, fixed seed), so reruns give identical numbers.",
};

void Writer::write_md() {
    std::string s = "# ropebench report\n\n";
    s += fmt::format("Source: `{}`", m_st.path);
    for (auto& k : {"created", "tool_version"})
        if (auto it = m_st.meta.find(k); it != m_st.meta.end()) s += fmt::format(" · {} {}", k, it->second);
    s += "\n\n## Executive summary\n\n";
    for (auto& l : executive_summary()) s += "- " + l + "\n";
    s += "\n" + to_md(t_best_per_ctx());
    s += "## Method ranking\n\n" + to_md(t_ranking());
    s += "## Context length\n\n" + to_md(t_context());
    s += "## Top-10 configurations\n\n" + to_md(t_top10());
    s += "## Passkey by depth x length\n\n";
    auto pk = t_passkey_depth();
    if (pk.empty()) s += "No done experiment measured passkey retrieval.\n\n";
    for (auto& t : pk) s += to_md(t);
    s += "## Correlations between metrics\n\n" + to_md(t_corr());
    s += "## Recommendations\n\nEach rule is applied mechanically to the numbers above.\n\n";
    for (auto& [rule, findings] : recommendations()) {
        s += "- **" + rule + "**\n";
        for (auto& f : findings) s += "  - " + f + "\n";
        if (findings.empty()) s += "  - no data for this rule.\n";
    }
    s += "\n## Failed, pending and running experiments\n\n" + to_md(t_problems());
    s += "## Figures\n\n";
    for (auto& f : m_figs) s += fmt::format("![{}](figures/{}.png)\n\n*{}* ([SVG](figures/{}.svg))\n\n", f.name, f.name, f.caption, f.name);
    if (!m_notes.empty() || !m_a.notes.empty()) {
        s += "## Notes\n\n";
        for (auto& n : m_a.notes) s += "- " + n + "\n";
        for (auto& n : m_notes) s += "- " + n + "\n";
        s += "\n";
    }
    s += "## Definitions\n\n";
    for (auto& d : k_definitions) s += std::string("- ") + d + "\n";
    save("REPORT.md", s);
}

void Writer::write_txt() {
    std::string s = fmt::format("ropebench detailed statistics\nsource: {}\n", m_st.path);
    s += fmt::format("experiments: {} done, {} failed, {} pending, {} running\n", m_a.done.size(), m_a.failed.size(),
                     m_a.pending.size(), m_a.running.size());
    s += "Only done experiments enter the statistics. Quantiles are type 7 (linear). std is the sample standard deviation.\n";
    s += fmt::format("Bootstrap: {} resamples of configurations, SplitMix64 seed {}, percentile 95% interval of the mean log PPL.\n",
                     m_o.bootstrap_resamples, m_o.seed);
    auto summ = [](const std::string& name, const std::vector<double>& xs) {
        Summary q = summarize(xs);
        return fmt::format("    {:<10} n={:<4} mean={:<10} std={:<10} min={:<10} q25={:<10} median={:<10} q75={:<10} max={:<10} geomean={}\n",
                           name, q.n, format(q.mean), format(q.std), format(q.min), format(q.q25), format(q.median),
                           format(q.q75), format(q.max), format(geomean(xs)));
    };
    for (auto& m : m_a.methods) {
        s += fmt::format("\n=== method {} ===\n", m);
        std::vector<const Experiment*> all;
        for (auto& e : m_st.experiments)
            if (e.method == m) all.push_back(&e);
        for (auto L : m_a.contexts) {
            std::vector<const Experiment*> cell;
            size_t nf = 0, np = 0;
            for (auto* e : all) {
                if (e->ctx != L) continue;
                if (e->status == Status::done) cell.push_back(e);
                else if (e->status == Status::failed) nf++;
                else np++;
            }
            if (cell.empty() && !nf && !np) continue;
            s += fmt::format("  -- L={}: {} done, {} failed, {} pending/running\n", L, cell.size(), nf, np);
            std::vector<double> ppl, lppl, lp, pk;
            int64_t pk_c = 0, pk_t = 0;
            for (auto* e : cell) {
                if (auto v = value(e, Metric::ppl)) ppl.push_back(*v), lppl.push_back(std::log(*v));
                if (auto v = value(e, Metric::longppl)) lp.push_back(*v);
                if (auto v = value(e, Metric::passkey)) pk.push_back(*v), pk_c += e->record->passkey->correct, pk_t += e->record->passkey->trials;
            }
            s += summ("PPL", ppl);
            Interval bi = bootstrap_ci(lppl, [](const std::vector<double>& v) { return *mean(v); }, m_o.bootstrap_resamples,
                                       m_o.seed);
            s += fmt::format("    mean log PPL {} bootstrap 95% CI {} (over configurations)\n", format(mean(lppl)), fci(bi));
            s += summ("LongPPL", lp);
            s += summ("passkey", pk);
            s += fmt::format("    passkey pooled: {}/{} correct, Wilson 95% CI {}\n", pk_c, pk_t, fci(wilson(pk_c, pk_t)));
            for (auto* e : cell) {
                s += fmt::format("    {:<44} PPL {} {}", e->config, fnum(value(e, Metric::ppl)), fci(interval(e, Metric::ppl)));
                if (e->record->longppl) s += fmt::format("  LongPPL {} (n_key {})", fnum(value(e, Metric::longppl)),
                                                          e->record->longppl->n_key ? std::to_string(*e->record->longppl->n_key) : "?");
                if (e->record->passkey) s += fmt::format("  passkey {}/{} {}", e->record->passkey->correct, e->record->passkey->trials,
                                                          fci(interval(e, Metric::passkey), 3));
                s += fmt::format("  wall {} s\n", fnum(e->wall_s));
            }
        }
    }
    s += "\n=== correlations ===\n";
    for (auto& c : m_a.corr)
        s += fmt::format("  {:<24} {:<8} n={:<4} pearson r={} CI {}  spearman rho={} CI {}  {}\n", c.pair, c.scope, c.pearson.n,
                         fnum(c.pearson.r), fci({c.pearson.lo, c.pearson.hi}), fnum(c.spearman.r),
                         fci({c.spearman.lo, c.spearman.hi}), c.pearson.note.empty() ? c.spearman.note : c.pearson.note);
    save("detailed_statistics.txt", s);
}

size_t count_of(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) n++;
    return n;
}

// Cairo's SVG uses ids like "glyph-0-1" and "clip-3" in every file: prefix them so several
// SVGs can live in one HTML document without one figure's glyphs replacing another's.
std::string inline_svg(const std::string& svg, const std::string& prefix) {
    std::string s = svg;
    auto start = s.find("<svg");
    if (start != std::string::npos) s = s.substr(start);
    s = std::regex_replace(s, std::regex(R"re(id="([^"]+)")re"), "id=\"" + prefix + "$1\"");
    s = std::regex_replace(s, std::regex(R"re(href="#([^"]+)")re"), "href=\"#" + prefix + "$1\"");
    s = std::regex_replace(s, std::regex(R"re(url\(#([^)]+)\))re"), "url(#" + prefix + "$1)");
    // scale with the page
    s = std::regex_replace(s, std::regex("<svg "), "<svg class=\"fig\" ", std::regex_constants::format_first_only);
    return s;
}

void Writer::write_html() {
    std::string h = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ropebench report</title>
<style>
body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}
th{background:#eef;cursor:pointer;user-select:none}
th.asc::after{content:" \25B2"} th.desc::after{content:" \25BC"}
caption{text-align:left;font-weight:bold;padding:4px 0}
svg.fig{max-width:100%;height:auto;border:1px solid #ddd}
figure{margin:1em 0 2em} figcaption{font-size:13px;color:#444}
</style></head><body>
<h1>ropebench report</h1>
)";
    h += "<p>Source: <code>" + html_escape(m_st.path) + "</code></p>\n<h2>Executive summary</h2><ul>";
    for (auto& l : executive_summary()) h += "<li>" + html_escape(l) + "</li>";
    h += "</ul>\n" + to_html(t_best_per_ctx()) + to_html(t_summary_counts());
    h += "<h2>Method ranking</h2>" + to_html(t_ranking());
    h += "<h2>Context length</h2>" + to_html(t_context());
    h += "<h2>Top-10 configurations</h2>" + to_html(t_top10());
    h += "<h2>Passkey by depth x length</h2>";
    for (auto& t : t_passkey_depth()) h += to_html(t);
    h += "<h2>Correlations between metrics</h2>" + to_html(t_corr());
    h += "<h2>Recommendations</h2><ul>";
    for (auto& [rule, findings] : recommendations()) {
        h += "<li><b>" + html_escape(rule) + "</b><ul>";
        for (auto& f : findings) h += "<li>" + html_escape(f) + "</li>";
        h += "</ul></li>";
    }
    h += "</ul><h2>Failed, pending and running experiments</h2>" + to_html(t_problems());
    h += "<h2>Figures</h2>\n";
    for (size_t i = 0; i < m_figs.size(); i++) {
        auto& f = m_figs[i];
        std::string svg = read_file(out("figures/" + f.name + ".svg"));
        h += fmt::format("<figure id=\"fig-{}\">{}<figcaption>{}</figcaption></figure>\n", html_escape(f.name),
                         inline_svg(svg, fmt::format("f{}-", i)), html_escape(f.caption));
    }
    if (!m_notes.empty() || !m_a.notes.empty()) {
        h += "<h2>Notes</h2><ul>";
        for (auto& n : m_a.notes) h += "<li>" + html_escape(n) + "</li>";
        for (auto& n : m_notes) h += "<li>" + html_escape(n) + "</li>";
        h += "</ul>";
    }
    h += "<h2>Definitions</h2><ul>";
    for (auto& d : k_definitions) h += "<li>" + html_escape(d) + "</li>";
    h += "</ul>\n";
    h += fmt::format("<div id=\"report-meta\" data-tables=\"{}\" data-figures=\"{}\"></div>\n",
                     count_of(h, "<table class=\"sortable\""), m_figs.size());
    // Sortable tables: click a header to sort by that column (numbers numerically, the
    // rest as text); then a marker element proves the script ran without throwing.
    h += R"(<script>
(function(){
  function key(td){var t=td.textContent.trim();var m=t.match(/^[-+]?\d*\.?\d+(e[-+]?\d+)?/i);return m?parseFloat(m[0]):null;}
  function sortBy(table,col,th){
    var tb=table.tBodies[0];var rows=Array.prototype.slice.call(tb.rows);
    var asc=!th.classList.contains('asc');
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    rows.sort(function(a,b){
      var x=a.cells[col],y=b.cells[col];if(!x||!y)return 0;
      var kx=key(x),ky=key(y),r;
      if(kx!==null&&ky!==null)r=kx-ky;else if(kx!==null)r=-1;else if(ky!==null)r=1;
      else r=x.textContent.localeCompare(y.textContent);
      return asc?r:-r;});
    rows.forEach(function(r){tb.appendChild(r);});
  }
  var tables=document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables,function(t){
    Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){th.addEventListener('click',function(){sortBy(t,i,th);});});
  });
  // self-check on a detached copy of the first table: an ascending sort orders column 0
  var check='none';
  if(tables.length){
    var c=tables[0].cloneNode(true);sortBy(c,0,c.tHead.rows[0].cells[0]);
    var ks=Array.prototype.map.call(c.tBodies[0].rows,function(r){return key(r.cells[0]);});
    check='ok';for(var i=1;i<ks.length;i++){if(ks[i]!==null&&ks[i-1]!==null&&ks[i]<ks[i-1])check='unsorted';}
  }
  var ok=document.createElement('div');ok.id='report-ready';
  ok.setAttribute('data-sortcheck',check);
  ok.setAttribute('data-tables',String(tables.length));
  ok.setAttribute('data-svgs',String(document.querySelectorAll('svg.fig').length));
  ok.textContent='report script ok';document.body.appendChild(ok);
})();
</script>
</body></html>
)";
    save("report.html", h);
}

ReportSummary Writer::run() {
    fs::create_directories(m_o.out_dir);
    if (m_o.plots) figures();
    write_json();
    write_csv();
    write_txt();
    write_md();
    if (m_o.plots) write_html();
    else m_notes.push_back("report.html skipped: plots disabled");
    ReportSummary r;
    r.done = m_a.done.size();
    r.failed = m_a.failed.size();
    r.pending = m_a.pending.size();
    r.running = m_a.running.size();
    r.files = m_files;
    for (auto& f : m_figs) r.figures.push_back(f.name);
    r.notes = m_a.notes;
    r.notes.insert(r.notes.end(), m_notes.begin(), m_notes.end());
    return r;
}

}  // namespace

ReportSummary write_report(const std::string& db, const ReportOptions& opts) {
    if (opts.out_dir.empty()) throw Error("report: --out: output folder missing");
    Store st = read_store(db);
    Writer w(st, opts);
    return w.run();
}

}  // namespace rb::report
