// ropebench sweep CONFIG.toml: runs a grid of eval experiments into a SQLite store
// (docs/sweep.md), resuming where a previous run stopped.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "hub/hub.h"
#include "util/mapped_file.h"
#include "util/version.h"
#include "command.h"
#include "eval/eval.h"
#include "formats/checkpoint.h"
#include "sweep/config.h"
#include "sweep/engine.h"
#include "sweep/estimate.h"
#include "sweep/exec_child.h"
#include "sweep/mpi.h"
#include "sweep/spec_json.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/thread_pool.h"

namespace rb::app {
namespace {

struct SweepArgs {
    std::string config;
    std::string db;
    std::string shard;
    bool dry_run = false;
    bool retry_failed = false;
    std::string progress = "auto";
    double gflops = 0;
    bool no_memory_check = false;
    std::string model;      // --model: replaces [model] path
    std::vector<int> ctx;   // --ctx: replaces [sweep] ctx
    std::optional<int> threads;  // --threads: replaces [model] threads
    bool offline = false;   // --offline: hub ids from the local cache only
    bool yes = false;       // --yes: accept a grid above sweep::k_max_experiments
    bool in_process = false;  // --in-process: run experiments in this process (no crash isolation)
    int fake_eval_ms = -1;  // test hook (docs/sweep.md): a deterministic stand-in for run_eval
};

// Test hook: identity = the spec, record = numbers derived from the identity's hash, after
// sleeping `ms` milliseconds. Exercises the store, resume and sharding without a model.
sweep::Runner fake_runner(int ms) {
    sweep::Runner r;
    r.identity = [](const EvalSpec& s) { return nlohmann::json{{"fake_eval", sweep::spec_to_json(s)}}; };
    r.run = [ms](const EvalSpec& s) {
        // Test hook: a crash (SIGSEGV) in the experiment at this context length.
        if (const char* c = std::getenv("ROPEBENCH_FAKE_CRASH_CTX"); c && std::atoi(c) == s.ctx) std::raise(SIGSEGV);
        auto t0 = std::chrono::steady_clock::now();
        if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        std::string h = sha256_hex(nlohmann::json{{"fake_eval", sweep::spec_to_json(s)}}.dump());
        double v = 1.0 + static_cast<double>(std::stoull(h.substr(0, 12), nullptr, 16) % 100000) / 1000.0;
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return nlohmann::json{{"schema", "ropebench.eval/1"},
                              {"fake", true},
                              {"ctx", s.ctx},
                              {"rope", {{"given", s.model.rope.scaling ? *s.model.rope.scaling : nlohmann::json("native")}}},
                              {"metrics", {{"ppl", {{"ppl", v}, {"tokens_scored", s.ctx - 1}, {"wall_s", wall}}}}},
                              {"tokens_processed", s.ctx},
                              {"wall_s", wall}};
    };
    return r;
}

std::string default_db(const std::string& config) {
    std::filesystem::path p(config);
    p.replace_extension(".db");
    return p.string();
}

int run_sweep_command(const SweepArgs& a, sweep::mpi::World* world, bool& pool_started);

CommandRegistrar reg("sweep", 80, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<SweepArgs>();
    auto* sub = app.add_subcommand("sweep", "run a grid of experiments from a TOML config into a SQLite store (resumable)");
    sub->add_option("CONFIG", a->config, "sweep config (.toml), see docs/sweep.md")->required();
    sub->add_option("--db", a->db, "store file (default: the config's path with .db)");
    sub->add_option("--shard", a->shard, "run only shard I of N (1-based, e.g. 2/4); default from SLURM_ARRAY_TASK_ID/COUNT");
    sub->add_flag("--dry-run", a->dry_run, "list experiments, counts and estimates; load and run nothing");
    sub->add_flag("--retry-failed", a->retry_failed, "run failed experiments again");
    sub->add_option("--progress", a->progress, "auto (bar on a terminal), bar, lines")
        ->check(CLI::IsMember({"auto", "bar", "lines"}));
    sub->add_option("--gflops", a->gflops, "throughput for time estimates (overrides [sweep] gflops)")
        ->check(number_validator(0.0));
    sub->add_flag("--no-memory-check", a->no_memory_check, "run experiments even when their memory estimate exceeds the limit");
    sub->add_option("--model", a->model, "replace the config's [model] path (a checkpoint folder, .gguf or hub id)");
    sub->add_option("--ctx", a->ctx, "replace the config's context lengths (comma-separated)")
        ->delimiter(',')
        ->check(context_validator(2));
    sub->add_option("-t,--threads", a->threads, "threads per experiment, 0 = all cores, at most 1024 (replaces [model] threads)")
        ->check(thread_count_validator());
    sub->add_flag("--offline", a->offline, "hub ids: use only the local Hugging Face cache (also HF_HUB_OFFLINE=1)");
    sub->add_flag("--yes", a->yes, "accept a grid of more than 100,000 experiments (at most 10,000,000)");
    sub->add_flag("--in-process", a->in_process,
                  "run experiments in this process instead of a child process (a crash then ends the sweep)");
    sub->add_option("--fake-eval-ms", a->fake_eval_ms, "")->group("");  // hidden test hook
    return [a]() {
        // Under mpirun with K > 1 ranks: ranks 1..K-1 serve experiments, rank 0 runs the
        // sweep below with them as its worker pool (src/sweep/mpi.h).
        std::unique_ptr<sweep::mpi::World> world;
        if (sweep::mpi::launched_size() > 1) {
            world = std::make_unique<sweep::mpi::World>();
            if (world->rank() != 0) {
                sweep::mpi::serve(*world, {sweep::self_executable(), "sweep-exec"});
                return 0;
            }
        }
        bool pool_started = false;
        try {
            return run_sweep_command(*a, world.get(), pool_started);
        } catch (const std::exception& e) {
            if (world && !pool_started) sweep::mpi::stop_all(*world);
            if (world && pool_started) {
                // Workers may be mid-experiment: end the whole job rather than hang in MPI_Finalize.
                std::fprintf(stderr, "error: %s\n", e.what());
                sweep::mpi::abort(*world, 1);
            }
            throw;
        }
    };
});

// Hidden: the experiment process of an MPI worker (src/sweep/exec_child.h). Requests on
// fd 3, answers on fd 4, until EOF.
CommandRegistrar reg_exec("sweep-exec", 1000, [](CLI::App& app) -> std::function<int()> {
    auto* sub = app.add_subcommand("sweep-exec", "");
    sub->group("");
    return []() {
        sweep::die_with_parent();
        ModelCache cache;
        const sweep::Runner real = sweep::eval_runner(cache);
        bool threads_set = false;
        return sweep::serve_exec_requests(3, 4, [&](const nlohmann::json& req) {
            if (!threads_set) {
                ThreadPool::set_default_threads(req.value("threads", 0));
                threads_set = true;
            }
            EvalSpec spec = sweep::spec_from_json(req.at("spec"));
            int fake_ms = req.value("fake_eval_ms", -1);
            return sweep::run_experiment(fake_ms >= 0 ? fake_runner(fake_ms) : real, spec);
        });
    };
});

// Every checkpoint the grid names, resolved once through the one resolver (hub ids:
// downloaded or from the cache); the experiments' specs then name local paths.
void resolve_models(sweep::SweepConfig& cfg, const SweepArgs& a) {
    const std::string where = a.model.empty() ? cfg.path + ": model.path" : std::string("--model");
    try {
        cfg.model_path = resolve_model_arg(cfg.model);
    } catch (const Error& e) {
        throw Error("{}: {} (dry runs work without the weights)", where, e.what());
    }
    if (!cfg.longppl.evaluator.path.empty()) {
        try {
            cfg.longppl.evaluator.path = resolve_model_arg(cfg.longppl.evaluator.name);
        } catch (const Error& e) {
            throw Error("{}: metrics.longppl.evaluator: {}", cfg.path, e.what());
        }
    }
}

int run_sweep_command(const SweepArgs& a, sweep::mpi::World* world, bool& pool_started) {
    if (a.offline) hub::default_options().offline = true;
    sweep::ConfigOverrides ov;
    ov.model = a.model;
    ov.ctx = a.ctx;
    ov.threads = a.threads;
    ov.yes = a.yes;
    // A hub id's geometry comes from its own config.json (cached, or fetched alone).
    auto fetch_config = [](const std::string& id) {
        return hub::resolve_hub_config(*hub::parse_hub_id(id), hub::default_options());
    };
    sweep::SweepConfig cfg = sweep::load_sweep_config(a.config, ov, fetch_config);
    if (a.gflops > 0) cfg.gflops = a.gflops;
    sweep::Shard shard;
    if (!a.shard.empty()) shard = sweep::parse_shard(a.shard);
    else if (auto s = sweep::shard_from_env()) shard = *s;

    ModelCache cache;
    const sweep::Runner runner = a.fake_eval_ms >= 0 ? fake_runner(a.fake_eval_ms) : sweep::eval_runner(cache);

    if (a.dry_run) {
        sweep::Estimator est(cfg);
        auto exps = sweep::expand_experiments(cfg);
        sweep::print_dry_run(cfg, exps, est, stdout, shard, &runner);
        if (world) sweep::mpi::stop_all(*world);
        return 0;
    }
    ThreadPool::set_default_threads(cfg.threads);
    if (a.fake_eval_ms < 0) resolve_models(cfg, a);
    sweep::SweepOptions opts;
    opts.db = a.db.empty() ? default_db(a.config) : a.db;
    opts.shard = shard;
    opts.retry_failed = a.retry_failed;
    opts.version = fmt::format("{} ({})", ROPEBENCH_VERSION, rb::git_describe());
    opts.progress = a.progress == "bar" ? 1 : a.progress == "lines" ? 0 : -1;
    opts.check_memory = !a.no_memory_check;
    std::unique_ptr<sweep::WorkerPool> pool;
    const nlohmann::json settings = {{"threads", cfg.threads}, {"fake_eval_ms", a.fake_eval_ms}};
    if (world) {
        pool = sweep::mpi::make_pool(*world, settings);
        log_info("sweep: MPI with {} ranks: rank 0 keeps the store, {} worker(s) run experiments", world->size(),
                 world->size() - 1);
        pool_started = true;
    } else if (!a.in_process) {
        pool = sweep::make_child_pool({sweep::self_executable(), "sweep-exec"}, settings);
    }
    auto sum = sweep::run_sweep(cfg, runner, opts, pool.get());
    fmt::print(stderr, "sweep: {} experiments: {} done, {} failed ({} run now, {} were already done) in {}; store {}\n",
               sum.total, sum.done, sum.failed, sum.ran, sum.skipped_done, sweep::human_seconds(sum.wall_s), opts.db);
    const int other = sum.total - sum.done - sum.failed;
    if (other > 0)
        fmt::print(stderr, "sweep: {} experiment(s) are still claimed by another live process on this store; rerun when it "
                           "has ended to run them\n", other);
    if (sum.done == sum.total) return 0;
    // Exit 0 means the whole grid is done; the store keeps everything either way.
    fmt::print(stderr, "error: sweep: {} of {} experiments not done ({} failed{}); the store {} keeps every result and "
                       "error (`ropebench report` names them; --retry-failed reruns the failed ones)\n",
               sum.total - sum.done, sum.total, sum.failed, other > 0 ? fmt::format(", {} still running elsewhere", other) : "",
               opts.db);
    return 1;
}

}  // namespace
}  // namespace rb::app
