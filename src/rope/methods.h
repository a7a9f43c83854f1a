// One function per RoPE method: the inverse frequencies and attention factor of a forward
// call (spec: shared/reference/rope-methods.md §3), host-side, double precision.
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "rope/config.h"

namespace rb {

/// Inverse frequencies and attention factor for one forward call.
struct RopeTables {
    std::vector<double> inv_freq;  // [rotary_dim / 2]
    double attention_factor = 1.0; // multiplies both cos and sin
    int rotary_dim = 0;
    bool operator==(const RopeTables&) const = default;  // bitwise: equal tables rotate identically
};

/// Plain RoPE: inv[i] = 1 / theta^(2i/rotary_dim), i < rotary_dim/2.
std::vector<double> plain_inv_freq(int rotary_dim, double theta);

/// YaRN's ramp over the rotary pairs i < rotary_dim/2 (spec §3.4): 0 keeps the frequency, 1
/// interpolates it fully; the correction range of beta_fast/beta_slow turns over `orig`
/// positions (floored/ceiled when `truncate`, as transformers). yarn and ntk_by_parts blend
/// with it; the sweep's longrope list rule `ramp(BF, BS)` builds its factors from it.
std::vector<double> yarn_ramp(int rotary_dim, double theta, double orig, double beta_fast, double beta_slow,
                              bool truncate = true);

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

}  // namespace rb
