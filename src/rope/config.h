// RoPE configuration: the rope_scaling dict as transformers standardizes and validates it
// (spec: shared/reference/rope-methods.md §1), typed. Methods and their keys: methods_table.h;
// the tables each method computes: methods.h; transformers' per-call state: state.h.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rb {

enum class RopeType { default_, linear, dynamic, yarn, longrope, llama3, ntk, ntk_by_parts };
const char* rope_type_name(RopeType t);  // spelled as in config.json ("default", "yarn", ...)
/// The type for a config.json spelling; nullopt for an unknown name.
std::optional<RopeType> rope_type_from_name(const std::string& name);

/// The model-level fields RoPE depends on (from config.json / GGUF, after CLI overrides).
struct RopeGeometry {
    int head_dim = 0;
    double rope_theta = 10000.0;                       // top-level rope_theta
    int max_position_embeddings = 0;
    std::optional<double> partial_rotary_factor;       // top-level, if present
    std::optional<int> original_max_position_embeddings;  // top-level, if present (wins for yarn/longrope/llama3)
};

/// A validated, standardized rope configuration.
struct RopeConfig {
    RopeType type = RopeType::default_;
    RopeGeometry geometry;
    double theta = 10000.0;           // effective base (rope_theta inside the dict wins)
    int rotary_dim = 0;               // int(head_dim * partial_rotary_factor); head_dim for `default`
    nlohmann::json params;            // standardized dict (rope_parameters as transformers v5 holds it)
    std::vector<std::string> warnings;  // what transformers only warns about

    // Typed values read from `params` (only those the type uses are meaningful).
    nlohmann::json given;             // rope_scaling exactly as given (null = none)
    double factor = 1.0;              // linear/dynamic/yarn/llama3/ntk/ntk_by_parts; longrope: factor or mpe/orig
    double original_max_position_embeddings = 0;  // resolved (yarn, longrope, llama3, ntk_by_parts)
    std::optional<double> attention_factor;       // explicit value (yarn, longrope)
    double beta_fast = 32.0, beta_slow = 1.0;     // yarn / ntk_by_parts, after `or 32` / `or 1`
    std::optional<double> mscale, mscale_all_dim; // yarn
    bool truncate = true;                         // yarn / ntk_by_parts
    double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
    std::vector<double> short_factor, long_factor;          // longrope, [rotary_dim/2] each
};

/// Parses `rope_scaling` (null/{} = none; "rope_type" or legacy "type"; rope_parameters
/// form with rope_theta inside) against `geo`, applying transformers' standardization and
/// validation. Throws Error naming the key for missing required keys / wrong types.
///
/// Stricter than transformers where transformers would only fail later: an unknown
/// rope_type, a non-numeric value where a number is needed, and short_factor/long_factor
/// lists of the wrong length are errors here (transformers warns, then fails at model
/// construction or on the first long call).
RopeConfig parse_rope_config(const RopeGeometry& geo, const nlohmann::json& rope_scaling);

/// The resolved dict for result records: the standardized params without the legacy
/// "type" key, numbers normalized (float keys as floats, original_max_position_embeddings
/// as an integer) and defaults made explicit (yarn/ntk_by_parts beta_fast, beta_slow,
/// truncate; longrope factor). Two spellings of the same configuration give the same dict.
nlohmann::json rope_config_to_json(const RopeConfig& cfg);

/// A short human label ("yarn factor=4 beta_fast=32"), for legends and tables.
std::string rope_config_label(const RopeConfig& cfg);
}  // namespace rb
