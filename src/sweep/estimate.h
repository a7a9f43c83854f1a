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
//   Sharing (docs/sweep.md "Shared work"): passkey prompts at one L compute the haystack
//   prefix before the needle once (prefix ≈ depth · (L − max_new_tokens) tokens; per depth
//   only when the tables depend on the prompt length: dynamic past the trained length);
//   LongPPL's evaluated pass is the ppl `truncate` window; a share group computes its
//   windows once, at its largest L.
//   Time = FLOPs / (GFLOP/s · 1e9): [sweep] gflops, else an assumed rate per backend.
//   P = rb::matrix_parameter_count(config); Memory = rb::estimate_forward_memory(config, L, bytes per
//   weight) (formats/memory_estimate.h, shared with `info`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sweep/config.h"

namespace rb::sweep {

struct Estimate {
    double flops = 0;            // what runs: passkey prompts share their haystack prefix, LongPPL reuses the ppl window
    double flops_unshared = 0;   // every prompt and window computed on its own
    double flops_ppl = 0, flops_passkey = 0, flops_longppl = 0;  // the split of `flops` per metric
    double window_flops = 0;     // part of `flops` (ppl/LongPPL windows) that the largest L of its share group computes
    int64_t tokens = 0;          // forward-pass tokens (unshared)
    uint64_t memory = 0;         // bytes (the passkey prefix is kept in the L-token KV cache, truncated by length)
    double seconds = 0;          // of `flops`
};

/// Experiments whose `truncate` windows are prefixes of one another under bitwise-equal RoPE
/// tables (same rope config; tables that do not depend on L across the group: static
/// methods, longrope on one side of its original length, dynamic up to the trained length)
/// share a key; "" = shares nothing (invalid rope, no ppl `truncate` / LongPPL, `split`).
std::string share_group(const SweepConfig& cfg, const Experiment& e);

/// FLOPs of each experiment with the sharing across a group: within each non-empty key of
/// `groups`, the member with the largest ctx pays the window FLOPs, the others do not.
std::vector<double> group_shared_flops(const std::vector<std::string>& groups, const std::vector<int>& ctx,
                                       const std::vector<Estimate>& est);

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
