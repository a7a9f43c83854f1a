// LongPPL: key tokens from a constructed evaluator on a hand-made example, span merging
// and alignment by hand, identity alignment with one tokenizer, spans across two
// tokenizers (tok512 vs Llama 2), the whole pipeline with constructed models, and the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "common/test_util.h"
#include "eval/longppl.h"
#include "util/error.h"

using namespace rb;

namespace {

// Evaluator whose loss depends on the target and on the context length c (= window
// position of the predictor + 1): loss = long_loss[t] when c >= 4, else short_loss[t].
struct ContextLm : LanguageModel {
    std::map<int, double> long_loss, short_loss;
    std::vector<std::vector<int>> windows;
    void score(const int* tokens, int n, const int* targets, double* lp) override {
        windows.emplace_back(tokens, tokens + n);
        for (int i = 0; i < n; i++)
            if (targets[i] >= 0) lp[i] = -(i + 1 >= 4 ? long_loss.at(targets[i]) : short_loss.at(targets[i]));
        m_tokens_processed += n;
    }
    std::vector<int> generate(const std::vector<int>&, int) override { return {}; }
};

std::unique_ptr<Tokenizer> tok512() {
    return Tokenizer::from_sentencepiece_file(test::shared_path("data/models/stories260K/tokenizer.model"));
}
std::unique_ptr<Tokenizer> tok_llama2() {
    return Tokenizer::from_sentencepiece_file(test::shared_path("data/tokenizers/llama2/tokenizer.model"));
}

std::vector<ByteSpan> spans_of(const std::vector<TokenSpan>& t) {
    std::vector<ByteSpan> s;
    for (const auto& x : t) s.push_back({x.begin, x.end});
    return s;
}

}  // namespace

TEST(LongPpl, HandMadeKeySet) {
    // Tokens (position: id): 0:BOS=1, 1:10, 2:11, 3:12, 4:13, 5:14, 6:15, 7:16. K = 2, d = 2.
    // Windows start 0, 2, 4 (start < N − K = 6): [0,4) scores 2,3; [2,6) scores 4,5; [4,8) 6,7.
    // Short contexts are 2 or 3 tokens (short loss); full-pass contexts for positions ≥ 4 are
    // ≥ 4 tokens (long loss). Short loss 5 everywhere; long losses:
    //   13: 1.0  → diff 4 > 2, loss 1 < 2  → key (position 4)
    //   14: 3.0  → diff 2 (not > 2)         → not key
    //   15: 1.99 → diff 3.01, loss < 2      → key (position 6)
    //   16: 2.0  → loss not < 2             → not key
    // Positions 2, 3 have identical short and full passes (diff 0).
    ContextLm ev;
    for (int t = 10; t <= 16; t++) ev.short_loss[t] = 5.0;
    ev.long_loss = {{10, 0.1}, {11, 0.1}, {12, 0.1}, {13, 1.0}, {14, 3.0}, {15, 1.99}, {16, 2.0}};
    std::vector<int> toks = {1, 10, 11, 12, 13, 14, 15, 16};
    auto keys = find_key_tokens(ev, toks, 2, 2, 2.0, -2.0);
    EXPECT_EQ(keys, (std::vector<int>{4, 6}));
    ASSERT_EQ(ev.windows.size(), 4u);  // full pass + 3 short windows
    EXPECT_EQ(ev.windows[0], toks);
    EXPECT_EQ(ev.windows[1], (std::vector<int>{1, 10, 11, 12}));
    EXPECT_EQ(ev.windows[2], (std::vector<int>{11, 12, 13, 14}));
    EXPECT_EQ(ev.windows[3], (std::vector<int>{13, 14, 15, 16}));
    // α = 1 makes 14 (diff 2 > 1) and 16 (diff 3) pass the LSD test, but their full losses
    // 3.0 and 2.0 fail β = −2; β = −3.5 (loss < 3.5) admits both.
    EXPECT_EQ(find_key_tokens(ev, toks, 2, 2, 1.0, -2.0), (std::vector<int>{4, 6}));
    EXPECT_EQ(find_key_tokens(ev, toks, 2, 2, 1.0, -3.5), (std::vector<int>{4, 5, 6, 7}));
}

TEST(LongPpl, LastWindowIsShortened) {
    // N = 9, K = 2, d = 2: starts 0, 2, 4, 6; the last window [6, 9) scores position 8 only.
    ContextLm ev;
    for (int t = 10; t <= 17; t++) {
        ev.short_loss[t] = 5.0;
        ev.long_loss[t] = 0.5;
    }
    std::vector<int> toks = {1, 10, 11, 12, 13, 14, 15, 16, 17};
    auto keys = find_key_tokens(ev, toks, 2, 2, 2.0, -2.0);
    EXPECT_EQ(keys, (std::vector<int>{4, 5, 6, 7, 8}));  // the first K + d positions never are
    ASSERT_EQ(ev.windows.size(), 5u);
    EXPECT_EQ(ev.windows[4], (std::vector<int>{15, 16, 17}));
    // Too short for any window: no key tokens, only the full pass.
    ContextLm ev2 = ev;
    ev2.windows.clear();
    EXPECT_TRUE(find_key_tokens(ev2, {1, 10, 11}, 4, 2, 2.0, -2.0).empty());
    EXPECT_EQ(ev2.windows.size(), 1u);
}

