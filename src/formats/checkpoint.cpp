#include "formats/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "formats/dtype_convert.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "util/error.h"
#include "util/json.h"
#include "util/mapped_file.h"

namespace rb {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::f16: return "f16";
        case DType::bf16: return "bf16";
        case DType::q8_0: return "q8_0";
        case DType::q4_0: return "q4_0";
        case DType::q4_k: return "q4_k";
        case DType::q5_k: return "q5_k";
        case DType::q6_k: return "q6_k";
    }
    return "?";
}

std::string quantisation(const Checkpoint& ck) {
    std::map<std::string, uint64_t> elements;
    for (const auto& t : ck.tensors()) {
        if (t.shape.size() != 2) continue;
        elements[dtype_name(t.dtype)] += uint64_t(t.shape[0]) * uint64_t(t.shape[1]);
    }
    std::vector<std::pair<uint64_t, std::string>> order;
    for (const auto& [name, n] : elements) order.push_back({n, name});
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::string s;
    for (const auto& [n, name] : order) s += (s.empty() ? "" : "+") + name;
    return s.empty() ? "none" : s;
}

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

namespace {

namespace fs = std::filesystem;

uint64_t element_count(const std::vector<int64_t>& shape) {
    uint64_t n = 1;
    for (auto d : shape) n *= uint64_t(d);
    return n;
}

std::vector<float> to_f32(DType t, const uint8_t* src, uint64_t n) {
    std::vector<float> out(n);
    switch (t) {
        case DType::f32: convert_f32(src, n, out.data()); break;
        case DType::f16: convert_f16(src, n, out.data()); break;
        case DType::bf16: convert_bf16(src, n, out.data()); break;
        case DType::q8_0: convert_q8_0(src, n, out.data()); break;
        case DType::q4_0: convert_q4_0(src, n, out.data()); break;
        case DType::q4_k: convert_q4_k(src, n, out.data()); break;
        case DType::q5_k: convert_q5_k(src, n, out.data()); break;
        case DType::q6_k: convert_q6_k(src, n, out.data()); break;
    }
    return out;
}

void check_shape(const std::string& file, const std::string& name, const std::vector<int64_t>& got,
                 const std::vector<int64_t>& expected) {
    if (got != expected)
        throw Error("{}: tensor '{}': shape {}, expected {}", file, name, shape_string(got), shape_string(expected));
}

// A byte range that is either mapped from disk (owner set) or borrowed from the caller.
struct Bytes {
    std::shared_ptr<MappedFile> owner;
    const uint8_t* data = nullptr;
    size_t size = 0;
};

Bytes map_file(const std::string& path) {
    Bytes b;
    b.owner = std::make_shared<MappedFile>(path);
    b.data = b.owner->data();
    b.size = b.owner->size();
    return b;
}

// ---------------------------------------------------------------------------------------
class HfCheckpoint final : public Checkpoint {
public:
    struct Shard {
        std::string file;
        Bytes bytes;
        SafetensorsHeader header;
    };

    HfCheckpoint(std::string path, ModelConfig cfg) : m_path(std::move(path)), m_config(std::move(cfg)) {}

    void add_shard(const std::string& file, Bytes bytes) {
        Shard s{file, std::move(bytes), {}};
        s.header = parse_safetensors(s.bytes.data, s.bytes.size, file);
        m_shards.push_back(std::move(s));
        const size_t si = m_shards.size() - 1;
        for (size_t ti = 0; ti < m_shards[si].header.tensors.size(); ++ti) {
            const auto& t = m_shards[si].header.tensors[ti];
            auto [it, inserted] = m_index.emplace(t.name, std::make_pair(si, ti));
            if (!inserted)
                throw Error("{}: tensor '{}': also present in {}", file, t.name, m_shards[it->second.first].file);
            m_order.push_back(t.name);
        }
    }

    void set_tokenizer(std::optional<std::string> p) { m_tokenizer = std::move(p); }

    const ModelConfig& config() const override { return m_config; }
    std::string format() const override { return "safetensors"; }
    std::string path() const override { return m_path; }

    std::vector<TensorInfo> tensors() const override {
        std::vector<TensorInfo> out;
        for (const auto& name : m_order) {
            auto [si, ti] = m_index.at(name);
            const auto& t = m_shards[si].header.tensors[ti];
            out.push_back({t.name, t.dtype, t.shape, m_shards[si].file});
        }
        return out;
    }
    bool has_tensor(const std::string& n) const override { return m_index.count(n) != 0; }

    std::vector<float> load_f32(const std::string& name, const std::vector<int64_t>& expected) const override {
        auto it = m_index.find(name);
        if (it == m_index.end()) throw Error("{}: tensor '{}': not found in the checkpoint", m_path, name);
        const Shard& s = m_shards[it->second.first];
        const SafetensorsTensor& t = s.header.tensors[it->second.second];
        check_shape(s.file, name, t.shape, expected);
        const uint8_t* src = s.bytes.data + s.header.data_start + t.begin;
        auto out = to_f32(t.dtype, src, element_count(t.shape));
        if (s.bytes.owner) s.bytes.owner->release(src, t.end - t.begin);
        return out;
    }

