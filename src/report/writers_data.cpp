// Machine-readable outputs: comprehensive_results.json, <method>_results.json,
// results.json (lm-evaluation-harness layout) and results.csv (tidy).
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "report/writers.h"
#include "util/mapped_file.h"

namespace rb::report {

using nlohmann::json;

void Output::save(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories(dir);
    write_file((std::filesystem::path(dir) / rel).string(), text);
    files.push_back(rel);
}

namespace {

json interval_json(const Interval& i) { return i.defined() ? json::array({*i.lo, *i.hi}) : json(nullptr); }

json ci_json(const CiValue& c) {
    json j = {{"ci95", interval_json(c.ci)}, {"n", c.n}, {"method", c.method}};
    if (!c.note.empty()) j["note"] = c.note;
    return j;
}

json corr_json(const Correlation& c) {
    json j = {{"n", c.n}, {"r", to_json(c.r)}, {"ci95", interval_json({c.lo, c.hi})}};
    if (!c.note.empty()) j["note"] = c.note;
    return j;
}

json experiment_json(const Experiment& e) {
    json j = {{"id", e.id}, {"method", e.method}, {"config", e.config}, {"params", e.params}, {"ctx", e.ctx},
              {"status", status_name(e.status)}, {"attempts", e.attempts}, {"wall_s", to_json(e.wall_s)},
              {"worker", e.worker}, {"version", e.version}};
    if (e.status == Status::failed) j["error"] = e.error;
    if (!e.record) return j;
    const Record& r = *e.record;
    j["model"] = {{"path", r.model_path}, {"dtype", r.dtype}, {"config_hash", r.config_hash},
                  {"trained_ctx", r.trained_ctx ? json(*r.trained_ctx) : json(nullptr)}};
    j["rope"] = {{"resolved", r.rope_resolved}, {"attention_factor", to_json(r.attention_factor)}};
    json m = json::object();
    if (r.ppl) m["ppl"] = {{"value", to_json(r.ppl->ppl)}, {"ci95", interval_json({r.ppl->ci_lo, r.ppl->ci_hi})},
                           {"protocol", r.ppl->protocol}, {"tokens_scored", r.ppl->tokens_scored}};
    if (r.longppl) m["longppl"] = {{"value", to_json(r.longppl->longppl)}, {"n_key", r.longppl->n_key ? json(*r.longppl->n_key) : json(nullptr)}};
    if (r.passkey) m["passkey"] = {{"accuracy", r.passkey->accuracy}, {"correct", r.passkey->correct}, {"trials", r.passkey->trials}};
    j["metrics"] = m;
    return j;
}

json entry_json(const Entry& e) {
    json j = {{"ctx", e.ctx}, {"id", e.rep->id}, {"config", e.rep->config}, {"label", e.label()}, {"aliases", e.aliases()},
              {"plain_rope", e.baseline}, {"methods", e.methods}};
    for (Metric m : k_metrics) j[metric_name(m)] = to_json(entry_value(&e, m));
    j["ppl_interval"] = ci_json(e.ppl_ci);
    if (e.rep->record->passkey) j["passkey_interval"] = ci_json(e.passkey_ci);
    j["nll_within_trained"] = to_json(e.nll_within);
    j["nll_beyond_trained"] = to_json(e.nll_beyond);
    j["breaks_at"] = e.breaks_at ? json(*e.breaks_at) : json(nullptr);
    return j;
}

json rank_json(const MethodRank& r) {
    return {{"method", r.method}, {"position", r.position}, {"mean_rank", to_json(r.mean_rank)}, {"ranks", r.ranks},
            {"min_rank", to_json(r.min_rank)}, {"max_rank", to_json(r.max_rank)}, {"lengths", r.lengths}, {"of", r.of},
            {"ppl_ratio_to_plain_geomean", to_json(r.geo_ratio_to_plain)}};
}

json per_l_json(const Analysis& a) {
    json j = json::object();
    for (auto& [L, v] : a.per_l) {
        json arr = json::array();
        for (auto& x : v) arr.push_back({{"method", x.method}, {"rank", x.rank}, {"best", x.best->label()},
                                         {"ppl", to_json(entry_value(x.best, Metric::ppl))}});
        j[std::to_string(L)] = arr;
    }
    return j;
}

json extension_json(const Analysis& a) {
    json arr = json::array();
    for (auto& x : a.extension)
        arr.push_back({{"method", x.method}, {"ctx", x.ctx}, {"config", x.entry->label()}, {"ppl_all", to_json(x.ppl_all)},
                       {"ppl_within_trained", to_json(x.ppl_within)}, {"ppl_beyond_trained", to_json(x.ppl_beyond)},
                       {"plain_rope_at_trained", to_json(x.plain_at_T)}, {"degrades", x.degrades},
                       {"breaks_at", x.entry->breaks_at ? json(*x.entry->breaks_at) : json(nullptr)}});
    return arr;
}

}  // namespace

void write_comprehensive_json(const Analysis& a, Output& out) {
    const Store& st = *a.store;
    json all = json::array(), entries = json::array(), overall = json::array(), corr = json::array();
    for (auto& e : st.experiments) all.push_back(experiment_json(e));
    for (auto* e : a.all_entries()) entries.push_back(entry_json(*e));
    for (auto& r : a.overall) overall.push_back(rank_json(r));
    for (auto& c : a.corr)
        corr.push_back({{"pair", c.pair}, {"ctx", c.ctx}, {"pearson", corr_json(c.pearson)}, {"spearman", corr_json(c.spearman)}});
    json j = {{"schema", "ropebench.report/2"},
              {"source", {{"db", st.path}, {"meta", st.meta}}},
              {"counts", {{"total", st.experiments.size()}, {"done", a.done.size()}, {"failed", a.failed.size()},
                          {"pending", a.pending.size()}, {"running", a.running.size()}, {"entries", a.all_entries().size()},
                          {"aliased", a.aliased}}},
              {"total_compute_s", a.compute_s},
              {"trained_ctx", a.trained_ctx ? json(*a.trained_ctx) : json(nullptr)},
              {"contexts", a.contexts},
              {"ranked_contexts", a.ranked_contexts},
              {"overall_ranking", overall},
              {"per_length_ranking", per_l_json(a)},
              {"context_extension", extension_json(a)},
              {"entries", entries},
              {"correlations", corr},
              {"notes", a.notes},
              {"experiments", all}};
    out.save("comprehensive_results.json", j.dump(2) + "\n");
    for (auto& r : a.overall) {
        json ex = json::array(), es = json::array();
        for (auto& e : st.experiments)
            if (e.method == r.method) ex.push_back(experiment_json(e));
        for (auto* e : a.all_entries())
            if (!e->baseline && e->has(r.method)) es.push_back(entry_json(*e));
        json mj = {{"schema", "ropebench.report.method/2"}, {"method", r.method}, {"ranking", rank_json(r)},
                   {"entries", es}, {"experiments", ex}};
        out.save(safe_name(r.method) + "_results.json", mj.dump(2) + "\n");
    }
}

// lm-evaluation-harness's layout: "results" keyed by task (here: one distinct
// configuration at one L) with "metric,filter" keys, then "configs", "versions",
// "n-samples" and "higher_is_better" under the same keys, and the run's "config".
void write_results_json(const Analysis& a, Output& out) {
    json results = json::object(), configs = json::object(), versions = json::object(), nsamp = json::object(),
         hib = json::object();
    std::set<std::string> models, dtypes;
    for (auto* e : a.all_entries()) {
        const Record& r = *e->rep->record;
        std::string key = fmt::format("{}@L={}", e->rep->config, e->ctx);
        models.insert(r.model_path);
        dtypes.insert(r.dtype);
        json res = {{"alias", e->label()}};
        json ns = json::object();
        if (r.ppl) {
            res["ppl,none"] = to_json(r.ppl->ppl);
            res["ppl_ci95,none"] = interval_json(e->ppl_ci.ci);
            ns["ppl"] = {{"documents", e->ppl_ci.n}, {"tokens", r.ppl->tokens_scored}};
        }
        if (r.longppl) res["longppl,none"] = to_json(r.longppl->longppl), ns["longppl"] = {{"n_key", r.longppl->n_key ? json(*r.longppl->n_key) : json(nullptr)}};
        if (r.passkey) {
            res["passkey_acc,none"] = r.passkey->accuracy;
            res["passkey_acc_ci95,none"] = interval_json(e->passkey_ci.ci);
            ns["passkey"] = {{"trials", r.passkey->trials}};
        }
        results[key] = res;
        configs[key] = {{"method", e->rep->method}, {"rope_scaling", e->rep->params}, {"rope_resolved", r.rope_resolved},
                        {"ctx", e->ctx}, {"protocol", r.ppl ? json(r.ppl->protocol) : json(nullptr)},
                        {"aliases", e->aliases()}, {"plain_rope", e->baseline}, {"experiment_ids", json::array()}};
        for (auto* m : e->members) configs[key]["experiment_ids"].push_back(m->id);
        versions[key] = r.raw.value("schema", "");
        nsamp[key] = ns;
        hib[key] = {{"ppl", false}, {"longppl", false}, {"passkey_acc", true}};
    }
    auto meta = [&](const char* k) { auto it = a.store->meta.find(k); return it == a.store->meta.end() ? json(nullptr) : json(it->second); };
    json j = {{"results", results}, {"configs", configs}, {"versions", versions}, {"n-samples", nsamp},
              {"higher_is_better", hib},
              {"config", {{"model", std::vector<std::string>(models.begin(), models.end())},
                          {"dtype", std::vector<std::string>(dtypes.begin(), dtypes.end())}, {"quantisation", nullptr},
                          {"trained_ctx", a.trained_ctx ? json(*a.trained_ctx) : json(nullptr)}, {"source_db", a.store->path}}},
              {"ropebench_version", meta("tool_version")}, {"date", meta("created")}};
    out.save("results.json", j.dump(2) + "\n");
}

}  // namespace rb::report
