// Checkpoint: a Hugging Face folder (config.json + model.safetensors or sharded
// safetensors with model.safetensors.index.json) or a GGUF v3 file, memory-mapped.
// Tensors are addressed by their Hugging Face names; the GGUF reader maps llama.cpp
// names onto them and undoes llama.cpp's q/k row permutation, so every consumer sees
// the HF rotate_half layout.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/model_config.h"

namespace rb {

enum class DType { f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k };
const char* dtype_name(DType t);

struct TensorInfo {
    std::string name;             // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
    DType dtype;
    std::vector<int64_t> shape;   // PyTorch order (outermost first), e.g. [out, in]
    std::string file;             // file holding it
};

/// Vocabulary embedded in a GGUF file (tokenizer.ggml.*).
struct GgufVocab {
    std::string model;                // tokenizer.ggml.model ("llama" = SentencePiece, "gpt2" = byte-level BPE)
    std::string pre;                  // tokenizer.ggml.pre (gpt2 models: names the pre-tokenizer regex)
    std::vector<std::string> tokens;  // pieces, "▁" for space (llama) or byte-level characters (gpt2)
    std::vector<std::string> merges;  // tokenizer.ggml.merges, "a b" in priority order (gpt2)
    std::vector<float> scores;
    std::vector<int32_t> token_types; // 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte
    int bos_id = 1, eos_id = 2, unk_id = 0;
    bool add_bos = true;
    std::optional<bool> add_space_prefix;          // tokenizer.ggml.add_space_prefix if present
    std::optional<bool> remove_extra_whitespaces;  // tokenizer.ggml.remove_extra_whitespaces if present
};

class Checkpoint {
public:
    virtual ~Checkpoint() = default;

    /// Opens a folder (HF layout) or a .gguf file. Throws Error naming the file and what
    /// is wrong (truncated, bad magic/version, offsets past the end or overlapping,
    /// unsupported dtype/architecture, malformed config).
    static std::unique_ptr<Checkpoint> open(const std::string& path);

    virtual const ModelConfig& config() const = 0;
    virtual std::string format() const = 0;        // "safetensors" | "gguf"
    virtual std::string path() const = 0;          // folder or file as given
    virtual std::vector<TensorInfo> tensors() const = 0;
    virtual bool has_tensor(const std::string& hf_name) const = 0;

    /// The tensor converted to float32, row-major in PyTorch order, after checking that its
    /// shape equals `expected_shape`. Throws Error naming file + tensor on a missing tensor,
    /// wrong shape or unsupported dtype.
    virtual std::vector<float> load_f32(const std::string& hf_name,
                                        const std::vector<int64_t>& expected_shape) const = 0;

    /// SentencePiece model file next to the weights (folder checkpoints), if any.
    virtual std::optional<std::string> tokenizer_model_path() const = 0;
    /// Vocabulary embedded in the file (GGUF), if any.
    virtual std::optional<GgufVocab> gguf_vocab() const = 0;
    /// Total bytes of tensor data.
    virtual uint64_t weight_bytes() const = 0;
};

/// Opens one safetensors file held in memory with the given config (fuzzing, tests). `data`
/// must outlive the result; `name` is used in messages.
std::unique_ptr<Checkpoint> open_safetensors_bytes(const uint8_t* data, size_t size, const std::string& name,
                                                   const ModelConfig& cfg);
/// Opens a GGUF file held in memory (fuzzing, tests). `data` must outlive the result.
std::unique_ptr<Checkpoint> open_gguf_bytes(const uint8_t* data, size_t size, const std::string& name);

/// How the weight matrices are stored: the distinct dtypes of the checkpoint's 2-D tensors,
/// most elements first, joined by '+' ("bf16", "q8_0", "q4_k+q6_k" for a Q4_K_M GGUF).
std::string quantisation(const Checkpoint& ck);

/// "[a, b, c]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace rb
