// Sweep configuration (TOML, docs/sweep.md) and its expansion into experiments.
//
// Loading validates everything that can be checked without running a model: unknown
// tables, keys and methods (with the closest spelling suggested), value types, empty
// grids, missing files, expressions. Every error names the file, the line and the key:
//   "presets/x.toml:12: methods[1].facter: unknown parameter for 'yarn', did you mean 'factor'?"
// Expansion turns each method block into rope_scaling dicts (cartesian product of the
// per-parameter lists, crossed with an optional explicit list of dicts) per context
// length, evaluates expressions (`factor = "ctx / original"`) and validates each dict
// with rope's parse_rope_config against the model geometry. A dict that parse rejects is
// kept as an experiment marked invalid (the sweep records it as failed without running).
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval.h"
#include "formats/model_config.h"
#include "rope/config.h"

namespace rb::sweep {

/// One `[[methods]]` block of the config.
struct MethodBlock {
    std::string method;               // rope_type spelling ("yarn", ...; "default" allowed)
    std::string group;                // free label for counts ("study" by default)
    int line = 0;                     // line of the block in the config
    std::vector<int> ctx;             // subset of sweep.ctx this block runs at (empty = all)
    /// Cartesian axes in file order: parameter -> alternatives (JSON scalars, number lists,
    /// expression strings or list rules, not yet evaluated).
    std::vector<std::pair<std::string, std::vector<nlohmann::json>>> axes;
    std::vector<nlohmann::json> configs;  // explicit dicts (empty = one empty dict)
};

struct SweepConfig {
    std::string path;                 // config file as given
    std::string dir;                  // its folder: relative paths resolve against it
    std::string text;                 // the file's bytes (stored in the store's meta)

    // [model]
    std::string model;                // local path (resolved against the config's folder), or a hub id as given
    std::string model_path;           // the checkpoint to open: set by the caller once a hub id is resolved ("" = model)
    bool model_is_hub = false;
    std::string dtype = "f32";        // f32 | bf16
    std::string backend = "cpu";
    int threads = 0;
    ModelConfig model_config;         // geometry (see geometry_source)
    std::string geometry_source;      // "inline [model.config]" | "checkpoint" | "the hub's config.json"

    // [data]
    std::vector<std::string> texts;   // resolved paths
    int max_docs = 0;
    std::string protocol = "truncate";
    bool split = false;

    // [metrics]
    std::vector<std::string> metrics; // subset of ppl, passkey, longppl, in that order
    int bucket = 256;
    int bootstrap = 1000;
    PasskeySpec passkey;
    LongPplSpec longppl;              // evaluator path resolved

    // [sweep]
    std::vector<int> ctx;
    bool baseline = true;             // a default-RoPE experiment per context
    uint64_t seed = 1234;
    double memory_limit_gb = 0;       // 0 = physical memory of this machine
    double gflops = 0;                // 0 = backend default (docs/sweep.md)

    std::vector<MethodBlock> blocks;
};

/// One experiment: an eval spec plus where it came from.
struct Experiment {
    int index = 0;                    // position in expansion order
    std::string method;               // "default" for the baseline
    std::string group;                // "baseline" for the baseline, else the block's group
    int ctx = 0;
    int line = 0;                     // config line of its block
    nlohmann::json params;            // rope_scaling dict as configured (null = plain RoPE)
    EvalSpec spec;
    std::string invalid;              // parse_rope_config's error ("" = valid)
    nlohmann::json resolved;          // rope_config_to_json (valid experiments)
    std::optional<RopeConfig> rope;   // the parsed config (valid experiments): parsed once, here
};

/// What the command line replaces in a config (applied while reading it, so expressions are
/// checked against the geometry that will run).
struct ConfigOverrides {
    std::string model;              // --model: a folder, .gguf or hub id (relative to the working directory)
    std::vector<int> ctx;           // --ctx
    std::optional<int> threads;     // --threads
    bool yes = false;               // --yes: accept a grid above k_max_experiments
};

/// A grid above this many experiments is refused unless --yes (each costs ~1 KB in a plan
/// and a dry run, and usually a typo: a list where a value was meant).
constexpr uint64_t k_max_experiments = 100000;
/// Refused even with --yes: the plan alone would need gigabytes.
constexpr uint64_t k_max_experiments_yes = 10000000;
/// Returns the path of a hub id's config.json (the CLI passes hub::resolve_hub_config); used
/// for the geometry when [model] names a hub id without [model.config].
using ConfigFetcher = std::function<std::string(const std::string& hub_id)>;

/// Reads and validates a config. Throws Error naming file, line and key.
SweepConfig load_sweep_config(const std::string& path, const ConfigOverrides& ov = {}, const ConfigFetcher& fetch = {});
/// Same, from text (`path` used for messages and relative paths).
SweepConfig parse_sweep_config(const std::string& text, const std::string& path, const ConfigOverrides& ov = {},
                               const ConfigFetcher& fetch = {});

/// How many experiments expand_experiments will give, counted without expanding (saturates
/// at UINT64_MAX).
uint64_t count_experiments(const SweepConfig& cfg);

/// All experiments in a stable order: per context (config order), the baseline first, then
/// each block's dicts (explicit configs outer, cartesian axes in file order, last fastest).
std::vector<Experiment> expand_experiments(const SweepConfig& cfg);

/// The trained context the expression variable `original` stands for: the model's
/// top-level original_max_position_embeddings if present, else max_position_embeddings.
int trained_context(const ModelConfig& mc);

/// Parameters each method accepts (rope_scaling spelling), for messages and checks.
const std::vector<std::string>& method_parameters(const std::string& method);

/// The closest of `candidates` to `word` by edit distance ("" when none is close).
std::string closest_name(const std::string& word, const std::vector<std::string>& candidates);


}  // namespace rb::sweep
