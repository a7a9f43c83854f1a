#pragma once
#include <cstddef>

namespace rb::cpu {
/// Measured f32 FMA throughput (GFLOP/s) on `threads` threads with the widest vector
/// width this CPU runs (AVX-512 if available, else AVX2+FMA, else scalar), from a loop of
/// independent FMAs on registers (no memory traffic). `seconds`: measuring time.
double measure_fma_peak_gflops(int threads, double seconds = 0.3, const char** width = nullptr);
/// Measured vdpbf16ps throughput (GFLOP/s, 64 per instruction: 32 products + 32 sums) on
/// `threads` threads; 0 when the CPU lacks AVX512_BF16.
double measure_bf16_dot_peak_gflops(int threads, double seconds = 0.3);
/// Measured memory read bandwidth (GB/s) on `threads` threads: a 512 MiB buffer read with
/// 512-bit (or 256-bit) loads, two streams per thread, best of 3 passes.
double measure_read_bandwidth_gbs(int threads);

/// The loops themselves, for callers that time them their own way (bench/): each runs
/// `iters` iterations on registers and returns the flops it did. nullptr where the CPU lacks
/// the instructions (AVX-512 for the FMA loop, AVX512_BF16 for the dot-product loop).
using PeakLoop = double (*)(long iters);
PeakLoop fma_peak_loop_avx512();
PeakLoop bf16_dot_peak_loop();

namespace detail {  // the per-ISA loops (peak_avx2.cpp, peak_avx512.cpp, peak_avx512bf16.cpp), for peak.cpp
double fma_loop_avx2(long iters);
double fma_loop_avx512(long iters);
double dp_loop_avx512bf16(long iters);
/// One read pass over p[0, n) (64-byte aligned), two streams; returns a value of the sum.
double read_pass_avx2(const float* p, size_t n);
double read_pass_avx512(const float* p, size_t n);
}  // namespace detail
}
