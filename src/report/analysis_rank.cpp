// Rankings, the context-extension answer and correlations over the entries (analysis.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "report/analysis.h"

namespace rb::report {

// At each ranked L: each method's best entry by PPL, methods ranked 1..k (ties share the
// mean rank). Overall: mean rank over the ranked lengths a method has a result at, sorted
// by mean rank, then by coverage (more lengths first), then by the geometric-mean ratio to
// plain RoPE. Averaging ranks (not summing scores) means presence at more lengths never
// helps by itself; coverage is shown beside it.
void rank_methods(Analysis& a) {
    std::map<std::string, MethodRank> acc;
    for (auto& m : a.methods) acc[m].method = m;
    for (auto& [L, es] : a.entries) {
        std::vector<MethodAtL> v;
        for (auto& m : a.methods)
            if (auto* b = a.best_of_method(m, L, Metric::ppl)) v.push_back({m, b, 0});
        std::vector<double> ppl;
        for (auto& x : v) ppl.push_back(*entry_value(x.best, Metric::ppl));
        auto r = average_ranks(ppl);
        for (size_t i = 0; i < v.size(); i++) v[i].rank = r[i];
        std::stable_sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.rank < y.rank; });
        bool ranked = std::find(a.ranked_contexts.begin(), a.ranked_contexts.end(), L) != a.ranked_contexts.end();
        const Entry* plain = a.baseline_at(L);
        for (auto& x : v) {
            if (!ranked) continue;
            MethodRank& mr = acc[x.method];
            mr.ranks.push_back(x.rank);
            if (Num pp = entry_value(plain, Metric::ppl))
                mr.geo_ratio_to_plain = mr.geo_ratio_to_plain.value_or(0) + std::log(*entry_value(x.best, Metric::ppl) / *pp);
        }
        a.per_l[L] = std::move(v);
    }
    for (auto& [m, mr] : acc) {
        mr.lengths = mr.ranks.size();
        mr.of = a.ranked_contexts.size();
        mr.mean_rank = mean(mr.ranks);
        if (!mr.ranks.empty()) {
            mr.min_rank = *std::min_element(mr.ranks.begin(), mr.ranks.end());
            mr.max_rank = *std::max_element(mr.ranks.begin(), mr.ranks.end());
        }
        if (mr.geo_ratio_to_plain) mr.geo_ratio_to_plain = std::exp(*mr.geo_ratio_to_plain / static_cast<double>(mr.lengths));
        a.overall.push_back(mr);
    }
    std::stable_sort(a.overall.begin(), a.overall.end(), [](const MethodRank& x, const MethodRank& y) {
        if (x.mean_rank.has_value() != y.mean_rank.has_value()) return x.mean_rank.has_value();
        if (!x.mean_rank) return false;
        if (*x.mean_rank != *y.mean_rank) return *x.mean_rank < *y.mean_rank;
        if (x.lengths != y.lengths) return x.lengths > y.lengths;
        return x.geo_ratio_to_plain.value_or(INFINITY) < y.geo_ratio_to_plain.value_or(INFINITY);
    });
    for (size_t i = 0; i < a.overall.size(); i++) a.overall[i].position = a.overall[i].mean_rank ? static_cast<int>(i + 1) : 0;
}

void context_extension(Analysis& a) {
    if (!a.trained_ctx) return;
    const int64_t T = *a.trained_ctx;
    const Entry* plain_T = a.baseline_at(T);
    auto ex = [](Num nll) { return nll ? Num(std::exp(*nll)) : std::nullopt; };
    std::vector<std::string> rows = a.methods;
    rows.insert(rows.begin(), "default");
    for (auto& m : rows)
        for (auto& [L, es] : a.entries) {
            if (L <= T) continue;
            const Entry* b = m == "default" ? a.baseline_at(L) : a.best_of_method(m, L, Metric::ppl);
            if (!b) continue;
            Extension x;
            x.method = m;
            x.ctx = L;
            x.entry = b;
            x.ppl_all = entry_value(b, Metric::ppl);
            x.ppl_within = ex(b->nll_within);
            x.ppl_beyond = ex(b->nll_beyond);
            x.plain_at_T = entry_value(plain_T, Metric::ppl);
            x.degrades = b->nll_within && b->nll_beyond && *b->nll_beyond > *b->nll_within;
            a.extension.push_back(x);
        }
    bool any_buckets = false;
    for (auto& x : a.extension) any_buckets |= x.entry->nll_within.has_value();
    if (!a.extension.empty() && !any_buckets)
        a.notes.push_back("no record holds ppl.buckets: NLL within vs beyond the trained length cannot be computed");
    if (!a.extension.empty() && !plain_T)
        a.notes.push_back(fmt::format("no plain-RoPE experiment at the trained length L={}: nothing to compare PPL at L against", T));
}

// Per L over distinct entries (aliases once). Pooled values are left out: every metric
// degrades with L, so a pooled correlation measures L.
void correlations(Analysis& a) {
    struct Pair {
        const char* name;
        Metric x, y;
    };
    const Pair pairs[] = {{"log PPL vs log LongPPL", Metric::ppl, Metric::longppl},
                          {"log PPL vs passkey", Metric::ppl, Metric::passkey},
                          {"log LongPPL vs passkey", Metric::longppl, Metric::passkey}};
    auto tr = [](Metric m, double v) { return m == Metric::passkey ? v : std::log(v); };
    for (auto& p : pairs)
        for (auto& [L, es] : a.entries) {
            std::vector<double> x, y;
            for (auto& e : es) {
                Num vx = entry_value(&e, p.x), vy = entry_value(&e, p.y);
                if (!vx || !vy) continue;
                x.push_back(tr(p.x, *vx));
                y.push_back(tr(p.y, *vy));
            }
            if (x.empty()) continue;
            a.corr.push_back({p.name, L, pearson(x, y), spearman(x, y)});
        }
}

}  // namespace rb::report
