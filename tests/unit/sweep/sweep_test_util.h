// Helpers for the sweep unit tests: config text on the shared tiny models, fake runners.
#pragma once
#include <fmt/format.h>

#include <fstream>
#include <string>

#include "common/test_util.h"
#include "sweep/config.h"
#include "sweep/engine.h"
#include "sweep/spec_json.h"
#include "util/hash.h"

namespace rb::sweep::testing {

/// A small valid config on stories260K (trained at 512) with `methods` appended.
inline std::string small_config(const std::string& methods, const std::string& sweep_extra = "") {
    return rb::test::stories_sweep_head() +
           fmt::format("run = [\"ppl\"]\n\n[sweep]\nctx = [256, 1024]\n{}\n{}", sweep_extra, methods);
}

inline std::string write(const std::string& dir, const std::string& name, const std::string& text) {
    std::string p = dir + "/" + name;
    std::ofstream(p) << text;
    return p;
}

/// Options for a quiet test sweep into `db`.
inline SweepOptions test_options(const std::string& db) {
    SweepOptions o;
    o.db = db;
    o.progress = 0;
    o.version = "test";
    return o;
}

/// yarn factor 2 and 4 plus linear at ctx/original: with small_config's two lengths and the
/// baseline, 8 experiments.
inline const char* k_small_grid = R"(
[[methods]]
method = "yarn"
factor = [2, 4]

[[methods]]
method = "linear"
factor = "ctx / original"
)";

/// Deterministic stand-in for run_eval: a "ppl" derived from the spec's hash.
inline Runner fake_runner(int* calls = nullptr) {
    Runner r;
    r.identity = [](const EvalSpec& s) { return nlohmann::json{{"fake", spec_to_json(s)}}; };
    r.run = [calls](const EvalSpec& s) {
        if (calls) ++*calls;
        std::string h = sha256_hex(spec_to_json(s).dump());
        double v = 1.0 + static_cast<double>(std::stoull(h.substr(0, 8), nullptr, 16) % 1000) / 100.0;
        return nlohmann::json{{"ctx", s.ctx}, {"metrics", {{"ppl", {{"ppl", v}, {"wall_s", 0.001}}}}}, {"wall_s", 0.001}};
    };
    return r;
}

}  // namespace rb::sweep::testing
