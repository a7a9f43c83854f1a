// The sweep grammar: a TOML file read into a typed SweepConfig (every key checked, every
// value typed, the model's geometry resolved). Reading TOML: toml_reader.h; the grid's
// expansion into experiments: expand.cpp.
#include "sweep/config.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <toml++/toml.h>

#include "formats/checkpoint.h"
#include "hub/hub.h"
#include "model/llama.h"
#include "model/loader.h"
#include "rope/methods_table.h"
#include "rope/rope.h"
#include "sweep/expr.h"
#include "sweep/toml_reader.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "util/mapped_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rb::sweep {
namespace {

using namespace toml_reader;

using Kind = RopeParamKind;

// Kind of a rope parameter (the methods table in rope/methods_table.h); every name the
// sweep grammar accepts is in it (method_parameters reads the same table).
Kind param_kind(const std::string& name) { return *rope_param_kind(name); }

std::vector<std::string> method_names() {
    std::vector<std::string> n;
    for (const auto& m : rope_methods()) n.push_back(m.name);
    return n;
}


// The hub's own rule (org/name[@revision]; no name starts with '.', so ./x/y stays a path);
// the id stays as given until the caller resolves it.
bool looks_like_hub_id(const std::string& s) { return hub::parse_hub_id(s).has_value(); }

std::string resolve_path(const std::string& dir, const std::string& p) {
    fs::path path(p);
    if (path.is_absolute() || dir.empty()) return path.lexically_normal().string();
    return (fs::path(dir) / path).lexically_normal().string();
}

// A grid value for one parameter (one alternative) checked against its kind. Expressions
// and list rules stay strings until expansion.
void check_value(const Src& src, const toml::node& n, const std::string& key, Kind kind, const std::string& method) {
    auto bad = [&](const std::string& expected) {
        src.fail(line_of(n), key, fmt::format("expected {} for '{}' of {}, got {}", expected, key.substr(key.rfind('.') + 1), method, type_name(n)));
    };
    switch (kind) {
        case Kind::number:
        case Kind::integer:
            if (n.is_integer() || n.is_floating_point()) return;
            if (auto s = n.as_string()) {
                // Syntax check now (with placeholder values) so typos fail before any work.
                try {
                    eval_expression(s->get(), {{"ctx", 4096.0}, {"original", 2048.0}});
                } catch (const Error& e) {
                    src.fail(line_of(n), key, e.what());
                }
                return;
            }
            bad(kind == Kind::integer ? "an integer or an expression string" : "a number or an expression string");
            return;
        case Kind::boolean:
            if (n.is_boolean()) return;
            bad("a boolean");
            return;
        case Kind::number_list:
            if (auto s = n.as_string()) {
                static const std::regex rule(R"(^\s*(ones|ramp\(\s*[0-9.]+\s*,\s*[0-9.]+\s*\))\s*$)");
                if (!std::regex_match(s->get(), rule))
                    src.fail(line_of(n), key, fmt::format("unknown list rule '{}', expected \"ones\" or \"ramp(BETA_FAST, BETA_SLOW)\"", s->get()));
                return;
            }
            if (auto a = n.as_array()) {
                if (a->empty()) src.fail(line_of(n), key, "expected a non-empty list of numbers");
                for (auto& e : *a)
                    if (!e.is_integer() && !e.is_floating_point())
                        src.fail(line_of(e), key, fmt::format("expected a list of numbers, got an element that is {}", type_name(e)));
                return;
            }
            bad("a list of numbers or a rule string");
    }
}

// One parameter of a block: a scalar is one alternative, an array is a list of them (for
// number lists: an array of numbers is one alternative, an array of arrays/rules is a list).
std::vector<json> axis_values(const Src& src, const toml::node& n, const std::string& key, Kind kind,
                              const std::string& method) {
    std::vector<json> out;
    auto* a = n.as_array();
    bool list_of_alternatives = a && (kind != Kind::number_list || (!a->empty() && ((*a)[0].is_array() || (*a)[0].is_string())));
    if (!list_of_alternatives) {
        check_value(src, n, key, kind, method);
        out.push_back(to_json(n));
        return out;
    }
    if (a->empty()) src.fail(line_of(n), key, "empty grid: the list of values is empty");
    for (auto& e : *a) {
        check_value(src, e, key, kind, method);
        out.push_back(to_json(e));
    }
    return out;
}

MethodBlock parse_block(const Src& src, const toml::table& t, size_t index, const std::vector<int>& all_ctx) {
    MethodBlock b;
    std::string prefix = fmt::format("methods[{}].", index);
    b.line = line_of(t);
    Reader r{src, t, prefix};
    auto m = r.str("method");
    if (!m) src.fail(b.line, prefix + "method", "missing; expected one of default, linear, dynamic, yarn, longrope, llama3, ntk, ntk_by_parts");
    if (!find_rope_method(*m)) {
        std::string hint = closest_name(*m, method_names());
        src.fail(r.line("method"), prefix + "method",
                 fmt::format("unknown method '{}'{}; expected one of {}", *m,
                             hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint), fmt::join(method_names(), ", ")));
    }
    b.method = *m;
    b.group = r.str("group").value_or("study");
    b.ctx = r.contexts("ctx");
    for (int c : b.ctx)
        if (std::find(all_ctx.begin(), all_ctx.end(), c) == all_ctx.end())
            src.fail(r.line("ctx"), prefix + "ctx", fmt::format("context {} is not in sweep.ctx", c));
    if (t.contains("ctx") && b.ctx.empty()) src.fail(r.line("ctx"), prefix + "ctx", "empty grid: the list of contexts is empty");

