// ModelConfig: what a Llama-family checkpoint declares about itself, from config.json
// (Hugging Face folder) or GGUF metadata. Parsing lives in formats/; RoPE semantics
// (rope_scaling validation and math) live in rope/, which receives the raw dict.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace rb {

struct ModelConfig {
    std::string source;            // config.json path or .gguf path (for messages)
    std::string architecture;      // HF class ("LlamaForCausalLM", "Qwen2ForCausalLM", ...) or GGUF arch ("llama", "qwen2", ...)
    std::string model_type;        // "llama", "mistral", "qwen2", "qwen3", "phi3"
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_layers = 0;
    int num_heads = 0;
    int num_kv_heads = 0;
    int head_dim = 0;              // config.head_dim or hidden_size / num_heads
    int vocab_size = 0;
    int max_position_embeddings = 0;  // the trained context
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    std::optional<double> partial_rotary_factor;                 // top-level, if present
    std::optional<int> original_max_position_embeddings;         // top-level, if present
    nlohmann::json rope_scaling;   // raw dict from rope_scaling or rope_parameters; null = none
    bool tie_word_embeddings = false;
    int bos_id = 1;
    int eos_id = 2;
    std::string torch_dtype;       // as declared ("bfloat16", "float32", ...) or GGUF file type
    // Family variants (see the README's table of supported families):
    bool qkv_bias = false;         // q/k/v projections carry biases (Qwen2)
    bool qk_norm = false;          // per-head RMSNorm of q and k before RoPE (Qwen3)
    int sliding_window = 0;        // > 0: each query sees the last `sliding_window` keys (Mistral, Phi-3)
};

/// Parses config.json text. `path` is used in messages. Throws Error naming the file and
/// field for missing/ill-typed fields or unsupported architectures and variants.
ModelConfig parse_config_json(const std::string& text, const std::string& path);

}  // namespace rb
