// The backend-ops test (backend_ops_test.cpp) on the cpu backend, once per instruction-set
// level this CPU has (BackendOptions::isa): scalar, avx2, avx512, avx512bf16.
#include "backend/cpu/kernels.h"
#include "unit/backend/backend_ops.h"

namespace rb::test {
namespace {

std::vector<BackendParam> cpu_levels() {
    std::vector<BackendParam> out;
    for (cpu::Isa i : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::avx512bf16}) {
        if (static_cast<int>(i) > static_cast<int>(cpu::detected_isa())) continue;
        const std::string level = cpu::isa_name(i);
        out.push_back({level,
                       [level](std::string*) {
                           backend::BackendOptions o;
                           o.name = "cpu";
                           o.threads = 2;
                           o.isa = level;
                           return backend::make_backend(o);
                       },
                       [] { cpu::force_isa(cpu::Isa::avx512bf16); }});  // the cap back at the top: best level
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(Cpu, BackendOps, ::testing::ValuesIn(cpu_levels()), backend_param_name);

}  // namespace
}  // namespace rb::test
