// config.json parsing: defaults, v5 rope_parameters, and every rejection naming file + field.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "formats/model_config.h"
#include "formats_writers.h"
#include "util/error.h"

using namespace rb;
using json = nlohmann::json;

namespace {
json base() {
    return json{{"architectures", {"LlamaForCausalLM"}},
                {"model_type", "llama"},
                {"hidden_size", 2048},
                {"intermediate_size", 5632},
                {"num_hidden_layers", 22},
                {"num_attention_heads", 32},
                {"num_key_value_heads", 4},
                {"vocab_size", 32000},
                {"max_position_embeddings", 2048},
                {"rms_norm_eps", 1e-5},
                {"torch_dtype", "bfloat16"}};
}
ModelConfig parse(const json& j) { return parse_config_json(j.dump(), "cfg/config.json"); }
}  // namespace

TEST(Config, TinyLlamaDefaults) {
    ModelConfig c = parse(base());
    EXPECT_EQ(c.architecture, "LlamaForCausalLM");
    EXPECT_EQ(c.head_dim, 64);
    EXPECT_EQ(c.num_kv_heads, 4);
    EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_TRUE(c.rope_scaling.is_null());
    EXPECT_EQ(c.torch_dtype, "bfloat16");
    EXPECT_EQ(c.bos_id, 1);
    EXPECT_EQ(c.eos_id, 2);
    EXPECT_EQ(c.source, "cfg/config.json");
}

TEST(Config, Llama3Style) {
    json j = base();
    j.erase("num_key_value_heads");
    j["rope_theta"] = 500000.0;
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
    j["eos_token_id"] = {128001, 128008, 128009};
    j["bos_token_id"] = 128000;
    j["head_dim"] = 128;
    j["tie_word_embeddings"] = true;
    j["partial_rotary_factor"] = 0.5;
    j["original_max_position_embeddings"] = 4096;
    ModelConfig c = parse(j);
    EXPECT_EQ(c.num_kv_heads, 32);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.eos_id, 128001);
    EXPECT_EQ(c.bos_id, 128000);
    EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
    EXPECT_EQ(c.rope_scaling["rope_type"], "llama3");
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.partial_rotary_factor, 0.5);
    EXPECT_EQ(c.original_max_position_embeddings, 4096);
}

TEST(Config, V5RopeParametersAndDtype) {
    json j = base();
    j.erase("torch_dtype");
    j["dtype"] = "float32";
    j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"rope_theta", 1e6}};
    j["rope_scaling"] = nullptr;
    ModelConfig c = parse(j);
    EXPECT_EQ(c.torch_dtype, "float32");
    EXPECT_EQ(c.rope_scaling["rope_type"], "yarn");
    EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
    // rope_scaling wins when set.
    j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
    EXPECT_EQ(parse(j).rope_scaling["type"], "linear");
}

TEST(Config, MistralSlidingWindow) {
    json j = base();
    j["architectures"] = {"MistralForCausalLM"};
    j["model_type"] = "mistral";
    j["sliding_window"] = nullptr;
    EXPECT_EQ(parse(j).architecture, "MistralForCausalLM");
    EXPECT_EQ(parse(j).sliding_window, 0);
    j["sliding_window"] = 1024;
    EXPECT_EQ(parse(j).sliding_window, 1024);
    j["sliding_window"] = 0;
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "sliding_window", "positive");
}

TEST(Config, Families) {
    json j = base();
    j["architectures"] = {"Qwen2ForCausalLM"};
    j["model_type"] = "qwen2";
    j["use_sliding_window"] = false;
    j["sliding_window"] = 32768;
    auto c = parse(j);
    EXPECT_EQ(c.model_type, "qwen2");
    EXPECT_TRUE(c.qkv_bias);
    EXPECT_FALSE(c.qk_norm);
    EXPECT_EQ(c.sliding_window, 0);  // inactive unless use_sliding_window
    j["use_sliding_window"] = true;
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "use_sliding_window");
    j = base();
    j["architectures"] = {"Qwen3ForCausalLM"};
    j["model_type"] = "qwen3";
    j["head_dim"] = 128;
    c = parse(j);
    EXPECT_TRUE(c.qk_norm);
    EXPECT_FALSE(c.qkv_bias);
    EXPECT_EQ(c.head_dim, 128);
    j = base();
    j["architectures"] = {"Phi3ForCausalLM"};
    j["model_type"] = "phi3";
    j["sliding_window"] = 2047;
    c = parse(j);
    EXPECT_EQ(c.model_type, "phi3");
    EXPECT_EQ(c.sliding_window, 2047);
    j = base();
    j.erase("architectures");
    j["model_type"] = "qwen3";
    EXPECT_EQ(parse(j).architecture, "Qwen3ForCausalLM");
}

TEST(Config, Rejections) {
    EXPECT_RB_ERROR(parse_config_json("{\"hidden_size\": 64,", "bad/config.json"), "bad/config.json",
                    "invalid JSON at byte");
    json j = base();
    j.erase("hidden_size");
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "field 'hidden_size'", "missing");
    j = base();
    j["hidden_size"] = "2048";
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "field 'hidden_size'", "expected an integer", "string");
    j = base();
    j["num_hidden_layers"] = 0;
    EXPECT_RB_ERROR(parse(j), "field 'num_hidden_layers'");
    j = base();
    j["num_key_value_heads"] = 5;
    EXPECT_RB_ERROR(parse(j), "field 'num_key_value_heads'");
    j = base();
    j["architectures"] = {"GPT2LMHeadModel"};
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "architectures", "GPT2LMHeadModel");
    j = base();
    j["architectures"] = {"GemmaForCausalLM"};
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "GemmaForCausalLM", "Phi3ForCausalLM");
    j = base();
    j["sliding_window"] = 4096;  // Llama has none
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "sliding_window");
    j = base();
    j.erase("architectures");
    j["model_type"] = "gpt2";
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "gpt2");
    j = base();
    j["attention_bias"] = true;
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "attention_bias");
    j = base();
    j["mlp_bias"] = true;
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "mlp_bias");
    j = base();
    j["rope_scaling"] = "yarn";
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "rope_scaling");
    j = base();
    j["rope_theta"] = "big";
    EXPECT_RB_ERROR(parse(j), "cfg/config.json", "rope_theta");
    EXPECT_RB_ERROR(parse_config_json("[1, 2]", "x/config.json"), "x/config.json", "object");
}