    const auto& allowed = method_parameters(b.method);
    std::vector<std::string> known = allowed;
    for (const char* k : {"method", "group", "ctx", "configs"}) known.push_back(k);
    auto check_param = [&](const std::string& name, int line, const std::string& full) {
        if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) return;
        std::string hint = closest_name(name, known);
        std::string list;
        for (auto& s : allowed) list += (list.empty() ? "" : ", ") + s;
        src.fail(line, full,
                 fmt::format("unknown parameter for '{}'{}; its parameters are: {}", b.method,
                             hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint), list.empty() ? "(none)" : list));
    };
    for (auto& [k, v] : t) {
        std::string name(k.str());
        if (name == "method" || name == "group" || name == "ctx") continue;
        int line = static_cast<int>(k.source().begin.line);
        if (name == "configs") {
            auto* a = v.as_array();
            if (!a) r.wrong(name, v, "an array of tables (explicit rope_scaling dicts)");
            if (a->empty()) src.fail(line_of(v), prefix + "configs", "empty grid: the list of explicit configs is empty");
            for (size_t i = 0; i < a->size(); ++i) {
                auto* ct = (*a)[i].as_table();
                std::string cp = fmt::format("{}configs[{}]", prefix, i);
                if (!ct) src.fail(line_of((*a)[i]), cp, fmt::format("expected a table, got {}", type_name((*a)[i])));
                json d = json::object();
                for (auto& [ck, cv] : *ct) {
                    std::string cn(ck.str());
                    int cl = static_cast<int>(ck.source().begin.line);
                    check_param(cn, cl, cp + "." + cn);
                    check_value(src, cv, cp + "." + cn, param_kind(cn), b.method);
                    d[cn] = to_json(cv);
                }
                b.configs.push_back(d);
            }
            continue;
        }
        check_param(name, line, prefix + name);
        b.axes.emplace_back(name, axis_values(src, v, prefix + name, param_kind(name), b.method));
    }
    for (auto& c : b.configs)
        for (auto& [name, vals] : b.axes)
            if (c.contains(name))
                src.fail(b.line, prefix + name, "set both as a grid axis and inside configs; choose one");
    return b;
}

}  // namespace

