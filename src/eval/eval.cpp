// run_eval: one evaluation's record (docs/record-schema.md), one function per metric.
#include "eval/eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "eval/documents.h"
#include "eval/lm.h"
#include "eval/longppl.h"
#include "eval/passkey.h"
#include "eval/perplexity.h"
#include "eval/spec_detail.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mapped_file.h"
#include "util/stats.h"
#include "util/thread_pool.h"
#include "util/version.h"

namespace rb {

using json = nlohmann::json;
using namespace eval_detail;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

json rope_json(const RopeConfig& rope, const json& given, int ctx) {
    RopeTables t = compute_rope_tables(rope, ctx);
    return {{"given", given},
            {"resolved", rope_config_to_json(rope)},
            {"method", rope_type_name(rope.type)},
            {"label", rope_config_label(rope)},
            {"attention_factor", t.attention_factor},
            {"warnings", rope.warnings}};
}

json nullable(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json interval_json(const Interval& iv) {
    if (!iv.defined()) return nullptr;
    return json::array({*iv.lo, *iv.hi});
}

std::string longppl_cache_dir(const LongPplSpec& s) {
    if (s.cache_dir == "-") return "";
    return s.cache_dir.empty() ? default_longppl_cache_dir() : s.cache_dir;
}

json data_json(const std::vector<DataFile>& files) {
    json a = json::array();
    for (const auto& f : files) a.push_back({{"file", f.path}, {"sha256", f.sha256}, {"documents", f.documents}});
    return a;
}

// Percentile bootstrap over units → {"ci95", "ci95_note"?, "bootstrap"} fields of `out`.
void add_bootstrap(json& out, const std::vector<double>& nll, const std::vector<int64_t>& cnt, int resamples,
                   uint64_t seed, const char* what) {
    auto b = bootstrap_pooled_ppl(nll, cnt, resamples, seed);
    if (b) {
        out["ci95"] = interval_json(b->ci);
    } else {
        out["ci95"] = nullptr;
        out["ci95_note"] = resamples < 1 ? std::string("undefined: bootstrap disabled (--bootstrap 0)")
                                         : fmt::format("undefined: fewer than 2 {}", what);
    }
    out["bootstrap"] = {{"resamples", resamples}, {"seed", seed}, {"unit", "document"}, {"method", "percentile"}};
}

// Everything one evaluation has open: the model, its RoPE, the documents, the haystack, the
// evaluator. The identity and every metric read from here; nothing is opened twice.
struct Opened {
    const EvalSpec& spec;
    ModelCache& cache;
    const EvalProgress& progress;
    LoadedModel* lm = nullptr;
    RopeConfig rope;
    json ident;  // model_identity of the model under test
    std::vector<Document> docs;
    std::vector<DataFile> files;
    std::vector<std::string> filler;  // passkey (grid): the haystack's sentences, or the canonical filler
    json haystack = nullptr;          // {"file", "sha256", "sentences"} with a haystack file
    std::string haystack_sha256;
    LoadedModel* ev = nullptr;        // longppl: the evaluator
    RopeConfig erope;
    json eident;

    std::function<void(int64_t, int64_t)> progress_of(const char* metric) const {
        return [this, metric](int64_t d, int64_t n) {
            if (progress) progress(metric, d, n);
        };
    }
};

void open_inputs(Opened& o, const std::vector<std::string>& metrics) {
    const EvalSpec& spec = o.spec;
    if (has(metrics, "ppl") || has(metrics, "longppl"))
        o.docs = load_documents(spec.texts, spec.split ? 0 : spec.max_docs, &o.files);
    o.lm = &o.cache.get(spec.model, spec.ctx);
    // RoPE is resolved once per evaluation and handed to every Session this evaluation opens.
    o.rope = resolve_rope(o.lm->ckpt->config(), spec.model.rope);
    for (const auto& w : o.rope.warnings) log_warn("rope_scaling: {}", w);
    o.ident = *o.cache.facts(spec.model).identity;
    if (has(metrics, "passkey")) {
        o.filler = passkey_filler_sentences();
        if (const std::string& h = spec.passkey.haystack; !h.empty()) {
            const std::string text = read_file(h);
            o.filler = split_sentences(text, h);
            o.haystack_sha256 = sha256_hex(text);
            o.haystack = {{"file", h}, {"sha256", o.haystack_sha256}, {"sentences", o.filler.size()}};
        }
    }
    if (has(metrics, "longppl")) {
        const LoadOptions& e = spec.longppl.evaluator;
        o.ev = &o.cache.get(e, spec.ctx);
        o.eident = *o.cache.facts(e).identity;
        o.erope = resolve_rope(o.ev->ckpt->config(), e.rope);
        for (const auto& w : o.erope.warnings) log_warn("evaluator rope_scaling: {}", w);
    }
}

json identity_of(const Opened& o, const std::vector<std::string>& metrics) {
    IdentityInputs in;
    in.model = {&o.lm->ckpt->config(), &o.ident};
    if (o.ev) in.evaluator = {&o.ev->ckpt->config(), &o.eident};
    in.data = &o.files;
    if (has(metrics, "passkey") && !o.spec.passkey.haystack.empty()) in.haystack_sha256 = &o.haystack_sha256;
    in.rope = &o.rope;  // resolved once per evaluation (open_inputs)
    if (o.ev) in.evaluator_rope = &o.erope;
    return identity_json(o.spec, in);  // run_eval checked the spec
}

json model_json(const Opened& o) {
    const EvalSpec& spec = o.spec;
    const ModelConfig& cfg = o.lm->ckpt->config();
    return {{"path", spec.model.name.empty() ? spec.model.path : spec.model.name},
            {"local_path", spec.model.path},
            {"format", o.lm->ckpt->format()},
            {"quantisation", quantisation(*o.lm->ckpt)},
            {"config_hash", o.ident["config_hash"]},
            {"weights_fingerprint", o.ident["weights"]},
            {"tokenizer", o.ident["tokenizer"]},
            {"architecture", cfg.architecture},
            {"dtype", wtype_name(spec.model.wtype)},
            {"trained_ctx", cfg.max_position_embeddings},
            {"head_dim", cfg.head_dim},
            {"rope_theta", cfg.rope_theta},
            {"params", o.lm->model->parameter_count()}};
}

const char* bos_note(int bos, bool longppl_reference) {
    if (bos < 0) return "no BOS (the tokenizer adds none): a window's first token is not scored";
    if (longppl_reference)
        return "BOS prepended to every ppl window and passkey prompt; LongPPL (convention reference): none on the "
               "evaluated text, the evaluator's tokenizer's own rule on its text";
    return "BOS prepended to every ppl window, LongPPL window and passkey prompt";
}

json run_ppl(const Opened& o, int64_t& tokens_total) {
    const auto t0 = Clock::now();
    const EvalSpec& spec = o.spec;
    const int bos = o.lm->tokenizer->leading_bos();
    const PplOptions p = ppl_options(spec);
    check_ppl_options(p);
    SplitInfo si;
    auto tdocs = tokenize_documents(*o.lm->tokenizer, o.docs, spec.split ? split_length(p, bos) : 0,
                                    spec.split ? spec.max_docs : 0, &si);
    // truncate: one window per document from its start, the windows the cache serves.
    ModelLm mlm(*o.lm->model, o.rope, p.protocol == "truncate" ? &o.cache.scores(spec.model) : nullptr);
    PplResult r = evaluate_perplexity_tokens(mlm, bos, tdocs, p, o.progress_of("ppl"));
    json out = {{"protocol", r.protocol},
                {"stride", r.protocol == "sliding" ? json(r.stride) : json(nullptr)},
                {"ppl", nullable(r.ppl())},
                {"mean_nll", r.mean_nll()},
                {"nll_sum", r.nll_sum},
                {"tokens_scored", r.tokens_scored},
                {"documents_used", r.documents_used},
                {"documents_skipped", r.documents_skipped},
                {"skipped", r.skipped},
                {"split", spec.split ? json{{"segment_tokens", split_length(p, bos)},
                                            {"segments", si.segments},
                                            {"tail_tokens_dropped", si.tail_tokens_dropped}}
                                     : json(nullptr)},
                {"max_docs", spec.max_docs}};
    std::vector<double> nll;
    std::vector<int64_t> cnt;
    json per_doc = json::array();
    for (const auto& d : r.docs) {
        nll.push_back(d.nll_sum);
        cnt.push_back(d.tokens_scored);
        per_doc.push_back({{"source", d.source}, {"nll_sum", d.nll_sum}, {"tokens", d.tokens_scored}, {"windows", d.windows}});
    }
    add_bootstrap(out, nll, cnt, spec.bootstrap_resamples, spec.seed, "documents");
    out["buckets"] = {{"size", r.bucket}, {"nll_sum", r.bucket_nll}, {"count", r.bucket_count}};
    out["per_doc"] = per_doc;
    out["data"] = data_json(o.files);
    out["tokens_processed"] = r.tokens_processed;
    out["wall_s"] = seconds_since(t0);
    tokens_total += r.tokens_processed;
    return out;
}

json passkey_trials_json(const PasskeyResult& r, bool yarn) {
    json per_trial = json::array();
    for (const auto& t : r.trials) {
        json tj = {{"depth", t.depth},
                   {"trial", t.trial},
                   {"key", t.key},
                   {"prompt_tokens", t.prompt_tokens},
                   {"needle_token", t.needle_token},
                   {"output", t.output},
                   {"correct", t.correct}};
        if (yarn) {
            tj["n_garbage"] = t.n_garbage;
            tj["n_prefix"] = t.n_prefix;
        } else {
            tj["sentences"] = t.sentences;
            tj["needle_sentence"] = t.needle_sentence;
        }
        per_trial.push_back(std::move(tj));
    }
    return per_trial;
}

json run_passkey_metric(const Opened& o, int64_t& tokens_total) {
    const auto t0 = Clock::now();
    const EvalSpec& spec = o.spec;
    const PasskeySpec& ps = spec.passkey;
    const int L = spec.ctx;
    const bool yarn = ps.protocol == "yarn";
    const auto depths = yarn ? std::vector<double>{} : depths_of(ps);
    ModelLm mlm(*o.lm->model, o.rope);
    PasskeyResult r = yarn ? run_passkey_yarn(mlm, *o.lm->tokenizer, L, ps.trials, ps.seed, ps.max_new_tokens,
                                              o.progress_of("passkey"))
                           : run_passkey(mlm, *o.lm->tokenizer, L, depths, ps.trials, ps.seed, ps.max_new_tokens,
                                         o.filler, o.progress_of("passkey"));
    json per_depth = json::array();
    for (const auto& d : r.per_depth)
        per_depth.push_back({{"depth", d.depth},
                             {"trials", d.trials},
                             {"correct", d.correct},
                             {"accuracy", static_cast<double>(d.correct) / d.trials},
                             {"ci95", interval_json(wilson(d.correct, d.trials))}});
    json out = {{"protocol", r.protocol},
                {"accuracy", r.accuracy()},
                {"trials", r.n_trials},
                {"correct", r.n_correct},
                {"ci95", interval_json(wilson(r.n_correct, r.n_trials))},
                {"ci95_method", "wilson"},
                {"depths", yarn ? json(nullptr) : json(depths)},
                {"trials_per_depth", yarn ? json(nullptr) : json(ps.trials)},
                {"seed", ps.seed},
                {"key_digits", yarn ? json(nullptr) : json(5)},
                {"key_range", yarn ? json::array({1, 50000}) : json::array({10000, 99999})},
                {"n_garbage", yarn ? json(r.n_garbage) : json(nullptr)},
                {"max_new_tokens", ps.max_new_tokens},
                {"decode", "greedy"},
                {"scoring", "first run of digits equals the key"},
                {"haystack", o.haystack},
                {"per_depth", per_depth},
                {"per_trial", passkey_trials_json(r, yarn)},
                {"tokens_processed", mlm.tokens_processed()},
                {"wall_s", seconds_since(t0)}};
    tokens_total += mlm.tokens_processed();
    return out;
}

LongPplOptions longppl_options(const Opened& o) {
    const LongPplSpec& ls = o.spec.longppl;
    LongPplOptions lo;
    lo.convention = ls.convention;
    lo.ctx = o.spec.ctx;
    lo.short_window = longppl_short_window(ls);
    lo.stride = longppl_stride(ls);
    lo.alpha = ls.alpha;
    lo.beta = ls.beta;
    lo.cache_dir = longppl_cache_dir(ls);
    lo.evaluator_identity = json{{"model", o.eident}, {"rope", rope_config_to_json(o.erope)}}.dump();
    return lo;
}

// The per-document rows and the pooled figures of a LongPPL result (the "longppl" object
// without its settings).
json longppl_result_json(const LongPplResult& r, const EvalSpec& spec) {
    json out;
    out["convention"] = r.convention;
    if (r.n_key > 0) {
        out["longppl"] = r.longppl();
        out["mean_nll"] = r.mean_nll();
    } else {
        out["longppl"] = nullptr;
        out["longppl_note"] = "undefined: no key tokens";
        out["mean_nll"] = nullptr;
    }
    std::vector<double> nll;
    std::vector<int64_t> cnt;
    json per_doc = json::array();
    int64_t n_tokens = 0;
    for (const auto& d : r.docs) {
        if (d.n_key > 0) {
            nll.push_back(d.nll_key_sum);
            cnt.push_back(d.n_key);
        }
        n_tokens += d.tokens;
        per_doc.push_back({{"source", d.source},
                           {"tokens", d.tokens},
                           {"n_key", d.n_key},
                           {"nll_key_sum", d.nll_key_sum},
                           {"nll_sum", d.nll_sum},
                           {"evaluator_tokens", d.evaluator_tokens},
                           {"evaluator_key_tokens", d.evaluator_key_tokens},
                           {"cache_hit", d.cache_hit}});
    }
    out["n_key"] = r.n_key;
    out["nll_key_sum"] = r.nll_key_sum;
    out["tokens"] = n_tokens;
    out["ppl_all_tokens"] = n_tokens ? json(r.ppl_all_tokens()) : json(nullptr);
    out["documents"] = static_cast<int64_t>(r.docs.size());
    out["documents_skipped"] = static_cast<int64_t>(r.skipped.size());
    out["skipped"] = r.skipped;
    out["documents_without_key"] = r.without_key;
    if (r.convention == "reference") {
        // The percentile bootstrap of a pooled PPL does not fit the reference aggregate.
        out["ci95"] = nullptr;
        out["ci95_note"] = "undefined: no interval for the reference aggregate (n_key-weighted mean of per-document LongPPL)";
    } else {
        add_bootstrap(out, nll, cnt, spec.bootstrap_resamples, spec.seed, "documents with key tokens");
    }
    out["per_doc"] = per_doc;
    return out;
}

json run_longppl_metric(const Opened& o, int64_t& tokens_total) {
    const auto t0 = Clock::now();
    const EvalSpec& spec = o.spec;
    const LongPplSpec& ls = spec.longppl;
    const bool self = o.eident["config_hash"] == o.ident["config_hash"] && o.eident["weights"] == o.ident["weights"];
    if (self && !ls.allow_self_evaluator)
        throw FieldDataError("longppl.evaluator",
                             fmt::format("{} is the model under test (same config and weights); LongPPL needs a "
                                         "fixed, separate evaluator",
                                         ls.evaluator.path),
                             "longppl.allow_self_evaluator");
    const LongPplOptions lo = longppl_options(o);
    ModelLm mlm(*o.lm->model, o.rope, &o.cache.scores(spec.model));  // its windows: those of ppl truncate
    ModelLm elm(*o.ev->model, o.erope);
    LongPplResult r = evaluate_longppl(mlm, *o.lm->tokenizer, elm, *o.ev->tokenizer, o.docs, lo, spec.split,
                                       spec.max_docs, o.progress_of("longppl"));
    // The evaluator's own full pass runs over every evaluator token of a unit.
    int64_t ev_max = 0;
    for (const auto& d : r.docs) ev_max = std::max(ev_max, d.evaluator_tokens);
    const int64_t ev_trained = o.ev->ckpt->config().max_position_embeddings;
    const bool ev_past = ev_trained > 0 && ev_max > ev_trained && o.erope.type == RopeType::default_;
    const std::string ev_name = ls.evaluator.name.empty() ? ls.evaluator.path : ls.evaluator.name;
    if (ev_past)
        log_warn("LongPPL evaluator {} runs over {} tokens, past its trained context {}, without rope scaling "
                 "(--evaluator-rope-scaling); its key tokens may be unreliable",
                 ev_name, ev_max, ev_trained);
    json out = longppl_result_json(r, spec);
    out["evaluator"] = {{"path", ev_name},
                        {"config_hash", o.eident["config_hash"]},
                        {"weights_fingerprint", o.eident["weights"]},
                        {"tokenizer", o.eident["tokenizer"]},
                        {"dtype", o.eident["dtype"]},
                        {"same_tokenizer", o.eident["tokenizer"] == o.ident["tokenizer"]},
                        {"rope", {{"given", o.erope.given}, {"resolved", rope_config_to_json(o.erope)}}},
                        {"self", self},
                        {"allow_self_evaluator", ls.allow_self_evaluator},
                        {"trained_ctx", ev_trained},
                        {"max_tokens", ev_max},
                        {"past_trained_ctx_unscaled", ev_past}};
    out["alpha"] = ls.alpha;
    out["beta"] = ls.beta;
    out["short_window"] = lo.short_window;
    out["stride"] = lo.stride;
    out["split"] = spec.split;
    out["max_docs"] = spec.max_docs;
    out["cache"] = {{"dir", lo.cache_dir.empty() ? json(nullptr) : json(lo.cache_dir)},
                    {"hits", r.cache_hits},
                    {"misses", r.cache_misses}};
    out["data"] = data_json(o.files);
    out["tokens_processed"] = r.tokens_processed;
    out["evaluator_tokens_processed"] = r.evaluator_tokens_processed;
    out["wall_s"] = seconds_since(t0);
    tokens_total += r.tokens_processed + r.evaluator_tokens_processed;
    return out;
}

}  // namespace

int longppl_short_window(const LongPplSpec& s) {
    return s.short_window > 0 ? s.short_window : longppl_default_short_window(s.convention);
}
int longppl_stride(const LongPplSpec& s) { return s.stride > 0 ? s.stride : longppl_default_stride(s.convention); }

std::string default_longppl_cache_dir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ropebench/longppl";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ropebench/longppl";
    return "/tmp/ropebench-cache/longppl";
}

