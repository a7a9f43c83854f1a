// JSON text from files: one parse with the error message every reader uses.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace rb {

/// Parses `text`; throws Error "`path`: invalid JSON at byte N: ..." (or "invalid JSON: ..."
/// for values nlohmann refuses after parsing, e.g. a number too large for a double).
nlohmann::json parse_json(const std::string& text, const std::string& path);

}  // namespace rb
