#include "model/loader.h"

#include "util/error.h"
#include "util/log.h"

namespace rb {

nlohmann::json rope_scaling_from_flag(const std::string& v, const nlohmann::json& checkpoint_dict) {
    if (v.empty()) return checkpoint_dict;
    if (v == "none" || v == "null") return nullptr;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(v);
    } catch (const nlohmann::json::exception& e) {
        throw UsageError("--rope-scaling: not valid JSON ({}): {}", e.what(), v);
    }
    if (!j.is_object() && !j.is_null()) throw UsageError("--rope-scaling: expected a JSON object, got {}", v);
    return j;
}

RopeConfig resolve_rope(const ModelConfig& cfg, const std::string& flag, std::optional<double> theta,
                        nlohmann::json* given) {
    nlohmann::json dict = rope_scaling_from_flag(flag, cfg.rope_scaling);
    RopeGeometry geo = rope_geometry(cfg);
    if (theta) {
        geo.rope_theta = *theta;
        if (dict.is_object() && dict.contains("rope_theta")) dict["rope_theta"] = *theta;
    }
    if (given) *given = dict;
    const std::string where = flag.empty() ? cfg.source + ": rope_scaling" : std::string("--rope-scaling");
    try {
        return parse_rope_config(geo, dict);
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw Error("{}: {}", where, e.what());
    }
}

LoadedModel load_model(const LoadOptions& opts) {
    LoadedModel lm;
    lm.ckpt = Checkpoint::open(opts.path);
    lm.rope = resolve_rope(lm.ckpt->config(), opts.rope_scaling, opts.rope_theta, &lm.rope_given);
    for (const auto& w : lm.rope.warnings) log_warn("rope_scaling: {}", w);
    lm.tokenizer = Tokenizer::from_checkpoint(*lm.ckpt);
    lm.be = backend::make_backend(opts.backend);
    lm.model = std::make_unique<LlamaModel>(*lm.ckpt, *lm.be, opts.wtype);
    return lm;
}

}  // namespace rb
