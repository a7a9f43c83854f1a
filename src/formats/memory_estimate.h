// Parameter counts and the memory a forward pass needs, from the model geometry alone (no
// weights read): the one estimate behind `info`, the up-front refusal of a context that does
// not fit, and the sweep's dry run and memory check. Mirrors what model/ allocates.
#pragma once
#include <cstdint>

#include "formats/model_config.h"

namespace rb {

/// Weights one token's forward pass multiplies: every layer matrix plus the LM head (tied or
/// not), not the embedding lookup.
uint64_t matrix_parameter_count(const ModelConfig& cfg);
/// All parameters, tied embeddings counted once (norms and biases included).
uint64_t parameter_count(const ModelConfig& cfg);

struct MemoryEstimate {
    uint64_t weights = 0;   // matrices in the compute type, embedding table and vectors in f32
    uint64_t kv_cache = 0;  // K and V for every layer at L tokens (f32)
    uint64_t working = 0;   // activations and scratch of one prefill at L tokens
    uint64_t loading = 0;   // transient at load: the largest tensor mapped + in f32 + its copies
    /// Peak resident memory: the weights plus the larger of the load transient and the run.
    uint64_t total() const { return weights + (loading > kv_cache + working ? loading : kv_cache + working); }
};

/// `bytes_per_weight` is 4 (f32) or 2 (bf16) for the matrices; `file_bytes_per_weight` is what
/// the checkpoint stores per element (2 for bf16/f16 files, 4 for f32; ~0.56 for Q4_K), for
/// the load transient.
MemoryEstimate estimate_forward_memory(const ModelConfig& cfg, int64_t ctx, int bytes_per_weight,
                                       double file_bytes_per_weight = 4);

}  // namespace rb
