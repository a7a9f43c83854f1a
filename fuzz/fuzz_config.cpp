// Feeds bytes to parse_config_json.
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/model_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        rb::ModelConfig c = rb::parse_config_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
        (void)c.rope_scaling.dump();
    } catch (const rb::Error&) {
    }
    return 0;
}
