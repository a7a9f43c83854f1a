// `mpirun -n K ropebench sweep CONFIG.toml`: rank 0 owns the store and hands out
// experiments (engine.h WorkerPool: longest first, a dead worker's experiment requeued);
// ranks 1..K-1 each run experiments in a child process (exec_child.h) and return records.
//
// Open MPI is optional at build time (ROPEBENCH_MPI); without it, compiled() is false and
// a sweep started by mpirun with more than one rank stops with an error instead of running
// the whole grid K times.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sweep/engine.h"

namespace rb::sweep::mpi {

/// True when this binary was built with MPI.
bool compiled();
/// Ranks in the job that started this process, from the launcher's environment
/// (OMPI_COMM_WORLD_SIZE for Open MPI, PMI_SIZE for MPICH); 0 when not started by a launcher.
int launched_size();

/// MPI_Init on construction, MPI_Finalize on destruction. Throws Error without MPI.
class World {
public:
    World();
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;
    int rank() const { return m_rank; }
    int size() const { return m_size; }

private:
    int m_rank = 0, m_size = 1;
};

/// Rank 0's view of ranks 1..size-1. `settings` travel with every experiment
/// ({"threads", "fake_eval_ms"}).
std::unique_ptr<WorkerPool> make_pool(World& world, nlohmann::json settings);
/// Tells every worker to stop without having sent it work (rank 0 failed before the sweep).
void stop_all(World& world);
/// Ends every rank of the job with `code` (rank 0 failed mid-sweep).
[[noreturn]] void abort(World& world, int code);
/// A worker rank: asks rank 0 for experiments, runs each through `child_argv` (ExecChild),
/// returns the outcomes, until rank 0 says stop.
void serve(World& world, const std::vector<std::string>& child_argv);

}  // namespace rb::sweep::mpi
