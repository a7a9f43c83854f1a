// Running a sweep: identities, sharding, the store, failures, progress.
//
// The engine never calls the evaluator directly: it takes a Runner, so the CLI passes
// eval_runner (rb::eval_identity / rb::run_eval over one shared ModelCache) and tests pass fakes.
#pragma once
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sweep/config.h"
#include "sweep/estimate.h"
#include "sweep/store.h"

namespace rb::sweep {

struct Runner {
    /// eval_identity: canonical JSON of everything that determines the result.
    std::function<nlohmann::json(const EvalSpec&)> identity;
    /// run_eval: the record; throws on failure (Error, bad_alloc, ...).
    std::function<nlohmann::json(const EvalSpec&)> run;
};

/// The real runner: eval_identity and run_eval over `cache` (which must outlive it), so a
/// sweep opens each checkpoint's header once for all its identities and loads it once.
Runner eval_runner(ModelCache& cache);

/// A deterministic 1/N of the grid: experiment `id` belongs to shard
/// (first 60 bits of the id as an integer) mod N, so an experiment keeps its shard when the
/// config grows. Experiments of one share group (estimate.h share_group) go by the group's
/// key instead, so a group stays in one shard. `index` is 0-based here; the command line spells it 1-based ("I/N").
struct Shard {
    int index = 0;
    int count = 1;
};
/// Parses "I/N" (1 <= I <= N). Throws FieldError "shard" (the CLI names its --shard).
Shard parse_shard(const std::string& text);
/// From SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (task ids counted from
/// SLURM_ARRAY_TASK_MIN, default 0) when both are set; nullopt otherwise.
std::optional<Shard> shard_from_env();
bool in_shard(const std::string& id, const Shard& shard);

struct Planned {
    Experiment exp;
    nlohmann::json identity;
    std::string id;             // sha256_hex(identity.dump())
    std::string identity_error; // eval_identity threw (the experiment is recorded failed)
    Estimate estimate;
    std::string group;          // share_group ("" = shares nothing): one unit for --shard and workers
    /// The id --shard hands out: the group's key, or the experiment's id when it has none.
    const std::string& shard_id() const { return group.empty() ? id : group; }
};

/// Identities and estimates for every experiment (all shards), duplicates removed (a
/// second experiment with the same identity is dropped with a warning).
std::vector<Planned> plan_experiments(const SweepConfig& cfg, const std::vector<Experiment>& exps, const Runner& runner,
                                      const Estimator& est);

struct SweepOptions {
    std::string db;
    Shard shard;
    bool retry_failed = false;
    std::string version = "unknown";
    int progress = -1;          // -1 auto (bar when stderr is a TTY), 0 one line per experiment, 1 bar
    bool check_memory = true;   // fail experiments whose estimate exceeds the memory limit, up front
    std::string worker;         // "" = host:pid
};

struct SweepSummary {
    int total = 0;              // experiments of this config in this shard
    int ran = 0;                // run (or failed up front) by this invocation
    int done = 0;               // done at the end (this config's experiments)
    int failed = 0;
    int skipped_done = 0;       // already done before this invocation
    double wall_s = 0;
};

/// What running one experiment gave: a record, an error (the experiment failed), or the
/// death of the process that ran it (remote workers only: killed, crashed, out of memory).
struct Outcome {
    bool ok = false;
    bool died = false;
    nlohmann::json record;  // ok
    std::string error;      // !ok
    double wall_s = 0;
};
/// runner.run with the engine's failure rules: exceptions (bad_alloc included) and non-finite
/// numbers in the record make a failed outcome.
Outcome run_experiment(const Runner& runner, const EvalSpec& spec);
nlohmann::json outcome_to_json(const Outcome& o);
/// Inverse of outcome_to_json; throws Error on a malformed object.
Outcome outcome_from_json(const nlohmann::json& j);

/// Experiments run elsewhere (MPI ranks, the experiment process): the coordinator owns the
/// store and hands out one experiment at a time to each idle worker. A share group goes to
/// one worker, its largest L first and the rest right after (the experiment process keeps
/// the long windows, eval.h ModelCache::scores); groups longest (most FLOPs) first. An experiment whose
/// worker process died goes back to the front of the queue once; a second death records it
/// failed (a deterministic crash or OOM would otherwise loop forever).
class WorkerPool {
public:
    virtual ~WorkerPool() = default;
    virtual int size() const = 0;
    struct Event {
        int worker = 0;
        std::optional<Outcome> result;  // nullopt: the worker asks for its first experiment
    };
    /// Blocks until a worker asks for work or returns a result.
    virtual Event wait() = 0;
    virtual void send(int worker, const std::string& id, const EvalSpec& spec) = 0;
    /// No more work for this worker: it shuts down.
    virtual void stop(int worker) = 0;
    /// "rank 2 on host:pid", for the store's worker column and messages.
    virtual std::string describe(int worker) const = 0;
};

/// Runs this shard's pending experiments: in this process, or through `pool` when given.
SweepSummary run_sweep(const SweepConfig& cfg, const Runner& runner, const SweepOptions& opts, WorkerPool* pool = nullptr);

/// The --dry-run listing: experiments, counts per group/method/context, estimates, memory
/// flags. Returns the number of experiments that exceed the memory limit.
int print_dry_run(const SweepConfig& cfg, const std::vector<Experiment>& exps, const Estimator& est, std::FILE* out,
                  const Shard& shard, const Runner* runner);

/// "yarn ctx=4096 factor=4 beta_fast=32 (+2 lists)"
std::string experiment_label(const Experiment& e);

/// Path of the non-finite number in `j` ("metrics.ppl.ppl"), or "" when all are finite.
std::string find_non_finite(const nlohmann::json& j, const std::string& path = "");

}  // namespace rb::sweep
