// Perplexity protocols on a constructed log-prob source: which tokens each protocol
// scores, with which context, and how the totals and buckets add up.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "common/test_util.h"
#include "eval/documents.h"
#include "eval/perplexity.h"
#include "util/error.h"
#include "formats/checkpoint.h"

using namespace rb;

namespace {

// NLL of predicting token t is t/100, whatever the context; every window is logged.
struct TableLm : LanguageModel {
    std::vector<std::vector<int>> windows;
    std::vector<std::pair<int, int>> scored;  // (window position of the predictor, target)
    void score(const int* tokens, int n, const int* targets, double* lp) override {
        windows.emplace_back(tokens, tokens + n);
        for (int i = 0; i < n; i++)
            if (targets[i] >= 0) {
                lp[i] = -targets[i] / 100.0;
                scored.emplace_back(i, targets[i]);
            }
        m_tokens_processed += n;
    }
    std::vector<int> generate(const std::vector<int>&, int) override { return {}; }
};

std::vector<int> iota_ids(int n, int first = 10) {
    std::vector<int> v(n);
    std::iota(v.begin(), v.end(), first);
    return v;
}

PplOptions opts(int ctx, const std::string& protocol = "truncate", int bucket = 256, int stride = 0) {
    PplOptions o;
    o.ctx = ctx;
    o.protocol = protocol;
    o.bucket = bucket;
    o.stride = stride;
    return o;
}

double sum_nll(const std::vector<int>& ids) {
    double s = 0;
    for (int t : ids) s += t / 100.0;
    return s;
}

}  // namespace

TEST(Perplexity, TruncateScoresExactlyLMinus1) {
    TableLm lm;
    const PplOptions o = opts(6, "truncate", 2);
    std::vector<TokenDoc> docs = {{"a", iota_ids(10)}, {"short", iota_ids(4)}, {"exact", iota_ids(5, 50)}};
    PplResult r = evaluate_perplexity_tokens(lm, 1, docs, o);
    EXPECT_EQ(r.documents_used, 2);
    EXPECT_EQ(r.documents_skipped, 1);
    EXPECT_EQ(r.skipped, std::vector<std::string>{"short"});
    EXPECT_EQ(r.tokens_scored, 2 * 5);
    ASSERT_EQ(lm.windows.size(), 2u);
    EXPECT_EQ(lm.windows[0], (std::vector<int>{1, 10, 11, 12, 13, 14}));
    EXPECT_EQ(lm.windows[1], (std::vector<int>{1, 50, 51, 52, 53, 54}));
    EXPECT_NEAR(r.nll_sum, sum_nll({10, 11, 12, 13, 14, 50, 51, 52, 53, 54}), 1e-12);
    EXPECT_NEAR(r.ppl(), std::exp(r.nll_sum / 10), 1e-12);
    // Buckets of 2 over predictor positions 0..4: {0,1}, {2,3}, {4}.
    EXPECT_EQ(r.bucket_count, (std::vector<int64_t>{4, 4, 2}));
    EXPECT_NEAR(r.bucket_nll[2], (14 + 54) / 100.0, 1e-12);
    EXPECT_EQ(r.tokens_processed, 12);
}

TEST(Perplexity, ChunksFollowLlamaCpp) {
    // llama.cpp: stream = BOS + 20 tokens (21), n_chunk = 21/8 = 2, remainder dropped;
    // each chunk's first token replaced by BOS (token 17 is never seen); predictions from
    // positions L/2 = 4 … L−2 = 6 scored → targets at window positions 5, 6, 7.
    TableLm lm;
    PplResult r = evaluate_perplexity_tokens(lm, 1, {{"d", iota_ids(20)}}, opts(8, "chunks", 2));
    ASSERT_EQ(lm.windows.size(), 2u);
    EXPECT_EQ(lm.windows[0], (std::vector<int>{1, 10, 11, 12, 13, 14, 15, 16}));
    EXPECT_EQ(lm.windows[1], (std::vector<int>{1, 18, 19, 20, 21, 22, 23, 24}));
    std::vector<std::pair<int, int>> want = {{4, 14}, {5, 15}, {6, 16}, {4, 22}, {5, 23}, {6, 24}};
    EXPECT_EQ(lm.scored, want);
    EXPECT_EQ(r.tokens_scored, 2 * (8 - 8 / 2 - 1));
    EXPECT_NEAR(r.nll_sum, sum_nll({14, 15, 16, 22, 23, 24}), 1e-12);
    EXPECT_EQ(r.bucket_count, (std::vector<int64_t>{0, 0, 4, 2}));
    EXPECT_EQ(r.docs[0].windows, 2);
}

TEST(Perplexity, ChunksOddContext) {
    // L = 7: first = 3, scored predictions from positions 3, 4, 5 (7 − 3 − 1 = 3 tokens).
    TableLm lm;
    PplResult r = evaluate_perplexity_tokens(lm, 1, {{"d", iota_ids(6)}}, opts(7, "chunks"));
    EXPECT_EQ(lm.scored, (std::vector<std::pair<int, int>>{{3, 13}, {4, 14}, {5, 15}}));
    EXPECT_EQ(r.tokens_scored, 3);
}

