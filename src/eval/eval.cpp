#include "util/version.h"
#include "eval/eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "eval/documents.h"
#include "eval/lm.h"
#include "eval/longppl.h"
#include "eval/passkey.h"
#include "eval/perplexity.h"
#include "util/stats.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mapped_file.h"
#include "util/thread_pool.h"

namespace rb {

using json = nlohmann::json;

namespace {

constexpr const char* k_schema = "ropebench.eval/1";

const char* wtype_name(backend::WeightType t) { return t == backend::WeightType::bf16 ? "bf16" : "f32"; }

std::string basename_of(const std::string& p) { return std::filesystem::path(p).filename().string(); }

// sha256 of the first and last MiB (the whole file when ≤ 2 MiB) plus the size: cheap,
// and different for any two real checkpoints.
std::string file_fingerprint(const std::string& path) {
    MappedFile f(path);
    const size_t mib = size_t(1) << 20;
    std::string_view all(reinterpret_cast<const char*>(f.data()), f.size());
    std::string s = std::to_string(f.size()) + ":";
    if (f.size() <= 2 * mib) {
        s += sha256_hex(all);
    } else {
        s += sha256_hex(all.substr(0, mib)) + ":" + sha256_hex(all.substr(f.size() - mib));
    }
    return s;
}

json config_json_of(const ModelConfig& c) {
    return {{"architecture", c.architecture},   {"model_type", c.model_type},
            {"hidden_size", c.hidden_size},     {"intermediate_size", c.intermediate_size},
            {"num_layers", c.num_layers},       {"num_heads", c.num_heads},
            {"num_kv_heads", c.num_kv_heads},   {"head_dim", c.head_dim},
            {"vocab_size", c.vocab_size},       {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},   {"rope_theta", c.rope_theta},
            {"rope_scaling", c.rope_scaling},   {"tie_word_embeddings", c.tie_word_embeddings},
            {"bos_id", c.bos_id},               {"eos_id", c.eos_id}};
}

json identity_of(const Checkpoint& ck, const Tokenizer& tok, backend::WeightType wtype) {
    std::string config_hash;
    const std::string cfg_path = (std::filesystem::path(ck.path()) / "config.json").string();
    if (ck.format() != "gguf" && file_exists(cfg_path))
        config_hash = sha256_file(cfg_path);
    else
        config_hash = sha256_hex(config_json_of(ck.config()).dump());
    std::vector<std::string> files;
    for (const auto& t : ck.tensors())
        if (std::find(files.begin(), files.end(), t.file) == files.end()) files.push_back(t.file);
    std::sort(files.begin(), files.end());
    json w = json::array();
    for (const auto& f : files) w.push_back({basename_of(f), file_fingerprint(f)});
    return {{"config_hash", config_hash},
            {"weights", sha256_hex(w.dump())},
            {"tokenizer", tok.identity()},
            {"dtype", wtype_name(wtype)}};
}

std::string cache_key(const LoadOptions& o) {
    return fmt::format("{}|{}|{}|{}|{}", o.path, wtype_name(o.wtype), o.backend.name, o.backend.threads, o.backend.isa);
}

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

PplOptions ppl_options(const EvalSpec& s) {
    PplOptions p;
    p.ctx = s.ctx;
    p.protocol = s.ppl.protocol;
    p.stride = s.ppl.stride;
    p.bucket = s.ppl.bucket;
    return p;
}

std::vector<std::string> sorted_metrics(const std::vector<std::string>& m) {
    std::vector<std::string> out;
    for (const auto& x : m) {
        if (x != "ppl" && x != "passkey" && x != "longppl")
            throw UsageError("--metrics: unknown metric '{}', expected ppl, passkey or longppl", x);
        if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
    }
    if (out.empty()) throw UsageError("--metrics: at least one metric is needed");
    std::sort(out.begin(), out.end());
    return out;
}

bool has(const std::vector<std::string>& v, const char* x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::vector<double> depths_of(const PasskeySpec& p) {
    if (!p.depths.empty()) return p.depths;
    std::vector<double> d;
    for (int i = 0; i <= 10; i++) d.push_back(i / 10.0);
    return d;
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

void check_spec(const EvalSpec& s, const std::vector<std::string>& metrics) {
    if (s.ctx < 2) throw UsageError("--ctx: must be at least 2, got {}", s.ctx);
    if ((has(metrics, "ppl") || has(metrics, "longppl")) && s.texts.empty())
        throw UsageError("--text: needed for the ppl and longppl metrics");
    if (has(metrics, "longppl") && s.longppl.evaluator.path.empty())
        throw UsageError("--evaluator: needed for the longppl metric");
    if (s.bootstrap_resamples < 0) throw UsageError("--bootstrap: must be >= 0, got {}", s.bootstrap_resamples);
    check_passkey_protocol(s.passkey.protocol);
    if (s.passkey.protocol == "yarn" && has(metrics, "passkey")) {
        if (!s.passkey.depths.empty())
            throw UsageError("--depths: the yarn passkey protocol draws each depth at random; depths apply to grid only");
        if (!s.passkey.haystack.empty())
            throw UsageError("--haystack: the yarn passkey protocol uses the script's own filler; haystack applies to grid only");
    }
    check_longppl_convention(s.longppl.convention);
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

json model_identity(const LoadOptions& opts) {
    auto ck = Checkpoint::open(opts.path);
    auto tok = Tokenizer::from_checkpoint(*ck);
    return identity_of(*ck, *tok, opts.wtype);
}

LoadedModel& ModelCache::get(const LoadOptions& opts, int64_t ctx) {
    const std::string k = cache_key(opts);
    auto it = m_models.find(k);
    if (it == m_models.end()) it = m_models.emplace(k, std::make_unique<LoadedModel>(load_model(opts, ctx))).first;
    return *it->second;
}

ScoreCache& ModelCache::scores(const LoadOptions& opts) { return m_scores[cache_key(opts)]; }

json eval_identity(const EvalSpec& spec) {
    const auto metrics = sorted_metrics(spec.metrics);
    check_spec(spec, metrics);
    auto ck = Checkpoint::open(spec.model.path);
    auto tok = Tokenizer::from_checkpoint(*ck);
    const RopeConfig rope = resolve_rope(ck->config(), spec.model.rope);
    json m = json::object();
    if (has(metrics, "ppl")) {
        const PplOptions p = ppl_options(spec);
        const int stride = check_ppl_options(p);
        m["ppl"] = {{"protocol", p.protocol},       {"stride", p.protocol == "sliding" ? json(stride) : json(nullptr)},
                    {"bucket", p.bucket},           {"split", spec.split},
                    {"max_docs", spec.max_docs},    {"bootstrap_resamples", spec.bootstrap_resamples}};
    }
    if (has(metrics, "passkey")) {
        json hay = nullptr;
        if (!spec.passkey.haystack.empty()) hay = sha256_file(spec.passkey.haystack);
        const bool yarn = spec.passkey.protocol == "yarn";
        m["passkey"] = {{"depths", yarn ? json(nullptr) : json(depths_of(spec.passkey))},
                        {"trials", spec.passkey.trials},
                        {"seed", spec.passkey.seed},
                        {"max_new_tokens", spec.passkey.max_new_tokens},
                        {"haystack_sha256", yarn ? json(nullptr) : hay}};
        // Named only when not the default, so that stores written before the protocols
        // existed keep their keys (a resume re-runs nothing).
        if (yarn) m["passkey"]["protocol"] = spec.passkey.protocol;
    }
    if (has(metrics, "longppl")) {
        const auto& e = spec.longppl.evaluator;
        auto eck = Checkpoint::open(e.path);
        auto etok = Tokenizer::from_checkpoint(*eck);
        const RopeConfig erope = resolve_rope(eck->config(), e.rope);
        m["longppl"] = {{"evaluator", {{"model", identity_of(*eck, *etok, e.wtype)}, {"rope", rope_config_to_json(erope)}}},
                        {"short_window", longppl_short_window(spec.longppl)},
                        {"stride", longppl_stride(spec.longppl)},
                        {"alpha", spec.longppl.alpha},
                        {"beta", spec.longppl.beta},
                        {"allow_self_evaluator", spec.longppl.allow_self_evaluator},
                        {"split", spec.split},
                        {"max_docs", spec.max_docs},
                        {"bootstrap_resamples", spec.bootstrap_resamples}};
        if (spec.longppl.convention != "ropebench") m["longppl"]["convention"] = spec.longppl.convention;  // as above
    }
    json data = nullptr;
    if (has(metrics, "ppl") || has(metrics, "longppl")) {
        std::vector<DataFile> files;
        load_documents(spec.texts, 0, &files);
        data = json::array();
        for (const auto& f : files) data.push_back({{"name", basename_of(f.path)}, {"sha256", f.sha256}});
    }
    return {{"schema", k_schema},
            {"model", identity_of(*ck, *tok, spec.model.wtype)},
            {"rope", rope_config_to_json(rope)},
            {"ctx", spec.ctx},
            {"metrics", m},
            {"data", data},
            {"seed", spec.seed}};
}

std::string eval_identity_hash(const EvalSpec& spec) { return sha256_hex(eval_identity(spec).dump()); }

json run_eval(const EvalSpec& spec, ModelCache& cache, const EvalProgress& progress) {
    using clock = std::chrono::steady_clock;
    const auto t_all = clock::now();
    const auto metrics = sorted_metrics(spec.metrics);
    check_spec(spec, metrics);
    const int L = spec.ctx;

    std::vector<Document> docs;
    std::vector<DataFile> files;
    if (has(metrics, "ppl") || has(metrics, "longppl")) docs = load_documents(spec.texts, spec.split ? 0 : spec.max_docs, &files);

    LoadedModel& lm = cache.get(spec.model, spec.ctx);
    // RoPE is resolved once per evaluation and handed to every Session this evaluation opens.
    const RopeConfig rope = resolve_rope(lm.ckpt->config(), spec.model.rope);
    for (const auto& w : rope.warnings) log_warn("rope_scaling: {}", w);
    const json& rope_given = rope.given;
    const json ident = identity_of(*lm.ckpt, *lm.tokenizer, spec.model.wtype);
    const ModelConfig& cfg = lm.ckpt->config();
    json rec;
    rec["schema"] = k_schema;
    rec["software"] = {{"name", "ropebench"}, {"version", ROPEBENCH_VERSION}, {"git", rb::git_describe()}};
    rec["model"] = {{"path", spec.model.name.empty() ? spec.model.path : spec.model.name},
                    {"local_path", spec.model.path},
                    {"format", lm.ckpt->format()},
                    {"quantisation", quantisation(*lm.ckpt)},
                    {"config_hash", ident["config_hash"]},
                    {"weights_fingerprint", ident["weights"]},
                    {"tokenizer", ident["tokenizer"]},
                    {"architecture", cfg.architecture},
                    {"dtype", wtype_name(spec.model.wtype)},
                    {"trained_ctx", cfg.max_position_embeddings},
                    {"head_dim", cfg.head_dim},
                    {"rope_theta", cfg.rope_theta},
                    {"params", lm.model->parameter_count()}};
    rec["rope"] = rope_json(rope, rope_given, L);
    rec["ctx"] = L;
    rec["backend"] = {{"name", spec.model.backend.name},
                      {"threads", spec.model.backend.threads > 0 ? spec.model.backend.threads
                                                                  : ThreadPool::global().size()}};
    rec["seed"] = spec.seed;
    const int bos = lm.tokenizer->leading_bos();
    const bool longppl_ref = has(metrics, "longppl") && spec.longppl.convention == "reference";
    rec["bos"] = bos < 0 ? "no BOS (the tokenizer adds none): a window's first token is not scored"
                 : longppl_ref
                     ? "BOS prepended to every ppl window and passkey prompt; LongPPL (convention reference): none on "
                       "the evaluated text, the evaluator's tokenizer's own rule on its text"
                     : "BOS prepended to every ppl window, LongPPL window and passkey prompt";
    rec["identity"] = eval_identity_hash(spec);
    rec["metrics"] = json::object();
    int64_t tokens_total = 0;

    if (has(metrics, "ppl")) {
        const auto t0 = clock::now();
        const PplOptions p = ppl_options(spec);
        check_ppl_options(p);
        SplitInfo si;
        auto tdocs = tokenize_documents(*lm.tokenizer, docs, spec.split ? split_length(p, bos) : 0,
                                        spec.split ? spec.max_docs : 0, &si);
        // truncate: one window per document from its start, the windows the cache serves.
        ModelLm mlm(*lm.model, rope, p.protocol == "truncate" ? &cache.scores(spec.model) : nullptr);
        PplResult r = evaluate_perplexity_tokens(mlm, bos, tdocs, p, [&](int64_t d, int64_t n) {
            if (progress) progress("ppl", d, n);
        });
        json o = {{"protocol", r.protocol},
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
        add_bootstrap(o, nll, cnt, spec.bootstrap_resamples, spec.seed, "documents");
        o["buckets"] = {{"size", r.bucket}, {"nll_sum", r.bucket_nll}, {"count", r.bucket_count}};
        o["per_doc"] = per_doc;
        o["data"] = data_json(files);
        o["tokens_processed"] = r.tokens_processed;
        o["wall_s"] = std::chrono::duration<double>(clock::now() - t0).count();
        tokens_total += r.tokens_processed;
        rec["metrics"]["ppl"] = o;
    }

    if (has(metrics, "passkey")) {
        const auto t0 = clock::now();
        const auto& ps = spec.passkey;
        std::vector<std::string> filler = passkey_filler_sentences();
        json hay = nullptr;
        if (!ps.haystack.empty()) {
            std::string text = read_file(ps.haystack);
            filler = split_sentences(text, ps.haystack);
            hay = {{"file", ps.haystack}, {"sha256", sha256_hex(text)}, {"sentences", filler.size()}};
        }
        const bool yarn = ps.protocol == "yarn";
        const auto depths = yarn ? std::vector<double>{} : depths_of(ps);
        ModelLm mlm(*lm.model, rope);
        auto pk_progress = [&](int64_t d, int64_t n) {
            if (progress) progress("passkey", d, n);
        };
        PasskeyResult r = yarn ? run_passkey_yarn(mlm, *lm.tokenizer, L, ps.trials, ps.seed, ps.max_new_tokens, pk_progress)
                               : run_passkey(mlm, *lm.tokenizer, L, depths, ps.trials, ps.seed, ps.max_new_tokens,
                                             filler, pk_progress);
        json per_depth = json::array();
        for (const auto& d : r.per_depth)
            per_depth.push_back({{"depth", d.depth},
                                 {"trials", d.trials},
                                 {"correct", d.correct},
                                 {"accuracy", static_cast<double>(d.correct) / d.trials},
                                 {"ci95", interval_json(wilson(d.correct, d.trials))}});
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
        json o = {{"protocol", r.protocol},
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
                  {"haystack", hay},
                  {"per_depth", per_depth},
                  {"per_trial", per_trial},
                  {"tokens_processed", mlm.tokens_processed()},
                  {"wall_s", std::chrono::duration<double>(clock::now() - t0).count()}};
        tokens_total += mlm.tokens_processed();
        rec["metrics"]["passkey"] = o;
    }

    if (has(metrics, "longppl")) {
        const auto t0 = clock::now();
        const LongPplSpec& ls = spec.longppl;
        LoadedModel& ev = cache.get(ls.evaluator, spec.ctx);
        const json eident = identity_of(*ev.ckpt, *ev.tokenizer, ls.evaluator.wtype);
        const RopeConfig erope = resolve_rope(ev.ckpt->config(), ls.evaluator.rope);
        for (const auto& w : erope.warnings) log_warn("evaluator rope_scaling: {}", w);
        const json& erope_given = erope.given;
        const bool self = eident["config_hash"] == ident["config_hash"] && eident["weights"] == ident["weights"];
        if (self && !ls.allow_self_evaluator)
            throw Error("--evaluator: {} is the model under test (same config and weights); LongPPL needs a fixed, "
                        "separate evaluator (--allow-self-evaluator overrides)",
                        ls.evaluator.path);
        LongPplOptions o;
        o.convention = ls.convention;
        o.ctx = L;
        o.short_window = longppl_short_window(ls);
        o.stride = longppl_stride(ls);
        o.alpha = ls.alpha;
        o.beta = ls.beta;
        o.cache_dir = longppl_cache_dir(ls);
        const json ev_json = {{"model", eident}, {"rope", rope_config_to_json(erope)}};
        o.evaluator_identity = ev_json.dump();
        ModelLm mlm(*lm.model, rope, &cache.scores(spec.model));  // its windows: those of ppl truncate
        ModelLm elm(*ev.model, erope);
        LongPplResult r = evaluate_longppl(mlm, *lm.tokenizer, elm, *ev.tokenizer, docs, o, spec.split, spec.max_docs,
                                           [&](int64_t d, int64_t n) {
                                               if (progress) progress("longppl", d, n);
                                           });
        // The evaluator's own full pass runs over every evaluator token of a unit.
        int64_t ev_max = 0;
        for (const auto& d : r.docs) ev_max = std::max(ev_max, d.evaluator_tokens);
        const int64_t ev_trained = ev.ckpt->config().max_position_embeddings;
        const bool ev_past = ev_trained > 0 && ev_max > ev_trained && erope.type == RopeType::default_;
        if (ev_past)
            log_warn("LongPPL evaluator {} runs over {} tokens, past its trained context {}, without rope scaling "
                     "(--evaluator-rope-scaling); its key tokens may be unreliable",
                     ls.evaluator.name.empty() ? ls.evaluator.path : ls.evaluator.name, ev_max, ev_trained);
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
        out["evaluator"] = {{"path", ls.evaluator.name.empty() ? ls.evaluator.path : ls.evaluator.name},
                            {"config_hash", eident["config_hash"]},
                            {"weights_fingerprint", eident["weights"]},
                            {"tokenizer", eident["tokenizer"]},
                            {"dtype", eident["dtype"]},
                            {"same_tokenizer", eident["tokenizer"] == ident["tokenizer"]},
                            {"rope", {{"given", erope_given}, {"resolved", rope_config_to_json(erope)}}},
                            {"self", self},
                            {"allow_self_evaluator", ls.allow_self_evaluator},
                            {"trained_ctx", ev_trained},
                            {"max_tokens", ev_max},
                            {"past_trained_ctx_unscaled", ev_past}};
        out["alpha"] = ls.alpha;
        out["beta"] = ls.beta;
        out["short_window"] = o.short_window;
        out["stride"] = o.stride;
        out["split"] = spec.split;
        out["max_docs"] = spec.max_docs;
        out["cache"] = {{"dir", o.cache_dir.empty() ? json(nullptr) : json(o.cache_dir)},
                        {"hits", r.cache_hits},
                        {"misses", r.cache_misses}};
        out["per_doc"] = per_doc;
        out["data"] = data_json(files);
        out["tokens_processed"] = r.tokens_processed;
        out["evaluator_tokens_processed"] = r.evaluator_tokens_processed;
        out["wall_s"] = std::chrono::duration<double>(clock::now() - t0).count();
        tokens_total += r.tokens_processed + r.evaluator_tokens_processed;
        rec["metrics"]["longppl"] = out;
    }
    rec["tokens_processed"] = tokens_total;
    rec["wall_s"] = std::chrono::duration<double>(clock::now() - t_all).count();
    return rec;
}

}  // namespace rb
