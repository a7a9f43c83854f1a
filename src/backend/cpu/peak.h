#pragma once

namespace rb::cpu {
/// Measured f32 FMA throughput (GFLOP/s) on `threads` threads with the widest vector
/// width this CPU runs (AVX-512 if available, else AVX2+FMA, else scalar), from a loop of
/// independent FMAs on registers (no memory traffic). `seconds`: measuring time.
double measure_fma_peak_gflops(int threads, double seconds = 0.3, const char** width = nullptr);
}
