// The forward pass of each supported family (Llama 3.x, Qwen2, Qwen3, Phi-3, Mistral) against an
// independent float64 reference (tools/ref/make_golden_families.py) on the tiny random-weight
// checkpoints of tools/make_tiny_families.py, from the Hugging Face folder and from the GGUF
// file, at every instruction-set level, over 160 tokens: past every trained length (64 or
// 128), past Mistral's (24) and Phi-3's (48) sliding windows, and with Phi-3's longrope on its
// long factors. Phi-3's per-call switch is checked through the perplexity sums of windows on
// both sides of original_max_position_embeddings (32).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "model/llama.h"
#include "model/loader.h"
#include "unit/model/families_golden.h"

using namespace rb;

using test::checkpoint_path;
using test::golden_meta;
using test::Loaded;
using test::max_logit_diff;
using test::open_model;

namespace {

const char* k_families[] = {"llama3", "qwen2", "qwen3", "phi3", "mistral"};

}  // namespace

// Tolerance 3e-4 absolute (issue 16), as for the Llama references (|logit| up to ~35 here).
TEST(Families, LogitsMatchReferenceBothFormatsEveryIsa) {
    for (const char* isa : {"", "avx2", "scalar"})
        for (const char* fam : k_families)
            for (bool gguf : {false, true}) {
                const double d = max_logit_diff(fam, gguf, isa);
                std::printf("max|dlogit| %-8s %-12s isa=%-8s %.3g\n", fam, gguf ? "gguf" : "safetensors",
                            *isa ? isa : "best", d);
                EXPECT_LE(d, 3e-4) << fam << (gguf ? " gguf" : " safetensors") << " isa=" << isa;
            }
    cpu::force_isa(cpu::Isa::avx512bf16);
}

// Quantised GGUFs (tools/make_quantised_families.py: the Llama 3 tiny family widened to 256 so
// rows are whole K-quant blocks; Q8_0, and Q4_K with a Q6_K token_embd/tied output) against
// the float64 forward on the weights the reference dequantises from the same blocks
// (tools/ref/gguf_ref.py). Same tolerance as the f32 files, 3e-4: a dequantised weight
// d·sc·q (Q8_0, Q6_K) is exact in f32 (≤ 24 significant bits), Q4_K's d·sc·q − dmin·m is
// within one f32 rounding (2^-24 relative) of the reference's, so what remains is the f32
// forward against float64, as for the f32 checkpoints (|logit| up to ~50 here). The
// quantisation error itself is not part of the comparison; the record's label is.
TEST(Families, QuantisedGgufMatchesReferenceOnItsDequantisedWeights) {
    for (const char* q : {"q8_0", "q4_k"}) {
        const std::string name = std::string("llama3-wide-") + q;
        const auto meta = golden_meta(name);
        const std::string path = test::source_path("tests/fixtures/families/llama3-wide/") + meta["file"].get<std::string>();
        EXPECT_EQ(quantisation(*Checkpoint::open(path)), meta["quantisation"].get<std::string>()) << name;
        for (const char* isa : {"", "scalar"}) {
            const double d = test::max_logit_diff_of(name, path, isa);
            std::printf("max|dlogit| %-16s %-10s isa=%-8s %.3g\n", name.c_str(), meta["quantisation"].get<std::string>().c_str(),
                        *isa ? isa : "best", d);
            EXPECT_LE(d, 3e-4) << name << " isa=" << isa;
        }
    }
    cpu::force_isa(cpu::Isa::avx512bf16);
}

TEST(Families, ConfigFromBothFormats) {
    for (const char* fam : k_families) {
        auto hf = Checkpoint::open(checkpoint_path(fam, false));
        auto gg = Checkpoint::open(checkpoint_path(fam, true));
        const ModelConfig &a = hf->config(), &b = gg->config();
        EXPECT_EQ(a.qkv_bias, b.qkv_bias) << fam;
        EXPECT_EQ(a.qk_norm, b.qk_norm) << fam;
        EXPECT_EQ(a.sliding_window, b.sliding_window) << fam;
        EXPECT_EQ(a.head_dim, b.head_dim) << fam;
        EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings) << fam;
    }
    EXPECT_TRUE(Checkpoint::open(checkpoint_path("qwen2", false))->config().qkv_bias);
    EXPECT_TRUE(Checkpoint::open(checkpoint_path("qwen3", true))->config().qk_norm);
    EXPECT_EQ(Checkpoint::open(checkpoint_path("mistral", false))->config().sliding_window, 24);
}

// Each token's log-prob moves by at most 2·max|Δ logit| (3e-4 each), so a window's NLL sum by
// at most 6e-4 × count; the short/long factor switch moves these sums by far more (the
// reference's L = 32 and L = 33 windows differ in factors, not only by one token).
TEST(Families, Phi3LongropeSwitchThroughPerplexity) {
    const auto meta = golden_meta("phi3");
    const auto tokens = meta["tokens"].get<std::vector<int>>();
    for (bool gguf : {false, true}) {
        Loaded r = open_model(checkpoint_path("phi3", gguf), "");
        for (const auto& w : meta["nll"]) {
            const int L = w["ctx"];
            auto s = r.model->new_session(L, r.rope);
            std::vector<double> lp(L);
            std::vector<int> targets(tokens.begin() + 1, tokens.begin() + L);
            targets.push_back(-1);
            r.model->forward(*s, tokens.data(), L, targets.data(), lp.data(), nullptr, nullptr);
            double nll = 0;
            for (int i = 0; i + 1 < L; i++) nll -= lp[i];
            const double want = w["nll_sum"];
            std::printf("phi3 %s L=%d nll_sum %.6f reference %.6f (ppl %.4f)\n", gguf ? "gguf" : "safetensors", L, nll,
                        want, std::exp(nll / (L - 1)));
            EXPECT_NEAR(nll, want, 6e-4 * (L - 1)) << "L=" << L << (gguf ? " gguf" : " safetensors");
            // The factors in use: long above the original length, short at or below it.
            EXPECT_EQ(s->last_rope().inv_freq, compute_rope_tables(r.rope, L).inv_freq) << "L=" << L;
        }
    }
}

TEST(Families, RopeScalingNativeAndNone) {
    auto ck = Checkpoint::open(checkpoint_path("llama3", false));
    const auto& dict = ck->config().rope_scaling;
    RopeChoice native, none;  // as app/ parses --rope-scaling native / none
    none.scaling = nlohmann::json(nullptr);
    EXPECT_EQ(resolve_rope(ck->config(), native).given, dict);
    EXPECT_EQ(resolve_rope(ck->config(), native).type, RopeType::llama3);
    EXPECT_EQ(resolve_rope(ck->config(), none).type, RopeType::default_);
    EXPECT_TRUE(resolve_rope(ck->config(), none).given.is_null());
}