const std::vector<std::string>& method_parameters(const std::string& method) {
    static const std::map<std::string, std::vector<std::string>> p = [] {
        std::map<std::string, std::vector<std::string>> m;
        for (const auto& e : rope_methods())
            for (const auto& prm : e.params) m[e.name].push_back(prm.name);
        return m;
    }();
    static const std::vector<std::string> none;
    auto it = p.find(method);
    return it == p.end() ? none : it->second;
}


int trained_context(const ModelConfig& mc) {
    return mc.original_max_position_embeddings ? *mc.original_max_position_embeddings : mc.max_position_embeddings;
}


SweepConfig load_sweep_config(const std::string& path, const ConfigOverrides& ov, const ConfigFetcher& fetch) {
    if (!fs::exists(path)) throw Error("{}: config file not found", path);
    return parse_sweep_config(read_file(path), path, ov, fetch);
}

namespace {

// [model]: path (or --model), dtype, backend, threads, the geometry ([model.config], the
// checkpoint's own config, or the hub's config.json through `fetch`).
void read_model(const Src& src, const Reader& top, const ConfigOverrides& ov, const ConfigFetcher& fetch, SweepConfig& cfg) {
    const toml::table* mt = top.table("model");
    if (!mt) src.fail(0, "model", "missing table [model]");
    Reader m{src, *mt, "model."};
    check_keys(src, *mt, "model.", {"path", "dtype", "threads", "backend", "config"});
    auto mp = m.str("path");
    if (!mp) src.fail(line_of(*mt), "model.path", "missing; expected a checkpoint folder, a .gguf file or a hub id");
    // --model replaces the path (relative to the working directory, like any command-line path);
    // its geometry then comes from that checkpoint, never from the file's [model.config].
    const bool replaced = !ov.model.empty();
    const std::string given = replaced ? ov.model : *mp;
    const std::string local = replaced ? given : resolve_path(cfg.dir, given);
    const int path_line = replaced ? 0 : m.line("path");
    const std::string path_key = replaced ? "--model" : "model.path";
    std::error_code ec;
    try {
        check_symlink_resolves(local);  // a broken link is not a hub id
    } catch (const Error& e) {
        src.fail(path_line, path_key, e.what());
    }
    if (fs::exists(local, ec)) {
        cfg.model = local;
    } else if (looks_like_hub_id(given)) {
        cfg.model = given;
        cfg.model_is_hub = true;
    } else {
        src.fail(path_line, path_key, replaced ? fmt::format("'{}' not found", given)
                                               : fmt::format("'{}' not found (resolved against the config's folder: {})", given, local));
    }
    cfg.dtype = m.str("dtype").value_or("f32");
    if (cfg.dtype != "f32" && cfg.dtype != "bf16") src.fail(m.line("dtype"), "model.dtype", fmt::format("expected \"f32\" or \"bf16\", got \"{}\"", cfg.dtype));
    cfg.backend = m.str("backend").value_or("cpu");
    if (cfg.backend != "cpu" && cfg.backend != "cuda") src.fail(m.line("backend"), "model.backend", fmt::format("expected \"cpu\" or \"cuda\", got \"{}\"", cfg.backend));
    cfg.threads = m.int_field("threads", 0, ThreadPool::k_max_threads).value_or(0);
    if (ov.threads) cfg.threads = *ov.threads;
    if (auto* ct = m.table("config"); ct && !replaced) {
        try {
            cfg.model_config = parse_config_json(to_json(*ct).dump(), cfg.path + ": [model.config]");
        } catch (const Error& e) {
            src.fail(line_of(*ct), "model.config", e.what());
        }
        cfg.geometry_source = "inline [model.config]";
    } else if (!cfg.model_is_hub) {
        try {
            cfg.model_config = Checkpoint::open(cfg.model)->config();
        } catch (const Error& e) {
            src.fail(path_line, path_key, e.what());
        }
        cfg.geometry_source = "checkpoint";
    } else if (fetch) {
        // The hub id's own config.json (from the cache, or fetched alone: no weights).
        std::string cj = fetch(cfg.model);
        cfg.model_config = parse_config_json(read_file(cj), cj);
        cfg.geometry_source = "the hub's config.json";
    } else {
        src.fail(path_line, path_key,
                 fmt::format("'{}' is a hub id: give its config.json as [model.config] so the sweep knows its geometry", cfg.model));
    }
}

// [data]: the texts, document limit, perplexity protocol, split.
void read_data(const Src& src, const Reader& top, SweepConfig& cfg) {
    if (auto* dt = top.table("data")) {
        Reader d{src, *dt, "data."};
        check_keys(src, *dt, "data.", {"texts", "max_docs", "protocol", "split"});
        auto* tn = dt->get("texts");
        for (auto& t : d.strings("texts")) {
            std::string p = resolve_path(cfg.dir, t);
            if (!fs::exists(p)) src.fail(line_of(*tn), "data.texts", fmt::format("file '{}' not found (resolved: {})", t, p));
            cfg.texts.push_back(p);
        }
        if (tn && cfg.texts.empty()) src.fail(line_of(*tn), "data.texts", "empty list of text files");
        cfg.max_docs = d.int_field("max_docs", 0).value_or(0);
        cfg.protocol = d.str("protocol").value_or("truncate");
        if (cfg.protocol != "truncate" && cfg.protocol != "chunks" && cfg.protocol != "sliding")
            src.fail(d.line("protocol"), "data.protocol", fmt::format("expected truncate, chunks or sliding, got \"{}\"", cfg.protocol));
        cfg.split = d.boolean("split").value_or(false);
    }
}

// [metrics]: which metrics run and each one's table (after [model]: the evaluator takes its
// dtype, backend and threads).
// [metrics.longppl]: the evaluator (a path or hub id), its RoPE, K, d, alpha, beta, the key cache.
void read_longppl(const Src& src, const toml::table& table, SweepConfig& cfg) {
    const toml::table* lt = &table;
    Reader p{src, *lt, "metrics.longppl."};
    check_keys(src, *lt, "metrics.longppl.",
               {"evaluator", "convention", "rope_scaling", "short_window", "stride", "alpha", "beta", "cache_dir",
                "allow_self_evaluator"});
    if (auto cv = p.str("convention")) {
        if (*cv != "ropebench" && *cv != "reference")
            src.fail(p.line("convention"), "metrics.longppl.convention",
                     fmt::format("expected \"ropebench\" or \"reference\", got \"{}\"", *cv));
        cfg.longppl.convention = *cv;
    }
    if (auto e = p.str("evaluator")) {
        std::string ep = resolve_path(cfg.dir, *e);
        try {
            check_symlink_resolves(ep);  // a broken link is not a hub id
        } catch (const Error& err) {
            src.fail(p.line("evaluator"), "metrics.longppl.evaluator", err.what());
        }
        if (!fs::exists(ep)) {
            if (looks_like_hub_id(*e)) ep = *e;
            else src.fail(p.line("evaluator"), "metrics.longppl.evaluator", fmt::format("'{}' not found (resolved: {})", *e, ep));
        }
        cfg.longppl.evaluator.path = ep;  // a hub id stays as given until the caller resolves it
        cfg.longppl.evaluator.name = ep;
    }
    if (auto* rn = lt->get("rope_scaling")) {
        if (auto s = rn->as_string()) {
            if (s->get() != "none") src.fail(line_of(*rn), "metrics.longppl.rope_scaling", fmt::format("expected \"none\" or a table, got \"{}\"", s->get()));
            cfg.longppl.evaluator.rope.scaling = json(nullptr);
        } else if (auto t = rn->as_table()) {
            cfg.longppl.evaluator.rope.scaling = to_json(*t);
        } else {
            p.wrong("rope_scaling", *rn, "\"none\" or a table");
        }
        cfg.longppl.evaluator.rope.source = fmt::format("{}:{}: metrics.longppl.rope_scaling", cfg.path, line_of(*rn));
    }
    cfg.longppl.short_window = p.int_field("short_window", 2, k_max_context).value_or(cfg.longppl.short_window);
    cfg.longppl.stride = p.int_field("stride", 1, k_max_context).value_or(cfg.longppl.stride);
    cfg.longppl.alpha = p.number("alpha").value_or(cfg.longppl.alpha);
    cfg.longppl.beta = p.number("beta").value_or(cfg.longppl.beta);
    if (!std::isfinite(cfg.longppl.alpha)) src.fail(p.line("alpha"), "metrics.longppl.alpha", "expected a finite number");
    if (!std::isfinite(cfg.longppl.beta)) src.fail(p.line("beta"), "metrics.longppl.beta", "expected a finite number");
    if (auto c = p.str("cache_dir")) cfg.longppl.cache_dir = resolve_path(cfg.dir, *c);
    cfg.longppl.allow_self_evaluator = p.boolean("allow_self_evaluator").value_or(false);
}

void read_metrics(const Src& src, const Reader& top, SweepConfig& cfg) {
    const toml::table* xt = top.table("metrics");
    if (!xt) src.fail(0, "metrics", "missing table [metrics]");
    Reader x{src, *xt, "metrics."};
    check_keys(src, *xt, "metrics.", {"run", "ppl", "passkey", "longppl"});
    for (auto& name : x.strings("run")) {
        if (name != "ppl" && name != "passkey" && name != "longppl") {
            std::string hint = closest_name(name, {"ppl", "passkey", "longppl"});
            src.fail(x.line("run"), "metrics.run", fmt::format("unknown metric '{}'{}; expected ppl, passkey or longppl", name,
                                                                hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint)));
        }
        cfg.metrics.push_back(name);
    }
    if (cfg.metrics.empty()) src.fail(x.line("run"), "metrics.run", "no metrics to run; expected a list of ppl, passkey, longppl");
    auto wants = [&](const char* n) { return std::find(cfg.metrics.begin(), cfg.metrics.end(), n) != cfg.metrics.end(); };
    if ((wants("ppl") || wants("longppl")) && cfg.texts.empty())
        src.fail(top.line("data"), "data.texts", "ppl and longppl need text files");
    if (auto* pt = x.table("ppl")) {
        Reader p{src, *pt, "metrics.ppl."};
        check_keys(src, *pt, "metrics.ppl.", {"bucket", "bootstrap"});
        cfg.bucket = p.int_field("bucket", 1, k_max_context).value_or(256);
        cfg.bootstrap = p.int_field("bootstrap", 0, 1000000).value_or(1000);
    }
    if (auto* kt = x.table("passkey")) {
        Reader p{src, *kt, "metrics.passkey."};
        check_keys(src, *kt, "metrics.passkey.", {"protocol", "depths", "trials", "seed", "max_new_tokens", "haystack"});
        if (auto pr = p.str("protocol")) {
            if (*pr != "grid" && *pr != "yarn")
                src.fail(p.line("protocol"), "metrics.passkey.protocol", fmt::format("expected \"grid\" or \"yarn\", got \"{}\"", *pr));
            cfg.passkey.protocol = *pr;
            if (*pr == "yarn")
                for (const char* k : {"depths", "haystack"})
                    if (kt->contains(k))
                        src.fail(p.line(k), fmt::format("metrics.passkey.{}", k),
                                 "not used by protocol \"yarn\" (the script draws each depth and uses its own filler)");
        }
        if (kt->contains("depths")) {
            cfg.passkey.depths = p.numbers("depths");
            if (cfg.passkey.depths.empty()) src.fail(p.line("depths"), "metrics.passkey.depths", "empty list of depths");
            for (double dd : cfg.passkey.depths)
                if (!(dd >= 0 && dd <= 1)) src.fail(p.line("depths"), "metrics.passkey.depths", fmt::format("depth {} outside [0, 1]", dd));
        }
        cfg.passkey.trials = p.int_field("trials", 1, 1000000).value_or(cfg.passkey.trials);
        cfg.passkey.seed = static_cast<uint64_t>(p.integer("seed", 0).value_or(static_cast<int64_t>(cfg.passkey.seed)));
        cfg.passkey.max_new_tokens = p.int_field("max_new_tokens", 1, k_max_context).value_or(cfg.passkey.max_new_tokens);
        if (auto h = p.str("haystack")) {
            cfg.passkey.haystack = resolve_path(cfg.dir, *h);
            if (!fs::exists(cfg.passkey.haystack))
                src.fail(p.line("haystack"), "metrics.passkey.haystack", fmt::format("file '{}' not found (resolved: {})", *h, cfg.passkey.haystack));
        }
    }
    if (cfg.passkey.depths.empty() && cfg.passkey.protocol != "yarn")
        for (int i = 0; i <= 10; ++i) cfg.passkey.depths.push_back(i / 10.0);
    if (auto* lt = x.table("longppl")) read_longppl(src, *lt, cfg);
    if (wants("longppl") && cfg.longppl.evaluator.path.empty())
        src.fail(x.line("longppl"), "metrics.longppl.evaluator", "longppl needs an evaluator model");
    cfg.longppl.evaluator.wtype = cfg.dtype == "bf16" ? backend::WeightType::bf16 : backend::WeightType::f32;
    cfg.longppl.evaluator.backend.name = cfg.backend;
    cfg.longppl.evaluator.backend.threads = cfg.threads;
}

