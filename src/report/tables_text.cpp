// The executive summary, the rule-based recommendations and the definitions (tables.h).
#include <fmt/format.h>

#include <cmath>
#include <set>

#include "report/tables.h"

namespace rb::report {

namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

std::string overall_line(const Analysis& a) {
    std::vector<std::string> ls;
    for (auto L : a.ranked_contexts) ls.push_back(std::to_string(L));
    if (a.overall.empty() || !a.overall[0].mean_rank)
        return "Best method overall: undefined (no scaled method has a PPL result).";
    const MethodRank& m = a.overall[0];
    std::string s = fmt::format("Best method overall: {} (mean rank {:.2f} across L = {}, rank range {:.0f}-{:.0f}, {} of {} lengths",
                                m.method, *m.mean_rank, join(ls), *m.min_rank, *m.max_rank, m.lengths, m.of);
    if (m.geo_ratio_to_plain) s += fmt::format("; its best PPL is {:.3g}x plain RoPE's on average", *m.geo_ratio_to_plain);
    s += "). Plain RoPE is a reference row, never ranked.";
    if (a.overall.size() > 1 && a.overall[1].mean_rank)
        s += fmt::format(" Runner-up: {} (mean rank {:.2f}{}).", a.overall[1].method, *a.overall[1].mean_rank,
                         *a.overall[1].mean_rank == *m.mean_rank ? "; tied on mean rank, ordered by the PPL ratio to plain RoPE" : "");
    return s;
}

std::string per_l_line(const Analysis& a, int64_t L) {
    std::string line = fmt::format("L={}:", L);
    const Entry* plain = a.baseline_at(L);
    for (Metric m : k_metrics) {
        const Entry* b = a.best_at(L, m, true);
        if (!b) continue;
        Num v = entry_value(b, m);
        line += fmt::format(" best {} {} = {};", metric_name(m), b->label(), m == Metric::passkey ? fpct(v) : fnum(v));
        if (m == Metric::ppl && plain && entry_value(plain, m))
            line += fmt::format(" plain RoPE {} ({});", fnum(entry_value(plain, m)),
                                better(b, plain, m) ? "the best scaled configuration is lower" : "plain RoPE is lower here");
    }
    if (!a.best_at(L, Metric::ppl, true) && plain) line += fmt::format(" only plain RoPE: PPL {};", fnum(entry_value(plain, Metric::ppl)));
    return line;
}

std::vector<std::string> extension_lines(const Analysis& a) {
    std::vector<std::string> out;
    if (a.extension.empty()) return out;
    std::map<std::string, std::vector<const Extension*>> by;
    for (auto& x : a.extension)
        if (x.entry->nll_beyond && x.entry->nll_within) by[x.method].push_back(&x);
    std::vector<std::string> uses, degrade;
    for (auto& [m, xs] : by) {
        std::string name = m == "default" ? "plain RoPE" : m;
        std::vector<std::string> bad;
        for (auto* x : xs)
            if (x->degrades)
                bad.push_back(fmt::format("L={}: NLL {:.3f} beyond vs {:.3f} within", x->ctx, *x->entry->nll_beyond,
                                          *x->entry->nll_within));
        if (bad.empty()) uses.push_back(name);
        else degrade.push_back(name + " (" + join(bad, "; ") + ")");
    }
    std::string T = std::to_string(*a.trained_ctx);
    if (!degrade.empty())
        out.push_back(fmt::format("Degrades past the trained length T={} (mean NLL at window positions >= T above that at < T, "
                                  "best configuration at each L): {}.",
                                  T, join(degrade, "; ")));
    if (!uses.empty())
        out.push_back(fmt::format("Uses the context past T={} (NLL beyond T at most NLL within T at every L): {}.", T, join(uses)));
    return out;
}

std::vector<std::string> alias_lines(const Analysis& a) {
    std::vector<std::string> out;
    for (auto& [L, es] : a.entries)
        for (auto& e : es) {
            auto al = e.aliases();
            if (al.empty()) continue;
            out.push_back(fmt::format("L={}: {} compute{} the same as {}{} (one entry, counted once).", L, join(al, "; "),
                                      al.size() > 1 ? "" : "s", e.rep->config, e.baseline ? " (plain RoPE: a no-op here)" : ""));
        }
    return out;
}

}  // namespace

