#include <cstdlib>

#include "sweep/mpi.h"

namespace rb::sweep::mpi {

int launched_size() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
        const char* v = std::getenv(var);
        if (v && *v) {
            char* end = nullptr;
            long n = std::strtol(v, &end, 10);
            if (*end == 0 && n > 0) return static_cast<int>(n);
        }
    }
    return 0;
}

}  // namespace rb::sweep::mpi
