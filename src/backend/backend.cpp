#include "backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/peak.h"
#include "util/error.h"
#ifdef ROPEBENCH_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace rb::backend {

const char* weight_type_name(WeightType t) { return t == WeightType::f32 ? "f32" : "bf16"; }

double measure_compute_peak_gflops(const std::string& backend, bool bf16, int threads, double seconds, std::string* what) {
    if (backend != "cpu") throw Error("backend '{}': no peak measurement", backend);
    const bool dp = bf16 && cpu::active_isa() >= cpu::Isa::avx512bf16;
    if (what) *what = dp ? "vdpbf16ps" : "FMA";
    return dp ? cpu::measure_bf16_dot_peak_gflops(threads, seconds) : cpu::measure_fma_peak_gflops(threads, seconds);
}

std::unique_ptr<Backend> make_backend(const BackendOptions& opts) {
    if (opts.name == "cpu") return cpu::make_cpu_backend(opts.threads, opts.isa);
#ifdef ROPEBENCH_CUDA
    if (opts.name == "cuda") return cuda::make_cuda_backend();
#else
    if (opts.name == "cuda")
        throw Error("backend cuda: this build has no CUDA backend (configure with -DROPEBENCH_CUDA=ON on a machine "
                    "with the CUDA toolkit)");
#endif
    throw Error("--backend: unknown backend '{}' (expected cpu or cuda)", opts.name);
}

}  // namespace rb::backend
