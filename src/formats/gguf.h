// GGUF v3 (and v2) parsing from bytes. Layout: "GGUF", u32 version, u64 tensor count,
// u64 kv count, kv pairs (string key, u32 type, value), tensor infos (string name, u32 n_dims,
// u64 dims[n_dims] innermost first, u32 ggml type, u64 offset), padding to the alignment,
// then the data section; tensor offsets are relative to it and aligned.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "formats/model_config.h"

namespace rb {

enum class GgufType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

/// One metadata value. Scalars: `num` (integers, floats and bools as double; `u`/`i` keep
/// 64-bit integers exactly), `str`. Arrays: `arr_type`, `arr_len`, and `arr_str` (strings) or
/// `arr_num` (numbers/bools); nested arrays are validated and skipped.
struct GgufValue {
    GgufType type = GgufType::u8;
    double num = 0;
    uint64_t u = 0;
    int64_t i = 0;
    std::string str;
    GgufType arr_type = GgufType::u8;
    uint64_t arr_len = 0;
    std::vector<std::string> arr_str;
    std::vector<double> arr_num;

    bool is_integer() const;
    bool is_number() const;  // integer, float or bool
};

// ggml tensor types that we can read.
constexpr uint32_t k_ggml_f32 = 0, k_ggml_f16 = 1, k_ggml_q4_0 = 2, k_ggml_q8_0 = 8, k_ggml_q4_k = 12,
                   k_ggml_q5_k = 13, k_ggml_q6_k = 14, k_ggml_bf16 = 30;

/// A readable ggml type: its DType and block geometry (elements and bytes per block; the
/// innermost dimension must be a multiple of `block`).
struct GgmlTypeInfo {
    uint32_t id;
    DType dtype;
    uint32_t block;
    uint32_t block_bytes;
};
/// The readable ggml types (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K); nullptr otherwise.
const GgmlTypeInfo* ggml_type_info(uint32_t type);
/// "F32, F16, ..." — the readable types, for messages.
std::string supported_ggml_types();
/// "F32", "Q4_K", ... or "type <n>" for unknown numbers.
std::string ggml_type_name(uint32_t type);

struct GgufTensor {
    std::string name;             // GGUF name, e.g. "blk.0.attn_q.weight"
    uint32_t type = 0;            // ggml type
    std::vector<uint64_t> dims;   // innermost first (ne[0], ne[1], ...)
    uint64_t offset = 0;          // relative to the data section
    uint64_t nbytes = 0;
    uint64_t elements() const;
};

struct GgufFile {
    std::string file;
    uint32_t version = 0;
    uint64_t alignment = 32;
    uint64_t data_start = 0;      // absolute offset of the data section
    std::map<std::string, GgufValue> kv;
    std::vector<GgufTensor> tensors;

    const GgufValue* find(const std::string& key) const;
};

/// Validates and parses a GGUF file held in memory; throws Error naming `file` and the key,
/// tensor or offset at fault (bad magic/version, truncation, bad types, offsets past the end,
/// misaligned or overlapping data, unsupported quantisation).
GgufFile parse_gguf(const uint8_t* data, size_t size, const std::string& file);

/// ModelConfig from the `<arch>.*` metadata, general.architecture = llama (Llama, Mistral),
/// qwen2, qwen3 or phi3; throws for other architectures. RoPE factor tensors (rope_freqs,
/// rope_factors_long/short) are read by the checkpoint, which has the data.
ModelConfig gguf_model_config(const GgufFile& g);
/// tokenizer.ggml.* vocabulary, if the file has tokens.
std::optional<GgufVocab> gguf_vocab(const GgufFile& g);
/// llama.cpp tensor name -> Hugging Face name ("blk.3.attn_q.weight" ->
/// "model.layers.3.self_attn.q_proj.weight", ".bias" likewise); unknown names are returned
/// unchanged. `arch` selects per-architecture names (phi3: ffn_up is the fused gate_up_proj).
std::string gguf_to_hf_name(const std::string& gguf_name, const std::string& arch = "llama");

/// Undoes llama.cpp's q/k row permutation in place. llama.cpp's converter applies, per
/// matrix [rows, cols] (PyTorch order), w.reshape(n_head, 2, rows/n_head/2, cols)
/// .swapaxes(1, 2).reshape(rows, cols); this applies the inverse, giving HF's rotate_half
/// layout. Requires rows % (2 * n_head) == 0.
void unpermute_qk_rows(std::vector<float>& w, int64_t rows, int64_t cols, int n_head);

}  // namespace rb
