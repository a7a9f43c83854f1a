// bf16 weights (vdpbf16ps path, activations rounded to bf16 in the GEMMs) against the f32
// path on the real checkpoints: perplexity within 0.5% (issue "CPU speed").
#include <gtest/gtest.h>

#include <cmath>

#include "unit/model/window_ppl.h"

using namespace rb;
using test::tinystories_window_ppl;

TEST(Bf16, PerplexityWithinHalfPercentOfF32) {
    for (auto [model, L] : {std::pair<std::string, int>{"stories260K", 512}, {"llama2xs-tok512-ctx256", 256},
                            {"babyllama-tok105-ctx256", 256}}) {
        double f = tinystories_window_ppl(model, backend::WeightType::f32, L),
               b = tinystories_window_ppl(model, backend::WeightType::bf16, L);
        std::printf("%-26s L=%d ppl f32 %.4f bf16 %.4f rel %.2e\n", model.c_str(), L, f, b, std::fabs(b - f) / f);
        EXPECT_NEAR(b, f, 0.005 * f) << model;
        EXPECT_NE(b, f) << model << ": bf16 path gave bit-identical perplexity; is it running at all?";
    }
}
