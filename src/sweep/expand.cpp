// A sweep's grid expanded into experiments: blocks × axes × configs per context length,
// expressions evaluated against the model's geometry, list rules turned into per-pair
// factors, every dict resolved by the rope parser (an invalid one is kept, marked invalid).
#include <algorithm>
#include <cmath>
#include <map>

#include "model/llama.h"
#include "rope/methods_table.h"
#include "rope/rope.h"
#include "sweep/config.h"
#include "sweep/expr.h"
#include "sweep/toml_reader.h"

namespace rb::sweep {
namespace {

using namespace toml_reader;
using Kind = RopeParamKind;

Kind param_kind(const std::string& name) { return *rope_param_kind(name); }

double number_or_expr(const json& v, const std::map<std::string, double>& vars) {
    if (v.is_string()) return eval_expression(v.get<std::string>(), vars);
    return v.get<double>();
}

// "ones" / "ramp(BF, BS)" for longrope's per-pair factors (docs/sweep.md).
std::vector<double> list_rule(const std::string& rule, const json& dict, const ModelConfig& mc) {
    int half = mc.head_dim / 2;
    if (mc.partial_rotary_factor) half = static_cast<int>(mc.head_dim * *mc.partial_rotary_factor) / 2;
    std::string r = rule;
    r.erase(std::remove_if(r.begin(), r.end(), ::isspace), r.end());
    if (r == "ones") return std::vector<double>(half, 1.0);
    double bf = 0, bs = 0;
    if (std::sscanf(r.c_str(), "ramp(%lf,%lf)", &bf, &bs) != 2) throw Error("unknown list rule '{}'", rule);
    if (!dict.contains("factor")) throw Error("list rule '{}' needs 'factor' in the same config", rule);
    double s = dict["factor"].get<double>();
    double orig = dict.contains("original_max_position_embeddings") ? dict["original_max_position_embeddings"].get<double>()
                                                                      : trained_context(mc);
    double theta = dict.contains("rope_theta") ? dict["rope_theta"].get<double>() : mc.rope_theta;
    const std::vector<double> ramp = yarn_ramp(half * 2, theta, orig, bf, bs);  // 0 = keep, 1 = fully interpolated
    std::vector<double> out(half);
    for (int j = 0; j < half; ++j) {
        // inv' = (1-ramp)*inv + ramp*inv/s = inv / ext  →  ext = 1 / ((1-ramp) + ramp/s)
        out[j] = 1.0 / ((1.0 - ramp[j]) + ramp[j] / s);
    }
    return out;
}

// The spec every experiment of the sweep starts from (ctx and RoPE are set per experiment).
EvalSpec base_spec(const SweepConfig& cfg) {
    EvalSpec base;
    base.model.path = cfg.model_path.empty() ? cfg.model : cfg.model_path;
    base.model.name = cfg.model;
    base.model.wtype = cfg.dtype == "bf16" ? backend::WeightType::bf16 : backend::WeightType::f32;
    base.model.backend.name = cfg.backend;
    base.model.backend.threads = cfg.threads;
    base.metrics = cfg.metrics;
    base.texts = cfg.texts;
    base.max_docs = cfg.max_docs;
    base.split = cfg.split;
    base.ppl.protocol = cfg.protocol;
    base.ppl.bucket = cfg.bucket;
    base.bootstrap_resamples = cfg.bootstrap;
    base.passkey = cfg.passkey;
    base.longppl = cfg.longppl;
    base.seed = cfg.seed;
    return base;
}

// Appends one experiment; its rope_scaling dict is parsed here, once (an invalid one is kept, marked invalid).
class ExperimentList {
public:
    explicit ExperimentList(const SweepConfig& cfg) : m_cfg(cfg), m_geo(rope_geometry(cfg.model_config)), m_base(base_spec(cfg)) {}

    void add(const std::string& method, const std::string& group, int ctx, int line, const json& params) {
        Experiment e;
        e.index = static_cast<int>(m_out.size());
        e.method = method;
        e.group = group;
        e.ctx = ctx;
        e.line = line;
        e.params = params;
        e.spec = m_base;
        e.spec.ctx = ctx;
        e.spec.model.rope.scaling = params;  // null = plain RoPE
        e.spec.model.rope.source = line > 0 ? fmt::format("{}:{}: [[methods]]", m_cfg.path, line) : "baseline";
        try {
            e.rope = parse_rope_config(m_geo, params);
            e.resolved = rope_config_to_json(*e.rope);
        } catch (const Error& err) {
            e.invalid = err.what();
        }
        m_out.push_back(std::move(e));
    }

