#include "eval/longppl.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mapped_file.h"

namespace rb {

void check_longppl_options(const LongPplOptions& o) {
    if (o.ctx < 2) throw UsageError("--ctx: must be at least 2, got {}", o.ctx);
    if (o.short_window < 1) throw UsageError("--short-window: K must be at least 1, got {}", o.short_window);
    if (o.stride < 1) throw UsageError("--key-stride: d must be at least 1, got {}", o.stride);
    if (!std::isfinite(o.alpha) || !std::isfinite(o.beta))
        throw UsageError("--alpha/--beta: must be finite, got {} / {}", o.alpha, o.beta);
}

std::vector<int> find_key_tokens(LanguageModel& ev, const std::vector<int>& tokens, int K, int d, double alpha,
                                 double beta) {
    const int N = static_cast<int>(tokens.size());
    std::vector<int> keys;
    if (N < 2) return keys;
    // loss_full[p] = −log p(tokens[p] | tokens[0..p)) for p ≥ 1; lp_full[p−1] holds it.
    std::vector<int> tg(tokens.begin() + 1, tokens.end());
    tg.push_back(-1);
    std::vector<double> lp_full(N);
    ev.score(tokens.data(), N, tg.data(), lp_full.data());
    std::vector<double> lp_short;
    for (int start = 0; start < N - K; start += d) {
        const int dd = std::min(d, N - start - K);       // the last window ends at N
        const int n = K + dd;                             // short input tokens[start, start + K + dd)
        std::vector<int> st(n, -1);
        for (int i = K - 1; i < n - 1; i++) st[i] = tokens[start + i + 1];
        lp_short.assign(n, 0.0);
        ev.score(tokens.data() + start, n, st.data(), lp_short.data());
        for (int j = 0; j < dd; j++) {
            const int p = start + K + j;                  // absolute position scored
            const double loss_full = -lp_full[p - 1];
            const double loss_short = -lp_short[K + j - 1];
            if (!std::isfinite(loss_full) || !std::isfinite(loss_short))
                throw Error("LongPPL evaluator: non-finite loss at evaluator token {}", p);
            if (loss_short - loss_full > alpha && loss_full < -beta) keys.push_back(p);
        }
    }
    return keys;
}

std::vector<ByteSpan> merge_spans(const std::vector<ByteSpan>& spans) {
    std::vector<ByteSpan> out;
    for (const auto& s : spans) {
        if (s.end <= s.begin) continue;
        if (!out.empty() && out.back().end == s.begin)
            out.back().end = s.end;
        else
            out.push_back(s);
    }
    return out;
}

std::vector<char> align_key_tokens(const std::vector<ByteSpan>& tok, const std::vector<ByteSpan>& keys) {
    std::vector<char> flag(tok.size(), 0);
    char next = 0;  // decision of the next token with a non-empty span
    for (size_t i = tok.size(); i-- > 0;) {
        const ByteSpan& a = tok[i];
        if (a.end > a.begin) {
            // The last key span starting at or before a.begin is the only one that can contain it.
            auto it = std::upper_bound(keys.begin(), keys.end(), a.begin,
                                       [](size_t v, const ByteSpan& k) { return v < k.begin; });
            next = it != keys.begin() && a.end <= std::prev(it)->end;
        }
        flag[i] = next;
    }
    return flag;
}

namespace {

std::string cache_path(const LongPplOptions& o, const std::string& text, nlohmann::json* key) {
    *key = {{"version", 1},
            {"text_sha256", sha256_hex(text)},
            {"evaluator", o.evaluator_identity},
            {"short_window", o.short_window},
            {"stride", o.stride},
            {"alpha", o.alpha},
            {"beta", o.beta}};
    return (std::filesystem::path(o.cache_dir) / ("longppl-keys-" + sha256_hex(key->dump()) + ".json")).string();
}

}  // namespace

KeySet key_spans_for_text(LanguageModel& ev, const Tokenizer& etok, const std::string& text,
                          const LongPplOptions& o) {
    nlohmann::json key;
    std::string path;
    if (!o.cache_dir.empty()) {
        path = cache_path(o, text, &key);
        if (file_exists(path)) {
            try {
                auto j = nlohmann::json::parse(read_file(path));
                if (j.at("key") == key) {
                    KeySet ks;
                    for (const auto& s : j.at("spans")) ks.spans.push_back({s.at(0).get<size_t>(), s.at(1).get<size_t>()});
                    ks.evaluator_tokens = j.at("evaluator_tokens").get<int64_t>();
                    ks.evaluator_key_tokens = j.at("evaluator_key_tokens").get<int64_t>();
                    ks.cache_hit = true;
                    return ks;
                }
                log_warn("{}: cache entry for another key; recomputing", path);
            } catch (const std::exception& e) {
                log_warn("{}: unreadable LongPPL key cache entry ({}); recomputing", path, e.what());
            }
        }
    }
    auto spans = etok.encode_with_spans(text);
    std::vector<int> ids;
    ids.reserve(spans.size() + 1);
    const int bos = etok.leading_bos();
    const int off = bos >= 0 ? 1 : 0;
    if (bos >= 0) ids.push_back(bos);
    for (const auto& s : spans) ids.push_back(s.id);
    std::vector<int> keys = find_key_tokens(ev, ids, o.short_window, o.stride, o.alpha, o.beta);
    std::vector<ByteSpan> ks_raw;
    for (int p : keys) ks_raw.push_back({spans[p - off].begin, spans[p - off].end});  // p ≥ K ≥ 1: never BOS
    KeySet ks;
    ks.spans = merge_spans(ks_raw);
    ks.evaluator_tokens = static_cast<int64_t>(ids.size());
    ks.evaluator_key_tokens = static_cast<int64_t>(keys.size());
    if (!path.empty()) {
        nlohmann::json sp = nlohmann::json::array();
        for (const auto& s : ks.spans) sp.push_back({s.begin, s.end});
        nlohmann::json j = {{"key", key},
                            {"spans", sp},
                            {"evaluator_tokens", ks.evaluator_tokens},
                            {"evaluator_key_tokens", ks.evaluator_key_tokens}};
        std::filesystem::create_directories(o.cache_dir);
        write_file(path, j.dump());
    }
    return ks;
}

LongPplResult evaluate_longppl(LanguageModel& model, const Tokenizer& tok, LanguageModel& ev, const Tokenizer& etok,
                               const std::vector<Document>& docs, const LongPplOptions& o, bool split, int max_units,
                               const std::function<void(int64_t, int64_t)>& progress) {
    check_longppl_options(o);
    // A unit is the window's text tokens: L − 1 after BOS, or L when the tokenizer adds no
    // BOS (then its first token has no prediction); L − 1 tokens are scored either way.
    const int bos = tok.leading_bos();
    const int off = bos >= 0 ? 1 : 0;
    const int L = o.ctx, seg = L - off;
    struct Unit {
        const Document* doc;
        std::string source;
        size_t first;  // first token of the unit in the document's tokens
    };
    LongPplResult r;
    std::vector<Unit> units;
    std::vector<std::vector<TokenSpan>> doc_spans(docs.size());
    for (size_t di = 0; di < docs.size(); di++) {
        if (max_units > 0 && static_cast<int>(units.size()) >= max_units) break;
        doc_spans[di] = tok.encode_with_spans(docs[di].text);
        const size_t n = doc_spans[di].size();
        if (n < static_cast<size_t>(seg)) {
            r.skipped.push_back(docs[di].source);
            continue;
        }
        const size_t n_units = split ? n / seg : 1;
        for (size_t k = 0; k < n_units; k++) {
            if (max_units > 0 && static_cast<int>(units.size()) >= max_units) break;
            units.push_back({&docs[di], split ? fmt::format("{}#seg{}", docs[di].source, k) : docs[di].source, k * seg});
            units.back().doc = &docs[di];
        }
    }
    if (units.empty())
        throw Error("no document has at least {} = {} tokens ({} skipped)", off ? "ctx - 1" : "ctx (no BOS)", seg,
                    r.skipped.size());
    const int64_t ev_before = ev.tokens_processed(), m_before = model.tokens_processed();
    std::vector<int> window(L), targets(L);
    std::vector<double> lp(L);
    int64_t done = 0;
    for (const auto& u : units) {
        const auto& sp = doc_spans[static_cast<size_t>(u.doc - docs.data())];
        // The text the unit's tokens cover; the first unit of a document starts at byte 0.
        const size_t b0 = u.first == 0 ? 0 : sp[u.first].begin;
        const size_t b1 = sp[u.first + seg - 1].end;
        const std::string text = u.doc->text.substr(b0, b1 - b0);
        KeySet ks = key_spans_for_text(ev, etok, text, o);
        (ks.cache_hit ? r.cache_hits : r.cache_misses)++;
        std::vector<ByteSpan> tspans(seg);
        if (off) window[0] = bos;
        for (int j = 0; j < seg; j++) {
            const TokenSpan& t = sp[u.first + j];
            window[j + off] = t.id;
            tspans[j] = {std::max(t.begin, b0) - b0, std::max(t.end, b0) - b0};
        }
        std::vector<char> key = align_key_tokens(tspans, ks.spans);
        for (int i = 0; i < L - 1; i++) targets[i] = window[i + 1];
        targets[L - 1] = -1;
        model.score(window.data(), L, targets.data(), lp.data());
        LongPplDoc d;
        d.source = u.source;
        d.tokens = L - 1;
        d.evaluator_tokens = ks.evaluator_tokens;
        d.evaluator_key_tokens = ks.evaluator_key_tokens;
        d.cache_hit = ks.cache_hit;
        for (int j = 1 - off; j < seg; j++) {  // token j of the unit is predicted at window position i
            const int i = j + off - 1;
            if (!std::isfinite(lp[i])) throw Error("{}: non-finite log-probability at window position {}", u.source, i);
            d.nll_sum -= lp[i];
            if (key[j]) {
                d.n_key++;
                d.nll_key_sum -= lp[i];
            }
        }
        r.n_key += d.n_key;
        r.nll_key_sum += d.nll_key_sum;
        if (d.n_key == 0) r.without_key.push_back(d.source);
        r.docs.push_back(std::move(d));
        if (progress) progress(++done, static_cast<int64_t>(units.size()));
    }
    r.tokens_processed = model.tokens_processed() - m_before;
    r.evaluator_tokens_processed = ev.tokens_processed() - ev_before;
    return r;
}

}  // namespace rb
