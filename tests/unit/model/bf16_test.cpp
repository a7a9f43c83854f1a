// bf16 weights (vdpbf16ps path, activations rounded to bf16 in the GEMMs) against the f32
// path on the real checkpoints: perplexity within 0.5% (issue "CPU speed").
#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "model/loader.h"
#include "util/mapped_file.h"

using namespace rb;

namespace {
double ppl(const std::string& model, backend::WeightType wt, int L) {
    LoadOptions o;
    o.path = test::shared_path("data/models/" + model);
    o.wtype = wt;
    LoadedModel lm = load_model(o);
    auto ids = lm.tokenizer->encode(read_file(test::shared_path("data/text/tinystories_valid_sample.txt")));
    std::vector<int> w{lm.tokenizer->bos_id()};
    w.insert(w.end(), ids.begin(), ids.begin() + (L - 1));
    std::vector<int> tg(w.begin() + 1, w.end());
    tg.push_back(-1);
    std::vector<double> lp(L);
    auto s = lm.model->new_session(L, lm.rope);
    lm.model->forward(*s, w.data(), L, tg.data(), lp.data(), nullptr, nullptr);
    double nll = 0;
    for (int i = 0; i < L - 1; i++) nll -= lp[i];
    return std::exp(nll / (L - 1));
}
}  // namespace

TEST(Bf16, PerplexityWithinHalfPercentOfF32) {
    for (auto [model, L] : {std::pair<std::string, int>{"stories260K", 512}, {"llama2xs-tok512-ctx256", 256},
                            {"babyllama-tok105-ctx256", 256}}) {
        double f = ppl(model, backend::WeightType::f32, L), b = ppl(model, backend::WeightType::bf16, L);
        std::printf("%-26s L=%d ppl f32 %.4f bf16 %.4f rel %.2e\n", model.c_str(), L, f, b, std::fabs(b - f) / f);
        EXPECT_NEAR(b, f, 0.005 * f) << model;
        EXPECT_NE(b, f) << model << ": bf16 path gave bit-identical perplexity; is it running at all?";
    }
}
