// The one table of RoPE methods: name, parameters (kind, required or optional). The parser
// (parse_rope_config: transformers' key check), the sweep grammar (which keys a [[methods]]
// block may vary, and their TOML kinds) and the help text all read it (the pattern of
// llama.cpp's enum <-> name tables in src/llama-arch.cpp).
#pragma once
#include <string>
#include <vector>

#include "rope/rope.h"

namespace rb {

enum class RopeParamKind { number, integer, boolean, number_list };

struct RopeParam {
    const char* name;
    RopeParamKind kind;
    bool required;  // transformers' required keys (original_max_position_embeddings is filled from the model when absent)
};

struct RopeMethod {
    RopeType type;
    const char* name;      // config.json spelling
    const char* summary;   // one line for help texts
    std::vector<RopeParam> params;  // besides rope_type (and the always-tolerated type / partial_rotary_factor)
};

/// Every method, in the order help texts list them.
const std::vector<RopeMethod>& rope_methods();
/// The entry for a config.json spelling; nullptr when unknown.
const RopeMethod* find_rope_method(const std::string& name);
const RopeMethod& rope_method(RopeType t);
/// Kind of a parameter name across methods; nullptr when no method has it.
const RopeParamKind* rope_param_kind(const std::string& name);
/// "linear(factor) dynamic(factor) yarn(factor [beta_fast beta_slow ...]) ...": for --help.
std::string rope_methods_help();

}  // namespace rb
