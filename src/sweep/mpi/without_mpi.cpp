// Built without MPI (ROPEBENCH_MPI=OFF or Open MPI not found): mpirun is refused.
#include <cstdlib>

#include "sweep/mpi.h"
#include "util/error.h"

namespace rb::sweep::mpi {

bool compiled() { return false; }

World::World() {
    throw Error("sweep: started by mpirun, but this ropebench was built without MPI (install libopenmpi-dev and configure with "
                "-DROPEBENCH_MPI=ON); use --shard I/N to split a grid instead");
}
World::~World() = default;

std::unique_ptr<WorkerPool> make_pool(World&, nlohmann::json) { return nullptr; }
void stop_all(World&) {}
void abort(World&, int code) { std::_Exit(code); }
void serve(World&, const std::vector<std::string>&) {}

}  // namespace rb::sweep::mpi
