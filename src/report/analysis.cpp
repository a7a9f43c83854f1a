#include "report/analysis.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "rope/rope.h"
#include "util/error.h"

namespace rb::report {

const char* metric_name(Metric m) { return m == Metric::ppl ? "PPL" : m == Metric::longppl ? "LongPPL" : "passkey"; }

Num value(const Experiment* e, Metric m) {
    if (!e || !e->record) return std::nullopt;
    const Record& r = *e->record;
    switch (m) {
        case Metric::ppl: return r.ppl ? r.ppl->ppl : std::nullopt;
        case Metric::longppl: return r.longppl ? r.longppl->longppl : std::nullopt;
        case Metric::passkey: return r.passkey ? Num(r.passkey->accuracy) : std::nullopt;
    }
    return std::nullopt;
}

Num entry_value(const Entry* e, Metric m) { return e ? value(e->rep, m) : std::nullopt; }

const CiValue* entry_ci(const Entry* e, Metric m) {
    if (!e) return nullptr;
    if (m == Metric::ppl) return &e->ppl_ci;
    if (m == Metric::passkey) return &e->passkey_ci;
    return nullptr;
}

bool better(const Entry* a, const Entry* b, Metric m) {
    Num va = entry_value(a, m), vb = entry_value(b, m);
    if (!va) return false;
    if (!vb) return true;
    if (*va != *vb) return lower_better(m) ? *va < *vb : *va > *vb;
    if (m == Metric::passkey) {
        Num pa = entry_value(a, Metric::ppl), pb = entry_value(b, Metric::ppl);
        if (pa && (!pb || *pa < *pb)) return true;
    }
    return false;
}

std::string Entry::label() const {
    auto al = aliases();
    if (al.empty()) return rep->config;
    std::string s = rep->config + " (= ";
    for (size_t i = 0; i < al.size(); i++) s += (i ? "; " : "") + al[i];
    return s + ")";
}

std::vector<std::string> Entry::aliases() const {
    std::vector<std::string> a;
    for (size_t i = 1; i < members.size(); i++) a.push_back(members[i]->config);
    return a;
}

bool Entry::has(const std::string& method) const { return std::find(methods.begin(), methods.end(), method) != methods.end(); }

const Entry* Analysis::baseline_at(int64_t L) const {
    auto it = entries.find(L);
    if (it == entries.end()) return nullptr;
    for (auto& e : it->second)
        if (e.baseline) return &e;
    return nullptr;
}

const Entry* Analysis::best_at(int64_t L, Metric m, bool scaled_only) const {
    auto it = entries.find(L);
    if (it == entries.end()) return nullptr;
    const Entry* b = nullptr;
    for (auto& e : it->second)
        if ((!scaled_only || !e.baseline) && entry_value(&e, m) && (!b || better(&e, b, m))) b = &e;
    return b;
}

const Entry* Analysis::best_of_method(const std::string& method, int64_t L, Metric m) const {
    auto it = entries.find(L);
    if (it == entries.end()) return nullptr;
    const Entry* b = nullptr;
    for (auto& e : it->second)
        if (!e.baseline && e.has(method) && entry_value(&e, m) && (!b || better(&e, b, m))) b = &e;
    return b;
}

std::vector<const Entry*> Analysis::all_entries() const {
    std::vector<const Entry*> v;
    for (auto& [L, es] : entries)
        for (auto& e : es) v.push_back(&e);
    return v;
}

std::optional<RopeView> rope_view(const Experiment* e) {
    const Record& r = *e->record;
    if (!r.head_dim || !r.rope_theta) return std::nullopt;
    RopeGeometry g;
    g.head_dim = static_cast<int>(*r.head_dim);
    g.rope_theta = *r.rope_theta;  // model.rope_theta (else the resolved dict's): the base plain RoPE uses
    g.max_position_embeddings = static_cast<int>(r.trained_ctx ? *r.trained_ctx : e->ctx);
    if (r.partial_rotary_factor) g.partial_rotary_factor = *r.partial_rotary_factor;
    try {
        RopeConfig cfg = parse_rope_config(g, r.rope_resolved);
        RopeView v{compute_rope_tables(cfg, static_cast<int>(e->ctx)), plain_inv_freq(g.head_dim, g.rope_theta), false};
        v.is_plain = v.t.attention_factor == 1.0 && v.t.inv_freq.size() == v.plain.size();
        for (size_t i = 0; v.is_plain && i < v.plain.size(); i++)
            v.is_plain = std::fabs(v.t.inv_freq[i] - v.plain[i]) <= 1e-12 * v.plain[i];
        return v;
    } catch (const Error&) {
        return std::nullopt;
    }
}

namespace {

// ------------------------------------------------------------------ identical computations
using Tables = RopeView;

// Same model and dtype, and the same rope tables and attention factor (relative 1e-12:
// the tables come from the same double code path, so equal configurations agree to the
// last bits; different ones differ by far more).
bool same_computation(const Experiment* a, const std::optional<Tables>& ta, const Experiment* b,
                      const std::optional<Tables>& tb) {
    const Record &ra = *a->record, &rb = *b->record;
    if (ra.config_hash != rb.config_hash || ra.dtype != rb.dtype) return false;
    if (!ta || !tb) return ra.rope_resolved == rb.rope_resolved;
    if (ta->t.inv_freq.size() != tb->t.inv_freq.size()) return false;
    if (std::fabs(ta->t.attention_factor - tb->t.attention_factor) > 1e-12) return false;
    for (size_t i = 0; i < ta->t.inv_freq.size(); i++)
        if (std::fabs(ta->t.inv_freq[i] - tb->t.inv_freq[i]) > 1e-12 * std::fabs(ta->t.inv_freq[i])) return false;
    return true;
}

bool plain_method(const Experiment* e) { return e->method == "default" || e->method == "none"; }

// Groups the done experiments at one L into entries (plain-RoPE row first in a baseline group).
std::vector<Entry> group_entries(int64_t L, std::vector<const Experiment*> v) {
    std::stable_sort(v.begin(), v.end(), [](auto* x, auto* y) { return plain_method(x) && !plain_method(y); });
    std::vector<Entry> out;
    std::vector<std::optional<Tables>> tabs;
    for (auto* e : v) {
        auto t = rope_view(e);
        size_t k = 0;
        while (k < out.size() && !same_computation(out[k].rep, tabs[k], e, t)) k++;
        if (k == out.size()) {
            Entry n;
            n.ctx = L;
            n.rep = e;
            n.baseline = plain_method(e) || (t && t->is_plain);
            out.push_back(n);
            tabs.push_back(t);
        }
        out[k].members.push_back(e);
        if (!out[k].has(e->method)) out[k].methods.push_back(e->method);
    }
    return out;
}

// ------------------------------------------------------------------ intervals
CiValue ppl_interval(const Experiment* e, const ReportOptions& o) {
    CiValue c;
    const PplResult& p = *e->record->ppl;
    if (p.doc_nll.empty()) {  // no per-document sums: the record's interval, if it rests on enough documents
        c.n = p.documents_used ? static_cast<size_t>(*p.documents_used) : 0;
        if (c.n >= k_min_bootstrap_units && p.ci_lo && p.ci_hi) {
            c.ci = {p.ci_lo, p.ci_hi};
            c.method = "bootstrap (record)";
        } else {
            c.note = fmt::format("no CI: n = {}", c.n);
        }
        return c;
    }
    c.n = p.doc_nll.size();
    if (c.n < k_min_bootstrap_units) {
        c.note = fmt::format("no CI: n = {}", c.n);
        return c;
    }
    size_t block = p.split ? block_length(c.n) : 1;
    auto b = bootstrap_pooled_ppl(p.doc_nll, p.doc_tokens, o.bootstrap_resamples, o.seed, false, block);
    if (!b) {
        c.note = fmt::format("no CI: n = {}", c.n);
        return c;
    }
    c.ci = b->ci;
    c.method = block > 1 ? fmt::format("block bootstrap (b={})", block) : "bootstrap";
    return c;
}

CiValue passkey_interval(const Experiment* e) {
    CiValue c;
    const PasskeyResult& p = *e->record->passkey;
    c.n = static_cast<size_t>(p.trials);
    c.ci = wilson(p.correct, p.trials);
    c.method = "wilson";
    if (!c.ci.defined()) c.note = "no CI: n = 0";
    return c;
}

// ------------------------------------------------------------------ position curves
// Re-buckets to k_figure_bucket when the record's buckets are finer and divide it.
PositionCurve curve_of(const PplBuckets& b) {
    int64_t size = b.size, merge = 1;
    if (b.size < k_figure_bucket && k_figure_bucket % b.size == 0) merge = k_figure_bucket / b.size, size = k_figure_bucket;
    PositionCurve c;
    c.size = size;
    for (size_t i = 0; i < b.count.size(); i += static_cast<size_t>(merge)) {
        double s = 0, n = 0;
        for (size_t j = i; j < i + static_cast<size_t>(merge) && j < b.count.size(); j++) s += b.nll_sum[j], n += b.count[j];
        c.mean_nll.push_back(n > 0 ? s / n : NAN);
        c.count.push_back(n);
    }
    return c;
}

// Mean NLL of the record's buckets lying wholly below T (within) and wholly at or past T
// (beyond); a bucket straddling T is in neither. breaks_at: the first bucket at or past T
// whose mean NLL exceeds the within-T mean.
void split_at_trained(Entry& e, const PplBuckets& b, int64_t T) {
    double sw = 0, nw = 0, sb = 0, nb = 0;
    for (size_t i = 0; i < b.count.size(); i++) {
        int64_t lo = static_cast<int64_t>(i) * b.size, hi = lo + b.size;
        if (hi <= T) sw += b.nll_sum[i], nw += b.count[i];
        else if (lo >= T) sb += b.nll_sum[i], nb += b.count[i];
    }
    if (nw > 0) e.nll_within = sw / nw;
    if (nb > 0) e.nll_beyond = sb / nb;
    if (!e.nll_within) return;
    const PositionCurve& c = *e.curve;
    for (size_t i = 0; i < c.mean_nll.size(); i++) {
        int64_t lo = static_cast<int64_t>(i) * c.size;
        if (lo >= T && std::isfinite(c.mean_nll[i]) && c.mean_nll[i] > *e.nll_within) {
            e.breaks_at = lo;
            break;
        }
    }
}

void fill_entry(Entry& e, const std::optional<int64_t>& T, const ReportOptions& o) {
    const Record& r = *e.rep->record;
    if (r.ppl) {
        e.ppl_ci = ppl_interval(e.rep, o);
        if (r.ppl->buckets) {
            e.curve = curve_of(*r.ppl->buckets);
            if (T) split_at_trained(e, *r.ppl->buckets, *T);
        }
    }
    if (r.passkey) e.passkey_ci = passkey_interval(e.rep);
}

}  // namespace

// Rankings, extension and correlations live in analysis_rank.cpp.
void rank_methods(Analysis& a);
void context_extension(Analysis& a);
void correlations(Analysis& a);

namespace {

// Aliases compute the same thing, so their measured values must agree (to the rounding of
// a float forward pass); a disagreement means the records differ in something the rope
// tables do not capture (data, protocol, settings) and is reported.
void check_aliases_agree(Analysis& a, const Entry& e) {
    Num p0 = value(e.rep, Metric::ppl);
    for (size_t i = 1; i < e.members.size(); i++) {
        Num p = value(e.members[i], Metric::ppl);
        if (p0 && p && std::fabs(*p / *p0 - 1) > 1e-4)
            a.notes.push_back(fmt::format("L={}: {} has the same rope tables as {} but PPL {} vs {}: the records differ in "
                                          "something else (data or settings); the first is shown",
                                          e.ctx, e.members[i]->config, e.rep->config, format(p), format(p0)));
    }
}

void collect_rows(Analysis& a, const Store& st) {
    std::map<int64_t, int> trained;
    std::set<std::string> hashes, methods;
    std::set<int64_t> ctxs;
    for (auto& e : st.experiments) {
        ctxs.insert(e.ctx);
        if (!plain_method(&e)) methods.insert(e.method);
        if (e.wall_s) a.compute_s += *e.wall_s;
        switch (e.status) {
            case Status::done:
                a.done.push_back(&e);
                if (e.wall_s) a.compute_done_s += *e.wall_s;
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
        a.notes.push_back(fmt::format("the store holds {} different models (config_hash): only experiments of the same "
                                      "model are merged as aliases, but rankings mix them",
                                      hashes.size()));
}

}  // namespace

Analysis analyze(const Store& st, const ReportOptions& opts) {
    Analysis a;
    a.store = &st;
    collect_rows(a, st);
    std::map<int64_t, std::vector<const Experiment*>> by_ctx;
    for (auto* e : a.done) by_ctx[e->ctx].push_back(e);
    for (auto& [L, v] : by_ctx) {
        auto es = group_entries(L, v);
        for (auto& e : es) {
            fill_entry(e, a.trained_ctx, opts);
            a.aliased += e.members.size() - 1;
            check_aliases_agree(a, e);
        }
        std::stable_sort(es.begin(), es.end(), [](const Entry& x, const Entry& y) { return better(&x, &y, Metric::ppl); });
        a.entries[L] = std::move(es);
    }
    for (int64_t L : a.contexts)
        if (a.entries.count(L) && (!a.trained_ctx || L > *a.trained_ctx)) a.ranked_contexts.push_back(L);
    if (a.ranked_contexts.empty())
        for (auto& [L, v] : a.entries) a.ranked_contexts.push_back(L);
    rank_methods(a);
    context_extension(a);
    correlations(a);
    return a;
}

}  // namespace rb::report
