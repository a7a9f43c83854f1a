#include "eval/perplexity.h"

#include <cmath>

#include "formats/model_config.h"
#include "util/error.h"
#include "util/log.h"

namespace rb {

double PplResult::ppl() const { return tokens_scored ? std::exp(nll_sum / tokens_scored) : NAN; }

std::vector<TokenDoc> tokenize_documents(const Tokenizer& tok, const std::vector<Document>& docs, int seg_len,
                                         int max_units, SplitInfo* split) {
    std::vector<TokenDoc> out;
    SplitInfo si;
    for (const auto& d : docs) {
        if (max_units > 0 && static_cast<int>(out.size()) >= max_units) break;
        std::vector<int> ids = tok.encode(d.text);
        if (seg_len <= 0) {
            out.push_back({d.source, std::move(ids)});
            continue;
        }
        size_t n_seg = ids.size() / static_cast<size_t>(seg_len);
        bool all = true;
        for (size_t k = 0; k < n_seg; k++) {
            if (max_units > 0 && static_cast<int>(out.size()) >= max_units) {
                all = false;  // stopped by max_units: the rest is unused, not a tail
                break;
            }
            out.push_back({fmt::format("{}#seg{}", d.source, k),
                           std::vector<int>(ids.begin() + k * seg_len, ids.begin() + (k + 1) * seg_len)});
            si.segments++;
        }
        if (all) si.tail_tokens_dropped += static_cast<int64_t>(ids.size() - n_seg * seg_len);
    }
    if (split) *split = si;
    return out;
}

int split_length(const PplOptions& opts, int bos_id) { return opts.ctx - (bos_id >= 0 ? 1 : 0); }

int check_ppl_options(const PplOptions& opts) {
    check_context_length(opts.ctx);
    if (opts.bucket <= 0 || opts.bucket > k_max_context)
        throw FieldError("ppl.bucket", "must be in [1, {}], got {}", k_max_context, opts.bucket);
    if (opts.protocol == "truncate") return 0;
    if (opts.protocol == "chunks") {
        if (opts.ctx < 3) throw FieldError("ctx", "protocol chunks scores L - L/2 - 1 tokens per window; needs L >= 3, got {}", opts.ctx);
        return 0;
    }
    if (opts.protocol == "sliding") {
        int s = opts.stride == 0 ? opts.ctx / 2 : opts.stride;
        if (s < 1 || s > opts.ctx - 1)
            throw FieldError("ppl.stride", "must be in [1, ctx - 1] = [1, {}], got {}", opts.ctx - 1, opts.stride);
        return s;
    }
    throw FieldError("ppl.protocol", "unknown protocol '{}', expected truncate, chunks or sliding", opts.protocol);
}

namespace {

struct Scorer {
    LanguageModel& lm;
    PplResult& r;
    std::vector<int> targets;
    std::vector<double> lp;

