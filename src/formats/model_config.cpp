#include "formats/model_config.h"

#include <limits>

#include "util/error.h"
#include "util/json.h"

namespace rb {
namespace {

using json = nlohmann::json;

std::string type_desc(const json& v) {
    std::string d = v.dump();
    if (d.size() > 40) d = d.substr(0, 37) + "...";
    return fmt::format("{} {}", v.type_name(), d);
}

[[noreturn]] void field_error(const std::string& path, const std::string& name, const std::string& what) {
    throw Error("{}: field '{}': {}", path, name, what);
}

const json* find(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return nullptr;
    return &*it;
}

int get_int(const json& j, const std::string& path, const char* name, std::optional<int> def, int min_value) {
    const json* v = find(j, name);
    if (!v) {
        if (def) return *def;
        field_error(path, name, "missing, expected an integer");
    }
    if (!v->is_number_integer()) field_error(path, name, "expected an integer, got " + type_desc(*v));
    int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
                    ? std::numeric_limits<int64_t>::max()
                    : v->get<int64_t>();
    if (x < min_value || x > std::numeric_limits<int>::max())
        field_error(path, name, fmt::format("expected an integer in [{}, {}], got {}", min_value,
                                            std::numeric_limits<int>::max(), v->dump()));
    return static_cast<int>(x);
}

std::optional<double> get_double(const json& j, const std::string& path, const char* name) {
    const json* v = find(j, name);
    if (!v) return std::nullopt;
    if (!v->is_number()) field_error(path, name, "expected a number, got " + type_desc(*v));
    return v->get<double>();
}

bool get_bool(const json& j, const std::string& path, const char* name, bool def) {
    const json* v = find(j, name);
    if (!v) return def;
    if (!v->is_boolean()) field_error(path, name, "expected true or false, got " + type_desc(*v));
    return v->get<bool>();
}

std::string get_string(const json& j, const std::string& path, const char* name) {
    const json* v = find(j, name);
    if (!v) return {};
    if (!v->is_string()) field_error(path, name, "expected a string, got " + type_desc(*v));
    return v->get<std::string>();
}

// bos/eos: an integer, a list of integers (the first is used), or null.
int get_token_id(const json& j, const std::string& path, const char* name, int def) {
    const json* v = find(j, name);
    if (!v) return def;
    const json* x = v;
    if (v->is_array()) {
        if (v->empty()) return def;
        x = &(*v)[0];
    }
    if (!x->is_number_integer() || x->get<int64_t>() < 0 || x->get<int64_t>() > std::numeric_limits<int>::max())
        field_error(path, name, "expected a non-negative integer or a list of them, got " + type_desc(*v));
    return static_cast<int>(x->get<int64_t>());
}

}  // namespace

void check_geometry(const ModelConfig& c, const std::function<std::string(const std::string&)>& key) {
    auto value = [&](const std::string& f) -> int64_t {
        if (f == "hidden_size") return c.hidden_size;
        if (f == "intermediate_size") return c.intermediate_size;
        if (f == "num_hidden_layers") return c.num_layers;
        if (f == "num_attention_heads") return c.num_heads;
        if (f == "head_dim") return c.head_dim;
        return c.vocab_size;
    };
    for (const auto& lim : k_geometry_limits)
        if (value(lim.field) > lim.max)
            throw Error("{}: {}: {} is above the supported maximum {}", c.source, key(lim.field), value(lim.field),
                        lim.max);
    if (int64_t(c.num_heads) * c.head_dim > k_max_query_width)
        throw Error("{}: {}: {} heads of {} is a query width of {}, above the supported maximum {}", c.source,
                    key("num_attention_heads"), c.num_heads, c.head_dim, int64_t(c.num_heads) * c.head_dim,
                    k_max_query_width);
}

// Long by nature: config.json's fields one by one, each check beside the field it reads.
ModelConfig parse_config_json(const std::string& text, const std::string& path) {
    json j = parse_json(text, path);
    if (!j.is_object()) throw Error("{}: expected a JSON object at the top level, got {}", path, j.type_name());

    ModelConfig c;
    c.source = path;
    c.model_type = get_string(j, path, "model_type");
    // One row per supported family: HF class name and model_type.
    static const std::pair<const char*, const char*> k_families[] = {
        {"LlamaForCausalLM", "llama"}, {"MistralForCausalLM", "mistral"}, {"Qwen2ForCausalLM", "qwen2"},
        {"Qwen3ForCausalLM", "qwen3"}, {"Phi3ForCausalLM", "phi3"}};
    const std::string expected = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM or "
                                 "Phi3ForCausalLM";
    if (const json* a = find(j, "architectures")) {
        if (!a->is_array() || a->empty() || !(*a)[0].is_string())
            field_error(path, "architectures", "expected a non-empty list of strings, got " + type_desc(*a));
        c.architecture = (*a)[0].get<std::string>();
    } else if (c.model_type.empty()) {
        field_error(path, "architectures", "missing (and no model_type), expected [\"LlamaForCausalLM\"]");
    } else {
        for (const auto& [cls, mt] : k_families)
            if (c.model_type == mt) c.architecture = cls;
        if (c.architecture.empty())
            field_error(path, "model_type",
                        fmt::format("unsupported architecture '{}', expected llama, mistral, qwen2, qwen3 or phi3",
                                    c.model_type));
    }
    std::string family;
    for (const auto& [cls, mt] : k_families)
        if (c.architecture == cls) family = mt;
    if (family.empty())
        field_error(path, "architectures",
                    fmt::format("unsupported architecture '{}', expected {}", c.architecture, expected));
    if (c.model_type.empty()) c.model_type = family;

    c.hidden_size = get_int(j, path, "hidden_size", std::nullopt, 1);
    c.intermediate_size = get_int(j, path, "intermediate_size", std::nullopt, 1);
    c.num_layers = get_int(j, path, "num_hidden_layers", std::nullopt, 1);
    c.num_heads = get_int(j, path, "num_attention_heads", std::nullopt, 1);
    c.num_kv_heads = get_int(j, path, "num_key_value_heads", c.num_heads, 1);
    if (c.num_heads % c.num_kv_heads != 0)
        field_error(path, "num_key_value_heads",
                    fmt::format("{} does not divide num_attention_heads {}", c.num_kv_heads, c.num_heads));
    if (find(j, "head_dim")) {
        c.head_dim = get_int(j, path, "head_dim", std::nullopt, 1);
    } else {
        if (c.hidden_size % c.num_heads != 0)
            field_error(path, "hidden_size",
                        fmt::format("{} is not a multiple of num_attention_heads {} (and no head_dim given)",
                                    c.hidden_size, c.num_heads));
        c.head_dim = c.hidden_size / c.num_heads;
    }
    if (c.head_dim % 2 != 0) field_error(path, "head_dim", fmt::format("expected an even number, got {}", c.head_dim));
    c.vocab_size = get_int(j, path, "vocab_size", std::nullopt, 1);
    c.max_position_embeddings = get_int(j, path, "max_position_embeddings", std::nullopt, 1);
    if (auto eps = get_double(j, path, "rms_norm_eps")) {
        if (!(*eps > 0 && *eps < 1)) field_error(path, "rms_norm_eps", fmt::format("expected in (0, 1), got {}", *eps));
        c.rms_norm_eps = *eps;
    }

    // rope_scaling (v4) wins when truthy; else transformers v5 rope_parameters.
    const json* rs = find(j, "rope_scaling");
    const json* rp = find(j, "rope_parameters");
    if (rs && !rs->is_object()) field_error(path, "rope_scaling", "expected an object or null, got " + type_desc(*rs));
    if (rp && !rp->is_object())
        field_error(path, "rope_parameters", "expected an object or null, got " + type_desc(*rp));
    if (rs && !rs->empty())
        c.rope_scaling = *rs;
    else if (rp && !rp->empty())
        c.rope_scaling = *rp;
    else
        c.rope_scaling = nullptr;

    if (auto theta = get_double(j, path, "rope_theta")) {
        c.rope_theta = *theta;
    } else if (rp && rp->contains("rope_theta")) {
        if (auto t2 = get_double(*rp, path + ": rope_parameters", "rope_theta")) c.rope_theta = *t2;
    }
    if (!(c.rope_theta > 0)) field_error(path, "rope_theta", fmt::format("expected > 0, got {}", c.rope_theta));
    if (auto prf = get_double(j, path, "partial_rotary_factor")) {
        if (!(*prf > 0 && *prf <= 1))
            field_error(path, "partial_rotary_factor", fmt::format("expected in (0, 1], got {}", *prf));
        c.partial_rotary_factor = *prf;
    }
    if (find(j, "original_max_position_embeddings"))
        c.original_max_position_embeddings = get_int(j, path, "original_max_position_embeddings", std::nullopt, 1);

    c.tie_word_embeddings = get_bool(j, path, "tie_word_embeddings", false);
    c.bos_id = get_token_id(j, path, "bos_token_id", 1);
    c.eos_id = get_token_id(j, path, "eos_token_id", 2);
    c.torch_dtype = get_string(j, path, "torch_dtype");
    if (c.torch_dtype.empty()) c.torch_dtype = get_string(j, path, "dtype");

    // Biases: Qwen2 always has q/k/v biases (and no others); other families refuse them.
    c.qkv_bias = family == "qwen2";
    if (family != "qwen2" && get_bool(j, path, "attention_bias", false))
        field_error(path, "attention_bias", fmt::format("true is not supported for {} (no attention biases)", family));
    if (get_bool(j, path, "mlp_bias", false)) field_error(path, "mlp_bias", "true is not supported (no MLP biases)");
    c.qk_norm = family == "qwen3";
    // Sliding-window attention: Mistral and Phi-3 apply `sliding_window` to every layer; Qwen2/3
    // only when use_sliding_window is true (then per layer, which is not supported).
    const json* sw = find(j, "sliding_window");
    if (sw && !sw->is_number_integer())
        field_error(path, "sliding_window", "expected an integer or null, got " + type_desc(*sw));
    if (family == "qwen2" || family == "qwen3") {
        if (get_bool(j, path, "use_sliding_window", false))
            field_error(path, "use_sliding_window", "true is not supported (per-layer sliding windows)");
    } else if (sw) {
        if (family == "llama")
            field_error(path, "sliding_window", "not supported for llama (Mistral and Phi-3 have sliding windows)");
        const int64_t w = sw->get<int64_t>();
        if (w < 1) field_error(path, "sliding_window", fmt::format("expected a positive integer, got {}", w));
        c.sliding_window = int(std::min<int64_t>(w, std::numeric_limits<int>::max()));  // >= context: no effect
    }
    check_geometry(c, [](const std::string& f) { return "field '" + f + "'"; });
    return c;
}

void check_context_length(int64_t ctx) {
    if (ctx < k_min_context || ctx > k_max_context)
        throw FieldError("ctx", "must be in [{}, {}], got {}", k_min_context, k_max_context, ctx);
}

}  // namespace rb
