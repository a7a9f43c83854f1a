// ropebench-bench-kernels: measures the CPU's FMA (and vdpbf16ps) peak, then GEMM and attention
// throughput for the TinyLlama shapes of a prefill block, and prints each as a % of the peak
// measured in the same run. Every figure is the median of --reps timed repetitions.
//
//   ropebench-bench-kernels [--isa LEVEL] [--threads N] [--reps R] [--rows T] [--only gemm|attn|peak] [--clock wall|cpu] [--ctx L]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <ctime>
#include <vector>

#include "backend/cpu/aligned_buf.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/peak.h"

namespace {

using rb::ThreadPool;
using rb::backend::WeightType;
namespace cpu = rb::cpu;

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpu_now() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// When other processes share the cores, wall time overstates the kernels' cost; the process CPU
// time divided by the thread count ("cpu" figures) is the time the work would take on idle
// cores (the worker threads block, never spin, while idle). --clock wall|cpu picks the one used.
bool g_use_cpu_clock = false;
int g_threads = 1;

template <class F>
double median_time(int reps, F&& f) {
    f();  // warm-up (page faults, caches)
    std::vector<double> t;
    for (int r = 0; r < reps; r++) {
        double t0 = now(), c0 = cpu_now();
        f();
        t.push_back(g_use_cpu_clock ? (cpu_now() - c0) / g_threads : now() - t0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// GFLOP/s of a peak loop (src/backend/cpu/peak.h) on `threads` threads (each running the loop),
// timed with this benchmark's clock.
double peak(ThreadPool& pool, int threads, rb::cpu::PeakLoop loop, int reps) {
    const long iters = 20'000'000;
    const int saved = g_threads;
    g_threads = threads;  // cpu clock: only `threads` threads work
    double flops = 0;
    double t = median_time(reps, [&] {
        pool.run_on_all([&](int tid) {
            if (tid < threads) {
                double f = loop(iters);
                if (tid == 0) flops = f;
            }
        });
    });
    g_threads = saved;
    return flops * threads / t / 1e9;
}

std::vector<float> random_vec(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

struct Shape {
    const char* name;
    int n, k;
};

}  // namespace

int main(int argc, char** argv) {
    std::string isa_arg, only;
    int threads = 0, reps = 5, rows = 512;
    std::vector<int> contexts = {2048, 8192};
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "error: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--isa") isa_arg = next();
        else if (a == "--threads") threads = std::atoi(next());
        else if (a == "--reps") reps = std::max(1, std::atoi(next()));
        else if (a == "--rows") rows = std::max(1, std::atoi(next()));
        else if (a == "--only") only = next();
        else if (a == "--ctx") contexts = {std::max(1, std::atoi(next()))};
        else if (a == "--clock") g_use_cpu_clock = std::string(next()) == "cpu";
        else {
            std::fprintf(stderr, "usage: %s [--isa scalar|avx2|avx512|avx512bf16] [--threads N] [--reps R] [--rows T] [--only gemm|attn|peak] [--clock wall|cpu] [--ctx L]\n", argv[0]);
            return 2;
        }
    }
    if (!isa_arg.empty()) {
        cpu::Isa level;
        if (!cpu::parse_isa(isa_arg.c_str(), &level)) {
            std::fprintf(stderr, "error: --isa: unknown level '%s'\n", isa_arg.c_str());
            return 2;
        }
        cpu::force_isa(level);
    }
    ThreadPool pool(threads);
    const int nt = pool.size();
    g_threads = nt;
    std::printf("isa detected %s, active %s; threads %d; median of %d reps; %s clock\n", cpu::isa_name(cpu::detected_isa()),
                cpu::isa_name(cpu::active_isa()), nt, reps, g_use_cpu_clock ? "process-cpu/threads" : "wall");
    std::printf("gemm kernels: f32 [%s], bf16 [%s]\n", cpu::gemm_kernel_name(WeightType::f32),
                cpu::gemm_kernel_name(WeightType::bf16));

    double fma_peak = 0, bf16_peak = 0;
    const bool has512 = cpu::detected_isa() >= cpu::Isa::avx512;
    const bool hasbf16 = cpu::detected_isa() >= cpu::Isa::avx512bf16;
    if (has512) {
        const double p1 = peak(pool, 1, cpu::fma_peak_loop_avx512(), 3);
        fma_peak = peak(pool, nt, cpu::fma_peak_loop_avx512(), 3);
        std::printf("peak f32 FMA (AVX-512):  %7.1f GFLOP/s on 1 thread, %7.1f on %d\n", p1, fma_peak, nt);
    } else {
        std::printf("peak: no AVX-512 on this CPU; %% of peak not printed\n");
    }
    if (hasbf16) {
        const double p1 = peak(pool, 1, cpu::bf16_dot_peak_loop(), 3);
        bf16_peak = peak(pool, nt, cpu::bf16_dot_peak_loop(), 3);
        std::printf("peak bf16 vdpbf16ps:     %7.1f GFLOP/s on 1 thread, %7.1f on %d\n", p1, bf16_peak, nt);
    }
    if (only == "peak") return 0;
    auto pct = [](double v, double p) { return p > 0 ? 100.0 * v / p : 0.0; };

    if (only.empty() || only == "gemm") {
        // Decoding streams the weights once per token: its ceiling is the read bandwidth.
        std::printf("read bandwidth:          %7.1f GB/s on %d threads\n", cpu::measure_read_bandwidth_gbs(nt), nt);
        // TinyLlama-1.1B projections (y = x · Wᵀ, W [n, k]) for a block of `rows` tokens.
        const Shape shapes[] = {{"qkv", 2560, 2048}, {"o_proj", 2048, 2048}, {"gate_up", 11264, 2048},
                                {"down", 2048, 5632}, {"lm_head", 32000, 2048}};
        auto x = random_vec(static_cast<size_t>(std::max(rows, 32)) * 5632, 1);
        std::vector<float> y(static_cast<size_t>(std::max(rows, 32)) * 32000);
        for (WeightType wt : {WeightType::f32, WeightType::bf16}) {
            const double ref_peak = (wt == WeightType::bf16 && cpu::gemm_rounds_x_to_bf16(wt)) ? bf16_peak : fma_peak;
            double tot_flops = 0, tot_time = 0;
            for (const auto& s : shapes) {
                auto w = random_vec(static_cast<size_t>(s.n) * s.k, 2);
                auto packed = cpu::pack_matrix(w.data(), s.n, s.k, wt);
                w.clear();
                w.shrink_to_fit();
                for (int m : {rows, 32, 1}) {
                    if (m == 32 && (rows == 32 || std::strcmp(s.name, "lm_head") != 0)) continue;
                    const int r = m == 1 ? std::max(reps, 5) : reps;
                    double t = median_time(r, [&] { cpu::gemm(x.data(), m, s.k, *packed, y.data(), s.n, pool); });
                    const double flops = 2.0 * m * s.n * s.k;
                    const double gf = flops / t / 1e9;
                    if (m == 1) {
                        std::printf("gemv %-4s %-8s m=1     %8.3f ms  %7.1f GB/s of weights\n", rb::backend::weight_type_name(wt),
                                    s.name, t * 1e3, packed->bytes() / t / 1e9);
                    } else {
                        std::printf("gemm %-4s %-8s m=%-5d %8.3f ms  %7.1f GFLOP/s  %5.1f%% of %s peak\n",
                                    rb::backend::weight_type_name(wt), s.name, m, t * 1e3, gf, pct(gf, ref_peak),
                                    ref_peak == bf16_peak && bf16_peak > 0 ? "dpbf16" : "FMA");
                        if (m == rows) {
                            tot_flops += flops;
                            tot_time += t;
                        }
                    }
                }
            }
            const double gf = tot_flops / tot_time / 1e9;
            std::printf("gemm %-4s all shapes at m=%d: %7.1f GFLOP/s  %5.1f%% of %s peak\n", rb::backend::weight_type_name(wt), rows,
                        gf, pct(gf, ref_peak), ref_peak == bf16_peak && bf16_peak > 0 ? "dpbf16" : "FMA");
        }
    }

    if (only.empty() || only == "attn") {
        // Causal GQA attention, TinyLlama heads (32 query heads, 4 KV heads, head_dim 64): a whole
        // window processed in blocks of `rows` queries, as the prefill does. FLOPs counted as
        // 4 * hd * H per (query, visible key) pair: Q·Kᵀ and P·V.
        const int H = 32, KV = 4, hd = 64;
        for (int ctx : contexts) {
            auto kc = random_vec(static_cast<size_t>(KV) * ctx * hd, 3);
            auto vc = random_vec(static_cast<size_t>(KV) * ctx * hd, 4);
            auto q = random_vec(static_cast<size_t>(rows) * H * hd, 5);
            std::vector<float> out(q.size());
            const float scale = 1.f / std::sqrt(static_cast<float>(hd));
            double flops = 0;
            for (int p0 = 0; p0 < ctx; p0 += rows) {
                const int n = std::min(rows, ctx - p0);
                flops += 4.0 * hd * H * (static_cast<double>(n) * p0 + 0.5 * n * (n + 1));
            }
            // f32 products, then (where the CPU has AVX512_BF16) bf16 products on the bf16 KV cache
            // (as a bf16 model runs them) against the vdpbf16ps peak.
            rb::cpu::AlignedBuf<float> kbuf, vbuf;  // the cache is 64-byte aligned (as the backend allocates it)
            float *kb = nullptr, *vb = nullptr;
            if (cpu::attention_bf16_available(hd)) {
                kb = kbuf.get(cpu::attention_bf16_cache_floats(ctx, KV, hd));
                vb = vbuf.get(cpu::attention_bf16_cache_floats(ctx, KV, hd));
                std::vector<float> krows(static_cast<size_t>(ctx) * KV * hd), vrows(krows.size());
                for (int g = 0; g < KV; g++)
                    for (int p = 0; p < ctx; p++)
                        for (int c = 0; c < hd; c++) {
                            krows[(static_cast<size_t>(p) * KV + g) * hd + c] = kc[(static_cast<size_t>(g) * ctx + p) * hd + c];
                            vrows[(static_cast<size_t>(p) * KV + g) * hd + c] = vc[(static_cast<size_t>(g) * ctx + p) * hd + c];
                        }
                cpu::store_kv_bf16(krows.data(), KV * hd, vrows.data(), KV * hd, ctx, 0, kb, vb, ctx, KV, hd);
            }
            auto run = [&](bool bf16, int n, int p0) {
                if (bf16)
                    cpu::attention_bf16_cache(q.data(), H * hd, n, p0, kb, vb, ctx, H, KV, hd, scale, out.data(),
                                              H * hd, pool);
                else
                    cpu::attention(q.data(), H * hd, n, p0, kc.data(), vc.data(), ctx, H, KV, hd, scale, out.data(), H * hd, pool);
            };
            for (bool bf16 : {false, true}) {
                if (bf16 && !kb) continue;
                const char* dt = bf16 ? "bf16" : "f32 ";
                double t = median_time(std::max(1, reps / 2), [&] {
                    for (int p0 = 0; p0 < ctx; p0 += rows) run(bf16, std::min(rows, ctx - p0), p0);
                });
                const double gf = flops / t / 1e9;
                std::printf("attention %s ctx=%-5d (blocks of %d) %8.1f ms  %7.1f GFLOP/s  %5.1f%% of %s peak\n", dt, ctx, rows,
                            t * 1e3, gf, pct(gf, bf16 ? bf16_peak : fma_peak), bf16 ? "dpbf16" : "FMA");
                // Decode: one query at the end of the context.
                double td = median_time(std::max(reps, 5), [&] { run(bf16, 1, ctx - 1); });
                std::printf("attention %s decode at ctx=%-5d      %8.3f ms  %7.1f GB/s of K/V\n", dt, ctx, td * 1e3,
                            2.0 * KV * ctx * hd * (bf16 ? 2 : 4) / td / 1e9);
            }
        }
    }
    return 0;
}
