// Feeds bytes to parse_sweep_config as TOML text (the geometry from an inline [model.config]
// or a hub id; no fetcher, so nothing touches the network), then expands the grid.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sweep/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        // Relative paths resolve against a folder that does not exist.
        rb::sweep::SweepConfig cfg = rb::sweep::parse_sweep_config(
            std::string(reinterpret_cast<const char*>(data), size), "/nonexistent-fuzz/sweep.toml");
        (void)rb::sweep::count_experiments(cfg);
    } catch (const rb::Error&) {
    }
    return 0;
}
