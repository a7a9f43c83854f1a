// Internal to src/eval (eval.cpp, identity.cpp): reading an EvalSpec the same way in the
// record and in the identity.
#pragma once
#include <string>
#include <vector>

#include "eval/eval.h"

namespace rb::eval_detail {

const char* wtype_name(backend::WeightType t);
/// The metrics sorted and deduplicated; FieldError("metrics") for an unknown or no metric.
std::vector<std::string> sorted_metrics(const std::vector<std::string>& m);
bool has(const std::vector<std::string>& v, const char* x);
/// The passkey depths, the grid's default (0, 0.1, ..., 1) when none are given.
std::vector<double> depths_of(const PasskeySpec& p);
PplOptions ppl_options(const EvalSpec& s);
/// eval_identity without its check_eval_spec, for a caller that has checked the spec.
nlohmann::json identity_json(const EvalSpec& spec, const IdentityInputs& in);

}  // namespace rb::eval_detail
