// EvalSpec <-> JSON, for the store's `spec` column (everything needed to rerun one
// experiment) and for handing experiments to other processes.
#pragma once
#include <nlohmann/json.hpp>

#include "eval/eval.h"

namespace rb::sweep {

nlohmann::json spec_to_json(const EvalSpec& spec);
/// Inverse of spec_to_json. Throws Error naming the field on a malformed object.
EvalSpec spec_from_json(const nlohmann::json& j);

}  // namespace rb::sweep