TEST(LongPpl, MergeSpans) {
    std::vector<ByteSpan> in = {{0, 2}, {2, 5}, {7, 9}, {9, 9}, {10, 12}, {12, 13}};
    EXPECT_EQ(merge_spans(in), (std::vector<ByteSpan>{{0, 5}, {7, 9}, {10, 13}}));
    EXPECT_TRUE(merge_spans({}).empty());
}

TEST(LongPpl, AlignByContainment) {
    // Key span [3, 8). Tokens: [0,3) out; [3,5) in; [5,5) empty → follows [5,8) (in);
    // [5,8) in; [8,12) out; [2,4)-style partial overlaps are out.
    std::vector<ByteSpan> toks = {{0, 3}, {3, 5}, {5, 5}, {5, 8}, {8, 12}};
    auto f = align_key_tokens(toks, {{3, 8}});
    EXPECT_EQ(f, (std::vector<char>{0, 1, 1, 1, 0}));
    auto g = align_key_tokens({{0, 2}, {2, 4}, {4, 9}}, {{3, 8}});
    EXPECT_EQ(g, (std::vector<char>{0, 0, 0}));
    auto h = align_key_tokens({{0, 2}, {2, 4}, {4, 9}, {9, 10}}, {{0, 2}, {4, 9}});
    EXPECT_EQ(h, (std::vector<char>{1, 0, 1, 0}));
}

TEST(LongPpl, SameTokenizerIsIdentity) {
    auto tok = tok512();
    const std::string text =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog.";
    auto sp = tok->encode_with_spans(text);
    ASSERT_GT(sp.size(), 20u);
    std::mt19937 rng(3);
    for (int rep = 0; rep < 20; rep++) {
        std::vector<char> want(sp.size(), 0);
        std::vector<ByteSpan> keyspans;
        for (size_t i = 0; i < sp.size(); i++)
            if (sp[i].end > sp[i].begin && rng() % 3 == 0) {
                want[i] = 1;
                keyspans.push_back({sp[i].begin, sp[i].end});
            }
        auto got = align_key_tokens(spans_of(sp), merge_spans(keyspans));
        for (size_t i = 0; i < sp.size(); i++)
            if (sp[i].end > sp[i].begin) EXPECT_EQ(got[i], want[i]) << "token " << i << " rep " << rep;
    }
}

TEST(LongPpl, SpansAcrossTokenizers) {
    // Evaluator = Llama 2 tokenizer, evaluated = tok512. Key = the Llama 2 tokens of
    // " dragon" ("▁drag" "on") and " 日本" ("▁" "日" "本"); the tok512 tokens inside those
    // bytes ("▁d" "r" "a" "g" "on"; "▁" and the six <0xXX> byte pieces of 日本, which tok512
    // has no pieces for) are key, nothing else.
    auto ev = tok_llama2();
    auto mt = tok512();
    const std::string text = "The big dragon sat in a 日本 café by the sea.";
    const size_t d0 = text.find(" dragon"), d1 = d0 + 7;
    const size_t c0 = text.find(" 日本"), c1 = c0 + std::string(" 日本").size();
    auto es = ev->encode_with_spans(text);
    std::vector<ByteSpan> keyspans;
    for (const auto& s : es)
        if ((s.begin >= d0 && s.end <= d1) || (s.begin >= c0 && s.end <= c1)) keyspans.push_back({s.begin, s.end});
    auto merged = merge_spans(keyspans);
    ASSERT_EQ(merged, (std::vector<ByteSpan>{{d0, d1}, {c0, c1}})) << "Llama 2 tokens do not tile the two words";
    auto ms = mt->encode_with_spans(text);
    auto f = align_key_tokens(spans_of(ms), merged);
    std::string key_text;
    int n_key = 0;
    for (size_t i = 0; i < ms.size(); i++) {
        const bool inside = ms[i].begin >= d0 && ms[i].end <= c1 && (ms[i].end <= d1 || ms[i].begin >= c0);
        const bool nonempty_inside = ms[i].end > ms[i].begin && inside;
        if (ms[i].end > ms[i].begin) EXPECT_EQ(f[i] != 0, nonempty_inside) << "tok512 token " << i << " '" << mt->piece(ms[i].id) << "'";
        if (f[i]) {
            key_text += text.substr(ms[i].begin, ms[i].end - ms[i].begin);
            n_key++;
        }
    }
    EXPECT_EQ(key_text, " dragon 日本");
    // 日 and 本 are three byte pieces each in tok512 (the first two with empty spans): all key.
    int bytes = 0;
    for (size_t i = 0; i < ms.size(); i++)
        if (mt->piece(ms[i].id).rfind("<0x", 0) == 0) {
            bytes++;
            EXPECT_TRUE(f[i]) << "byte piece " << mt->piece(ms[i].id);
        }
    EXPECT_EQ(bytes, 6);
    EXPECT_GT(n_key, 3);
}