std::vector<std::string> executive_summary(const Analysis& a) {
    std::vector<std::string> s;
    s.push_back(fmt::format("Experiments: {} total; {} done, {} failed, {} pending, {} running. Statistics use the {} done ones only.",
                            a.store->experiments.size(), a.done.size(), a.failed.size(), a.pending.size(), a.running.size(),
                            a.done.size()));
    s.push_back(fmt::format("Total compute time (sum of wall_s over all rows that report one): {:.1f} s ({:.2f} h); done rows: {:.1f} s.",
                            a.compute_s, a.compute_s / 3600, a.compute_done_s));
    std::vector<std::string> ls;
    for (auto L : a.contexts) ls.push_back(std::to_string(L));
    size_t n_entries = a.all_entries().size();
    s.push_back(fmt::format("Methods: {}; context lengths: {}; trained context: {}. {} distinct configurations at their L "
                            "({} experiments folded in as aliases).",
                            a.methods.size(), join(ls), a.trained_ctx ? std::to_string(*a.trained_ctx) : "not recorded",
                            n_entries, a.aliased));
    s.push_back(overall_line(a));
    for (auto& [L, es] : a.entries) s.push_back(per_l_line(a, L));
    for (auto& l : extension_lines(a)) s.push_back(l);
    for (auto& l : alias_lines(a)) s.push_back(l);
    return s;
}