// [sweep]: context lengths (or --ctx), baseline, seed, limits. Returns the file's own lengths,
// against which the blocks' ctx lists are checked.
std::vector<int> read_sweep(const Src& src, const Reader& top, const ConfigOverrides& ov, SweepConfig& cfg) {
    const toml::table* st = top.table("sweep");
    if (!st) src.fail(0, "sweep", "missing table [sweep]");
    Reader s{src, *st, "sweep."};
    check_keys(src, *st, "sweep.", {"ctx", "baseline", "seed", "memory_limit_gb", "gflops"});
    cfg.ctx = s.contexts("ctx");
    if (cfg.ctx.empty()) src.fail(s.line("ctx"), "sweep.ctx", "empty grid: no context lengths");
    const std::vector<int> file_ctx = cfg.ctx;  // blocks' ctx lists are checked against the file's
    if (!ov.ctx.empty()) {
        for (int c : ov.ctx) check_context_length(c);  // FieldError "ctx": the CLI names its --ctx
        cfg.ctx = ov.ctx;
    }
    cfg.baseline = s.boolean("baseline").value_or(true);
    cfg.seed = static_cast<uint64_t>(s.integer("seed", 0).value_or(1234));
    cfg.memory_limit_gb = s.number("memory_limit_gb").value_or(0);
    if (!(cfg.memory_limit_gb >= 0 && std::isfinite(cfg.memory_limit_gb)))
        src.fail(s.line("memory_limit_gb"), "sweep.memory_limit_gb", fmt::format("expected a size in GB >= 0 (0 = this machine's memory), got {}", cfg.memory_limit_gb));
    cfg.gflops = s.number("gflops").value_or(0);
    if (!(cfg.gflops >= 0 && std::isfinite(cfg.gflops)))
        src.fail(s.line("gflops"), "sweep.gflops", fmt::format("expected a rate in GFLOP/s >= 0 (0 = measured), got {}", cfg.gflops));
    return file_ctx;
}

