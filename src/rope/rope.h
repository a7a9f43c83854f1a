// RoPE parameters and tables: every rope_scaling method with transformers' semantics
// (spec: shared/reference/rope-methods.md). Host-side, double precision; the only place
// in the tree with RoPE math. Kernels read the tables it produces.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rb {

enum class RopeType { default_, linear, dynamic, yarn, longrope, llama3, ntk, ntk_by_parts };
const char* rope_type_name(RopeType t);  // spelled as in config.json ("default", "yarn", ...)

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
    int rotary_dim = 0;               // int(head_dim * partial_rotary_factor)
    nlohmann::json params;            // standardized dict (rope_parameters as transformers v5 holds it)
    std::vector<std::string> warnings;  // what transformers only warns about
};

/// Parses `rope_scaling` (null/{} = none; "rope_type" or legacy "type"; rope_parameters
/// form with rope_theta inside) against `geo`, applying transformers' standardization and
/// validation. Throws Error naming the key for missing required keys / wrong types.
RopeConfig parse_rope_config(const RopeGeometry& geo, const nlohmann::json& rope_scaling);

/// Inverse frequencies and attention factor for one forward call.
struct RopeTables {
    std::vector<double> inv_freq;  // [rotary_dim / 2]
    double attention_factor = 1.0; // multiplies both cos and sin
    int rotary_dim = 0;
};

/// Tables for a forward call whose longest position is seq_len - 1 (dynamic and longrope
/// depend on it; static types ignore it). Stateless: for dynamic this is the value for a
/// fresh sequence of that length; use DynamicRopeState to follow transformers' cache.
RopeTables compute_rope_tables(const RopeConfig& cfg, int seq_len);

/// transformers' per-module state for `dynamic` (and longrope's short/long switch) across
/// successive forward calls on one sequence (prefill, then one decode step at a time).
class RopeState {
public:
    explicit RopeState(const RopeConfig& cfg);
    /// Tables to use for a call whose max position is seq_len - 1; updates the state as
    /// transformers does (grow-only past max_position_embeddings, reset below).
    const RopeTables& for_call(int seq_len);

private:
    RopeConfig m_cfg;
    RopeTables m_tables;
    int m_cached_len;
};

/// cos/sin rows for positions [pos0, pos0 + n): out_cos/out_sin are [n, rotary_dim/2]
/// (the half row; the full row is cat(half, half)), each = cos|sin(p * inv_freq) * attention_factor,
/// angles computed in double.
void build_cos_sin(const RopeTables& t, int pos0, int n, float* out_cos, float* out_sin);

}  // namespace rb
