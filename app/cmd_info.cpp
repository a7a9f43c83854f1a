// ropebench info MODEL [--json]: what a checkpoint declares (architecture, shapes, RoPE
// settings as stored, tokenizer source) and the memory a forward pass needs per context.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "command.h"
#include "formats/checkpoint.h"
#include "hub/hub.h"
#include "formats/memory_estimate.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace rb::app {
namespace {

struct InfoArgs {
    std::string model;
    bool json = false;
};

constexpr int64_t k_info_ctx[] = {2048, 4096, 8192, 16384, 32768};

std::string human_bytes(uint64_t b) {
    if (b >= (uint64_t(1) << 30)) return fmt::format("{:.2f} GiB", double(b) / double(uint64_t(1) << 30));
    if (b >= (uint64_t(1) << 20)) return fmt::format("{:.1f} MiB", double(b) / double(1 << 20));
    if (b >= 1024) return fmt::format("{:.1f} KiB", double(b) / 1024.0);
    return fmt::format("{} B", b);
}

std::string grouped(uint64_t n) {
    std::string s = std::to_string(n), out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

nlohmann::json memory_json(const MemoryEstimate& m) {
    return {{"weights", m.weights},
            {"kv_cache", m.kv_cache},
            {"working", m.working},
            {"loading", m.loading},
            {"total", m.total()}};
}

// What the tensors add up to: parameters, and tensors per stored dtype.
struct TensorCounts {
    uint64_t params = 0;
    size_t tensors = 0;
    std::map<std::string, int> dtypes;
};

TensorCounts count_tensors(const Checkpoint& ck) {
    TensorCounts n;
    const auto tensors = ck.tensors();
    n.tensors = tensors.size();
    for (const auto& t : tensors) {
        uint64_t e = 1;
        for (auto d : t.shape) e *= uint64_t(d);
        n.params += e;
        n.dtypes[dtype_name(t.dtype)]++;
    }
    return n;
}

// Where the tokenizer comes from: a line for the table and an object for --json.
struct TokenizerSource {
    std::string text = "none";
    nlohmann::json json = {{"source", "none"}};
};

TokenizerSource tokenizer_source(const Checkpoint& ck) {
    TokenizerSource t;
    if (auto p = ck.tokenizer_model_path()) {
        t.text = *p + " (SentencePiece)";
        t.json = {{"source", "sentencepiece"}, {"path", *p}};
    } else if (auto v = ck.gguf_vocab()) {
        t.text = fmt::format("embedded in GGUF (tokenizer.ggml.model '{}', {} tokens)", v->model, v->tokens.size());
        t.json = {{"source", "gguf"}, {"model", v->model}, {"tokens", v->tokens.size()}};
    } else if (ck.format() != "gguf" && file_exists(ck.path() + "/tokenizer.json")) {
        const std::string p = ck.path() + "/tokenizer.json";
        t.text = p + " (Hugging Face BPE)";
        t.json = {{"source", "tokenizer.json"}, {"path", p}};
    }
    return t;
}

// `file_bpw`: what the file stores per parameter, for the load transient of the memory estimate.
void print_info_json(const InfoArgs& a, const Checkpoint& ck, const TensorCounts& n, const TokenizerSource& tok,
                     double file_bpw) {
    const ModelConfig& c = ck.config();
    nlohmann::json dt = nlohmann::json::object();
    for (const auto& [k, count] : n.dtypes) dt[k] = count;
    nlohmann::json mem = nlohmann::json::array();
    for (int64_t L : k_info_ctx)
        mem.push_back({{"ctx", L},
                       {"f32", memory_json(estimate_forward_memory(c, L, 4, file_bpw))},
                       {"bf16", memory_json(estimate_forward_memory(c, L, 2, file_bpw))}});
    nlohmann::json out = {
        {"model", a.model},
        {"path", ck.path()},
        {"format", ck.format()},
        {"quantisation", quantisation(ck)},
        {"architecture", c.architecture},
        {"model_type", c.model_type},
        {"parameters", n.params},
        {"tensors", n.tensors},
        {"weight_bytes", ck.weight_bytes()},
        {"dtypes", dt},
        {"torch_dtype", c.torch_dtype},
        {"max_position_embeddings", c.max_position_embeddings},
        {"hidden_size", c.hidden_size},
        {"intermediate_size", c.intermediate_size},
        {"num_layers", c.num_layers},
        {"num_heads", c.num_heads},
        {"num_kv_heads", c.num_kv_heads},
        {"head_dim", c.head_dim},
        {"vocab_size", c.vocab_size},
        {"rms_norm_eps", c.rms_norm_eps},
        {"rope_theta", c.rope_theta},
        {"rope_scaling", c.rope_scaling},
        {"partial_rotary_factor", c.partial_rotary_factor ? nlohmann::json(*c.partial_rotary_factor) : nullptr},
        {"original_max_position_embeddings",
         c.original_max_position_embeddings ? nlohmann::json(*c.original_max_position_embeddings) : nullptr},
        {"tie_word_embeddings", c.tie_word_embeddings},
        {"bos_id", c.bos_id},
        {"eos_id", c.eos_id},
        {"tokenizer", tok.json},
        {"memory", mem},
    };
    print_json(out);
}

void print_info_table(const Checkpoint& ck, const TensorCounts& n, const TokenizerSource& tok) {
    const ModelConfig& c = ck.config();
    const uint64_t params = n.params;
    std::string dt_text;
    for (const auto& [k, count] : n.dtypes) dt_text += fmt::format("{}{} x{}", dt_text.empty() ? "" : ", ", k, count);
    auto row = [](const char* k, const std::string& v) { fmt::print("{:<22}{}\n", k, v); };
    row("model", ck.path());
    row("format", ck.format());
    row("architecture", fmt::format("{} ({})", c.architecture, c.model_type));
    row("quantisation", quantisation(ck));
    row("parameters", fmt::format("{} ({:.3f} M)", grouped(params), double(params) / 1e6));
    row("weight bytes", fmt::format("{} ({})", grouped(ck.weight_bytes()), human_bytes(ck.weight_bytes())));
    row("dtypes", dt_text.empty() ? "none" : dt_text + " tensors");
    row("torch_dtype", c.torch_dtype.empty() ? "unset" : c.torch_dtype);
    row("trained context", std::to_string(c.max_position_embeddings));
    row("hidden size", std::to_string(c.hidden_size));
    row("intermediate size", std::to_string(c.intermediate_size));
    row("layers", std::to_string(c.num_layers));
    row("heads / kv heads", fmt::format("{} / {}", c.num_heads, c.num_kv_heads));
    row("head dim", std::to_string(c.head_dim));
    row("vocab", std::to_string(c.vocab_size));
    row("rms_norm_eps", fmt::format("{:g}", c.rms_norm_eps));
    row("rope_theta", fmt::format("{:g}", c.rope_theta));
    row("rope_scaling", c.rope_scaling.is_null() ? "none" : c.rope_scaling.dump());
    if (c.partial_rotary_factor) row("partial_rotary_factor", fmt::format("{:g}", *c.partial_rotary_factor));
    if (c.original_max_position_embeddings)
        row("original_max_pos", std::to_string(*c.original_max_position_embeddings));
    row("tied embeddings", c.tie_word_embeddings ? "yes" : "no");
    row("bos / eos", fmt::format("{} / {}", c.bos_id, c.eos_id));
    row("tokenizer", tok.text);
}

void print_memory_table(const ModelConfig& c, double file_bpw) {
    fmt::print("\npeak memory of one forward pass (estimate: weights + the larger of the load transient and "
               "f32 KV cache + activations + 64 MiB)\n");
    fmt::print("{:>8}  {:>12}  {:>12}  {:>12}  {:>12}\n", "ctx", "f32 total", "bf16 total", "kv cache", "working");
    for (int64_t L : k_info_ctx) {
        MemoryEstimate f = estimate_forward_memory(c, L, 4, file_bpw), b = estimate_forward_memory(c, L, 2, file_bpw);
        fmt::print("{:>8}  {:>12}  {:>12}  {:>12}  {:>12}\n", L, human_bytes(f.total()), human_bytes(b.total()),
                   human_bytes(f.kv_cache), human_bytes(f.working));
    }
}

int run_info(const InfoArgs& a) {
    const std::string path = resolve_model_arg(a.model);
    auto ck = Checkpoint::open(path);
    const TensorCounts counts = count_tensors(*ck);
    // What the file stores per parameter, for the load transient of the memory estimate.
    const double file_bpw = double(ck->weight_bytes()) / double(std::max<uint64_t>(1, counts.params));
    const TokenizerSource tok = tokenizer_source(*ck);
    if (a.json) {
        print_info_json(a, *ck, counts, tok, file_bpw);
        return 0;
    }
    print_info_table(*ck, counts, tok);
    print_memory_table(ck->config(), file_bpw);
    return 0;
}

CommandRegistrar reg("info", 10, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<InfoArgs>();
    auto* sub = app.add_subcommand("info", "what a checkpoint declares, and the memory a forward pass needs");
    sub->add_option("MODEL", a->model, "checkpoint folder, .gguf file, or hub id org/name")->required();
    sub->add_flag("--json", a->json, "print one JSON object");
    return [a]() { return run_info(*a); };
});

}  // namespace
}  // namespace rb::app
