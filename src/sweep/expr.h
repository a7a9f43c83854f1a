// A small, safe arithmetic expression language for sweep grids: numbers, the variables a
// caller binds (the sweep binds `ctx` and `original`), + - * /, unary minus and
// parentheses. No functions, no side effects; the result must be finite.
#pragma once
#include <map>
#include <string>

namespace rb::sweep {

/// Evaluates `text` with `vars`. Throws Error("expression '<text>': <what> at column N")
/// for a syntax error, an unknown variable, division by zero or a non-finite result.
double eval_expression(const std::string& text, const std::map<std::string, double>& vars);

}  // namespace rb::sweep
