// ropebench passkey MODEL --ctx L [--trials N] [--depths LIST] [--seed S]: passkey
// retrieval (the `passkey` metric of run_eval).
#include <fmt/format.h>

#include "command.h"
#include "eval/eval.h"
#include "util/error.h"

namespace rb::app {

// Defined in cmd_eval.cpp.
struct EvalArgs;
std::shared_ptr<EvalArgs> make_eval_args();
void add_eval_common_flags(CLI::App* sub, EvalArgs& a);
void add_passkey_flags(CLI::App* sub, EvalArgs& a);
nlohmann::json run_metric(EvalArgs& a, const std::string& metric, bool* json_out);

namespace {

CommandRegistrar reg("passkey", 60, [](CLI::App& app) -> std::function<int()> {
    auto a = make_eval_args();
    auto* sub = app.add_subcommand("passkey", "passkey retrieval accuracy at context L (greedy, Wilson 95% interval)");
    add_eval_common_flags(sub, *a);
    add_passkey_flags(sub, *a);
    return [a]() {
        bool json = false;
        nlohmann::json o = run_metric(*a, "passkey", &json);
        if (json) {
            print_json(o);
        } else {
            for (const auto& d : o["per_depth"])
                fmt::print("depth {:.3f}  {}/{}  ci95 {}\n", d["depth"].get<double>(), d["correct"].dump(),
                           d["trials"].dump(), d["ci95"].dump());
            fmt::print("accuracy {} ({}/{})  ci95 {}  ctx {}  protocol {}\n", o["accuracy"].dump(), o["correct"].dump(),
                       o["trials"].dump(), o["ci95"].dump(), o["ctx"].dump(), o["protocol"].get<std::string>());
        }
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