json run_eval(const EvalSpec& spec, ModelCache& cache, const EvalProgress& progress) {
    const auto t_all = Clock::now();
    check_eval_spec(spec);
    const auto metrics = sorted_metrics(spec.metrics);
    Opened o{spec, cache, progress};
    open_inputs(o, metrics);

    json rec;
    rec["schema"] = "ropebench.eval/1";
    rec["software"] = {{"name", "ropebench"}, {"version", ROPEBENCH_VERSION}, {"git", rb::git_describe()}};
    rec["model"] = model_json(o);
    rec["rope"] = rope_json(o.rope, o.rope.given, spec.ctx);
    rec["ctx"] = spec.ctx;
    rec["backend"] = {{"name", spec.model.backend.name},
                      {"threads", spec.model.backend.threads > 0 ? spec.model.backend.threads
                                                                  : ThreadPool::global().size()}};
    rec["seed"] = spec.seed;
    rec["bos"] = bos_note(o.lm->tokenizer->leading_bos(), has(metrics, "longppl") && spec.longppl.convention == "reference");
    rec["identity"] = sha256_hex(identity_of(o, metrics).dump());
    rec["metrics"] = json::object();
    int64_t tokens_total = 0;
    if (has(metrics, "ppl")) rec["metrics"]["ppl"] = run_ppl(o, tokens_total);
    if (has(metrics, "passkey")) rec["metrics"]["passkey"] = run_passkey_metric(o, tokens_total);
    if (has(metrics, "longppl")) rec["metrics"]["longppl"] = run_longppl_metric(o, tokens_total);
    rec["tokens_processed"] = tokens_total;
    rec["wall_s"] = seconds_since(t_all);
    return rec;
}

}  // namespace rb
