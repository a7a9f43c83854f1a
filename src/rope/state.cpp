// RoPE state across forward calls (transformers' dynamic cache, longrope's switch) and cos/sin rows.
#include "rope/state.h"

#include <cmath>

namespace rb {

RopeState::RopeState(const RopeConfig& cfg)
    : m_cfg(cfg), m_tables(compute_rope_tables(cfg, 0)), m_original(m_tables),
      m_cached_len(cfg.geometry.max_position_embeddings) {}

const RopeTables& RopeState::for_call(int seq_len) {
    if (m_cfg.type == RopeType::dynamic) {
        // transformers' dynamic_frequency_update: grow-only cache, strict reset below mpe.
        int mpe = m_cfg.geometry.max_position_embeddings;
        int cached_before = m_cached_len;
        if (seq_len > m_cached_len) {
            m_tables = rope_dynamic(m_cfg, seq_len);
            m_cached_len = seq_len;
        }
        if (seq_len < mpe && cached_before > mpe) {
            m_tables = m_original;
            m_cached_len = mpe;
        }
    } else if (m_cfg.type == RopeType::longrope) {
        // longrope_frequency_update: long factors when L > orig, else back to the short ones.
        if (seq_len > m_cfg.original_max_position_embeddings)
            m_tables = rope_longrope(m_cfg, static_cast<int>(m_cfg.original_max_position_embeddings) + 1);
        else
            m_tables = m_original;
    }
    return m_tables;
}

void build_cos_sin(const RopeTables& t, int pos0, int n, float* out_cos, float* out_sin) {
    size_t half = t.inv_freq.size();
    for (int r = 0; r < n; r++) {
        double p = static_cast<double>(pos0) + r;
        for (size_t i = 0; i < half; i++) {
            double a = p * t.inv_freq[i];
            out_cos[r * half + i] = static_cast<float>(std::cos(a) * t.attention_factor);
            out_sin[r * half + i] = static_cast<float>(std::sin(a) * t.attention_factor);
        }
    }
}

}  // namespace rb
