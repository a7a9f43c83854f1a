#include "eval/perplexity.h"

#include <cmath>

#include "util/error.h"
#include "util/log.h"

namespace rb {

double PplResult::ppl() const { return tokens_scored ? std::exp(nll_sum / tokens_scored) : NAN; }

PplResult evaluate_perplexity(const LlamaModel& model, const Tokenizer& tok, const RopeConfig& rope,
                              const std::vector<Document>& docs, const PplOptions& opts) {
    if (opts.ctx < 2) throw UsageError("--ctx: must be at least 2, got {}", opts.ctx);
    if (opts.protocol != "truncate") throw UsageError("--protocol: unknown protocol '{}'", opts.protocol);
    if (opts.bucket <= 0) throw UsageError("--bucket: must be positive, got {}", opts.bucket);
    PplResult r;
    r.protocol = opts.protocol;
    r.ctx = opts.ctx;
    r.bucket = opts.bucket;
    const int L = opts.ctx;
    const size_t n_buckets = static_cast<size_t>((L - 1 + opts.bucket - 1) / opts.bucket);
    r.bucket_nll.assign(n_buckets, 0.0);
    r.bucket_count.assign(n_buckets, 0);
    std::vector<double> lp(L);
    for (const auto& d : docs) {
        std::vector<int> ids = tok.encode(d.text);
        if (static_cast<int>(ids.size()) < L - 1) {
            log_info("{}: {} tokens < ctx - 1 = {}: skipped", d.source, ids.size(), L - 1);
            r.documents_skipped++;
            continue;
        }
        std::vector<int> window;
        window.reserve(L);
        window.push_back(tok.bos_id());
        window.insert(window.end(), ids.begin(), ids.begin() + (L - 1));
        std::vector<int> targets(window.begin() + 1, window.end());
        targets.push_back(-1);  // the last position predicts nothing we score
        auto s = model.new_session(L, rope);
        model.forward(*s, window.data(), L, targets.data(), lp.data(), nullptr, nullptr);
        PplDocResult dr{d.source, 0, 0};
        for (int i = 0; i < L - 1; i++) {
            if (!std::isfinite(lp[i])) throw Error("{}: non-finite log-probability at position {}", d.source, i);
            dr.nll_sum -= lp[i];
            r.bucket_nll[i / opts.bucket] -= lp[i];
            r.bucket_count[i / opts.bucket]++;
        }
        dr.tokens_scored = L - 1;
        r.nll_sum += dr.nll_sum;
        r.tokens_scored += dr.tokens_scored;
        r.tokens_processed += L;
        r.documents_used++;
        r.docs.push_back(dr);
    }
    if (r.documents_used == 0)
        throw Error("no document has at least ctx - 1 = {} tokens ({} skipped)", L - 1, r.documents_skipped);
    return r;
}

}  // namespace rb
