// ropebench merge A.db B.db ... -o ALL.db: unites sweep stores (shards), refusing
// conflicting rows and files that are not ropebench stores (docs/sweep.md, docs/store-schema.md).
#include <fmt/format.h>

#include "command.h"
#include "sweep/store.h"

namespace rb::app {
namespace {

struct MergeArgs {
    std::vector<std::string> inputs;
    std::string output;
};

CommandRegistrar reg("merge", 81, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<MergeArgs>();
    auto* sub = app.add_subcommand("merge", "unite sweep stores (e.g. shards) into one; conflicting results are refused");
    sub->add_option("STORES", a->inputs, "input stores (opened read-only, never changed)")->required();
    sub->add_option("-o,--output", a->output, "output store (rows already there take part)")->required();
    return [a]() {
        int n = sweep::merge_stores(a->inputs, a->output);
        fmt::print(stderr, "merge: {} experiments from {} store(s) into {}\n", n, a->inputs.size(), a->output);
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
