#include "rope/methods_table.h"

#include <map>

namespace rb {

namespace {
using K = RopeParamKind;
constexpr bool req = true, opt = false;
}  // namespace

const std::vector<RopeMethod>& rope_methods() {
    static const std::vector<RopeMethod> t{
        {RopeType::default_, "default", "plain RoPE", {{"rope_theta", K::number, opt}}},
        {RopeType::linear, "linear", "Position Interpolation: positions / factor",
         {{"factor", K::number, req}, {"rope_theta", K::number, opt}}},
        {RopeType::dynamic, "dynamic", "Dynamic NTK: base grows with the sequence length",
         {{"factor", K::number, req}, {"rope_theta", K::number, opt}}},
        {RopeType::yarn, "yarn", "YaRN: NTK-by-parts blend + attention temperature",
         {{"factor", K::number, req},
          {"original_max_position_embeddings", K::integer, req},
          {"attention_factor", K::number, opt},
          {"beta_fast", K::number, opt},
          {"beta_slow", K::number, opt},
          {"mscale", K::number, opt},
          {"mscale_all_dim", K::number, opt},
          {"truncate", K::boolean, opt},
          {"rope_theta", K::number, opt}}},
        {RopeType::longrope, "longrope", "LongRoPE: per-dimension short/long rescale factors",
         {{"short_factor", K::number_list, req},
          {"long_factor", K::number_list, req},
          {"original_max_position_embeddings", K::integer, req},
          {"attention_factor", K::number, opt},
          {"factor", K::number, opt},
          {"rope_theta", K::number, opt}}},
        {RopeType::llama3, "llama3", "Llama 3.1 wavelength bands",
         {{"factor", K::number, req},
          {"original_max_position_embeddings", K::integer, req},
          {"low_freq_factor", K::number, req},
          {"high_freq_factor", K::number, req},
          {"rope_theta", K::number, opt}}},
        {RopeType::ntk, "ntk", "static NTK-aware base scaling (pseudo-type)",
         {{"factor", K::number, req}, {"rope_theta", K::number, opt}}},
        {RopeType::ntk_by_parts, "ntk_by_parts", "YaRN's frequency blend, no temperature (pseudo-type)",
         {{"factor", K::number, req},
          {"original_max_position_embeddings", K::integer, req},
          {"beta_fast", K::number, opt},
          {"beta_slow", K::number, opt},
          {"truncate", K::boolean, opt},
          {"rope_theta", K::number, opt}}},
    };
    return t;
}

const RopeMethod* find_rope_method(const std::string& name) {
    for (const auto& m : rope_methods())
        if (name == m.name) return &m;
    return nullptr;
}

const RopeMethod& rope_method(RopeType t) {
    for (const auto& m : rope_methods())
        if (m.type == t) return m;
    return rope_methods().front();
}

const RopeParamKind* rope_param_kind(const std::string& name) {
    static const std::map<std::string, RopeParamKind> kinds = [] {
        std::map<std::string, RopeParamKind> k;
        for (const auto& m : rope_methods())
            for (const auto& p : m.params) k.emplace(p.name, p.kind);
        return k;
    }();
    auto it = kinds.find(name);
    return it == kinds.end() ? nullptr : &it->second;
}

std::string rope_methods_help() {
    std::string s;
    for (const auto& m : rope_methods()) {
        if (m.type == RopeType::default_) continue;
        std::string req, opt;
        for (const auto& p : m.params) {
            if (std::string(p.name) == "rope_theta" || std::string(p.name) == "original_max_position_embeddings") continue;
            std::string& list = p.required ? req : opt;
            list += (list.empty() ? "" : " ") + std::string(p.name);
        }
        s += (s.empty() ? "" : "; ") + std::string(m.name) + "(" + req + (opt.empty() ? "" : " [" + opt + "]") + ")";
    }
    return s;
}

}  // namespace rb
