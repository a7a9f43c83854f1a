#include "report/tables.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

namespace rb::report {

// ------------------------------------------------------------------ formatting
std::string fnum(Num v, int sig) { return format(v, sig); }
std::string fpct(Num v) { return v ? fmt::format("{:.1f}%", *v * 100) : "undefined"; }
std::string fci(const Interval& i, int sig) {
    if (!i.defined()) return "[no CI]";
    return fmt::format("[{}, {}]", format(i.lo, sig), format(i.hi, sig));
}

std::string fvalue_ci(Num v, const CiValue* c, int sig, bool pct) {
    std::string s = pct ? fpct(v) : fnum(v, sig);
    if (!c) return s;
    if (!c->ci.defined()) return s + " (" + (c->note.empty() ? "no CI" : c->note) + ")";
    if (pct) return fmt::format("{} [{:.1f}, {:.1f}]% (n={})", s, *c->ci.lo * 100, *c->ci.hi * 100, c->n);
    return fmt::format("{} {} (n={})", s, fci(c->ci, sig), c->n);
}

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

// ------------------------------------------------------------------ tables
Table t_counts(const Analysis& a) {
    Table t{"counts", "Experiments by status", {"status", "count"}, {}};
    t.rows = {{"done", std::to_string(a.done.size())},
              {"failed", std::to_string(a.failed.size())},
              {"pending", std::to_string(a.pending.size())},
              {"running", std::to_string(a.running.size())},
              {"total", std::to_string(a.store->experiments.size())}};
    return t;
}

namespace {
std::string rank_str(double r) { return r == std::floor(r) ? fmt::format("{:.0f}", r) : fmt::format("{:.1f}", r); }
std::string lengths_str(const std::vector<int64_t>& v) {
    std::string s;
    for (auto L : v) s += (s.empty() ? "" : ", ") + std::to_string(L);
    return s;
}
}  // namespace

Table t_overall(const Analysis& a) {
    Table t{"overall",
            fmt::format("Overall method ranking: mean rank of each method's best configuration across L = {} (per-L ranks by PPL "
                        "among methods; plain RoPE is a reference, not ranked)",
                        lengths_str(a.ranked_contexts)),
            {"position", "method", "mean rank", "rank range", "lengths", "PPL / plain RoPE (geo-mean)"},
            {}};
    for (auto& m : a.overall)
        t.rows.push_back({m.position ? std::to_string(m.position) : "-", m.method, m.mean_rank ? fmt::format("{:.2f}", *m.mean_rank) : "-",
                          m.min_rank ? rank_str(*m.min_rank) + "-" + rank_str(*m.max_rank) : "-",
                          fmt::format("{} of {}", m.lengths, m.of), fnum(m.geo_ratio_to_plain, 3)});
    bool plain = false;
    for (auto L : a.ranked_contexts) plain |= a.baseline_at(L) != nullptr;
    if (plain) t.rows.push_back({"ref", "plain RoPE (default)", "-", "-", "-", "1"});
    return t;
}

std::vector<Table> t_per_l(const Analysis& a) {
    std::vector<Table> out;
    for (auto& [L, es] : a.entries) {
        Table t{fmt::format("rank_L{}", L),
                fmt::format("L = {}: every distinct configuration on the same tokens, by PPL (aliases: configurations computing "
                            "the same rope tables and attention factor at this L)",
                            L),
                {"rank", "configuration", "PPL [95% CI] (n docs)", "PPL / plain", "LongPPL", "passkey [Wilson 95%] (n)"},
                {}};
        const Entry* plain = a.baseline_at(L);
        int rank = 0;
        for (auto& e : es) {
            Num p = entry_value(&e, Metric::ppl), pp = entry_value(plain, Metric::ppl);
            t.rows.push_back({e.baseline ? "ref" : p ? std::to_string(++rank) : "-", e.label() + (e.baseline ? " [plain RoPE]" : ""),
                              fvalue_ci(p, &e.ppl_ci), p && pp ? fnum(*p / *pp, 3) : "-", fnum(entry_value(&e, Metric::longppl)),
                              e.rep->record->passkey ? fvalue_ci(entry_value(&e, Metric::passkey), &e.passkey_ci, 3, true) : "-"});
        }
        out.push_back(t);
    }
    return out;
}

Table t_extension(const Analysis& a) {
    std::string T = a.trained_ctx ? std::to_string(*a.trained_ctx) : "?";
    Table t{"extension",
            fmt::format("Context extension past the trained length T = {}: each method's best configuration at L; PPL over "
                        "window positions < T and >= T (from the records' position buckets; same window, same tokens), "
                        "against plain RoPE at L = T (the same leading tokens under the truncate protocol)",
                        T),
            {"method", "L", "configuration", "PPL at L (all)", "PPL positions < T", "PPL positions >= T", "plain RoPE at T",
             "breaks at", "verdict"},
            {}};
    for (auto& x : a.extension) {
        std::string verdict = !x.entry->nll_beyond ? "no buckets"
                              : x.degrades         ? "degrades past T"
                                                   : "uses the extra context";
        std::string br = !x.entry->nll_within ? "-" : x.entry->breaks_at ? fmt::format("~{}", *x.entry->breaks_at) : "no break";
        t.rows.push_back({x.method, std::to_string(x.ctx), x.entry->label(), fnum(x.ppl_all), fnum(x.ppl_within),
                          fnum(x.ppl_beyond), fnum(x.plain_at_T), br, verdict});
    }
    return t;
}

Table t_context(const Analysis& a) {
    Table t{"context", "Best configuration of each method at each L (PPL, report's 95% interval)", {"method"}, {}};
    for (auto& [L, es] : a.entries) t.head.push_back(fmt::format("L={}", L));
    std::vector<std::string> row{"plain RoPE (reference)"};
    for (auto& [L, es] : a.entries) {
        auto* b = a.baseline_at(L);
        row.push_back(b ? fvalue_ci(entry_value(b, Metric::ppl), &b->ppl_ci, 4) : "-");
    }
    t.rows.push_back(row);
    for (auto& m : a.methods) {
        std::vector<std::string> r{m};
        for (auto& [L, es] : a.entries) {
            auto* b = a.best_of_method(m, L, Metric::ppl);
            r.push_back(b ? fmt::format("{} ({})", fvalue_ci(entry_value(b, Metric::ppl), &b->ppl_ci, 4), b->rep->config) : "-");
        }
        t.rows.push_back(r);
    }
    return t;
}

std::vector<Table> t_passkey_depth(const Analysis& a) {
    std::vector<Table> out;
    std::vector<std::string> ms = a.methods;
    ms.insert(ms.begin(), "default");
    for (auto& m : ms) {
        std::set<double> depths;
        std::map<int64_t, const Entry*> best;
        for (auto& [L, es] : a.entries) {
            const Entry* b = m == "default" ? a.baseline_at(L) : a.best_of_method(m, L, Metric::passkey);
            if (b && b->rep->record->passkey) {
                best[L] = b;
                for (auto& d : b->rep->record->passkey->per_depth) depths.insert(d.depth);
            }
        }
        if (best.empty()) continue;
        Table t{"passkey_" + safe_name(m),
                fmt::format("Passkey accuracy of {} by depth x length (best passkey configuration per L; correct/trials)",
                            m == "default" ? "plain RoPE" : m),
                {"depth"}, {}};
        for (auto& [L, e] : best) t.head.push_back(fmt::format("L={} ({})", L, e->rep->config));
        for (double d : depths) {
            std::vector<std::string> row{fmt::format("{:.0f}%", d * 100)};
            for (auto& [L, e] : best) {
                std::string cell = "-";
                for (auto& pd : e->rep->record->passkey->per_depth)
                    if (pd.depth == d && pd.trials > 0) cell = fmt::format("{}/{}", pd.correct, pd.trials);
                row.push_back(cell);
            }
            t.rows.push_back(row);
        }
        std::vector<std::string> all{"all"};
        for (auto& [L, e] : best) all.push_back(fvalue_ci(entry_value(e, Metric::passkey), &e->passkey_ci, 3, true));
        t.rows.push_back(all);
        out.push_back(t);
    }
    return out;
}

Table t_corr(const Analysis& a) {
    Table t{"correlations",
            "Correlations between metrics within each L (one point per distinct configuration; pooled values across L would "
            "measure L itself)",
            {"pair", "L", "n", "Pearson r", "Pearson 95% CI (Fisher z)", "Spearman rho", "Spearman 95% CI (Bonett-Wright)", "note"},
            {}};
    for (auto& c : a.corr) {
        std::string note = c.pearson.note;
        if (!c.spearman.note.empty() && c.spearman.note != note) note += (note.empty() ? "" : "; ") + ("rank: " + c.spearman.note);
        t.rows.push_back({c.pair, std::to_string(c.ctx), std::to_string(c.pearson.n), fnum(c.pearson.r, 3),
                          fci({c.pearson.lo, c.pearson.hi}, 3), fnum(c.spearman.r, 3), fci({c.spearman.lo, c.spearman.hi}, 3),
                          note});
    }
    return t;
}

Table t_problems(const Analysis& a) {
    Table t{"problems", "Failed, pending and running experiments (not used in any statistic)",
            {"status", "method", "configuration", "L", "attempts", "id", "error"}, {}};
    for (auto* v : {&a.failed, &a.running, &a.pending})
        for (auto* e : *v) {
            std::string err = e->error;
            if (err.size() > 200) err = err.substr(0, 200) + "...";
            t.rows.push_back({status_name(e->status), e->method, e->config, std::to_string(e->ctx), std::to_string(e->attempts),
                              e->id.substr(0, 12), err});
        }
    return t;
}

Table t_aliases(const Analysis& a) {
    Table t{"aliases", "Configurations that compute the same thing at an L (identical rope tables and attention factor): counted once",
            {"L", "entry", "aliases"}, {}};
    for (auto& [L, es] : a.entries)
        for (auto& e : es) {
            auto al = e.aliases();
            if (al.empty()) continue;
            std::string s;
            for (auto& x : al) s += (s.empty() ? "" : "; ") + x;
            t.rows.push_back({std::to_string(L), e.rep->config + (e.baseline ? " [plain RoPE]" : ""), s});
        }
    return t;
}

}  // namespace rb::report
