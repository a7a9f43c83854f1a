// The ceilings the benchmark compares against (FMA and vdpbf16ps peaks, read bandwidth), measured
// in the same run; the loops themselves are in peak_loops.h (per-ISA files peak_*.cpp).
#include "backend/cpu/peak.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::cpu {
using detail::dp_loop_avx512bf16;
using detail::fma_loop_avx2;
using detail::fma_loop_avx512;
using detail::read_pass_avx2;
using detail::read_pass_avx512;

namespace {

double fma_loop_scalar(long iters) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = 1.0f + i * 1e-3f;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] = a[i] * 0.999999f + 1e-7f;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return static_cast<double>(iters) * 8 * 2;
}


double run_loop(double (*loop)(long), int threads, double seconds);

}  // namespace

double measure_fma_peak_gflops(int threads, double seconds, const char** width) {
    Isa isa = detected_isa();
    auto loop = isa >= Isa::avx512 ? fma_loop_avx512 : isa >= Isa::avx2 ? fma_loop_avx2 : fma_loop_scalar;
    if (width) *width = isa >= Isa::avx512 ? "avx512 (16 x f32)" : isa >= Isa::avx2 ? "avx2 (8 x f32)" : "scalar";
    return run_loop(loop, threads, seconds);
}

double measure_bf16_dot_peak_gflops(int threads, double seconds) {
    if (detected_isa() < Isa::avx512bf16) return 0;
    return run_loop(dp_loop_avx512bf16, threads, seconds);
}

PeakLoop fma_peak_loop_avx512() { return detected_isa() >= Isa::avx512 ? fma_loop_avx512 : nullptr; }
PeakLoop bf16_dot_peak_loop() { return detected_isa() >= Isa::avx512bf16 ? dp_loop_avx512bf16 : nullptr; }

double measure_read_bandwidth_gbs(int threads) {
    if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
    const size_t total = size_t(512) << 20, per = total / threads / sizeof(float) / 64 * 64;
    float* buf = static_cast<float*>(std::aligned_alloc(64, per * threads * sizeof(float)));
    if (!buf) return 0;
    std::memset(buf, 0, per * threads * sizeof(float));
    auto pass = detected_isa() >= Isa::avx512 ? read_pass_avx512 : detected_isa() >= Isa::avx2 ? read_pass_avx2 : nullptr;
    double best = 0;
    for (int rep = 0; rep < 3 && pass; rep++) {
        std::vector<std::thread> ts;
        std::atomic<double> sink{0};
        auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { sink.store(pass(buf + per * t, per)); });
        for (auto& t : ts) t.join();
        double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, static_cast<double>(per * threads * sizeof(float)) / el / 1e9);
    }
    std::free(buf);
    return best;
}

namespace {

double run_loop(double (*loop)(long), int threads, double seconds) {
    if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
    loop(100000);  // warm up (frequency ramps)
    std::atomic<double> flops{0};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&] {
            double f = 0;
            auto s = std::chrono::steady_clock::now();
            while (std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count() < seconds)
                f += loop(200000);
            double cur = flops.load();
            while (!flops.compare_exchange_weak(cur, cur + f)) {
            }
        });
    for (auto& t : ts) t.join();
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return flops.load() / el / 1e9;
}

}  // namespace
}  // namespace rb::cpu
