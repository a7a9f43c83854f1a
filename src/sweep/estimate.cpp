#include "sweep/estimate.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "backend/backend.h"
#include "formats/memory_estimate.h"

namespace rb::sweep {

Estimator::Estimator(const SweepConfig& cfg) : m_cfg(cfg) {
    m_params = static_cast<double>(matrix_parameter_count(cfg.model_config));

    std::vector<std::string> files;
    for (const auto& t : cfg.texts) {
        std::error_code ec;
        if (std::filesystem::is_directory(t, ec)) {
            for (auto& f : std::filesystem::directory_iterator(t, ec))
                if (f.is_regular_file()) files.push_back(f.path().string());
        } else {
            files.push_back(t);
        }
    }
    for (const auto& t : files) {
        bool jsonl = t.size() > 6 && t.substr(t.size() - 6) == ".jsonl";
        std::error_code ec;
        uint64_t bytes = std::filesystem::file_size(t, ec);
        if (ec) bytes = 0;
        m_split_tokens += static_cast<int64_t>(bytes / 4);
        if (!jsonl) {
            ++m_docs;
            continue;
        }
        std::ifstream in(t);
        std::string line;
        while (std::getline(in, line))
            if (line.find_first_not_of(" \t\r") != std::string::npos) ++m_docs;
    }

    if (cfg.gflops > 0) {
        m_gflops = cfg.gflops;
        m_gflops_source = "[sweep] gflops";
    } else if (cfg.backend == "cuda") {
        m_gflops = 100000;
        m_gflops_source = "assumed 100 TFLOP/s (cuda)";
    } else {
        // A fraction of this CPU's measured peak (once per process, 0.2 s): `ropebench bench` on
        // TinyLlama reaches 69-82% of the FMA loop in f32 and 70-75% of the vdpbf16ps loop in bf16
        // for prefill; evaluation adds tokenization and short decodes, so 0.65 of either.
        int threads = cfg.threads > 0 ? cfg.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        static std::map<std::pair<int, bool>, std::pair<double, std::string>> measured;
        auto key = std::make_pair(threads, cfg.dtype == "bf16");
        if (!measured.count(key)) {
            std::string what;
            double g = backend::measure_compute_peak_gflops("cpu", key.second, threads, 0.2, &what);
            measured[key] = {g, what};
        }
        m_gflops = 0.65 * measured[key].first;
        m_gflops_source = fmt::format("0.65 x the {} peak measured now ({:.0f} GFLOP/s, {} threads; --gflops overrides)",
                                      measured[key].second, measured[key].first, threads);
    }
    if (cfg.memory_limit_gb > 0) {
        m_mem_limit = static_cast<uint64_t>(cfg.memory_limit_gb * 1024.0 * 1024.0 * 1024.0);
        m_mem_source = "[sweep] memory_limit_gb";
    } else {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
        m_mem_limit = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
        m_mem_source = "physical memory of this machine";
    }
}

Estimate Estimator::operator()(const Experiment& e) const {
    const auto& c = m_cfg.model_config;
    double L = e.ctx;
    double attn = 4.0 * L * L * c.num_layers * c.num_heads * c.head_dim / 2.0;
    double window = 2.0 * m_params * L + attn;
    Estimate est;
    auto has = [&](const char* m) { return std::find(m_cfg.metrics.begin(), m_cfg.metrics.end(), m) != m_cfg.metrics.end(); };
    int64_t windows = 0;
    int64_t docs = m_docs;
    if (m_cfg.split) docs = std::max<int64_t>(1, m_split_tokens / std::max(1, e.ctx));
    if (m_cfg.max_docs > 0) docs = std::min<int64_t>(docs, m_cfg.max_docs);
    if (has("ppl")) windows += docs;
    if (has("longppl")) windows += docs;
    est.flops = windows * window;
    est.tokens = windows * e.ctx;
    if (has("passkey")) {
        int64_t trials = static_cast<int64_t>(m_cfg.passkey.depths.size()) * m_cfg.passkey.trials;
        double decode = 2.0 * m_params + 4.0 * L * c.num_layers * c.num_heads * c.head_dim;
        est.flops += trials * (window + m_cfg.passkey.max_new_tokens * decode);
        est.tokens += trials * (e.ctx + m_cfg.passkey.max_new_tokens);
    }
    est.memory = estimate_forward_memory(c, e.ctx, m_cfg.dtype == "bf16" ? 2 : 4).total();
    est.seconds = est.flops / (m_gflops * 1e9);
    return est;
}

std::string human_bytes(uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, ++u;
    return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string human_seconds(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    auto t = static_cast<int64_t>(std::llround(s));
    if (t < 60) return fmt::format("{}s", t);
    if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
    if (t < 86400) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
    return fmt::format("{}d{:02}h", t / 86400, (t % 86400) / 3600);
}

std::string human_flops(double f) { return fmt::format("{:.2e}", f); }

}  // namespace rb::sweep
