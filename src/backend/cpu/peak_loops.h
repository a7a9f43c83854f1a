// The loops behind the measured ceilings (peak.cpp), written once over a vector type V
// (Ymm: avx2_util.h, Zmm: avx512_util.h) and instantiated in peak_avx2.cpp, peak_avx512.cpp,
// peak_avx512bf16.cpp, each compiled with its own flags. Unnamed namespace: see tile_util.h.
#pragma once
#include <cstddef>

namespace rb::cpu::detail {
namespace {

/// `iters` iterations of 12 independent multiply-add chains on registers (12 hide the 4-cycle
/// latency on two FMA ports): a[i] = step(a[i]). Returns the flops done (flops_per_step each).
template <class V, class Step>
inline double register_loop(long iters, Step step, double flops_per_step) {
    typename V::Reg a[12];
    for (int i = 0; i < 12; i++) a[i] = V::set1(1.0f + i * 1e-3f);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = step(a[i]);
    typename V::Reg s = a[0];
    for (int i = 1; i < 12; i++) s = V::add(s, a[i]);
    alignas(64) float out[V::width];
    V::store(out, s);
    volatile float sink = out[0];  // keeps the chains alive
    (void)sink;
    return static_cast<double>(iters) * 12 * flops_per_step;
}

/// The f32 FMA loop: 2 flops per lane and step.
template <class V>
inline double fma_loop(long iters) {
    const typename V::Reg b = V::set1(0.999999f), c = V::set1(1e-7f);
    return register_loop<V>(iters, [&](typename V::Reg a) { return V::fmadd(a, b, c); }, 2.0 * V::width);
}

/// One read pass over p[0, n) (64-byte aligned) as two streams (the halves), summed with vector
/// loads; returns a value of the sum so the loads are kept.
template <class V>
inline double read_pass(const float* p, size_t n) {
    constexpr size_t w = V::width;
    typename V::Reg s0 = V::zero(), s1 = s0, s2 = s0, s3 = s0;
    const size_t half = n / 2;
    for (size_t i = 0; i + 2 * w <= half; i += 2 * w) {
        s0 = V::add(s0, V::load(p + i));
        s1 = V::add(s1, V::load(p + i + w));
        s2 = V::add(s2, V::load(p + half + i));
        s3 = V::add(s3, V::load(p + half + i + w));
    }
    alignas(64) float out[V::width];
    V::store(out, V::add(V::add(s0, s1), V::add(s2, s3)));
    return out[0];
}

}  // namespace
}  // namespace rb::cpu::detail
