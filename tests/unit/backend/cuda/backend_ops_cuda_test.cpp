// The backend-ops test (../backend_ops_test.cpp) on the cuda backend. Without a visible GPU
// every test is a visible skip naming the reason (ctest counts them as skipped), unless
// ROPEBENCH_REQUIRE_GPU=1 (scripts/gpu-check.sh), where a missing GPU is a failure.
#include "unit/backend/backend_ops.h"
#include "unit/backend/cuda/cuda_test_util.h"

namespace rb::test {
namespace {

INSTANTIATE_TEST_SUITE_P(Cuda, BackendOps,
                         ::testing::Values(BackendParam{"cuda", [](std::string* why) { return make_cuda_or_why(why); },
                                                        nullptr}),
                         backend_param_name);

}  // namespace
}  // namespace rb::test
