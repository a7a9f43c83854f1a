// The identity of an evaluation (what keys the store), computed from objects already open,
// the spec checks it starts with, and ModelCache, which keeps those objects open.
#include <algorithm>
#include <filesystem>

#include "eval/eval.h"
#include "eval/longppl.h"
#include "eval/passkey.h"
#include "eval/spec_detail.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace rb {

using json = nlohmann::json;

namespace eval_detail {

const char* wtype_name(backend::WeightType t) { return t == backend::WeightType::bf16 ? "bf16" : "f32"; }

std::vector<std::string> sorted_metrics(const std::vector<std::string>& m) {
    std::vector<std::string> out;
    for (const auto& x : m) {
        if (x != "ppl" && x != "passkey" && x != "longppl")
            throw FieldError("metrics", "unknown metric '{}', expected ppl, passkey or longppl", x);
        if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
    }
    if (out.empty()) throw FieldError("metrics", "at least one metric is needed");
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

PplOptions ppl_options(const EvalSpec& s) {
    PplOptions p;
    p.ctx = s.ctx;
    p.protocol = s.ppl.protocol;
    p.stride = s.ppl.stride;
    p.bucket = s.ppl.bucket;
    return p;
}

}  // namespace eval_detail

using namespace eval_detail;

namespace {

constexpr const char* k_schema = "ropebench.eval/1";

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

std::string cache_key(const LoadOptions& o) {
    return fmt::format("{}|{}|{}|{}|{}", o.path, wtype_name(o.wtype), o.backend.name, o.backend.threads, o.backend.isa);
}

json ppl_identity(const EvalSpec& spec) {
    const PplOptions p = ppl_options(spec);
    const int stride = check_ppl_options(p);
    return {{"protocol", p.protocol},    {"stride", p.protocol == "sliding" ? json(stride) : json(nullptr)},
            {"bucket", p.bucket},        {"split", spec.split},
            {"max_docs", spec.max_docs}, {"bootstrap_resamples", spec.bootstrap_resamples}};
}

json passkey_identity(const PasskeySpec& ps, const std::string* haystack_sha256) {
    const bool yarn = ps.protocol == "yarn";
    json hay = nullptr;
    if (!ps.haystack.empty()) {
        RB_CHECK(haystack_sha256, "the haystack's hash is an input of the identity");
        hay = *haystack_sha256;
    }
    json m = {{"depths", yarn ? json(nullptr) : json(depths_of(ps))},
              {"trials", ps.trials},
              {"seed", ps.seed},
              {"max_new_tokens", ps.max_new_tokens},
              {"haystack_sha256", yarn ? json(nullptr) : hay}};
    // Named only when not the default, so that stores written before the protocols
    // existed keep their keys (a resume re-runs nothing).
    if (yarn) m["protocol"] = ps.protocol;
    return m;
}

json longppl_identity(const EvalSpec& spec, const ModelFacts& evaluator, const RopeConfig* resolved) {
    const LongPplSpec& ls = spec.longppl;
    RB_CHECK(evaluator.config && evaluator.identity, "the evaluator is an input of the identity");
    const RopeConfig erope = resolved ? *resolved : resolve_rope(*evaluator.config, ls.evaluator.rope);
    json m = {{"evaluator", {{"model", *evaluator.identity}, {"rope", rope_config_to_json(erope)}}},
              {"short_window", longppl_short_window(ls)},
              {"stride", longppl_stride(ls)},
              {"alpha", ls.alpha},
              {"beta", ls.beta},
              {"allow_self_evaluator", ls.allow_self_evaluator},
              {"split", spec.split},
              {"max_docs", spec.max_docs},
              {"bootstrap_resamples", spec.bootstrap_resamples}};
    if (ls.convention != "ropebench") m["convention"] = ls.convention;  // as for the passkey protocol
    return m;
}

}  // namespace

json model_identity(const Checkpoint& ck, const Tokenizer& tok, backend::WeightType wtype) {
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

void check_eval_spec(const EvalSpec& s) {
    const auto metrics = sorted_metrics(s.metrics);
    check_context_length(s.ctx);
    if ((has(metrics, "ppl") || has(metrics, "longppl")) && s.texts.empty())
        throw FieldError("texts", "needed for the ppl and longppl metrics");
    if (has(metrics, "longppl") && s.longppl.evaluator.path.empty())
        throw FieldError("longppl.evaluator", "needed for the longppl metric");
    if (s.bootstrap_resamples < 0) throw FieldError("bootstrap_resamples", "must be >= 0, got {}", s.bootstrap_resamples);
    check_passkey_protocol(s.passkey.protocol);
    if (s.passkey.protocol == "yarn" && has(metrics, "passkey")) {
        if (!s.passkey.depths.empty())
            throw FieldError("passkey.depths", "the yarn passkey protocol draws each depth at random; depths apply to grid only");
        if (!s.passkey.haystack.empty())
            throw FieldError("passkey.haystack",
                             "the yarn passkey protocol uses the script's own filler; haystack applies to grid only");
    }
    check_longppl_convention(s.longppl.convention);
    if (has(metrics, "ppl")) check_ppl_options(ppl_options(s));
}

json eval_detail::identity_json(const EvalSpec& spec, const IdentityInputs& in) {
    const auto metrics = sorted_metrics(spec.metrics);
    RB_CHECK(in.model.config && in.model.identity, "the model is an input of the identity");
    const RopeConfig rope = in.rope ? *in.rope : resolve_rope(*in.model.config, spec.model.rope);
    json m = json::object();
    if (has(metrics, "ppl")) m["ppl"] = ppl_identity(spec);
    if (has(metrics, "passkey")) m["passkey"] = passkey_identity(spec.passkey, in.haystack_sha256);
    if (has(metrics, "longppl")) m["longppl"] = longppl_identity(spec, in.evaluator, in.evaluator_rope);
    json data = nullptr;
    if (has(metrics, "ppl") || has(metrics, "longppl")) {
        RB_CHECK(in.data, "the texts are an input of the identity");
        data = json::array();
        for (const auto& f : *in.data) data.push_back({{"name", basename_of(f.path)}, {"sha256", f.sha256}});
    }
    return {{"schema", k_schema},
            {"model", *in.model.identity},
            {"rope", rope_config_to_json(rope)},
            {"ctx", spec.ctx},
            {"metrics", m},
            {"data", data},
            {"seed", spec.seed}};
}

json eval_identity(const EvalSpec& spec, const IdentityInputs& in) {
    check_eval_spec(spec);
    return identity_json(spec, in);
}

json eval_identity(const EvalSpec& spec, ModelCache& cache) {
    check_eval_spec(spec);  // before anything is opened
    const auto metrics = sorted_metrics(spec.metrics);
    IdentityInputs in;
    in.model = cache.facts(spec.model);
    if (has(metrics, "longppl")) in.evaluator = cache.facts(spec.longppl.evaluator);
    if (has(metrics, "ppl") || has(metrics, "longppl")) in.data = &cache.data_files(spec.texts);
    if (has(metrics, "passkey") && !spec.passkey.haystack.empty())
        in.haystack_sha256 = &cache.file_sha256(spec.passkey.haystack);
    return identity_json(spec, in);
}

json eval_identity(const EvalSpec& spec) {
    ModelCache cache;
    return eval_identity(spec, cache);
}

std::string eval_identity_hash(const EvalSpec& spec) { return sha256_hex(eval_identity(spec).dump()); }

ModelCache::Header& ModelCache::header(const std::string& path) {
    Header& h = m_headers[path];
    if (h.ck) return h;
    for (const auto& [key, lm] : m_models)
        if (key.compare(0, path.size() + 1, path + "|") == 0) {  // cache_key starts with the path
            h.ck = lm->ckpt.get();
            h.tok = lm->tokenizer.get();
            return h;
        }
    auto ckpt = Checkpoint::open(path);
    auto tok = Tokenizer::from_checkpoint(*ckpt);
    m_opens.checkpoints++;
    h.ckpt = std::move(ckpt);
    h.tokenizer = std::move(tok);
    h.ck = h.ckpt.get();
    h.tok = h.tokenizer.get();
    return h;
}

LoadedModel& ModelCache::get(const LoadOptions& opts, int64_t ctx) {
    const std::string k = cache_key(opts);
    auto it = m_models.find(k);
    if (it != m_models.end()) return *it->second;
    auto h = m_headers.find(opts.path);
    std::unique_ptr<LoadedModel> lm;
    if (h != m_headers.end() && h->second.ckpt) {
        // The header facts() opened: its checkpoint and tokenizer become the model's (the
        // header keeps pointing at them).
        try {
            lm = std::make_unique<LoadedModel>(
                load_model(opts, ctx, std::move(h->second.ckpt), std::move(h->second.tokenizer)));
        } catch (...) {
            m_headers.erase(h);  // its checkpoint went with the failed load
            throw;
        }
    } else {
        lm = std::make_unique<LoadedModel>(load_model(opts, ctx));
        m_opens.checkpoints++;
    }
    return *m_models.emplace(k, std::move(lm)).first->second;
}

ScoreCache& ModelCache::scores(const LoadOptions& opts) { return m_scores[cache_key(opts)]; }

ModelFacts ModelCache::facts(const LoadOptions& opts) {
    Header& h = header(opts.path);
    const int w = static_cast<int>(opts.wtype);
    auto it = h.identity.find(w);
    if (it == h.identity.end()) it = h.identity.emplace(w, model_identity(*h.ck, *h.tok, opts.wtype)).first;
    return {&h.ck->config(), &it->second};
}

const std::vector<DataFile>& ModelCache::data_files(const std::vector<std::string>& texts) {
    auto it = m_data.find(texts);
    if (it != m_data.end()) return it->second;
    std::vector<DataFile> files;
    load_documents(texts, 0, &files);
    m_opens.text_lists++;
    return m_data.emplace(texts, std::move(files)).first->second;
}

const std::string& ModelCache::file_sha256(const std::string& path) {
    auto it = m_sha256.find(path);
    if (it != m_sha256.end()) return it->second;
    std::string h = sha256_file(path);
    m_opens.files++;
    return m_sha256.emplace(path, std::move(h)).first->second;
}

void ModelCache::clear() {
    m_headers.clear();  // points into m_models
    m_models.clear();
    m_scores.clear();
    m_data.clear();
    m_sha256.clear();
}

}  // namespace rb