// [[methods]]: one block per table.
void read_methods(const Src& src, const Reader& top, const toml::table& root, const std::vector<int>& file_ctx,
                  SweepConfig& cfg) {
    if (auto* mn = root.get("methods")) {
        auto* arr = mn->as_array();
        if (!arr) top.wrong("methods", *mn, "an array of tables ([[methods]])");
        for (size_t i = 0; i < arr->size(); ++i) {
            auto* bt = (*arr)[i].as_table();
            if (!bt) src.fail(line_of((*arr)[i]), fmt::format("methods[{}]", i), fmt::format("expected a table, got {}", type_name((*arr)[i])));
            cfg.blocks.push_back(parse_block(src, *bt, i, file_ctx));
        }
    }
    if (cfg.blocks.empty() && !cfg.baseline) src.fail(0, "methods", "empty grid: no [[methods]] and no baseline");
}

// The TOML key of an EvalSpec field (FieldError::field), "" for one the file does not set.
std::string toml_key_of(const std::string& field) {
    static const std::vector<std::pair<std::string, std::string>> k_keys = {
        {"ctx", "sweep.ctx"},
        {"metrics", "metrics.run"},
        {"texts", "data.texts"},
        {"ppl.protocol", "data.protocol"},
        {"ppl.stride", "data.protocol"},  // the sweep's sliding stride is always L/2
        {"ppl.bucket", "metrics.ppl.bucket"},
        {"bootstrap_resamples", "metrics.ppl.bootstrap"},
    };
    for (const auto& [f, k] : k_keys)
        if (f == field) return k;
    for (const char* table : {"passkey.", "longppl."})
        if (field.rfind(table, 0) == 0) return "metrics." + field;
    return "";
}

