// Everything a command needs to run a model: checkpoint, tokenizer, backend and weights; and
// the one function that resolves the RoPE an evaluation asks for against a checkpoint.
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

/// The RoPE an evaluation asks for, parsed at the edge (the CLI's --rope-scaling, a sweep's
/// [[methods]] entry) into typed values; resolve_rope turns it into a RopeConfig against the
/// checkpoint once per evaluation. Never part of a loaded model: one model serves many.
struct RopeChoice {
    std::optional<nlohmann::json> scaling;  // nullopt = the checkpoint's own; null = plain RoPE; an object replaces it
    std::optional<double> theta;            // overrides the base (top-level and inside the dict)
    std::string source;                     // names `scaling` in errors ("--rope-scaling", "study.toml: [[methods]] line 12")
};

struct LoadOptions {
    std::string path;                   // local checkpoint folder or .gguf (hub ids are resolved before: hub::resolve_model_path)
    std::string name;                   // as the user gave it (hub id or path), for records and messages; "" = path
    RopeChoice rope;                    // not used to load: the evaluation resolves it (resolve_rope)
    backend::WeightType wtype = backend::WeightType::f32;
    backend::BackendOptions backend;
};

struct LoadedModel {
    std::unique_ptr<Checkpoint> ckpt;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<backend::Backend> be;
    std::unique_ptr<LlamaModel> model;
};

/// Resolves `choice` against `cfg` (no weights loaded): the checkpoint's own rope_scaling or
/// the replacement, with the base override. Errors name choice.source (or the checkpoint's
/// file and its rope_scaling field) and the key. Warnings stay in `warnings`; `given` is the
/// dict it came from (null = none), after the theta override.
RopeConfig resolve_rope(const ModelConfig& cfg, const RopeChoice& choice);

/// Refuses (Error naming the checkpoint, the memory a `ctx`-token window would need and what
/// /proc/meminfo's MemAvailable offers) when the estimate of formats/memory_estimate.h does not
/// fit; nothing is loaded. No-op for ctx <= 0, for non-cpu backends, or without /proc/meminfo.
void check_memory_fits(const Checkpoint& ckpt, backend::WeightType wtype, const std::string& backend, int64_t ctx);

/// Opens, validates (opts.rope too, before the weights are read) and loads. With ctx > 0, first refuses a
/// window of ctx tokens that would not fit in memory (check_memory_fits).
LoadedModel load_model(const LoadOptions& opts, int64_t ctx = 0);
/// The same from opts.path's checkpoint and tokenizer, already open (a header: its weights are read here).
LoadedModel load_model(const LoadOptions& opts, int64_t ctx, std::unique_ptr<Checkpoint> ckpt,
                       std::unique_ptr<Tokenizer> tokenizer);

}  // namespace rb
