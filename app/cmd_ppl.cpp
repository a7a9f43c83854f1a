// ropebench ppl MODEL --text PATH... --ctx L: perplexity under a protocol (DESIGN.md).
// Runs the `ppl` metric of run_eval; --json prints that metric's object plus ctx,
// documents, model and rope.
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
void add_ppl_flags(CLI::App* sub, EvalArgs& a);
nlohmann::json run_metric(EvalArgs& a, const std::string& metric, bool* json_out);

namespace {

CommandRegistrar reg("ppl", 40, [](CLI::App& app) -> std::function<int()> {
    auto a = make_eval_args();
    auto* sub = app.add_subcommand("ppl", "perplexity of text files / .jsonl / folders at context L");
    add_eval_common_flags(sub, *a);
    add_text_flags(sub, *a, true);
    add_ppl_flags(sub, *a);
    return [a]() {
        bool json = false;
        nlohmann::json o = run_metric(*a, "ppl", &json);
        if (json) {
            print_json(o);
        } else {
            fmt::print("ppl {}  ci95 {}  mean_nll {}  tokens_scored {}  documents {} (skipped {})  ctx {}  protocol {}\n",
                       o["ppl"].dump(), o["ci95"].dump(), o["mean_nll"].dump(), o["tokens_scored"].dump(),
                       o["documents_used"].dump(), o["documents_skipped"].dump(), o["ctx"].dump(),
                       o["protocol"].get<std::string>());
        }
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
