// ropebench eval MODEL --ctx L --metrics ppl,passkey,longppl ...: one evaluation, one
// result record (docs/record-schema.md). Also defines the metric flags that the ppl,
// passkey and longppl commands share (declared in those files).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "command.h"
#include "eval/eval.h"
#include "util/error.h"

namespace rb::app {

struct EvalArgs {
    ModelOptions m;
    EvalSpec spec;
    ModelOptions evaluator;  // only model/rope/theta used; dtype and backend follow the model
    std::string key_cache;
    bool json = false;
};

void add_eval_common_flags(CLI::App* sub, EvalArgs& a) {
    add_model_options(sub, a.m);
    sub->add_option("--ctx", a.spec.ctx, "context length L")->required()->check(context_validator());
    sub->add_option("--seed", a.spec.seed, "seed for bootstraps and passkey prompts (default 1234)");
    sub->add_option("--bootstrap", a.spec.bootstrap_resamples, "bootstrap resamples over documents (default 1000)")
        ->check(count_validator(0, 1000000));
    sub->add_flag("--json", a.json, "print one JSON object");
}

void add_text_flags(CLI::App* sub, EvalArgs& a, bool required) {
    auto* t = sub->add_option("--text", a.spec.texts, "text file (one document), .jsonl (one {\"text\"} a line) or folder");
    if (required) t->required();
    sub->add_option("--max-docs", a.spec.max_docs, "use at most N documents (segments with --split)")
        ->check(count_validator(0, INT32_MAX));
    sub->add_flag("--split", a.spec.split, "cut documents into consecutive (L-1)-token segments, each a document");
}

void add_ppl_flags(CLI::App* sub, EvalArgs& a) {
    sub->add_option("--protocol", a.spec.ppl.protocol,
                    "perplexity protocol: truncate (default), chunks, sliding. Every window is a fresh sequence: "
                    "dynamic NTK gets the tables of the window's own length (transformers instead keeps the largest "
                    "length seen, which differs for a shorter last sliding window; docs/record-schema.md)")
        ->check(CLI::IsMember({"truncate", "chunks", "sliding"}));
    sub->add_option("--stride", a.spec.ppl.stride, "sliding: stride S (default L/2)")->check(context_validator());
    sub->add_option("--bucket", a.spec.ppl.bucket, "position bucket width for the NLL profile (default 256)")
        ->check(context_validator());
}

void add_passkey_flags(CLI::App* sub, EvalArgs& a) {
    sub->add_option("--passkey-protocol", a.spec.passkey.protocol,
                    "grid (default): whole filler sentences, needle at each --depths, 5-digit keys; yarn: the YaRN/"
                    "Landmark script (jquesnelle/yarn eval/passkey.py) with Python's random seeded by --seed: key "
                    "randint(1, 50000), random character depth, filler cut at a character count, prompt below L tokens")
        ->check(CLI::IsMember({"grid", "yarn"}));
    sub->add_option("--trials", a.spec.passkey.trials, "trials per depth (default 10; yarn: trials in all)")
        ->check(count_validator(1, 1000000));
    sub->add_option("--depths", a.spec.passkey.depths, "needle depths in [0,1], comma-separated (default 0,0.1,...,1)")
        ->delimiter(',');
    sub->add_option("--max-new-tokens", a.spec.passkey.max_new_tokens, "tokens to generate (default 10)")
        ->check(count_validator(1, 10));
    sub->add_option("--haystack", a.spec.passkey.haystack, "text file whose sentences replace the canonical filler");
}

void add_longppl_flags(CLI::App* sub, EvalArgs& a, bool required) {
    auto* e = sub->add_option("--evaluator", a.evaluator.model, "evaluator model that picks the key tokens");
    if (required) e->required();
    sub->add_option("--evaluator-rope-scaling", a.evaluator.rope_scaling, "the evaluator's rope_scaling JSON or 'none'");
    sub->add_option("--evaluator-rope-theta", a.evaluator.rope_theta, "override the evaluator's RoPE base")
        ->check(rope_theta_validator());
    sub->add_option("--longppl-convention", a.spec.longppl.convention,
                    "ropebench (default): BOS + L-1 tokens, LongPPL pooled over key tokens; reference: PKU-ML/LongPPL's "
                    "compute_longppl (L tokens without BOS, K=4096 d=1024 unless given, n_key-weighted mean over documents)")
        ->check(CLI::IsMember({"ropebench", "reference"}));
    sub->add_option("--short-window", a.spec.longppl.short_window, "LongPPL short context K (default 1024; reference 4096)")
        ->check(context_validator());
    sub->add_option("--key-stride", a.spec.longppl.stride, "LongPPL sliding step d (default 512; reference 1024)")
        ->check(context_validator());
    sub->add_option("--alpha", a.spec.longppl.alpha, "key token: short loss - full loss > alpha (default 2)")
        ->check(number_validator());
    sub->add_option("--beta", a.spec.longppl.beta, "key token: full loss < -beta (default -2)")->check(number_validator());
    sub->add_option("--key-cache", a.key_cache, "key-set cache folder ('-' = none; default ~/.cache/ropebench/longppl)");
    sub->add_flag("--allow-self-evaluator", a.spec.longppl.allow_self_evaluator,
                  "allow the model under test as its own evaluator (recorded)");
}

/// Fills the spec's load options from the parsed flags.
void finish_spec(EvalArgs& a) {
    apply_threads(a.m);
    a.spec.model = load_options(a.m);
    a.spec.passkey.seed = a.spec.seed;
    if (!a.evaluator.model.empty()) {
        ModelOptions e = a.m;
        e.model = a.evaluator.model;
        e.rope_scaling = a.evaluator.rope_scaling;
        e.rope_theta = a.evaluator.rope_theta;
        a.spec.longppl.evaluator = load_options(e, "--evaluator-rope-scaling");
    }
    a.spec.longppl.cache_dir = a.key_cache;
}

/// Progress on stderr when it is a terminal, at most every half second.
EvalProgress stderr_progress() {
    if (!isatty(2)) return {};
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    return [last](const std::string& m, int64_t done, int64_t total) {
        auto now = std::chrono::steady_clock::now();
        if (done != total && now - *last < std::chrono::milliseconds(500)) return;
        *last = now;
        fmt::print(stderr, "\r{} {}/{}{}", m, done, total, done == total ? "\n" : "");
    };
}

std::shared_ptr<EvalArgs> make_eval_args() { return std::make_shared<EvalArgs>(); }

/// Runs one metric through run_eval; returns that metric's object with ctx, documents
/// (ppl), model and rope added.
nlohmann::json run_metric(EvalArgs& a, const std::string& metric, bool* json_out) {
    finish_spec(a);
    a.spec.metrics = {metric};
    ModelCache cache;
    nlohmann::json rec = run_eval(a.spec, cache, stderr_progress());
    nlohmann::json o = rec["metrics"][metric];
    o["ctx"] = rec["ctx"];
    if (metric == "ppl") o["documents"] = o["documents_used"];
    o["model"] = rec["model"];
    o["rope"] = rec["rope"];
    o["seed"] = rec["seed"];
    o["software"] = rec["software"];
    *json_out = a.json;
    return o;
}

namespace {

CommandRegistrar reg("eval", 70, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<EvalArgs>();
    auto* sub = app.add_subcommand("eval", "run metrics for one (model, rope config, L) and print one result record");
    add_eval_common_flags(sub, *a);
    sub->add_option("--metrics", a->spec.metrics, "comma-separated: ppl, passkey, longppl")->required()->delimiter(',');
    add_text_flags(sub, *a, false);
    add_ppl_flags(sub, *a);
    add_passkey_flags(sub, *a);
    add_longppl_flags(sub, *a, false);
    return [a]() {
        finish_spec(*a);
        ModelCache cache;
        nlohmann::json rec = run_eval(a->spec, cache, stderr_progress());
        if (a->json) {
            print_json(rec);
            return 0;
        }
        fmt::print("ctx {}  rope {}\n", rec["ctx"].get<int>(), rec["rope"]["label"].get<std::string>());
        const auto& m = rec["metrics"];
        if (m.contains("ppl"))
            fmt::print("ppl {}  (protocol {}, tokens {}, documents {})\n", m["ppl"]["ppl"].dump(),
                       m["ppl"]["protocol"].get<std::string>(), m["ppl"]["tokens_scored"].dump(),
                       m["ppl"]["documents_used"].dump());
        if (m.contains("passkey"))
            fmt::print("passkey accuracy {} ({}/{})  ci95 {}\n", m["passkey"]["accuracy"].dump(),
                       m["passkey"]["correct"].dump(), m["passkey"]["trials"].dump(), m["passkey"]["ci95"].dump());
        if (m.contains("longppl"))
            fmt::print("longppl {}  (n_key {}, documents {})\n", m["longppl"]["longppl"].dump(),
                       m["longppl"]["n_key"].dump(), m["longppl"]["documents"].dump());
        fmt::print("wall {:.2f} s\n", rec["wall_s"].get<double>());
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
