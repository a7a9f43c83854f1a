// ropebench: thin entry point. Parses the command line, runs one subcommand, and turns
// exceptions into one "error: ..." line and an exit status (1 bad input, 2 bad usage).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "util/version.h"
#include "command.h"
#include "eval/lm.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread_pool.h"

namespace rb::app {

std::vector<CommandDef>& command_registry() {
    static std::vector<CommandDef> r;
    return r;
}

}  // namespace rb::app

int main(int argc, char** argv) {
    using namespace rb::app;
    CLI::App app{"ropebench: how RoPE context-extension methods hold up past the trained context"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(ROPEBENCH_VERSION) + " (" + rb::git_describe() + ")");
    bool quiet = false, verbose = false;
    app.add_flag("-q,--quiet", quiet, "only errors on stderr");
    app.add_flag("-v,--verbose", verbose, "debug output on stderr");

    auto& reg = command_registry();
    std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
    std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
    for (auto& def : reg) {
        auto run = def.setup(app);
        runners.emplace_back(app.get_subcommand(def.name), std::move(run));
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
    if (quiet) rb::set_log_level(rb::LogLevel::quiet);
    if (verbose) rb::set_log_level(rb::LogLevel::debug);
    // Hidden test switch: compute every prompt and window on its own (docs/sweep.md "Shared work").
    if (const char* v = std::getenv("ROPEBENCH_NO_SHARING"); v && *v && std::string(v) != "0")
        rb::set_sharing_enabled(false);
    try {
        for (auto& [sub, run] : runners)
            if (sub && sub->parsed()) return run();
        return 2;
    } catch (const rb::Error& e) {
        // Library code names a setting by its field (rb::FieldInfo); the command line, by its flag.
        const auto* field = dynamic_cast<const rb::FieldInfo*>(&e);
        fmt::print(stderr, "error: {}\n", field ? field->describe(flag_for_field) : std::string(e.what()));
        return dynamic_cast<const rb::UsageError*>(&e) ? 2 : 1;
    } catch (const std::bad_alloc&) {
        fmt::print(stderr, "error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    }
}
