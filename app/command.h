// Subcommand registry: each app/cmd_<name>.cpp defines one subcommand and registers
// itself with a static CommandRegistrar; main.cpp stays thin.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/loader.h"

namespace rb::app {

struct CommandDef {
    std::string name;
    int order;  // position in --help
    /// Adds the subcommand to `app`, returns the function that runs it (exit status).
    std::function<std::function<int()>(CLI::App& app)> setup;
};

std::vector<CommandDef>& command_registry();

struct CommandRegistrar {
    CommandRegistrar(std::string name, int order, std::function<std::function<int()>(CLI::App&)> setup) {
        command_registry().push_back({std::move(name), order, std::move(setup)});
    }
};

/// Options shared by every command that runs a model (DESIGN.md).
struct ModelOptions {
    std::string model;
    std::string rope_scaling;          // JSON object, "none", or empty (= checkpoint's own)
    std::optional<double> rope_theta;  // overrides the base
    std::string dtype = "f32";         // compute/weight type: f32 | bf16
    std::string backend = "cpu";
    int threads = 0;                   // 0 = all cores
    bool offline = false;              // hub ids: local cache only
    std::string gguf_file;             // hub ids: fetch only this GGUF file
};

/// Adds MODEL (positional) and the shared model flags to `sub`.
void add_model_options(CLI::App* sub, ModelOptions& o, bool model_required = true);
/// 0..1024 (0 = all cores); the message names the value.
CLI::Validator thread_count_validator();
/// A whole number in [min, max]; the one-line message names the value ("--ctx: expected a
/// whole number in [1, 16777216], got '-5'"; CLI11's own range message is a paragraph).
CLI::Validator count_validator(long long min, long long max);
/// A context length (tokens) in [min, k_max_context].
CLI::Validator context_validator(long long min = 1);
/// A finite number (> `above` when given): nan and inf are usage errors naming the flag.
CLI::Validator number_validator(std::optional<double> above = std::nullopt);
/// A finite RoPE base > 1 (what rope's parse accepts): `--rope-theta nan` is a usage error.
CLI::Validator rope_theta_validator();
/// hub::resolve_model_path after refusing a symlink that cannot be followed (loop, missing
/// target), naming it: such a path is never taken for a hub id.
std::string resolve_model_arg(const std::string& model);
/// Adds -t/--threads (0 = all cores, 1..1024; anything else is a usage error, exit 2).
CLI::Option* add_threads_option(CLI::App* sub, int& threads);
/// Applies --threads to the global pool. Call once at the start of a command.
void apply_threads(const ModelOptions& o);
/// A --rope-scaling value as a typed choice: "" or "native" → nullopt (the checkpoint's own),
/// "none" → JSON null (plain RoPE), else a JSON object. UsageError naming `flag` otherwise.
std::optional<nlohmann::json> parse_rope_scaling_arg(const std::string& flag, const std::string& value);
/// The library's load options for these flags: MODEL through the one resolver, --rope-scaling
/// parsed (errors name `rope_flag`).
LoadOptions load_options(const ModelOptions& o, const std::string& rope_flag = "--rope-scaling");
/// The flag that sets a library field (FieldError::field: "ctx" → "--ctx", "longppl.stride" →
/// "--key-stride"); the field itself for one no flag sets.
std::string flag_for_field(const std::string& field);
/// Prints `s` on stdout followed by a newline (results only; logs go to stderr).
void print_json(const nlohmann::json& j);

}  // namespace rb::app