    std::optional<std::string> tokenizer_model_path() const override { return m_tokenizer; }
    std::optional<GgufVocab> gguf_vocab() const override { return std::nullopt; }
    uint64_t weight_bytes() const override {
        uint64_t n = 0;
        for (const auto& s : m_shards)
            for (const auto& t : s.header.tensors) n += t.end - t.begin;
        return n;
    }

private:
    std::string m_path;
    ModelConfig m_config;
    std::vector<Shard> m_shards;
    std::unordered_map<std::string, std::pair<size_t, size_t>> m_index;  // name -> (shard, tensor)
    std::vector<std::string> m_order;
    std::optional<std::string> m_tokenizer;
};

std::unique_ptr<Checkpoint> open_hf_folder(const std::string& dir) {
    const fs::path d(dir);
    const std::string cfg_path = (d / "config.json").string();
    if (!file_exists(cfg_path)) throw Error("{}: no config.json in this folder, expected a Hugging Face checkpoint", dir);
    ModelConfig cfg = parse_config_json(read_file(cfg_path), cfg_path);
    auto ck = std::make_unique<HfCheckpoint>(dir, cfg);
    const std::string index_path = (d / "model.safetensors.index.json").string();
    const std::string single_path = (d / "model.safetensors").string();
    if (file_exists(index_path)) {
        nlohmann::json j = parse_json(read_file(index_path), index_path);
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw Error("{}: field 'weight_map': missing or not an object", index_path);
        std::map<std::string, std::vector<std::string>> by_file;  // shard -> tensor names
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it.value().is_string())
                throw Error("{}: field 'weight_map': tensor '{}': expected a file name string", index_path, it.key());
            const std::string f = it.value().get<std::string>();
            if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
                throw Error("{}: field 'weight_map': tensor '{}': bad shard file name '{}'", index_path, it.key(), f);
            by_file[f].push_back(it.key());
        }
        if (by_file.empty()) throw Error("{}: field 'weight_map': empty", index_path);
        for (const auto& [f, names] : by_file) {
            const std::string shard = (d / f).string();
            if (!file_exists(shard))
                throw Error("{}: field 'weight_map': shard '{}' (tensor '{}') does not exist", index_path, f, names[0]);
            ck->add_shard(shard, map_file(shard));
        }
        for (const auto& [f, names] : by_file)
            for (const auto& n : names) {
                bool found = false;
                for (const auto& t : ck->tensors())
                    if (t.name == n) {
                        found = true;
                        if (fs::path(t.file).filename() != f)
                            throw Error("{}: field 'weight_map': tensor '{}' listed in {} but stored in {}", index_path,
                                        n, f, t.file);
                        break;
                    }
                if (!found)
                    throw Error("{}: field 'weight_map': tensor '{}' not found in shard {}", index_path, n, f);
            }
    } else if (file_exists(single_path)) {
        ck->add_shard(single_path, map_file(single_path));
    } else {
        throw Error("{}: no model.safetensors or model.safetensors.index.json in this folder", dir);
    }
    const std::string tok = (d / "tokenizer.model").string();
    if (file_exists(tok)) ck->set_tokenizer(tok);
    return ck;
}

// ---------------------------------------------------------------------------------------
class GgufCheckpoint final : public Checkpoint {
public:
    GgufCheckpoint(std::string path, Bytes bytes) : m_path(std::move(path)), m_bytes(std::move(bytes)) {
        m_file = parse_gguf(m_bytes.data, m_bytes.size, m_path);
        m_config = gguf_model_config(m_file);
        m_vocab = rb::gguf_vocab(m_file);
        for (size_t i = 0; i < m_file.tensors.size(); ++i) {
            const auto& t = m_file.tensors[i];
            std::string hf = gguf_to_hf_name(t.name, m_config.architecture);
            if (!m_index.emplace(hf, i).second)
                throw Error("{}: tensor '{}': maps to '{}', which another tensor already has", m_path, t.name, hf);
            m_order.push_back(hf);
        }
        read_rope_factors();
    }

    const ModelConfig& config() const override { return m_config; }
    std::string format() const override { return "gguf"; }
    std::string path() const override { return m_path; }

    std::vector<TensorInfo> tensors() const override {
        std::vector<TensorInfo> out;
        for (const auto& name : m_order) out.push_back(info(name, m_file.tensors[m_index.at(name)]));
        return out;
    }
    bool has_tensor(const std::string& n) const override { return m_index.count(n) != 0; }

