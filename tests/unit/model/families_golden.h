// The families' golden check (tools/ref/make_golden_families.py): the tiny random-weight
// checkpoint of a family (tests/fixtures/families/<fam>, HF folder or GGUF) loaded on a backend,
// its f32 logits against the float64 reference (tests/golden/families/<fam>.{json,f32}). Used by
// families_test.cpp (every cpu ISA level) and the cuda whole-model checks.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "model/llama.h"
#include "model/loader.h"

namespace rb::test {

inline nlohmann::json golden_meta(const std::string& fam) {
    return nlohmann::json::parse(std::ifstream(source_path("tests/golden/families/" + fam + ".json")));
}

inline std::string checkpoint_path(const std::string& fam, bool gguf) {
    const std::string d = source_path("tests/fixtures/families/" + fam);
    return gguf ? d + "/tiny-" + fam + "-f32.gguf" : d;
}

struct Loaded {
    std::unique_ptr<Checkpoint> ckpt;
    std::unique_ptr<backend::Backend> be;
    std::unique_ptr<LlamaModel> model;
    RopeConfig rope;
};

inline Loaded open_model(const std::string& path, const char* isa, const std::string& backend_name = "cpu") {
    Loaded r;
    r.ckpt = Checkpoint::open(path);
    backend::BackendOptions bo;
    bo.name = backend_name;
    bo.isa = isa;
    r.be = backend::make_backend(bo);
    r.model = std::make_unique<LlamaModel>(*r.ckpt, *r.be, backend::WeightType::f32);
    r.rope = resolve_rope(r.ckpt->config(), {});
    return r;
}

/// Largest |logit - reference| at the golden positions (NaN: the largest) of the checkpoint at
/// `path` against golden `fam`; the argmax at each is checked (EXPECT) on the way.
inline double max_logit_diff_of(const std::string& fam, const std::string& path, const char* isa,
                                const std::string& backend_name = "cpu") {
    const auto meta = golden_meta(fam);
    const auto tokens = meta["tokens"].get<std::vector<int>>();
    const auto positions = meta["positions"].get<std::vector<int>>();
    const int vocab = meta["shape"][1];
    std::vector<float> ref(positions.size() * static_cast<size_t>(vocab));
    std::ifstream f(source_path("tests/golden/families/" + fam + ".f32"), std::ios::binary);
    f.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * 4));
    EXPECT_TRUE(f.good()) << fam;

    Loaded r = open_model(path, isa, backend_name);
    auto s = r.model->new_session(static_cast<int>(tokens.size()), r.rope);
    std::vector<float> logits(tokens.size() * static_cast<size_t>(vocab));
    std::vector<int> am(tokens.size());
    r.model->forward(*s, tokens.data(), static_cast<int>(tokens.size()), nullptr, nullptr, am.data(), logits.data());
    const auto ref_am = meta["argmax"].get<std::vector<int>>();
    double mx = 0;
    for (size_t k = 0; k < positions.size(); k++) {
        for (int v = 0; v < vocab; v++) {
            const double d = std::fabs(logits[static_cast<size_t>(positions[k]) * vocab + v] - ref[k * vocab + v]);
            if (!(d <= mx)) mx = d;  // NaN propagates as failure
        }
        EXPECT_EQ(am[positions[k]], ref_am[k]) << fam << " position " << positions[k];
    }
    return mx;
}

/// max_logit_diff_of a family's tiny checkpoint (HF folder or GGUF) against its golden.
inline double max_logit_diff(const std::string& fam, bool gguf, const char* isa, const std::string& backend_name = "cpu") {
    return max_logit_diff_of(fam, checkpoint_path(fam, gguf), isa, backend_name);
}

}  // namespace rb::test
