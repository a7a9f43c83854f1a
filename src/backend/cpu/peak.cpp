// The FMA peak the benchmark compares against, measured in the same run.
#include "backend/cpu/peak.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::cpu {
namespace {

// Horizontal sum through memory (GCC 12's _mm512_reduce_add_ps warns inside target functions).
__attribute__((target("avx512f"))) float hsum512(__m512 v) {
    alignas(64) float out[16];
    _mm512_store_ps(out, v);
    float s = 0;
    for (float x : out) s += x;
    return s;
}

// 12 independent accumulators hide the 4-cycle FMA latency on two FMA ports.
__attribute__((target("avx512f"))) double fma_loop_avx512(long iters) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = hsum512(s);
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

__attribute__((target("avx512f,avx512bf16"))) double dp_loop_avx512bf16(long iters) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f803f80), c = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = hsum512(s);
    (void)sink;
    return static_cast<double>(iters) * 12 * 64;
}

__attribute__((target("avx2"))) double read_pass_avx2(const float* p, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const size_t half = n / 2;
    for (size_t i = 0; i + 16 <= half; i += 16) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(p + half + i));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(p + half + i + 8));
    }
    alignas(32) float out[8];
    _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return out[0];
}

__attribute__((target("avx512f"))) double read_pass_avx512(const float* p, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const size_t half = n / 2;
    for (size_t i = 0; i + 32 <= half; i += 32) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(p + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(p + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(p + half + i));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(p + half + i + 16));
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
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
