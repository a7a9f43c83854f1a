// Tiny writers for test inputs: safetensors files and GGUF files built byte by byte, so bad
// inputs (truncation, bad offsets, unsupported types) can be made precisely.
#pragma once
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/test_util.h"  // EXPECT_RB_ERROR

namespace rb::test {

inline void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
inline void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
inline void put_f32(std::string& s, float v) { s.append(reinterpret_cast<const char*>(&v), 4); }
inline void put_u16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }

inline std::string f32_bytes(const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

/// A safetensors file from a header JSON text and a data section, exactly as given.
inline std::string safetensors_raw(const std::string& header, const std::string& data) {
    std::string s;
    put_u64(s, header.size());
    return s + header + data;
}

struct StTensor {
    std::string name;
    std::string dtype;  // "F32", "F16", "BF16", ...
    std::vector<int64_t> shape;
    std::string bytes;
};

/// A well-formed safetensors file: tensors stored back to back in the given order.
inline std::string make_safetensors(const std::vector<StTensor>& ts) {
    nlohmann::json h = nlohmann::json::object();
    h["__metadata__"] = {{"format", "pt"}};
    std::string data;
    for (const auto& t : ts) {
        h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
        data += t.bytes;
    }
    return safetensors_raw(h.dump(), data);
}

/// GGUF builder (v3 by default). Dims are innermost first, as GGUF stores them.
class GgufWriter {
public:
    uint32_t version = 3;
    uint64_t alignment = 32;

    void kv_str(const std::string& k, const std::string& v) { key(k, 8); str(m_kv, v); ++m_nkv; }
    void kv_u32(const std::string& k, uint32_t v) { key(k, 4); put_u32(m_kv, v); ++m_nkv; }
    void kv_i32(const std::string& k, int32_t v) { key(k, 5); put_u32(m_kv, uint32_t(v)); ++m_nkv; }
    void kv_u64(const std::string& k, uint64_t v) { key(k, 10); put_u64(m_kv, v); ++m_nkv; }
    void kv_f32(const std::string& k, float v) { key(k, 6); put_f32(m_kv, v); ++m_nkv; }
    void kv_bool(const std::string& k, bool v) { key(k, 7); m_kv.push_back(char(v)); ++m_nkv; }
    void kv_str_array(const std::string& k, const std::vector<std::string>& v) {
        key(k, 9); put_u32(m_kv, 8); put_u64(m_kv, v.size());
        for (const auto& x : v) str(m_kv, x);
        ++m_nkv;
    }
    void kv_f32_array(const std::string& k, const std::vector<float>& v) {
        key(k, 9); put_u32(m_kv, 6); put_u64(m_kv, v.size());
        for (float x : v) put_f32(m_kv, x);
        ++m_nkv;
    }
    void kv_i32_array(const std::string& k, const std::vector<int32_t>& v) {
        key(k, 9); put_u32(m_kv, 5); put_u64(m_kv, v.size());
        for (int32_t x : v) put_u32(m_kv, uint32_t(x));
        ++m_nkv;
    }
    /// Nested array (array of 2 arrays of u8) to exercise the parser.
    void kv_nested(const std::string& k) {
        key(k, 9); put_u32(m_kv, 9); put_u64(m_kv, 2);
        for (int i = 0; i < 2; ++i) { put_u32(m_kv, 0); put_u64(m_kv, 3); m_kv += std::string("\1\2\3", 3); }
        ++m_nkv;
    }
    void tensor(const std::string& name, uint32_t type, const std::vector<uint64_t>& dims, const std::string& bytes) {
        m_tensors.push_back({name, type, dims, bytes});
    }

    std::string build() const {
        std::string s = "GGUF";
        put_u32(s, version);
        put_u64(s, m_tensors.size());
        put_u64(s, m_nkv);
        s += m_kv;
        std::string data;
        for (const auto& t : m_tensors) {
            str(s, t.name);
            put_u32(s, uint32_t(t.dims.size()));
            for (auto d : t.dims) put_u64(s, d);
            put_u32(s, t.type);
            while (data.size() % alignment) data.push_back('\0');
            put_u64(s, data.size());
            data += t.bytes;
        }
        while (s.size() % alignment) s.push_back('\0');
        return s + data;
    }

    /// The llama.* keys of a tiny model: dim 64, 2 heads (head dim 32), 1 layer, vocab 4, ctx 128.
    void llama_keys(const std::string& arch = "llama") {
        kv_str("general.architecture", arch);
        kv_u32("llama.context_length", 128);
        kv_u32("llama.embedding_length", 64);
        kv_u32("llama.block_count", 1);
        kv_u32("llama.feed_forward_length", 96);
        kv_u32("llama.attention.head_count", 2);
        kv_u32("llama.attention.head_count_kv", 1);
        kv_u32("llama.rope.dimension_count", 32);
        kv_f32("llama.rope.freq_base", 500000.0f);
        kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        kv_u32("llama.vocab_size", 4);
    }

private:
    struct T {
        std::string name;
        uint32_t type;
        std::vector<uint64_t> dims;
        std::string bytes;
    };
    static void str(std::string& s, const std::string& v) { put_u64(s, v.size()); s += v; }
    void key(const std::string& k, uint32_t type) { str(m_kv, k); put_u32(m_kv, type); }
    std::string m_kv;
    uint64_t m_nkv = 0;
    std::vector<T> m_tensors;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
}

inline std::string read_bytes(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot read " + path);
    std::string s;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
}

}  // namespace rb::test

