// ropebench longppl MODEL --text PATH... --ctx L --evaluator MODEL2: LongPPL (the
// `longppl` metric of run_eval).
#include <fmt/format.h>

#include "command.h"
#include "eval/eval.h"
#include "util/error.h"

namespace rb::app {

// Defined in cmd_eval.cpp.
struct EvalArgs;
std::shared_ptr<EvalArgs> make_eval_args();
void add_eval_common_flags(CLI::App* sub, EvalArgs& a);
void add_text_flags(CLI::App* sub, EvalArgs& a, bool required);
void add_longppl_flags(CLI::App* sub, EvalArgs& a, bool required);
nlohmann::json run_metric(EvalArgs& a, const std::string& metric, bool* json_out);

namespace {

CommandRegistrar reg("longppl", 50, [](CLI::App& app) -> std::function<int()> {
    auto a = make_eval_args();
    auto* sub = app.add_subcommand("longppl", "LongPPL: perplexity on the key tokens an evaluator model picks");
    add_eval_common_flags(sub, *a);
    add_text_flags(sub, *a, true);
    add_longppl_flags(sub, *a, true);
    return [a]() {
        bool json = false;
        nlohmann::json o = run_metric(*a, "longppl", &json);
        if (json) {
            print_json(o);
        } else {
            fmt::print("longppl {}  ci95 {}  n_key {}  documents {} (without key tokens {}, skipped {})  ctx {}  convention {}\n",
                       o["longppl"].dump(), o["ci95"].dump(), o["n_key"].dump(), o["documents"].dump(),
                       o["documents_without_key"].size(), o["documents_skipped"].dump(), o["ctx"].dump(),
                       o["convention"].get<std::string>());
        }
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
