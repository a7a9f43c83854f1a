// Everything a command needs to run a model: checkpoint, tokenizer, backend, weights and the
// resolved RoPE configuration (checkpoint's own, or --rope-scaling / --rope-theta overrides).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "formats/checkpoint.h"
#include "model/llama.h"
#include "rope/rope.h"
#include "tokenizer/tokenizer.h"

namespace rb {

struct LoadOptions {
    std::string path;                   // local checkpoint folder or .gguf (hub ids are resolved before: hub::resolve_model_path)
    std::string name;                   // as the user gave it (hub id or path), for records and messages; "" = path
    std::string rope_scaling;           // "" or "native" = checkpoint's own, "none" = no scaling, else a JSON object
    std::optional<double> rope_theta;   // overrides the base (top-level and inside the dict)
    backend::WeightType wtype = backend::WeightType::f32;
    backend::BackendOptions backend;
};

struct LoadedModel {
    std::unique_ptr<Checkpoint> ckpt;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<backend::Backend> be;
    std::unique_ptr<LlamaModel> model;
    RopeConfig rope;              // resolved
    nlohmann::json rope_given;    // as given (null = none)
};

/// Parses a --rope-scaling value: "" or "native" → checkpoint's dict, "none" → null, else JSON object.
/// Throws UsageError naming the flag for invalid JSON or a non-object.
nlohmann::json rope_scaling_from_flag(const std::string& flag_value, const nlohmann::json& checkpoint_dict);

/// Resolves the RoPE configuration for `cfg` with the overrides of `opts` (no weights loaded).
RopeConfig resolve_rope(const ModelConfig& cfg, const std::string& rope_scaling_flag,
                        std::optional<double> rope_theta, nlohmann::json* given = nullptr);

/// Refuses (Error naming the checkpoint, the memory a `ctx`-token window would need and what
/// /proc/meminfo's MemAvailable offers) when the estimate of formats/memory_estimate.h does not
/// fit; nothing is loaded. No-op for ctx <= 0, for non-cpu backends, or without /proc/meminfo.
void check_memory_fits(const Checkpoint& ckpt, backend::WeightType wtype, const std::string& backend, int64_t ctx);

/// Opens, validates and loads; prints RoPE warnings to stderr. With ctx > 0, first refuses a
/// window of ctx tokens that would not fit in memory (check_memory_fits).
LoadedModel load_model(const LoadOptions& opts, int64_t ctx = 0);

}  // namespace rb