// check_eval_spec on one experiment per context length (the others differ in RoPE only): a
// FieldError names the setting's TOML key and line; a length given by --ctx stays the
// CLI's to name.
void check_eval_settings(const Src& src, const toml::table& root, const ConfigOverrides& ov,
                         const std::vector<Experiment>& exps) {
    std::set<int> seen;
    for (const auto& e : exps) {
        if (!seen.insert(e.ctx).second) continue;
        try {
            check_eval_spec(e.spec);
        } catch (const FieldError& err) {
            if (err.field() == "ctx" && !ov.ctx.empty()) throw;
            const std::string key = toml_key_of(err.field());
            if (key.empty()) throw;
            const toml::node* n = root.at_path(key).node();
            src.fail(n ? line_of(*n) : 0, key, err.message());
        }
    }
}

}  // namespace

SweepConfig parse_sweep_config(const std::string& text, const std::string& path, const ConfigOverrides& ov,
                               const ConfigFetcher& fetch) {
    Src src{path};
    SweepConfig cfg;
    cfg.path = path;
    cfg.dir = fs::path(path).parent_path().string();
    cfg.text = text;
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        throw Error("{}:{}: TOML syntax error: {}", path, e.source().begin.line, std::string(e.description()));
    }
    check_keys(src, root, "", {"model", "data", "metrics", "sweep", "methods"}, "table");
    Reader top{src, root, ""};

    read_model(src, top, ov, fetch, cfg);
    read_data(src, top, cfg);
    read_metrics(src, top, cfg);
    const std::vector<int> file_ctx = read_sweep(src, top, ov, cfg);
    read_methods(src, top, root, file_ctx, cfg);

    // Count before expanding: a grid of millions would take gigabytes to list.
    const uint64_t n = count_experiments(cfg);
    const std::string size = n == UINT64_MAX ? std::string("more than 2^64") : fmt::format("{}", n);
    if (n > k_max_experiments_yes)
        src.fail(0, "methods", fmt::format("the grid has {} experiments, above the limit of {} (even with --yes)", size,
                                           k_max_experiments_yes));
    if (n > k_max_experiments && !ov.yes)
        src.fail(0, "methods", fmt::format("the grid has {} experiments, above {}; check the lists, or pass --yes to run it",
                                           size, k_max_experiments));

    // Expand once now so expression errors (unknown names, division by zero) surface
    // with their line before any work, and so do the evaluation's own checks across
    // settings (a protocol against a context length).
    check_eval_settings(src, root, ov, expand_experiments(cfg));
    return cfg;
}

}  // namespace rb::sweep