    std::vector<Experiment> take() { return std::move(m_out); }

private:
    const SweepConfig& m_cfg;
    const RopeGeometry m_geo;
    const EvalSpec m_base;
    std::vector<Experiment> m_out;
};

// One dict of a block (`raw`: a config with the axes' current values) evaluated: numbers first
// (rules may read factor / original), then lists. Errors name the file, the block's line and the key.
json evaluate_dict(const Src& src, const MethodBlock& b, size_t bi, const json& raw, const std::map<std::string, double>& vars,
                   int ctx, const ModelConfig& mc) {
    json d = json::object();
    std::string prefix = fmt::format("methods[{}].", bi);
    if (b.method != "default") d["rope_type"] = b.method;
    for (auto& [k, v] : raw.items()) {
        Kind kind = param_kind(k);
        if (kind == Kind::number_list) continue;
        try {
            if (kind == Kind::boolean) {
                d[k] = v;
            } else if (kind == Kind::integer) {
                double x = number_or_expr(v, vars);
                if (x != std::floor(x) || x < 1) throw Error("expected a positive integer, got {} at ctx {}", x, ctx);
                d[k] = static_cast<int64_t>(x);
            } else {
                d[k] = number_or_expr(v, vars);
            }
        } catch (const Error& e) {
            src.fail(b.line, prefix + k, e.what());
        }
    }
    for (auto& [k, v] : raw.items()) {
        if (param_kind(k) != Kind::number_list) continue;
        try {
            if (v.is_string()) d[k] = list_rule(v.get<std::string>(), d, mc);
            else {
                std::vector<double> xs;
                for (auto& n : v) xs.push_back(n.get<double>());
                d[k] = xs;
            }
        } catch (const Error& e) {
            src.fail(b.line, prefix + k, e.what());
        }
    }
    return d;
}

// Block `bi` at one context length: its configs (explicit ones outer) × its axes (last fastest).
void expand_block(const SweepConfig& cfg, size_t bi, int ctx, ExperimentList& out) {
    const Src src{cfg.path};
    const ModelConfig& mc = cfg.model_config;
    const auto& b = cfg.blocks[bi];
    std::map<std::string, double> vars{{"ctx", static_cast<double>(ctx)}, {"original", static_cast<double>(trained_context(mc))}};
    std::vector<json> configs = b.configs.empty() ? std::vector<json>{json::object()} : b.configs;
    for (const auto& c : configs) {
        std::vector<size_t> idx(b.axes.size(), 0);
        for (;;) {
            json raw = c;
            for (size_t a = 0; a < b.axes.size(); ++a) raw[b.axes[a].first] = b.axes[a].second[idx[a]];
            json d = evaluate_dict(src, b, bi, raw, vars, ctx, mc);
            out.add(b.method, b.group, ctx, b.line, b.method == "default" && d.empty() ? json() : d);
            // next index, last axis fastest
            int a = static_cast<int>(b.axes.size()) - 1;
            while (a >= 0 && ++idx[a] == b.axes[a].second.size()) idx[a--] = 0;
            if (a < 0) break;
        }
    }
}

}  // namespace

uint64_t count_experiments(const SweepConfig& cfg) {
    auto mul = [](uint64_t a, uint64_t b) {
        uint64_t r;
        return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
    };
    auto add = [](uint64_t a, uint64_t b) {
        uint64_t r;
        return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
    };
    uint64_t total = 0;
    for (int ctx : cfg.ctx) {
        if (cfg.baseline) total = add(total, 1);
        for (const auto& b : cfg.blocks) {
            if (!b.ctx.empty() && std::find(b.ctx.begin(), b.ctx.end(), ctx) == b.ctx.end()) continue;
            uint64_t n = std::max<uint64_t>(1, b.configs.size());
            for (const auto& [name, alts] : b.axes) n = mul(n, alts.size());
            total = add(total, n);
        }
    }
    return total;
}

std::vector<Experiment> expand_experiments(const SweepConfig& cfg) {
    ExperimentList out(cfg);
    for (int ctx : cfg.ctx) {
        if (cfg.baseline) out.add("default", "baseline", ctx, 0, json());
        for (size_t bi = 0; bi < cfg.blocks.size(); ++bi) {
            const auto& b = cfg.blocks[bi];
            if (!b.ctx.empty() && std::find(b.ctx.begin(), b.ctx.end(), ctx) == b.ctx.end()) continue;
            expand_block(cfg, bi, ctx, out);
        }
    }
    return out.take();
}

}  // namespace rb::sweep
