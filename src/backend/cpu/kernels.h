// CPU kernels behind the cpu backend. Every kernel has a plain scalar reference
// (kernels_ref.cpp) that tests compare against; fast paths dispatch at run time on the
// CPU's features (cpu_features.h) and can be forced down to a fallback level.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "util/thread_pool.h"

namespace rb::cpu {

/// Instruction-set level the fast kernels may use.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3 };
Isa detected_isa();          // what this CPU supports (cpuid + OS xsave state)
Isa active_isa();            // min(detected, forced)
void force_isa(Isa level);   // tests/benchmarks: cap the level (e.g. to exercise fallbacks)
const char* isa_name(Isa i);
bool parse_isa(const char* name, Isa* out);

/// A packed weight W [rows=N, cols=K] for y = x · Wᵀ. Layout is private to gemm.cpp.
struct PackedMatrix : backend::Matrix {
    int n = 0, k = 0;
    backend::WeightType wtype = backend::WeightType::f32;
    std::vector<uint8_t, std::allocator<uint8_t>> storage;  // packed panels (aligned inside)
    size_t offset = 0;                                      // start of 64-byte aligned data in storage
    int rows() const override { return n; }
    int cols() const override { return k; }
    backend::WeightType type() const override { return wtype; }
    size_t bytes() const override { return storage.size(); }
    const uint8_t* data() const { return storage.data() + offset; }
};

/// Packs W [n, k] (row-major f32) as `type`.
std::unique_ptr<PackedMatrix> pack_matrix(const float* w, int n, int k, backend::WeightType type);

/// y[m, n] = x[m, k] · Wᵀ   (ldx, ldy row strides), threads split the work with a fixed partition.
void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy, ThreadPool& pool);

/// Causal GQA flash attention; same contract as Backend::attention.
void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, ThreadPool& pool);

// ---- scalar references (kernels_ref.cpp): the definition of each kernel's result ----
namespace ref {
/// y[m, n] = x[m, k] · W[n, k]ᵀ, accumulated in double.
void gemm(const float* x, int m, int ldx, const float* w, int n, int k, float* y, int ldy);
/// Plain softmax attention (materialises one row of scores at a time), double accumulation.
void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo);
}  // namespace ref

/// bf16 helpers (round to nearest even), shared by packing and tests.
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);

}  // namespace rb::cpu
