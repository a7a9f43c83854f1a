// The backend-ops test (in the style of ggml's test-backend-ops): every Backend op against a
// scalar reference, through the Backend interface only (buffers from alloc(), data moved with
// upload()/download()). The bodies are in backend_ops_test.cpp; each backend adds one
// INSTANTIATE_TEST_SUITE_P (cpu: backend_ops_cpu_test.cpp, one instance per ISA level; cuda:
// cuda/backend_ops_cuda_test.cpp). A new op is one new TEST_P there.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "backend/backend.h"

namespace rb::test {

/// One backend configuration under test.
struct BackendParam {
    std::string name;  // test-name suffix: letters, digits, '_'
    /// Creates the backend, or returns nullptr and says why it cannot run on this machine (no
    /// GPU): the test then reports a visible skip with that reason (counted by ctest).
    std::function<std::unique_ptr<backend::Backend>(std::string* why_not)> make;
    /// Undoes global state `make` set (cpu: the forced ISA level); may be empty.
    std::function<void()> restore;
};

/// gtest prints the parameter in test listings and failures: its name, not its bytes.
inline void PrintTo(const BackendParam& p, std::ostream* os) { *os << p.name; }

class BackendOps : public ::testing::TestWithParam<BackendParam> {
protected:
    void SetUp() override {
        std::string why;
        m_be = GetParam().make(&why);
        if (!m_be) GTEST_SKIP() << GetParam().name << ": " << why;
    }
    void TearDown() override {
        m_be.reset();
        if (GetParam().restore) GetParam().restore();
    }
    backend::Backend& be() { return *m_be; }

private:
    std::unique_ptr<backend::Backend> m_be;
};

inline std::string backend_param_name(const ::testing::TestParamInfo<BackendParam>& info) { return info.param.name; }

}  // namespace rb::test
