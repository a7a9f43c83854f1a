#include "sweep/estimate.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <map>
#include <thread>

#include "backend/backend.h"
#include "eval/lm.h"
#include "formats/memory_estimate.h"
#include "model/llama.h"
#include "util/hash.h"
#include "util/error.h"
#include "util/mapped_file.h"

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
        std::string text;
        try {
            text = read_file(t);  // regular files only (a FIFO would block)
        } catch (const Error&) {
            continue;  // the run names the file; an estimate counts what it can read
        }
        std::istringstream in(text);
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
    const double L = e.ctx;
    // Rows [a, b) of one causal pass: the matrices for b − a tokens, plus QKᵀ and PV of each
    // row against its prefix (4·layers·heads·head_dim per pair, half the square).
    const double attn = 2.0 * c.num_layers * c.num_heads * c.head_dim;
    auto rows = [&](double a, double b) { return 2.0 * m_params * (b - a) + attn * (b * b - a * a); };
    const double window = rows(0, L);
    Estimate est;
    auto has = [&](const char* m) { return std::find(m_cfg.metrics.begin(), m_cfg.metrics.end(), m) != m_cfg.metrics.end(); };
    const bool share = sharing_enabled();
    int64_t docs = m_docs;
    if (m_cfg.split) docs = std::max<int64_t>(1, m_split_tokens / std::max(1, e.ctx));
    if (m_cfg.max_docs > 0) docs = std::min<int64_t>(docs, m_cfg.max_docs);
    const bool truncate = has("ppl") && m_cfg.protocol == "truncate";
    int64_t windows = 0;
    if (has("ppl")) {
        est.flops_ppl = static_cast<double>(docs) * window;
        windows += docs;
    }
    if (has("longppl")) {
        // The evaluated pass is the ppl `truncate` window (same tokens, same model); not so
        // for the `reference` convention (L tokens without BOS).
        const bool reuses = share && truncate && m_cfg.longppl.convention != "reference";
        est.flops_longppl = reuses ? 0 : static_cast<double>(docs) * window;
        windows += docs;
    }
    est.window_flops = (truncate ? est.flops_ppl : 0) + est.flops_longppl;
    est.flops_unshared = static_cast<double>(windows) * window;
    est.tokens = windows * e.ctx;
    if (has("passkey")) {
        const auto& pk = m_cfg.passkey;
        const bool yarn = pk.protocol == "yarn";  // trials prompts at random depths
        const int64_t trials = (yarn ? 1 : static_cast<int64_t>(pk.depths.size())) * pk.trials;
        const double decode = 2.0 * m_params + 4.0 * L * c.num_layers * c.num_heads * c.head_dim;
        // The first new token is the prompt's last argmax: max_new_tokens − 1 decoding steps.
        const double decodes = static_cast<double>(trials) * std::max(0, pk.max_new_tokens - 1) * decode;
        // A prompt's rows before its last run without the LM head (only the last row's argmax
        // is used: LlamaModel::generate_greedy).
        const double head_row = 2.0 * static_cast<double>(c.vocab_size) * c.hidden_size;
        auto prompt_rows = [&](double a, double b) { return rows(a, b) - head_row * (b - a); };
        const double prompt_flops = prompt_rows(0, L) + head_row;
        const double unshared = static_cast<double>(trials) * prompt_flops + decodes;
        est.flops_unshared += unshared;
        est.tokens += trials * (e.ctx + pk.max_new_tokens);
        est.flops_passkey = unshared;
        if (share && e.invalid.empty() && !yarn) {
            // Prefix before the needle ≈ depth · (prompt − the ~64 tokens of task, needle and
            // question); each prompt computes the rest. Prompts of different lengths share
            // only when their tables are equal: not so for dynamic past the trained length,
            // where the prefix is shared per depth (same length) only.
            const int prompt = std::max(1, e.ctx - pk.max_new_tokens);
            RB_CHECK(e.rope.has_value());
            const RopeConfig& rc = *e.rope;
            const bool by_length = !(tables_for_length(rc, prompt) == tables_for_length(rc, std::max(1, prompt - 1)));
            std::vector<double> depths = pk.depths;
            std::sort(depths.begin(), depths.end());
            double f = 0, prefix_done = 0;
            for (double d : depths) {
                const double p = std::clamp(d * (L - pk.max_new_tokens - 64), 0.0, L - 1);
                f += prompt_rows(by_length ? 0 : prefix_done, std::max(p, by_length ? 0 : prefix_done)) +
                     pk.trials * (prompt_rows(p, L) + head_row);
                prefix_done = std::max(prefix_done, p);
            }
            est.flops_passkey = std::min(unshared, f + decodes);
        }
    }
    est.flops = est.flops_ppl + est.flops_longppl + est.flops_passkey;
    if (!share) est.flops = est.flops_unshared;
    est.memory = estimate_forward_memory(c, e.ctx, m_cfg.dtype == "bf16" ? 2 : 4).total();
    // The kept windows of a share group (ScoreCache: token + log-prob per position).
    if (share && est.window_flops > 0)
        est.memory += std::min<uint64_t>(ScoreCache::max_bytes(),
                                         static_cast<uint64_t>(docs) * e.ctx * (sizeof(int) + sizeof(double)));
    est.seconds = est.flops / (m_gflops * 1e9);
    return est;
}

std::string share_group(const SweepConfig& cfg, const Experiment& e) {
    auto has = [&](const char* m) { return std::find(cfg.metrics.begin(), cfg.metrics.end(), m) != cfg.metrics.end(); };
    if (!sharing_enabled() || !e.invalid.empty() || cfg.split) return "";
    if (!(has("ppl") && cfg.protocol == "truncate") && !has("longppl")) return "";
    RB_CHECK(e.rope.has_value());
    const RopeTables t = tables_for_length(*e.rope, e.ctx);
    const nlohmann::json key = {{"rope", e.resolved},
                                {"inv_freq", t.inv_freq},
                                {"attention_factor", t.attention_factor},
                                {"rotary_dim", t.rotary_dim}};
    return sha256_hex(key.dump());
}

std::vector<double> group_shared_flops(const std::vector<std::string>& groups, const std::vector<int>& ctx,
                                       const std::vector<Estimate>& est) {
    std::map<std::string, size_t> lead;  // the largest ctx of each group (the first on ties)
    for (size_t i = 0; i < groups.size(); i++) {
        if (groups[i].empty()) continue;
        auto it = lead.find(groups[i]);
        if (it == lead.end() || ctx[i] > ctx[it->second]) lead[groups[i]] = i;
    }
    std::vector<double> out(groups.size());
    for (size_t i = 0; i < groups.size(); i++)
        out[i] = est[i].flops - (!groups[i].empty() && lead[groups[i]] != i ? est[i].window_flops : 0);
    return out;
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

std::string human_flops(double f) { return fmt::format("{:.3e}", f); }

}  // namespace rb::sweep
