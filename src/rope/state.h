// RoPE across successive forward calls of one sequence (transformers' cached state), and the
// cos/sin rows the kernels read.
#pragma once
#include "rope/methods.h"

namespace rb {

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