    std::vector<float> load_f32(const std::string& name, const std::vector<int64_t>& expected) const override {
        auto it = m_index.find(name);
        if (it == m_index.end()) throw Error("{}: tensor '{}': not found in the checkpoint", m_path, name);
        const GgufTensor& t = m_file.tensors[it->second];
        const TensorInfo ti = info(name, t);
        check_shape(m_path, name, ti.shape, expected);
        const uint8_t* src = m_bytes.data + m_file.data_start + t.offset;
        std::vector<float> w = to_f32(ti.dtype, src, t.elements());
        if (m_bytes.owner) m_bytes.owner->release(src, t.nbytes);
        const bool is_q = ends_with(name, "self_attn.q_proj.weight");
        const bool is_k = ends_with(name, "self_attn.k_proj.weight");
        if ((is_q || is_k) && ti.shape.size() == 2 && m_config.architecture == "llama") {  // only llama is permuted
            const int n_head = is_q ? m_config.num_heads : m_config.num_kv_heads;
            if (n_head <= 0 || ti.shape[0] % (2 * int64_t(n_head)) != 0)
                throw Error("{}: tensor '{}': {} rows cannot be split into {} heads of even size", m_path, name,
                            ti.shape[0], n_head);
            unpermute_qk_rows(w, ti.shape[0], ti.shape[1], n_head);
        }
        return w;
    }

    std::optional<std::string> tokenizer_model_path() const override { return std::nullopt; }
    std::optional<GgufVocab> gguf_vocab() const override { return m_vocab; }
    uint64_t weight_bytes() const override {
        uint64_t n = 0;
        for (const auto& t : m_file.tensors) n += t.nbytes;
        return n;
    }

private:
    // llama.cpp stores per-frequency RoPE divisors as tensors: rope_factors_short/long (Phi-3
    // longrope) or rope_freqs (Llama 3.x `llama3` bands, precomputed). Both are longrope's
    // inv_freq_i = 1 / (factor_i * base^(2i/d)): Phi-3's with its own switch and attention
    // factor, Llama 3's with one list for all lengths and no attention factor.
    void read_rope_factors() {
        const int64_t half = int64_t(m_config.head_dim * m_config.partial_rotary_factor.value_or(1.0)) / 2;
        auto factors = [&](const std::string& n) { return load_f32(n, {half}); };
        if (has_tensor("rope_factors_long.weight") || has_tensor("rope_factors_short.weight")) {
            if (!m_config.original_max_position_embeddings)
                throw Error("{}: metadata '{}.rope.scaling.original_context_length': missing, needed with the "
                            "rope_factors tensors",
                            m_path, m_config.architecture);
            m_config.rope_scaling = {{"rope_type", "longrope"},
                                     {"short_factor", factors("rope_factors_short.weight")},
                                     {"long_factor", factors("rope_factors_long.weight")}};
        } else if (has_tensor("rope_freqs.weight")) {
            const auto f = factors("rope_freqs.weight");
            m_config.rope_scaling = {{"rope_type", "longrope"},   {"short_factor", f}, {"long_factor", f},
                                     {"factor", 1.0},             {"attention_factor", 1.0},
                                     {"original_max_position_embeddings", m_config.max_position_embeddings}};
        }
    }
    static bool ends_with(const std::string& s, const std::string& suf) {
        return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
    }
    TensorInfo info(const std::string& hf, const GgufTensor& t) const {
        TensorInfo ti;
        ti.name = hf;
        ti.dtype = ggml_type_info(t.type)->dtype;  // parse_gguf refused unreadable types
        for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) ti.shape.push_back(int64_t(*it));
        ti.file = m_path;
        return ti;
    }

    std::string m_path;
    Bytes m_bytes;
    GgufFile m_file;
    ModelConfig m_config;
    std::optional<GgufVocab> m_vocab;
    std::unordered_map<std::string, size_t> m_index;  // HF name -> index into m_file.tensors
    std::vector<std::string> m_order;
};

bool has_gguf_magic(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    char m[4] = {};
    const bool ok = std::fread(m, 1, 4, f) == 4 && std::memcmp(m, "GGUF", 4) == 0;
    std::fclose(f);
    return ok;
}

}  // namespace

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& path) {
    if (is_directory(path)) return open_hf_folder(path);
    if (!file_exists(path)) throw Error("{}: no such file or folder", path);
    const bool gguf_ext = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
    if (gguf_ext || has_gguf_magic(path)) return std::make_unique<GgufCheckpoint>(path, map_file(path));
    throw Error("{}: not a checkpoint: expected a Hugging Face folder (config.json + *.safetensors) or a .gguf file",
                path);
}

std::unique_ptr<Checkpoint> open_safetensors_bytes(const uint8_t* data, size_t size, const std::string& name,
                                                   const ModelConfig& cfg) {
    auto ck = std::make_unique<HfCheckpoint>(name, cfg);
    Bytes b;
    b.data = data;
    b.size = size;
    ck->add_shard(name, b);
    return ck;
}

std::unique_ptr<Checkpoint> open_gguf_bytes(const uint8_t* data, size_t size, const std::string& name) {
    Bytes b;
    b.data = data;
    b.size = size;
    return std::make_unique<GgufCheckpoint>(name, b);
}

}  // namespace rb