TEST(Perplexity, SlidingScoresEveryTokenOnce) {
    // Stream BOS + 10..19 (11 tokens), L = 6, S = 2: windows [0,6) [2,8) [4,10) [6,11);
    // new tokens 10..14, then 15,16, then 17,18, then 19.
    TableLm lm;
    PplResult r = evaluate_perplexity_tokens(lm, 1, {{"d", iota_ids(10)}}, opts(6, "sliding", 256, 2));
    ASSERT_EQ(lm.windows.size(), 4u);
    EXPECT_EQ(lm.windows[1], (std::vector<int>{11, 12, 13, 14, 15, 16}));
    EXPECT_EQ(lm.windows[3], (std::vector<int>{15, 16, 17, 18, 19}));
    std::vector<std::pair<int, int>> want = {{0, 10}, {1, 11}, {2, 12}, {3, 13}, {4, 14}, {3, 15},
                                             {4, 16}, {3, 17}, {4, 18}, {3, 19}};
    EXPECT_EQ(lm.scored, want);
    EXPECT_EQ(r.tokens_scored, 10);
    EXPECT_EQ(r.stride, 2);
    EXPECT_NEAR(r.nll_sum, sum_nll(iota_ids(10)), 1e-12);
}

TEST(Perplexity, BucketsSumToTotals) {
    for (const char* proto : {"truncate", "chunks", "sliding"}) {
        TableLm lm;
        PplResult r = evaluate_perplexity_tokens(lm, 1, {{"a", iota_ids(70)}, {"b", iota_ids(33, 200)}}, opts(16, proto, 3));
        double s = 0;
        int64_t c = 0;
        for (size_t b = 0; b < r.bucket_nll.size(); b++) {
            s += r.bucket_nll[b];
            c += r.bucket_count[b];
        }
        EXPECT_NEAR(s, r.nll_sum, 1e-9) << proto;
        EXPECT_EQ(c, r.tokens_scored) << proto;
        EXPECT_EQ(r.bucket_nll.size(), 5u) << proto;  // ceil(15 / 3)
        double d = 0;
        for (const auto& x : r.docs) d += x.nll_sum;
        EXPECT_NEAR(d, r.nll_sum, 1e-9) << proto;
    }
}

TEST(Perplexity, BadOptions) {
    TableLm lm;
    PplOptions o;
    o.ctx = 8;
    o.protocol = "nope";
    EXPECT_THROW(evaluate_perplexity_tokens(lm, 1, {{"a", iota_ids(20)}}, o), UsageError);
    o.protocol = "sliding";
    o.stride = 8;  // must be ≤ L − 1
    EXPECT_THROW(evaluate_perplexity_tokens(lm, 1, {{"a", iota_ids(20)}}, o), UsageError);
    o.protocol = "truncate";
    EXPECT_THROW(evaluate_perplexity_tokens(lm, 1, {{"a", iota_ids(3)}}, o), Error);  // nothing long enough
}

TEST(Perplexity, SplitIntoSegments) {
    auto ck = Checkpoint::open(test::shared_path("data/models/llama2xs-tok512-ctx256"));
    auto tok = Tokenizer::from_checkpoint(*ck);
    std::vector<Document> docs = {{"x", "Once upon a time, there was a little girl named Lily. She loved to play."}};
    std::vector<int> all = tok->encode(docs[0].text);
    ASSERT_GT(all.size(), 12u);
    SplitInfo si;
    auto segs = tokenize_documents(*tok, docs, 5, 0, &si);
    ASSERT_EQ(segs.size(), all.size() / 5);
    EXPECT_EQ(si.segments, static_cast<int>(segs.size()));
    EXPECT_EQ(si.tail_tokens_dropped, static_cast<int64_t>(all.size() % 5));
    for (size_t k = 0; k < segs.size(); k++) {
        EXPECT_EQ(segs[k].ids, std::vector<int>(all.begin() + 5 * k, all.begin() + 5 * (k + 1)));
        EXPECT_EQ(segs[k].source, "x#seg" + std::to_string(k));
    }
    EXPECT_EQ(tokenize_documents(*tok, docs, 5, 2).size(), 2u);  // max units
    // Each segment of L−1 tokens is exactly one truncate window: every token scored once.
    TableLm lm;
    PplOptions o;
    o.ctx = 6;
    PplResult r = evaluate_perplexity_tokens(lm, tok->bos_id(), segs, o);
    EXPECT_EQ(r.tokens_scored, static_cast<int64_t>(5 * segs.size()));
    EXPECT_EQ(r.documents_used, static_cast<int>(segs.size()));
}

TEST(Perplexity, AbsurdSizesAreUsageErrors) {
    // bucket 2^31 - 1 overflowed the bucket count (segfault); ctx past k_max_context.
    TableLm lm;
    PplOptions o;
    o.ctx = 8;
    o.bucket = 2147483647;
    EXPECT_RB_ERROR(evaluate_perplexity_tokens(lm, 1, {{"a", iota_ids(20)}}, o), "ppl.bucket: ", "2147483647");
    o.bucket = 4;
    o.ctx = 2147483647;
    EXPECT_RB_ERROR(check_ppl_options(o), "ctx: must be in [2, 16777216]");
    EXPECT_TRUE(lm.windows.empty());
}

TEST(Perplexity, NothingLongEnoughNamesTheDocuments) {
    TableLm lm;
    PplOptions o;
    o.ctx = 8;
    EXPECT_RB_ERROR(evaluate_perplexity_tokens(lm, 1, {{"texts/a.txt", iota_ids(3)}, {"texts/b.jsonl:2", iota_ids(2)}}, o),
                    "texts/a.txt, texts/b.jsonl:2: no document has at least ctx - 1 = 7 tokens (2 skipped)");
}

TEST(Documents, BinaryTextIsRefused) {
    EXPECT_RB_ERROR(check_document_text(std::string("ab\0cd", 5), "x.txt"), "x.txt", "NUL byte at offset 2");
    EXPECT_RB_ERROR(check_document_text("caf\xe9!", "y.txt"), "y.txt", "UTF-8", "offset 3");
    EXPECT_RB_ERROR(check_document_text(" \n", "z.txt"), "z.txt", "empty");
    EXPECT_NO_THROW(check_document_text("caf\xc3\xa9.", "ok.txt"));
}
