// Perplexity of one window of the TinyStories sample (BOS + its first L - 1 tokens, every
// position's next-token log-prob), for the whole-model checks of each backend.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "model/loader.h"
#include "util/mapped_file.h"

namespace rb::test {

inline double tinystories_window_ppl(const std::string& model, backend::WeightType wt, int L,
                                     const std::string& backend_name = "cpu") {
    LoadOptions o;
    o.path = shared_path("data/models/" + model);
    o.wtype = wt;
    o.backend.name = backend_name;
    LoadedModel lm = load_model(o);
    auto ids = lm.tokenizer->encode(read_file(shared_path("data/text/tinystories_valid_sample.txt")));
    std::vector<int> w{lm.tokenizer->bos_id()};
    w.insert(w.end(), ids.begin(), ids.begin() + (L - 1));
    std::vector<int> tg(w.begin() + 1, w.end());
    tg.push_back(-1);
    std::vector<double> lp(L);
    auto s = lm.model->new_session(L, resolve_rope(lm.ckpt->config(), {}));
    lm.model->forward(*s, w.data(), L, tg.data(), lp.data(), nullptr, nullptr);
    double nll = 0;
    for (int i = 0; i < L - 1; i++) nll -= lp[i];
    return std::exp(nll / (L - 1));
}

}  // namespace rb::test
