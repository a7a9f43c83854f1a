// ModelConfig: what a Llama-family checkpoint declares about itself, from config.json
// (Hugging Face folder) or GGUF metadata. Parsing lives in formats/; RoPE semantics
// (rope_scaling validation and math) live in rope/, which receives the raw dict.
#pragma once
#include <cstdint>
#include <functional>
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

/// The longest window (tokens) any command, flag or sweep accepts: 2^24 = 16,777,216, past
/// every released model's context. With the geometry limits below it keeps every size product
/// (weights, KV cache, the memory estimate) within 64 bits and every token index within int.
constexpr int64_t k_max_context = int64_t(1) << 24;
/// The shortest window a metric accepts: a window scores its tokens after the first.
constexpr int64_t k_min_context = 2;
/// The one check of a context length L: FieldError("ctx", ...) outside [k_min_context,
/// k_max_context]. Perplexity, passkey, LongPPL, eval and the sweep all call it.
void check_context_length(int64_t ctx);

/// The largest geometry a checkpoint may declare, each far beyond any released model (Llama
/// 3.1 405B: hidden 16384, 128 heads of 128, 126 layers, 53248 intermediate; vocabularies up
/// to 256K), so that no size computed from them wraps. One row per config.json field.
struct GeometryLimit {
    const char* field;  // config.json spelling
    int64_t max;
};
constexpr int64_t k_max_head_dim = int64_t(1) << 14;
inline constexpr GeometryLimit k_geometry_limits[] = {
    {"hidden_size", int64_t(1) << 18},       {"intermediate_size", int64_t(1) << 20},
    {"num_hidden_layers", int64_t(1) << 12}, {"num_attention_heads", int64_t(1) << 12},
    {"head_dim", k_max_head_dim},            {"vocab_size", int64_t(1) << 24},
};
/// num_attention_heads * head_dim (the query width) at most this.
constexpr int64_t k_max_query_width = int64_t(1) << 20;

/// Refuses a geometry above k_geometry_limits (Error "<source>: <key(field)>: ..."); `key`
/// maps a config.json field name to the file's own spelling of it (for GGUF metadata keys).
void check_geometry(const ModelConfig& c, const std::function<std::string(const std::string&)>& key);

/// Parses config.json text. `path` is used in messages. Throws Error naming the file and
/// field for missing/ill-typed fields or unsupported architectures and variants.
ModelConfig parse_config_json(const std::string& text, const std::string& path);

}  // namespace rb
