// Shared by the sweep e2e tests: a small real grid and the store's contents.
#pragma once
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/test_util.h"
#include "sweep/store.h"

namespace rb::test {

// A grid on stories260K (trained at 512) with short contexts: cheap with the real evaluator.
inline std::string tiny_config(const std::string& metrics_extra = "") {
    return stories_sweep_head() + fmt::format(R"(run = ["ppl"{}]
[metrics.passkey]
depths = [0.0, 1.0]
trials = 1

[sweep]
ctx = [64, 128]

[[methods]]
method = "yarn"
factor = [2, 4]
beta_fast = [16, 32]

[[methods]]
method = "linear"
factor = [2, "ctx / original"]

[[methods]]
method = "dynamic"
factor = [1, 2]
)",
                                              metrics_extra);
}
inline const int k_tiny_experiments = 2 * (1 + 4 + 2 + 2);

// id -> (status, record fingerprint)
inline std::map<std::string, std::pair<std::string, nlohmann::json>> store_contents(const std::string& db) {
    rb::sweep::Store s(db);
    std::map<std::string, std::pair<std::string, nlohmann::json>> out;
    for (auto& r : s.rows())
        out[r.id] = {r.status, r.record ? rb::sweep::record_fingerprint(nlohmann::json::parse(*r.record)) : nlohmann::json()};
    return out;
}


}  // namespace rb::test
