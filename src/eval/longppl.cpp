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

void check_longppl_convention(const std::string& c) {
    if (c != "ropebench" && c != "reference")
        throw FieldError("longppl.convention", "expected ropebench or reference, got '{}'", c);
}

int longppl_default_short_window(const std::string& c) { return c == "reference" ? 4096 : 1024; }
int longppl_default_stride(const std::string& c) { return c == "reference" ? 1024 : 512; }

void check_longppl_options(const LongPplOptions& o) {
    check_longppl_convention(o.convention);
    check_context_length(o.ctx);
    if (o.short_window < 1) throw FieldError("longppl.short_window", "K must be at least 1, got {}", o.short_window);
    if (o.stride < 1) throw FieldError("longppl.stride", "d must be at least 1, got {}", o.stride);
    if (!std::isfinite(o.alpha)) throw FieldError("longppl.alpha", "must be finite, got {}", o.alpha);
    if (!std::isfinite(o.beta)) throw FieldError("longppl.beta", "must be finite, got {}", o.beta);
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

std::vector<ByteSpan> merge_spans(const std::vector<ByteSpan>& spans, bool keep_empty) {
    std::vector<ByteSpan> out;
    for (const auto& s : spans) {
        if (s.end <= s.begin && !keep_empty) continue;
        if (!out.empty() && out.back().end == s.begin)
            out.back().end = s.end;
        else
            out.push_back(s);
    }
    return out;
}

std::vector<ByteSpan> hf_token_spans(const Tokenizer& tok, std::string_view text, const std::vector<TokenSpan>& spans) {
    std::vector<ByteSpan> out;
    out.reserve(spans.size());
    for (const auto& t : spans) {
        ByteSpan s{t.begin, t.end};
        if (s.end == s.begin && s.begin < text.size()) {
            const std::string b = tok.token_bytes(t.id);
            if (std::any_of(b.begin(), b.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
                const auto lead = static_cast<unsigned char>(text[s.begin]);
                const size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                s.end = std::min(text.size(), s.begin + len);
            }
        }
        out.push_back(s);
    }
    return out;
}

std::vector<int> cal_overlap(const std::vector<ByteSpan>& tok, const std::vector<ByteSpan>& keys) {
    std::vector<int> out;
    size_t i = 0, j = 0;
    while (i < tok.size() && j < keys.size()) {
        const ByteSpan& a = tok[i];
        const ByteSpan& b = keys[j];
        if (a.begin >= b.begin && a.end <= b.end) {
            out.push_back(static_cast<int>(i));
            i++;
        } else if (a.begin < b.begin) {
            i++;
        } else {
            j++;
        }
    }
    return out;
}

double LongPplResult::longppl() const {
    if (n_key == 0) return 0;
    if (convention != "reference") return std::exp(mean_nll());
    double num = 0;
    for (const auto& d : docs)
        if (d.n_key > 0) num += std::exp(d.nll_key_sum / static_cast<double>(d.n_key)) * static_cast<double>(d.n_key);
    return num / static_cast<double>(n_key);
}

double LongPplResult::ppl_all_tokens() const {
    double num = 0, den = 0;
    for (const auto& d : docs) {
        if (convention == "reference") {
            num += std::exp(d.nll_sum / static_cast<double>(d.tokens)) * static_cast<double>(d.tokens + 1);
            den += static_cast<double>(d.tokens + 1);
        } else {
            num += d.nll_sum;
            den += static_cast<double>(d.tokens);
        }
    }
    if (den == 0) return 0;
    return convention == "reference" ? num / den : std::exp(num / den);
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
    // Version 2: key spans are HF character spans (hf_token_spans).
    *key = {{"version", 2},
            {"convention", o.convention},
            {"text_sha256", sha256_hex(text)},
            {"evaluator", o.evaluator_identity},
            {"short_window", o.short_window},
            {"stride", o.stride},
            {"alpha", o.alpha},
            {"beta", o.beta}};
    return (std::filesystem::path(o.cache_dir) / ("longppl-keys-" + sha256_hex(key->dump()) + ".json")).string();
}

// A unit's record before its losses: L − 1 evaluated tokens (loss_overall: L − 1 losses) and its key set.
LongPplDoc unit_doc(const std::string& source, int L, const KeySet& ks) {
    LongPplDoc d;
    d.source = source;
    d.tokens = L - 1;
    d.evaluator_tokens = ks.evaluator_tokens;
    d.evaluator_key_tokens = ks.evaluator_key_tokens;
    d.cache_hit = ks.cache_hit;
    d.evaluator_keys = ks.evaluator_keys;
    d.key_spans = ks.spans;
    return d;
}

// compute_longppl on one unit: tokens [first, first + L) of the document, no BOS.
LongPplDoc reference_unit(LanguageModel& model, const std::vector<TokenSpan>& sp, const std::vector<ByteSpan>& hf,
                          size_t first, size_t b0, int L, const KeySet& ks, const std::string& source) {
    std::vector<int> window(L), targets(L);
    std::vector<ByteSpan> tspans(L);
    for (int j = 0; j < L; j++) {
        window[j] = sp[first + j].id;
        const ByteSpan& h = hf[first + j];
        tspans[j] = {std::max(h.begin, b0) - b0, std::max(h.end, b0) - b0};
    }
    for (int i = 0; i < L - 1; i++) targets[i] = window[i + 1];
    targets[L - 1] = -1;
    std::vector<double> lp(L);
    model.score(window.data(), L, targets.data(), lp.data());
    LongPplDoc d = unit_doc(source, L, ks);
    for (int k = 0; k < L - 1; k++) {
        if (!std::isfinite(lp[k])) throw Error("{}: non-finite log-probability at window position {}", source, k);
        d.nll_sum -= lp[k];
    }
    for (int i : cal_overlap(tspans, ks.spans)) {
        const int k = i == 0 ? L - 2 : i - 1;  // key_tokens.append(i - 1); Python's [-1] is the last loss
        d.n_key++;
        d.nll_key_sum -= lp[k];
        d.key_tokens.push_back(i);
    }
    return d;
}

// The ropebench convention on one unit: the window is [BOS] + tokens [first, first + seg) of the
// document (`off` = 1 with a BOS, else 0); the unit's token j is predicted at window position j + off − 1.
LongPplDoc ropebench_unit(LanguageModel& model, const std::vector<TokenSpan>& sp, size_t first, size_t b0, int L, int bos,
                          const KeySet& ks, const std::string& source) {
    const int off = bos >= 0 ? 1 : 0, seg = L - off;
    std::vector<int> window(L), targets(L);
    std::vector<double> lp(L);
    std::vector<ByteSpan> tspans(seg);
    if (off) window[0] = bos;
    for (int j = 0; j < seg; j++) {
        const TokenSpan& t = sp[first + j];
        window[j + off] = t.id;
        tspans[j] = {std::max(t.begin, b0) - b0, std::max(t.end, b0) - b0};
    }
    std::vector<char> key = align_key_tokens(tspans, ks.spans);
    for (int i = 0; i < L - 1; i++) targets[i] = window[i + 1];
    targets[L - 1] = -1;
    model.score(window.data(), L, targets.data(), lp.data());
    LongPplDoc d = unit_doc(source, L, ks);
    for (int j = 1 - off; j < seg; j++) {  // token j of the unit is predicted at window position i
        const int i = j + off - 1;
        if (!std::isfinite(lp[i])) throw Error("{}: non-finite log-probability at window position {}", source, i);
        d.nll_sum -= lp[i];
        if (key[j]) {
            d.n_key++;
            d.nll_key_sum -= lp[i];
            d.key_tokens.push_back(j);
        }
    }
    return d;
}

struct LongPplUnit {
    const Document* doc;
    std::string source;
    size_t first;  // first token of the unit in the document's tokens
};

// Units of `seg` consecutive tokens: each document's first (with `split`, each whole segment),
// at most `max_units` (0 = all). Fills the token spans of the documents read and the skipped
// (too short) documents.

std::vector<LongPplUnit> longppl_units(const Tokenizer& tok, const std::vector<Document>& docs, int seg, bool split,
                                       int max_units, std::vector<std::vector<TokenSpan>>& doc_spans,
                                       std::vector<std::string>& skipped) {
    std::vector<LongPplUnit> units;
    for (size_t di = 0; di < docs.size(); di++) {
        if (max_units > 0 && static_cast<int>(units.size()) >= max_units) break;
        doc_spans[di] = tok.encode_with_spans(docs[di].text);
        const size_t n = doc_spans[di].size();
        if (n < static_cast<size_t>(seg)) {
            skipped.push_back(docs[di].source);
            continue;
        }
        const size_t n_units = split ? n / seg : 1;
        for (size_t k = 0; k < n_units; k++) {
            if (max_units > 0 && static_cast<int>(units.size()) >= max_units) break;
            units.push_back({&docs[di], split ? fmt::format("{}#seg{}", docs[di].source, k) : docs[di].source, k * seg});
            units.back().doc = &docs[di];
        }
    }
    return units;
}

void add_unit(LongPplResult& r, LongPplDoc d) {
    r.n_key += d.n_key;
    r.nll_key_sum += d.nll_key_sum;
    if (d.n_key == 0) r.without_key.push_back(d.source);
    r.docs.push_back(std::move(d));
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
    const bool ref = o.convention == "reference";
    auto spans = etok.encode_with_spans(text);
    const std::vector<ByteSpan> hf = hf_token_spans(etok, text, spans);
    // The evaluator's tokenizer's own BOS rule in both conventions (reference: the tokenizer's
    // default call, add_special_tokens=True).
    const int bos = etok.leading_bos();
    const int nb = bos >= 0 ? 1 : 0;
    std::vector<int> ids;
    ids.reserve(spans.size() + 1);
    if (nb) ids.push_back(bos);
    for (const auto& s : spans) ids.push_back(s.id);
    std::vector<int> keys = find_key_tokens(ev, ids, o.short_window, o.stride, o.alpha, o.beta);
    std::vector<ByteSpan> ks_raw;
    for (int p : keys) ks_raw.push_back(hf[static_cast<size_t>(p - nb)]);  // p ≥ K ≥ 1: never BOS
    KeySet ks;
    ks.evaluator_keys = keys;
    ks.spans = merge_spans(ks_raw, ref);
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
    // Convention reference: L tokens without BOS, whatever the tokenizer.
    const bool ref = o.convention == "reference";
    const int bos = tok.leading_bos();
    const int off = bos >= 0 ? 1 : 0;
    const int L = o.ctx, seg = ref ? L : L - off;
    LongPplResult r;
    r.convention = o.convention;
    std::vector<std::vector<TokenSpan>> doc_spans(docs.size());
    const std::vector<LongPplUnit> units = longppl_units(tok, docs, seg, split, max_units, doc_spans, r.skipped);
    if (units.empty())
        throw Error("no document has at least {} = {} tokens ({} skipped)",
                    ref ? "ctx" : off ? "ctx - 1" : "ctx (no BOS)", seg, r.skipped.size());
    std::vector<std::vector<ByteSpan>> doc_hf(docs.size());  // reference: HF spans of the evaluated tokens
    const int64_t ev_before = ev.tokens_processed(), m_before = model.tokens_processed();
    int64_t done = 0;
    for (const auto& u : units) {
        const size_t di = static_cast<size_t>(u.doc - docs.data());
        const auto& sp = doc_spans[di];
        // The text the unit's tokens cover; the first unit of a document starts at byte 0.
        const size_t b0 = u.first == 0 ? 0 : sp[u.first].begin;
        const size_t b1 = sp[u.first + seg - 1].end;
        const std::string text = u.doc->text.substr(b0, b1 - b0);
        KeySet ks = key_spans_for_text(ev, etok, text, o);
        (ks.cache_hit ? r.cache_hits : r.cache_misses)++;
        if (ref) {
            if (doc_hf[di].empty()) doc_hf[di] = hf_token_spans(tok, u.doc->text, sp);
            add_unit(r, reference_unit(model, sp, doc_hf[di], u.first, b0, L, ks, u.source));
        } else {
            add_unit(r, ropebench_unit(model, sp, u.first, b0, L, bos, ks, u.source));
        }
        if (progress) progress(++done, static_cast<int64_t>(units.size()));
    }
    r.tokens_processed = model.tokens_processed() - m_before;
    r.evaluator_tokens_processed = ev.tokens_processed() - ev_before;
    return r;
}

}  // namespace rb
