// Cost estimates for `sweep --dry-run` and the progress ETA (formulas: docs/sweep.md).
//
//   FLOPs per forward window of L tokens = 2·P·L + 4·L²·layers·heads·head_dim / 2
//   (P = weights touched per token: every layer matrix plus the output head, not the
//   embedding lookup; the attention term counts QKᵀ and PV, halved by the causal mask).
//   Windows: ppl = documents used (one L window each; `split` estimates L-token segments
//   from file size at 4 bytes/token); passkey = depths × trials windows of L plus
//   max_new_tokens decode steps (2·P + 4·L·layers·heads·head_dim each); longppl = the
//   evaluated model's windows as ppl (the evaluator's key sets are computed once per
//   document and cached, so they are not charged to each experiment).
//   Time = FLOPs / (GFLOP/s · 1e9): [sweep] gflops, else an assumed rate per backend.
//   P = rb::matrix_parameter_count(config); Memory = rb::estimate_forward_memory(config, L, bytes per
//   weight) (formats/memory_estimate.h, shared with `info`).
#pragma once
#include <cstdint>
#include <string>

#include "sweep/config.h"

namespace rb::sweep {

struct Estimate {
    double flops = 0;
    int64_t tokens = 0;          // forward-pass tokens
    uint64_t memory = 0;         // bytes
    double seconds = 0;
};

class Estimator {
public:
    explicit Estimator(const SweepConfig& cfg);
    Estimate operator()(const Experiment& e) const;
    double gflops() const { return m_gflops; }
    std::string gflops_source() const { return m_gflops_source; }
    uint64_t memory_limit() const { return m_mem_limit; }  // bytes
    std::string memory_limit_source() const { return m_mem_source; }
    double params() const { return m_params; }
    int documents() const { return m_docs; }

private:
    const SweepConfig& m_cfg;
    double m_params = 0;
    int m_docs = 0;
    int64_t m_split_tokens = 0;  // estimated total tokens in the texts (split protocol)
    double m_gflops = 0;
    std::string m_gflops_source;
    uint64_t m_mem_limit = 0;
    std::string m_mem_source;
};

/// "1.2 GiB", "340 MiB"
std::string human_bytes(uint64_t b);
/// "3h05m", "42s"
std::string human_seconds(double s);
/// "1.3e15"
std::string human_flops(double f);

}  // namespace rb::sweep
