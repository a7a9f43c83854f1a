#include "backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "util/error.h"

namespace rb::backend {

const char* weight_type_name(WeightType t) { return t == WeightType::f32 ? "f32" : "bf16"; }

std::unique_ptr<Backend> make_backend(const BackendOptions& opts) {
    if (opts.name == "cpu") return cpu::make_cpu_backend(opts.threads, opts.isa);
    if (opts.name == "cuda")
        throw Error("--backend cuda: this build has no CUDA backend (configure with -DROPEBENCH_CUDA=ON on a machine "
                    "with the CUDA toolkit)");
    throw Error("--backend: unknown backend '{}' (expected cpu or cuda)", opts.name);
}

}  // namespace rb::backend
