#include "util/json.h"

#include "util/error.h"

namespace rb {

nlohmann::json parse_json(const std::string& text, const std::string& path) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error("{}: invalid JSON at byte {}: {}", path, e.byte, e.what());
    } catch (const nlohmann::json::exception& e) {
        throw Error("{}: invalid JSON: {}", path, e.what());
    }
}

}  // namespace rb