    // Scores window tokens[0..n): predictions made at positions [from, n−1) (target = the next token).
    void window(const int* tokens, int n, int from, PplDocResult& dr, const std::string& source) {
        targets.assign(n, -1);
        for (int i = from; i < n - 1; i++) targets[i] = tokens[i + 1];
        lp.assign(n, 0.0);
        const int64_t before = lm.tokens_processed();  // 0 when a ScoreCache answered
        lm.score(tokens, n, targets.data(), lp.data());
        r.tokens_processed += lm.tokens_processed() - before;
        dr.windows++;
        for (int i = from; i < n - 1; i++) {
            if (!std::isfinite(lp[i]))
                throw Error("{}: non-finite log-probability {} at window position {}", source, lp[i], i);
            dr.nll_sum -= lp[i];
            dr.tokens_scored++;
            r.bucket_nll[i / r.bucket] -= lp[i];
            r.bucket_count[i / r.bucket]++;
        }
    }
};

}  // namespace

PplResult evaluate_perplexity_tokens(LanguageModel& lm, int bos_id, const std::vector<TokenDoc>& docs,
                                     const PplOptions& opts, const std::function<void(int64_t, int64_t)>& progress) {
    const int stride = check_ppl_options(opts);
    PplResult r;
    r.protocol = opts.protocol;
    r.ctx = opts.ctx;
    r.stride = stride;
    r.bucket = opts.bucket;
    const int L = opts.ctx;
    const size_t n_buckets = static_cast<size_t>((L - 1 + opts.bucket - 1) / opts.bucket);
    r.bucket_nll.assign(n_buckets, 0.0);
    r.bucket_count.assign(n_buckets, 0);
    Scorer sc{lm, r, {}, {}};
    const int seg = split_length(opts, bos_id);  // document tokens that fill one window
    const std::string seg_name =
        bos_id >= 0 ? fmt::format("ctx - 1 = {} tokens", seg) : fmt::format("ctx = {} tokens (no BOS)", seg);
    int64_t done = 0;
    for (const auto& d : docs) {
        done++;
        // The stream every protocol reads: [BOS] + the document's tokens.
        if (static_cast<int>(d.ids.size()) < seg) {
            log_info("{}: {} tokens, fewer than {}: skipped", d.source, d.ids.size(), seg_name);
            r.documents_skipped++;
            r.skipped.push_back(d.source);
            if (progress) progress(done, static_cast<int64_t>(docs.size()));
            continue;
        }
        std::vector<int> stream;
        stream.reserve(d.ids.size() + 1);
        if (bos_id >= 0) stream.push_back(bos_id);
        stream.insert(stream.end(), d.ids.begin(), d.ids.end());
        PplDocResult dr{d.source, 0, 0, 0};
        if (opts.protocol == "truncate") {
            sc.window(stream.data(), L, 0, dr, d.source);
        } else if (opts.protocol == "chunks") {
            const size_t n_chunk = stream.size() / static_cast<size_t>(L);
            std::vector<int> w(L);
            for (size_t c = 0; c < n_chunk; c++) {
                std::copy(stream.begin() + c * L, stream.begin() + (c + 1) * L, w.begin());
                if (bos_id >= 0) w[0] = bos_id;  // llama.cpp replaces the chunk's first token by BOS
                sc.window(w.data(), L, L / 2, dr, d.source);
            }
        } else {  // sliding
            const size_t N = stream.size();
            size_t prev_end = 0;
            for (size_t begin = 0;; begin += static_cast<size_t>(stride)) {
                const size_t end = std::min(begin + static_cast<size_t>(L), N);
                // Score absolute positions [max(prev_end, begin + 1), end): predicted from window
                // position (t − begin − 1).
                const size_t first_t = std::max(prev_end, begin + 1);
                sc.window(stream.data() + begin, static_cast<int>(end - begin), static_cast<int>(first_t - begin - 1), dr,
                          d.source);
                prev_end = end;
                if (end == N) break;
            }
        }
        r.nll_sum += dr.nll_sum;
        r.tokens_scored += dr.tokens_scored;
        r.documents_used++;
        r.docs.push_back(std::move(dr));
        if (progress) progress(done, static_cast<int64_t>(docs.size()));
    }
    if (r.documents_used == 0) {
        std::string names;  // the texts at fault, at most three
        for (size_t i = 0; i < r.skipped.size() && i < 3; ++i) names += (i ? ", " : "") + r.skipped[i];
        if (r.skipped.size() > 3) names += fmt::format(" and {} more", r.skipped.size() - 3);
        throw Error("{}: no document has at least {} ({} skipped)", names.empty() ? "texts" : names, seg_name,
                    r.documents_skipped);
    }
    return r;
}

PplResult evaluate_perplexity(const LlamaModel& model, const Tokenizer& tok, const RopeConfig& rope,
                              const std::vector<Document>& docs, const PplOptions& opts) {
    check_ppl_options(opts);
    ModelLm lm(model, rope);
    return evaluate_perplexity_tokens(lm, tok.leading_bos(), tokenize_documents(tok, docs, 0, 0), opts);
}

}  // namespace rb
