#include "sweep/spec_json.h"

#include "util/error.h"

using nlohmann::json;

namespace rb::sweep {
namespace {

json load_to_json(const LoadOptions& o) {
    json j;
    j["path"] = o.path;
    if (!o.name.empty() && o.name != o.path) j["name"] = o.name;
    // The wire (and identity) spelling of the choice, unchanged since the first stores: "" =
    // the checkpoint's own, "none" = plain RoPE, else the dict's JSON text. The source is a
    // message label, not part of what runs.
    j["rope_scaling"] = !o.rope.scaling ? std::string() : o.rope.scaling->is_null() ? std::string("none") : o.rope.scaling->dump();
    j["rope_theta"] = o.rope.theta ? json(*o.rope.theta) : json();
    j["dtype"] = o.wtype == backend::WeightType::bf16 ? "bf16" : "f32";
    j["backend"] = o.backend.name;
    j["threads"] = o.backend.threads;
    if (!o.backend.isa.empty()) j["isa"] = o.backend.isa;
    return j;
}

LoadOptions load_from_json(const json& j) {
    LoadOptions o;
    o.path = j.at("path").get<std::string>();
    o.name = j.value("name", std::string());
    const std::string rs = j.at("rope_scaling").get<std::string>();
    if (rs == "none") o.rope.scaling = json(nullptr);
    else if (!rs.empty()) o.rope.scaling = json::parse(rs);
    if (!j.at("rope_theta").is_null()) o.rope.theta = j["rope_theta"].get<double>();
    o.wtype = j.at("dtype").get<std::string>() == "bf16" ? backend::WeightType::bf16 : backend::WeightType::f32;
    o.backend.name = j.at("backend").get<std::string>();
    o.backend.threads = j.at("threads").get<int>();
    if (j.contains("isa")) o.backend.isa = j["isa"].get<std::string>();
    return o;
}

}  // namespace

json spec_to_json(const EvalSpec& s) {
    json j;
    j["model"] = load_to_json(s.model);
    j["ctx"] = s.ctx;
    j["metrics"] = s.metrics;
    j["texts"] = s.texts;
    j["max_docs"] = s.max_docs;
    j["split"] = s.split;
    j["ppl"] = {{"protocol", s.ppl.protocol}, {"bucket", s.ppl.bucket}};
    j["bootstrap_resamples"] = s.bootstrap_resamples;
    j["passkey"] = {{"protocol", s.passkey.protocol},
                    {"depths", s.passkey.depths},
                    {"trials", s.passkey.trials},
                    {"seed", s.passkey.seed},
                    {"max_new_tokens", s.passkey.max_new_tokens},
                    {"haystack", s.passkey.haystack}};
    j["longppl"] = {{"evaluator", load_to_json(s.longppl.evaluator)},
                    {"convention", s.longppl.convention},
                    {"short_window", s.longppl.short_window},
                    {"stride", s.longppl.stride},
                    {"alpha", s.longppl.alpha},
                    {"beta", s.longppl.beta},
                    {"cache_dir", s.longppl.cache_dir},
                    {"allow_self_evaluator", s.longppl.allow_self_evaluator}};
    j["seed"] = s.seed;
    return j;
}

EvalSpec spec_from_json(const json& j) {
    try {
        EvalSpec s;
        s.model = load_from_json(j.at("model"));
        s.ctx = j.at("ctx").get<int>();
        s.metrics = j.at("metrics").get<std::vector<std::string>>();
        s.texts = j.at("texts").get<std::vector<std::string>>();
        s.max_docs = j.at("max_docs").get<int>();
        s.split = j.at("split").get<bool>();
        s.ppl.protocol = j.at("ppl").at("protocol").get<std::string>();
        s.ppl.bucket = j.at("ppl").at("bucket").get<int>();
        s.bootstrap_resamples = j.at("bootstrap_resamples").get<int>();
        const auto& p = j.at("passkey");
        s.passkey.protocol = p.value("protocol", std::string("grid"));  // absent before protocols existed
        s.passkey.depths = p.at("depths").get<std::vector<double>>();
        s.passkey.trials = p.at("trials").get<int>();
        s.passkey.seed = p.at("seed").get<uint64_t>();
        s.passkey.max_new_tokens = p.at("max_new_tokens").get<int>();
        s.passkey.haystack = p.at("haystack").get<std::string>();
        const auto& l = j.at("longppl");
        s.longppl.evaluator = load_from_json(l.at("evaluator"));
        s.longppl.convention = l.value("convention", std::string("ropebench"));
        s.longppl.short_window = l.at("short_window").get<int>();
        s.longppl.stride = l.at("stride").get<int>();
        s.longppl.alpha = l.at("alpha").get<double>();
        s.longppl.beta = l.at("beta").get<double>();
        s.longppl.cache_dir = l.at("cache_dir").get<std::string>();
        s.longppl.allow_self_evaluator = l.at("allow_self_evaluator").get<bool>();
        s.seed = j.at("seed").get<uint64_t>();
        return s;
    } catch (const json::exception& e) {
        throw Error("spec: malformed experiment spec: {}", e.what());
    }
}

}  // namespace rb::sweep
