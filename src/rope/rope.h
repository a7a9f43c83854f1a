// RoPE parameters and tables: every rope_scaling method with transformers' semantics
// (spec: shared/reference/rope-methods.md). Host-side, double precision; the only place
// in the tree with RoPE math. Kernels read the tables it produces.
//
// Methods (one function each, below): default, linear (Position Interpolation, Chen et al.
// 2023), dynamic (Dynamic NTK, /u/emozilla 2023), yarn (Peng et al., arXiv:2309.00071),
// longrope (Ding et al., arXiv:2402.13753), llama3 (Meta's Llama 3.1 apply_scaling),
// ntk (static NTK-aware, /u/bloc97 2023; pseudo-type, not a transformers rope_type) and
// ntk_by_parts (YaRN's frequency blend without the attention temperature; pseudo-type).
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

/// Inverse frequencies and attention factor for one forward call.
struct RopeTables {
    std::vector<double> inv_freq;  // [rotary_dim / 2]
    double attention_factor = 1.0; // multiplies both cos and sin
    int rotary_dim = 0;
    bool operator==(const RopeTables&) const = default;  // bitwise: equal tables rotate identically
};

/// Plain RoPE: inv[i] = 1 / theta^(2i/rotary_dim), i < rotary_dim/2.
std::vector<double> plain_inv_freq(int rotary_dim, double theta);

// One function per method. `seq_len` = max(position_ids)+1 of the forward call; 0 (or
// less) = the state right after construction (no call yet).
RopeTables rope_default(const RopeConfig& cfg);
RopeTables rope_linear(const RopeConfig& cfg);
RopeTables rope_dynamic(const RopeConfig& cfg, int seq_len);
RopeTables rope_yarn(const RopeConfig& cfg);
RopeTables rope_longrope(const RopeConfig& cfg, int seq_len);
RopeTables rope_llama3(const RopeConfig& cfg);
RopeTables rope_ntk(const RopeConfig& cfg);
RopeTables rope_ntk_by_parts(const RopeConfig& cfg);

/// Tables for a forward call whose longest position is seq_len - 1 (dynamic and longrope
/// depend on it; static types ignore it). Stateless: for dynamic this is the value for a
/// fresh sequence of that length; use RopeState to follow transformers' cache.
/// seq_len <= 0 means "no call yet" (the state after model construction).
RopeTables compute_rope_tables(const RopeConfig& cfg, int seq_len);

/// Values computed on the way (the golden file's `intermediates_f64` keys): yarn
/// factor_used, original_max_position_embeddings, beta_fast, beta_slow,
/// correction_dim_fast/slow, ramp_low/high; dynamic effective_seq_len, effective_base;
/// ntk effective_base; longrope factor_used, original_max_position_embeddings, uses;
/// llama3 low/high_freq_wavelen, band[] ("high" | "medium" | "low").
nlohmann::json rope_intermediates(const RopeConfig& cfg, int seq_len);

/// transformers' per-module state for `dynamic` (and longrope's short/long switch) across
/// successive forward calls on one sequence (prefill, then one decode step at a time).
/// Keys already in a KV cache keep the rotation they were written with: the caller
/// rotates only the new positions of each call with the tables for that call.
class RopeState {
public:
    explicit RopeState(const RopeConfig& cfg);
    /// Tables to use for a call whose max position is seq_len - 1; updates the state as
    /// transformers does (grow-only past max_position_embeddings, reset below).
    const RopeTables& for_call(int seq_len);
    /// The current tables without a call (after construction: the initial state).
    const RopeTables& current() const { return m_tables; }

private:
    RopeConfig m_cfg;
    RopeTables m_tables;
    RopeTables m_original;  // construction-time tables (dynamic reset, longrope short)
    int m_cached_len;
};

/// cos/sin rows for positions [pos0, pos0 + n): out_cos/out_sin are [n, rotary_dim/2]
/// (the half row; the full row is cat(half, half)), each = cos|sin(p * inv_freq) * attention_factor,
/// angles computed in double.
void build_cos_sin(const RopeTables& t, int pos0, int n, float* out_cos, float* out_sin);

}  // namespace rb