namespace {

// Evaluator: a token t with t % 3 == 0 costs 0.5 when the window starts with BOS (the full
// pass) and 5 otherwise; every other token costs 1. Short windows after the first lack BOS,
// so the key tokens are exactly the positions p ≥ K + d whose id is divisible by 3.
struct BosLm : LanguageModel {
    int bos;
    explicit BosLm(int b) : bos(b) {}
    void score(const int* tokens, int n, const int* targets, double* lp) override {
        for (int i = 0; i < n; i++)
            if (targets[i] >= 0) lp[i] = targets[i] % 3 ? -1.0 : (tokens[0] == bos ? -0.5 : -5.0);
        m_tokens_processed += n;
    }
    std::vector<int> generate(const std::vector<int>&, int) override { return {}; }
};
// Evaluated model: NLL of token t is t / 1000.
struct IdLm : LanguageModel {
    void score(const int* tokens, int n, const int* targets, double* lp) override {
        (void)tokens;
        for (int i = 0; i < n; i++)
            if (targets[i] >= 0) lp[i] = -targets[i] / 1000.0;
        m_tokens_processed += n;
    }
    std::vector<int> generate(const std::vector<int>&, int) override { return {}; }
};

}  // namespace

TEST(LongPpl, PipelineWithConstructedModelsAndCache) {
    auto tok = tok512();
    const std::string text =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. "
        "One day, they found a big red ball under a tree. Lily was so happy that she laughed all day long.";
    auto sp = tok->encode_with_spans(text);
    const int L = 40, K = 8, d = 4;
    ASSERT_GE(static_cast<int>(sp.size()), L - 1);
    for (int j = 0; j < L - 1; j++) ASSERT_NE(sp[j].end, sp[j].begin) << "test text needs non-empty spans";
    // Hand computation: the evaluator sees the text of the first L−1 tokens with BOS first,
    // which tokenizes to the same L−1 tokens (prefix of the document); evaluator position
    // p = j + 1 for token j. Key iff p ≥ K + d and id % 3 == 0.
    double want_nll = 0;
    int64_t want_n = 0;
    for (int j = 0; j < L - 1; j++)
        if (j + 1 >= K + d && sp[j].id % 3 == 0) {
            want_nll += sp[j].id / 1000.0;
            want_n++;
        }
    ASSERT_GT(want_n, 2);
    BosLm ev(tok->bos_id());
    IdLm model;
    LongPplOptions o;
    o.ctx = L;
    o.short_window = K;
    o.stride = d;
    o.cache_dir = test::temp_dir();
    o.evaluator_identity = "bos-lm";
    std::vector<Document> docs = {{"doc", text}, {"short", "Too short."}};
    LongPplResult r = evaluate_longppl(model, *tok, ev, *tok, docs, o, false, 0);
    EXPECT_EQ(r.n_key, want_n);
    EXPECT_NEAR(r.nll_key_sum, want_nll, 1e-12);
    EXPECT_EQ(r.skipped, std::vector<std::string>{"short"});
    ASSERT_EQ(r.docs.size(), 1u);
    EXPECT_EQ(r.docs[0].tokens, L - 1);
    EXPECT_EQ(r.cache_misses, 1);
    EXPECT_EQ(r.tokens_processed, L);
    EXPECT_GT(r.evaluator_tokens_processed, L);
    // Second run: served from the cache (the evaluator is not called), same result.
    BosLm ev2(tok->bos_id());
    LongPplResult r2 = evaluate_longppl(model, *tok, ev2, *tok, docs, o, false, 0);
    EXPECT_EQ(r2.cache_hits, 1);
    EXPECT_EQ(r2.evaluator_tokens_processed, 0);
    EXPECT_EQ(r2.n_key, want_n);
    // Another K is another cache entry.
    o.short_window = 12;
    LongPplResult r3 = evaluate_longppl(model, *tok, ev2, *tok, docs, o, false, 0);
    EXPECT_EQ(r3.cache_misses, 1);
    EXPECT_LT(r3.n_key, want_n + 1);
    // A huge α: no key tokens; the document is listed.
    o.alpha = 100;
    LongPplResult r4 = evaluate_longppl(model, *tok, ev2, *tok, docs, o, false, 0);
    EXPECT_EQ(r4.n_key, 0);
    EXPECT_EQ(r4.without_key, std::vector<std::string>{"doc"});
}

TEST(LongPpl, SplitUnits) {
    auto tok = tok512();
    std::string text;
    for (int i = 0; i < 20; i++) text += "Lily saw a big dog in the park and she was happy. ";
    const int L = 30;
    const size_t n = tok->encode(text).size();
    IdLm model, ev;
    LongPplOptions o;
    o.ctx = L;
    o.short_window = 4;
    o.stride = 4;
    LongPplResult r = evaluate_longppl(model, *tok, ev, *tok, {{"d", text}}, o, true, 0);
    EXPECT_EQ(r.docs.size(), n / (L - 1));
    EXPECT_EQ(r.docs[1].source, "d#seg1");
    EXPECT_EQ(evaluate_longppl(model, *tok, ev, *tok, {{"d", text}}, o, true, 3).docs.size(), 3u);
}