namespace {

std::vector<std::string> rule_per_l(const Analysis& a) {
    std::vector<std::string> f;
    for (auto& [L, es] : a.entries) {
        std::vector<const Entry*> s;
        for (auto& e : es)
            if (!e.baseline && entry_value(&e, Metric::ppl)) s.push_back(&e);
        if (s.empty()) continue;
        std::string line = fmt::format("L={}: use {} (PPL {}).", L, s[0]->label(), fvalue_ci(entry_value(s[0], Metric::ppl), &s[0]->ppl_ci));
        if (s.size() > 1) {
            const Interval &x = s[0]->ppl_ci.ci, &y = s[1]->ppl_ci.ci;
            std::string ru = fmt::format("{} (PPL {})", s[1]->label(), fnum(entry_value(s[1], Metric::ppl)));
            if (x.defined() && y.defined())
                line += *x.hi >= *y.lo ? " Not separated from " + ru + ": the 95% intervals overlap."
                                       : " Separated from the runner-up " + ru + ": the intervals do not overlap.";
            else
                line += " Runner-up " + ru + "; no intervals to compare.";
        }
        f.push_back(line);
    }
    return f;
}

std::vector<std::string> rule_retrieval(const Analysis& a) {
    std::vector<std::string> f;
    for (auto& [L, es] : a.entries) {
        std::vector<std::string> ok;
        bool any = false;
        for (auto& e : es) {
            if (!e.rep->record->passkey) continue;
            any = true;
            if (e.passkey_ci.ci.lo && *e.passkey_ci.ci.lo >= 0.8) ok.push_back(e.label());
        }
        if (!any) continue;
        f.push_back(ok.empty() ? fmt::format("L={}: no configuration retrieves reliably.", L)
                               : fmt::format("L={}: reliable retrieval with {}.", L, join(ok, "; ")));
    }
    return f;
}

std::vector<std::string> rule_proxy(const Analysis& a) {
    std::vector<std::string> f;
    for (auto& c : a.corr) {
        if (c.pair != "log PPL vs passkey") continue;
        if (!c.spearman.r)
            f.push_back(fmt::format("L={}: Spearman undefined ({}, n={}): PPL says nothing about retrieval here.", c.ctx,
                                    c.spearman.note, c.spearman.n));
        else if (c.spearman.hi && *c.spearman.hi < 0)
            f.push_back(fmt::format("L={}: lower PPL goes with better retrieval (rho {}, 95% CI {}, n={}).", c.ctx,
                                    fnum(c.spearman.r, 3), fci({c.spearman.lo, c.spearman.hi}, 3), c.spearman.n));
        else
            f.push_back(fmt::format("L={}: PPL is not a reliable proxy for retrieval (rho {}, 95% CI {}, n={}).", c.ctx,
                                    fnum(c.spearman.r, 3), fci({c.spearman.lo, c.spearman.hi}, 3), c.spearman.n));
    }
    return f;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> recommendations(const Analysis& a) {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    out.push_back({"R1 (overall): recommend the method with the lowest mean rank across the lengths past the trained context "
                   "(per-L ranks of each method's best configuration by PPL); plain RoPE is a reference.",
                   {overall_line(a)}});
    out.push_back({"R2 (per context length): recommend the lowest-PPL scaled configuration at each L; say whether its 95% "
                   "interval overlaps the runner-up's.",
                   rule_per_l(a)});
    out.push_back({"R3 (retrieval): a configuration retrieves reliably at L when the lower end of its passkey Wilson 95% "
                   "interval is at least 0.8.",
                   rule_retrieval(a)});
    out.push_back({"R4 (context extension): a method extends the context at L when its mean NLL at window positions past the "
                   "trained length is not above its mean NLL before it (same window, same tokens).",
                   extension_lines(a)});
    out.push_back({"R5 (proxy check): within each L, PPL is a usable proxy for passkey retrieval only when the Spearman "
                   "interval of (log PPL, passkey) over distinct configurations lies entirely below 0.",
                   rule_proxy(a)});
    std::vector<std::string> f;
    for (auto& n : a.notes)
        if (n.find("n_key") != std::string::npos) f.push_back(n);
    if (f.empty()) f.push_back("No LongPPL value rests on fewer than 100 key tokens.");
    out.push_back({"R6 (LongPPL reliability): flag LongPPL values computed from fewer than 100 key tokens.", f});
    return out;
}

const std::vector<std::string>& definitions() {
    static const std::vector<std::string> d = {
        "Only rows with status done enter a statistic; failed, pending and running rows are counted and listed.",
        "Entry: the done experiments at one L that compute the same thing (same model and dtype, identical rope tables and "
        "attention factor from src/rope at that L) are one entry; the first is shown, the others are its aliases. Counts, "
        "rankings, correlations and figures use entries. An entry identical to plain RoPE is the plain-RoPE reference.",
        "Per-L ranking: entries at one L ordered by PPL; every configuration at one L is scored on the same tokens.",
        "Overall ranking: at each length past the trained context (every length when none is), each method's best "
        "configuration by PPL gets a rank among the methods (ties share the mean rank); methods are ordered by the mean of "
        "their ranks, then by the number of lengths covered. Being present at more lengths never raises a rank by itself.",
        "Context extension: from the records' NLL per window-position bucket, the mean NLL at positions < T and >= T (T = "
        "trained context; a bucket straddling T is left out). 'Breaks at' is the first bucket start >= T whose NLL exceeds "
        "the mean NLL below T.",
        "PPL intervals: percentile bootstrap of the pooled PPL over the record's documents (per_doc), computed by the report "
        "with mt19937_64(--seed) and --bootstrap resamples; only with at least 10 documents (else 'no CI: n = k'); when "
        "documents were split into consecutive segments, a moving-block bootstrap with block round(n^(1/3)). Passkey: Wilson "
        "95% with n trials. LongPPL: no interval.",
        "Correlations: within each L, one point per entry. Pearson r on log PPL / log LongPPL (passkey untransformed), "
        "interval tanh(atanh r +- 1.96/sqrt(n-3)); Spearman rho = Pearson on average ranks, Bonett-Wright standard error "
        "sqrt((1 + rho^2/2)/(n-3)). r undefined for n < 3 or a constant column; the interval for n < 4 or |r| = 1.",
    };
    return d;
}

}  // namespace rb::report
