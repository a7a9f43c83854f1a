// Greedy decoding with the KV cache reproduces the independent reference (a full recompute
// per step in float64, tools/ref/make_golden_foundation.py) token for token.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "model/loader.h"

using namespace rb;

namespace {

LoadedModel load_llama2xs() {
    LoadOptions o;
    o.path = test::shared_path("data/models/llama2xs-tok512-ctx256");
    return load_model(o);
}

// 300 token ids past the trained 256, cycling through the vocabulary.
std::vector<int> tokens_300() {
    std::vector<int> t;
    for (int i = 0; i < 300; i++) t.push_back(1 + (i * 37) % 500);
    return t;
}

}  // namespace

TEST(Generate, Stories260KGreedyFromBos200) {
    auto golden = nlohmann::json::parse(std::ifstream(test::source_path("tests/golden/foundation.json")));
    ASSERT_EQ(golden["magic"], "ropebench-golden");
    auto want = golden["greedy_stories260K_bos_200"]["tokens"].get<std::vector<int>>();
    ASSERT_EQ(want.size(), 200u);
    LoadOptions o;
    o.path = test::shared_path("data/models/stories260K");
    LoadedModel lm = load_model(o);
    auto s = lm.model->new_session(256, resolve_rope(lm.ckpt->config(), {}));
    auto got = lm.model->generate_greedy(*s, {lm.tokenizer->bos_id()}, 200, false);
    EXPECT_EQ(got, want);
    EXPECT_EQ(lm.tokenizer->decode(got).rfind("Once upon a time, there was a little girl named Lily.", 0), 0u);
}

TEST(Forward, IncrementalEqualsOneShot) {
    // Feeding a sequence in pieces through the KV cache gives the same log-probs as one call.
    LoadedModel lm = load_llama2xs();
    const std::vector<int> toks = tokens_300();
    std::vector<int> tg(toks.begin() + 1, toks.end());
    tg.push_back(-1);
    std::vector<double> a(toks.size()), b(toks.size());
    auto s1 = lm.model->new_session(300, resolve_rope(lm.ckpt->config(), {}));
    lm.model->forward(*s1, toks.data(), 300, tg.data(), a.data(), nullptr, nullptr);
    auto s2 = lm.model->new_session(300, resolve_rope(lm.ckpt->config(), {}));
    int cuts[] = {0, 1, 7, 100, 299, 300};
    for (int i = 0; i + 1 < 6; i++)
        lm.model->forward(*s2, toks.data() + cuts[i], cuts[i + 1] - cuts[i], tg.data() + cuts[i], b.data() + cuts[i],
                          nullptr, nullptr);
    // Same math in a different blocking: float32 rounding differences only.
    EXPECT_TRUE(test::all_close(b.data(), a.data(), 299, 1e-4, 1e-4));
}

TEST(Generate, PromptRowsSkipTheHeadAndMatchOneCall) {
    // generate_greedy runs the prompt's rows before the last without the LM head (only the
    // last argmax is used), with the tables of one call over the whole prompt. Reference: one
    // forward over the whole prompt asking every row's argmax, then the same decoding loop.
    // dynamic at a prompt past the trained 256 makes the tables depend on the call's length.
    LoadedModel lm = load_llama2xs();
    const std::vector<int> prompt = tokens_300();
    for (const char* scaling : {"", R"({"rope_type": "dynamic", "factor": 2.0})"}) {
        RopeChoice choice;
        if (*scaling) choice.scaling = nlohmann::json::parse(scaling);
        const RopeConfig rope = resolve_rope(lm.ckpt->config(), choice);
        auto s1 = lm.model->new_session(330, rope);
        const std::vector<int> got = lm.model->generate_greedy(*s1, prompt, 20, false);
        auto s2 = lm.model->new_session(330, rope);
        std::vector<int> am(prompt.size()), want;
        lm.model->forward(*s2, prompt.data(), static_cast<int>(prompt.size()), nullptr, nullptr, am.data(), nullptr);
        int next = am.back();
        for (int i = 0; i < 20; i++) {
            want.push_back(next);
            if (i + 1 < 20) lm.model->forward(*s2, &next, 1, nullptr, nullptr, &next, nullptr);
        }
        EXPECT_EQ(got, want) << (*scaling ? scaling : "default");
        EXPECT_EQ(s1->position(), s2->position());
    }
}
