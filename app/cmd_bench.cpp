// ropebench bench MODEL: prefill throughput on the perplexity workload (every position's
// log-prob), per-stage breakdown against a peak measured in the same run, greedy decode
// speed and peak memory. Random token ids: no tokenizer needed (random-weights models).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "backend/cpu/kernels.h"
#include "backend/cpu/peak.h"
#include "command.h"
#include "model/llama.h"
#include "util/error.h"

namespace rb::app {
namespace {

struct BenchArgs {
    ModelOptions m;
    std::vector<int> ctx{512, 2048, 8192};
    int runs = 3;
    int decode = 32;
    int decode_prompt = 2048;
    std::string isa;
    bool json = false;
};

struct Flops {
    double proj = 0, attn = 0, mlp = 0, head = 0;
    double total() const { return proj + attn + mlp + head; }
};

// FLOPs of one prefill of L tokens (multiply-add = 2). Attention is causal: query i sees
// i+1 keys, for QKᵀ and PV each 2·hd FLOPs per (query, key, head).
Flops count_flops(const ModelConfig& c, double L) {
    const double hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads, D = c.hidden_size,
                 I = c.intermediate_size, layers = c.num_layers;
    Flops f;
    f.proj = layers * 2 * L * (D * (H + 2 * KV) * hd + H * hd * D);
    f.attn = layers * 2 * 2 * hd * H * (L * (L + 1) / 2);
    f.mlp = layers * 2 * L * (D * 2 * I + I * D);
    f.head = 2 * L * c.vocab_size * D;
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double peak_rss_gib() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0 / 1024.0;
}

// What the rows are measured against. A device backend (cuda) measures its own dense bf16 GEMM
// rate: rows report against it, and per-stage times are left out (its ops run asynchronously;
// only the whole forward is timed). On the CPU: the FMA and vdpbf16ps peaks, the read bandwidth.
struct Peaks {
    double dense = 0;   // device backends: dense bf16 GEMM GFLOP/s (0 on the CPU)
    bool device = false;
    const char* width = "";
    double peak = 0, dp_peak = 0, bw = 0;
};

Peaks measure_peaks(backend::Backend& be) {
    Peaks p;
    p.dense = be.measure_dense_bf16_gflops();
    p.device = p.dense > 0;
    p.peak = p.dense;
    if (!p.device) {
        p.peak = cpu::measure_fma_peak_gflops(be.threads(), 0.5, &p.width);
        p.dp_peak = cpu::measure_bf16_dot_peak_gflops(be.threads(), 0.5);
        p.bw = cpu::measure_read_bandwidth_gbs(be.threads());
    }
    return p;
}

void print_setup(const BenchArgs& a, const ModelConfig& c, const LlamaModel& model, backend::Backend& be, const Peaks& p,
                 double load_s) {
    fmt::print(stderr, "model {}: {} layers, hidden {}, {:.3f} B params, weights {} ({:.2f} GiB), load {:.1f} s\n", a.m.model,
               c.num_layers, c.hidden_size, model.parameter_count() / 1e9, a.m.dtype, model.weight_bytes() / double(1 << 30),
               load_s);
    if (p.device)
        fmt::print(stderr, "backend {}, measured dense bf16 GEMM (cuBLAS, 8192^3, f32 accumulation) {:.0f} GFLOP/s\n", be.name(),
                   p.dense);
    else
        fmt::print(stderr, "threads {}, kernels {}, measured FMA peak {:.0f} GFLOP/s ({}){}, read bandwidth {:.1f} GB/s\n",
                   be.threads(), cpu::isa_name(cpu::active_isa()), p.peak, p.width,
                   p.dp_peak > 0 ? fmt::format(", vdpbf16ps peak {:.0f} GFLOP/s", p.dp_peak) : "", p.bw);
}

// The --json object's head: model, backend and the peaks (the prefill rows and decode follow).
nlohmann::json setup_json(const BenchArgs& a, const LlamaModel& model, backend::Backend& be, const Peaks& p) {
    nlohmann::json out = {{"model", a.m.model},
                          {"dtype", a.m.dtype},
                          {"backend", be.name()},
                          {"threads", be.threads()},
                          {"params", model.parameter_count()},
                          {"prefill", nlohmann::json::array()}};
    if (p.device) {
        out["dense_bf16_gflops"] = p.dense;
    } else {
        out["isa"] = cpu::isa_name(cpu::active_isa());
        out["peak_gflops"] = p.peak;
        out["peak_width"] = p.width;
        out["bf16_dot_peak_gflops"] = p.dp_peak;
        out["read_bandwidth_gbs"] = p.bw;
    }
    return out;
}

void print_prefill_header(bool device) {
    if (device)
        fmt::print("{:>6} {:>9} {:>8} {:>8} {:>7}\n", "ctx", "tok/s", "s/window", "TFLOP/s", "%dense");
    else
        fmt::print("{:>6} {:>9} {:>8} {:>8} {:>6} | {:>13} {:>13} {:>13} {:>13}\n", "ctx", "tok/s", "s/window", "GFLOP/s",
                   "%peak", "proj", "attention", "mlp", "lm_head");
}

using TokenDist = std::uniform_int_distribution<int>;

// `runs` prefills of one random window of L tokens: wall time of each, stage times averaged.
struct PrefillTimes {
    std::vector<double> secs;
    ForwardStats stages;
};

PrefillTimes time_prefill(const LlamaModel& model, const RopeConfig& rope, int L, int runs, std::mt19937& rng, TokenDist& tokd) {
    std::vector<int> toks(L), tg(L);
    for (auto& t : toks) t = tokd(rng);
    for (int i = 0; i < L; i++) tg[i] = i + 1 < L ? toks[i + 1] : -1;
    std::vector<double> lp(L);
    PrefillTimes r;
    ForwardStats& sum = r.stages;
    for (int run = 0; run < runs; run++) {
        auto s = model.new_session(L, rope);
        model.stats() = {};
        auto t0 = std::chrono::steady_clock::now();
        model.forward(*s, toks.data(), L, tg.data(), lp.data(), nullptr, nullptr);
        r.secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        for (double v : lp)
            if (!std::isfinite(v)) throw Error("bench: non-finite log-probability at ctx {}", L);
        ForwardStats& st = model.stats();
        sum.projections += st.projections / runs;
        sum.attention += st.attention / runs;
        sum.mlp += st.mlp / runs;
        sum.lm_head += st.lm_head / runs;
    }
    return r;
}

// One prefill row: its JSON, and its table line unless --json.
nlohmann::json report_prefill(const ModelConfig& c, int L, const PrefillTimes& t, const Peaks& p, bool json) {
    const ForwardStats& sum = t.stages;
    const double peak = p.peak;
    double med = median(t.secs);
    Flops f = count_flops(c, L);
    double gf = f.total() / med / 1e9;
    auto pct = [&](double flops, double s) { return s > 0 ? 100.0 * flops / s / 1e9 / peak : 0.0; };
    nlohmann::json row = {{"ctx", L},
                          {"runs_s", t.secs},
                          {"median_s", med},
                          {"tokens_per_s", L / med},
                          {"gflops", gf},
                          {p.device ? "pct_dense_bf16" : "pct_peak", 100 * gf / peak},
                          {"tflop_per_window", f.total() / 1e12}};
    if (!p.device)
        row["stages"] = {{"projections", {{"s", sum.projections}, {"pct_peak", pct(f.proj, sum.projections)}}},
                         {"attention", {{"s", sum.attention}, {"pct_peak", pct(f.attn, sum.attention)}}},
                         {"mlp", {{"s", sum.mlp}, {"pct_peak", pct(f.mlp, sum.mlp)}}},
                         {"lm_head", {{"s", sum.lm_head}, {"pct_peak", pct(f.head, sum.lm_head)}}}};
    if (!json && p.device)
        fmt::print("{:>6} {:>9.1f} {:>8.3f} {:>8.1f} {:>6.1f}%\n", L, L / med, med, gf / 1e3, 100 * gf / peak);
    else if (!json)
        fmt::print("{:>6} {:>9.1f} {:>8.2f} {:>8.0f} {:>5.0f}% | {:>5.2f}s {:>4.0f}%  {:>5.2f}s {:>4.0f}%  "
                   "{:>5.2f}s {:>4.0f}%  {:>5.2f}s {:>4.0f}%\n",
                   L, L / med, med, gf, 100 * gf / peak, sum.projections, pct(f.proj, sum.projections), sum.attention,
                   pct(f.attn, sum.attention), sum.mlp, pct(f.mlp, sum.mlp), sum.lm_head, pct(f.head, sum.lm_head));
    std::fflush(stdout);
    return row;
}

// Greedy decode of `a.decode` steps after a random prompt of `a.decode_prompt` tokens: per-token
// times, and the read rate they imply. Prints its line unless --json; returns the "decode" object.
nlohmann::json bench_decode(const BenchArgs& a, const LoadOptions& lo, const LlamaModel& model, backend::Backend& be,
                            const RopeConfig& rope, const Peaks& p, std::mt19937& rng, TokenDist& tokd) {
    const double bw = p.bw;
    int P = a.decode_prompt;
    std::vector<int> prompt(P);
    for (auto& t : prompt) t = tokd(rng);
    auto s = model.new_session(P + a.decode + 1, rope);
    std::vector<int> am(P);
    model.forward(*s, prompt.data(), P, nullptr, nullptr, am.data(), nullptr);
    int next = am.back();
    // Per-token times; the median resists the odd slow step (memory bandwidth is shared
    // with whatever else runs on the host).
    std::vector<double> step_s;
    for (int i = 0; i < a.decode; i++) {
        int o = 0;
        auto t0 = std::chrono::steady_clock::now();
        model.forward(*s, &next, 1, nullptr, nullptr, &o, nullptr);
        step_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        next = o;
    }
    double total = 0;
    for (double x : step_s) total += x;
    std::vector<double> sorted = step_s;
    std::sort(sorted.begin(), sorted.end());
    double med = sorted[sorted.size() / 2];
    // Bytes one step must read: every weight matrix once (not the embedding table: one row)
    // plus the K and V caches of the mean step's length, as the backend lays them out
    // (kv_cache_floats: bf16 tiles on the CPU backend for bf16 weights, else f32).
    const auto& mc = model.config();
    double wbytes = static_cast<double>(model.matrix_weight_bytes());
    const size_t kv_floats =
        be.kv_cache_floats(P + a.decode / 2, mc.num_kv_heads, mc.head_dim, lo.wtype == backend::WeightType::bf16);
    double kv = 2.0 * mc.num_layers * static_cast<double>(kv_floats) * sizeof(float);
    double gbs = (wbytes + kv) / med / 1e9;
    if (!a.json)
        fmt::print("decode after a {}-token prompt: {:.1f} tokens/s (median step; mean {:.1f}), {:.1f} GB/s{}\n", P, 1.0 / med,
                   a.decode / total, gbs, bw > 0 ? fmt::format(" = {:.0f}% of the measured read bandwidth", 100 * gbs / bw) : "");
    return {{"prompt", P},
            {"steps", a.decode},
            {"tokens_per_s", 1.0 / med},
            {"tokens_per_s_mean", a.decode / total},
            {"bytes_per_token", wbytes + kv},
            {"read_gbs", gbs},
            {"pct_read_bandwidth", bw > 0 ? 100 * gbs / bw : 0.0}};
}

int run_bench(const BenchArgs& a) {
    apply_threads(a.m);
    LoadOptions lo = load_options(a.m);
    lo.backend.isa = a.isa;
    auto ckpt = Checkpoint::open(lo.path);
    const ModelConfig& c = ckpt->config();
    // The longest session this run opens, refused up front when it will not fit.
    int64_t longest = a.decode > 0 ? int64_t(a.decode_prompt) + a.decode + 1 : 0;
    for (int L : a.ctx) longest = std::max<int64_t>(longest, L);
    check_memory_fits(*ckpt, lo.wtype, lo.backend.name, longest);
    auto be = backend::make_backend(lo.backend);
    auto t_load = std::chrono::steady_clock::now();
    LlamaModel model(*ckpt, *be, lo.wtype);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    const RopeConfig rope = resolve_rope(c, lo.rope);
    const Peaks peaks = measure_peaks(*be);
    print_setup(a, c, model, *be, peaks, load_s);
    nlohmann::json out = setup_json(a, model, *be, peaks);
    std::mt19937 rng(42);
    TokenDist tokd(3, c.vocab_size - 1);
    if (!a.json) print_prefill_header(peaks.device);
    for (int L : a.ctx) {
        const PrefillTimes times = time_prefill(model, rope, L, a.runs, rng, tokd);
        out["prefill"].push_back(report_prefill(c, L, times, peaks, a.json));
    }
    if (a.decode > 0) out["decode"] = bench_decode(a, lo, model, *be, rope, peaks, rng, tokd);
    out["peak_rss_gib"] = peak_rss_gib();
    if (a.json)
        print_json(out);
    else
        fmt::print("peak RSS {:.2f} GiB\n", peak_rss_gib());
    return 0;
}

CommandRegistrar reg("bench", 90, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<BenchArgs>();
    auto* sub = app.add_subcommand("bench", "prefill/decode throughput, GFLOP/s and % of measured peak");
    add_model_options(sub, a->m);
    sub->add_option("--ctx", a->ctx, "window lengths (default 512 2048 8192)")->delimiter(',')->check(context_validator());
    sub->add_option("--runs", a->runs, "runs per length (median reported)")->check(count_validator(1, 1000));
    sub->add_option("--decode", a->decode, "greedy decode steps after a prompt (0 = skip)")
        ->check(count_validator(0, k_max_context / 2));
    sub->add_option("--decode-prompt", a->decode_prompt, "prompt length before decoding")
        ->check(count_validator(1, k_max_context / 2));
    sub->add_option("--isa", a->isa, "cap the kernels' instruction set: avx512bf16 avx512 avx2 scalar");
    sub->add_flag("--json", a->json, "print one JSON object");
    return [a]() { return run_bench(*a); };
});

}  // namespace
}  // namespace rb::app
