// The forward pass against reference logits (shared/data/reference, float64 results
// rounded to float32) for all three checkpoints, from safetensors and from GGUF, at the
// start of the sequence and past the trained length (_far), in f32 and in bf16.
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

using namespace rb;

namespace {

struct Case {
    std::string model, file;  // file: "" = folder (safetensors), else GGUF file name
    std::string ref;          // reference basename
};

std::vector<float> read_f32(const std::string& path, size_t n) {
    std::vector<float> v(n);
    std::ifstream f(path, std::ios::binary);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
    EXPECT_TRUE(f.good()) << path;
    return v;
}

// Max |Δ| over the reference rows; logits have magnitude ~10-25.
double max_logit_diff(const Case& c, backend::WeightType wt, const char* isa) {
    std::string folder = test::shared_path("data/models/" + c.model);
    std::string path = c.file.empty() ? folder : folder + "/" + c.file;
    auto meta = nlohmann::json::parse(std::ifstream(test::shared_path("data/reference/" + c.ref + ".json")));
    std::vector<int> tokens = meta["tokens"].get<std::vector<int>>();
    int p0 = meta["positions"][0], p1 = meta["positions"][1];
    int vocab = meta["shape"][1];
    auto ref = read_f32(test::shared_path("data/reference/" + c.ref + ".f32"), static_cast<size_t>(p1 - p0 + 1) * vocab);

    auto ckpt = Checkpoint::open(path);
    backend::BackendOptions bo;
    bo.isa = isa;
    auto be = backend::make_backend(bo);
    LlamaModel model(*ckpt, *be, wt);
    RopeConfig rope = resolve_rope(ckpt->config(), {});
    auto s = model.new_session(static_cast<int>(tokens.size()), rope);
    std::vector<float> logits(tokens.size() * static_cast<size_t>(vocab));
    std::vector<int> am(tokens.size());
    model.forward(*s, tokens.data(), static_cast<int>(tokens.size()), nullptr, nullptr, am.data(), logits.data());
    double mx = 0;
    for (int p = p0; p <= p1; p++)
        for (int v = 0; v < vocab; v++) {
            double d = std::fabs(logits[static_cast<size_t>(p) * vocab + v] - ref[static_cast<size_t>(p - p0) * vocab + v]);
            if (!(d <= mx)) mx = d;  // NaN propagates as failure below
        }
    auto ref_am = meta["argmax"].get<std::vector<int>>();
    if (wt == backend::WeightType::f32)
        for (int p = p0; p <= p1; p++) EXPECT_EQ(am[p], ref_am[p - p0]) << c.ref << " position " << p;
    return mx;
}

const std::vector<Case> k_cases = {
    {"stories260K", "", "logits_stories260K"},
    {"stories260K", "", "logits_stories260K_far"},
    {"stories260K", "stories260K-f32.gguf", "logits_stories260K"},
    {"stories260K", "stories260K-f32.gguf", "logits_stories260K_far"},
    {"llama2xs-tok512-ctx256", "", "logits_llama2xs-tok512-ctx256"},
    {"llama2xs-tok512-ctx256", "", "logits_llama2xs-tok512-ctx256_far"},
    {"llama2xs-tok512-ctx256", "llama2xs-tok512-ctx256-f32.gguf", "logits_llama2xs-tok512-ctx256"},
    {"llama2xs-tok512-ctx256", "llama2xs-tok512-ctx256-f32.gguf", "logits_llama2xs-tok512-ctx256_far"},
    {"babyllama-tok105-ctx256", "", "logits_babyllama-tok105-ctx256"},
    {"babyllama-tok105-ctx256", "", "logits_babyllama-tok105-ctx256_far"},
    {"babyllama-tok105-ctx256", "babyllama-tok105-ctx256-f32.gguf", "logits_babyllama-tok105-ctx256"},
    {"babyllama-tok105-ctx256", "babyllama-tok105-ctx256-f32.gguf", "logits_babyllama-tok105-ctx256_far"},
};

}  // namespace

// Tolerance 3e-4 absolute (issue "Foundation"): the references are float64 results; the
// shared README measured a float32 forward at up to 1.7e-4 on these logits (|logit| ≤ 25).
TEST(Logits, MatchReferenceF32EveryIsa) {
    for (const char* isa : {"", "avx2", "scalar"}) {
        for (const auto& c : k_cases) {
            double d = max_logit_diff(c, backend::WeightType::f32, isa);
            std::printf("max|dlogit| %-28s %-36s isa=%-8s %.3g\n", c.ref.c_str(),
                        c.file.empty() ? "safetensors" : c.file.c_str(), *isa ? isa : "best", d);
            EXPECT_LE(d, 3e-4) << c.ref << " " << (c.file.empty() ? "safetensors" : c.file) << " isa=" << isa;
        }
    }
    cpu::force_isa(cpu::Isa::avx512bf16);
}
