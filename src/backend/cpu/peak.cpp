// The FMA peak the benchmark compares against, measured in the same run.
#include "backend/cpu/peak.h"

#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::cpu {
namespace {

// 12 independent accumulators hide the 4-cycle FMA latency on two FMA ports.
__attribute__((target("avx512f"))) double fma_loop_avx512(long iters) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return static_cast<double>(iters) * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(long iters) {
    __m256 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    alignas(32) float out[8];
    _mm256_store_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return static_cast<double>(iters) * 12 * 8 * 2;
}

double fma_loop_scalar(long iters) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = 1.0f + i * 1e-3f;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] = a[i] * 0.999999f + 1e-7f;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return static_cast<double>(iters) * 8 * 2;
}

}  // namespace

double measure_fma_peak_gflops(int threads, double seconds, const char** width) {
    Isa isa = detected_isa();
    auto loop = isa >= Isa::avx512 ? fma_loop_avx512 : isa >= Isa::avx2 ? fma_loop_avx2 : fma_loop_scalar;
    if (width) *width = isa >= Isa::avx512 ? "avx512 (16 x f32)" : isa >= Isa::avx2 ? "avx2 (8 x f32)" : "scalar";
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

}  // namespace rb::cpu
