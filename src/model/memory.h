// Memory a forward pass needs, for `info`, `sweep --dry-run` and up-front refusals.
#pragma once
#include <cstdint>

#include "formats/model_config.h"

namespace rb {

struct MemoryEstimate {
    uint64_t weights = 0;   // bytes of weights in the compute type
    uint64_t kv_cache = 0;  // K and V for every layer at L tokens (f32)
    uint64_t working = 0;   // activations and scratch of one prefill at L tokens
    uint64_t total() const { return weights + kv_cache + working; }
};

/// `bytes_per_weight` is 4 (f32) or 2 (bf16). Matches what model/ allocates.
MemoryEstimate estimate_forward_memory(const ModelConfig& cfg, int64_t ctx, int bytes_per_weight);

}  // namespace rb
