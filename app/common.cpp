// Flags shared by the subcommands that run a model.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "command.h"
#include "formats/model_config.h"
#include "hub/hub.h"
#include "rope/methods_table.h"
#include "util/mapped_file.h"
#include "util/thread_pool.h"

namespace rb::app {

void add_model_options(CLI::App* sub, ModelOptions& o, bool model_required) {
    auto* m = sub->add_option("MODEL", o.model, "checkpoint folder, .gguf file, or hub id org/name");
    if (model_required) m->required();
    sub->add_option("--rope-scaling", o.rope_scaling,
                    "rope_scaling JSON as config.json spells it (replaces the checkpoint's own), 'none' (plain "
                    "RoPE) or 'native' (the checkpoint's own, the default). Methods (required [optional] keys): " +
                        rope_methods_help());
    sub->add_option("--rope-theta", o.rope_theta, "override the RoPE base")->check(rope_theta_validator());
    sub->add_option("--dtype", o.dtype, "weight/compute type: f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}));
    sub->add_option("--backend", o.backend, "compute backend")->check(CLI::IsMember({"cpu", "cuda"}));
    add_threads_option(sub, o.threads);
    sub->add_flag("--offline", o.offline, "use only the local Hugging Face cache (also HF_HUB_OFFLINE=1)");
    sub->add_option("--gguf-file", o.gguf_file, "with a hub id: fetch only this GGUF file");
}

namespace {

// A whole decimal number, or nullopt (then the validator names what it got).
std::optional<long long> whole_number(const std::string& v) {
    long long n = 0;
    size_t end = 0;
    try {
        n = std::stoll(v, &end);
    } catch (const std::exception&) {
        end = 0;
    }
    if (end == 0 || end != v.size()) return std::nullopt;
    return n;
}

}  // namespace

CLI::Validator thread_count_validator() {
    // Checked before anything starts threads; CLI11's own range message is a paragraph.
    return CLI::Validator(
        [](std::string& v) -> std::string {
            auto n = whole_number(v);
            if (!n) return "expected a whole number, got '" + v + "'";
            return ThreadPool::check_thread_count(*n);
        },
        "0..1024");
}

CLI::Validator count_validator(long long min, long long max) {
    return CLI::Validator(
        [min, max](std::string& v) -> std::string {
            auto n = whole_number(v);
            if (!n || *n < min || *n > max) return fmt::format("expected a whole number in [{}, {}], got '{}'", min, max, v);
            return "";
        },
        fmt::format("{}..{}", min, max));
}

CLI::Validator context_validator(long long min) { return count_validator(min, k_max_context); }

CLI::Validator number_validator(std::optional<double> above) {
    return CLI::Validator(
        [above](std::string& v) -> std::string {
            double x = 0;
            size_t end = 0;
            try {
                x = std::stod(v, &end);
            } catch (const std::exception&) {
                end = 0;
            }
            if (end == 0 || end != v.size() || !std::isfinite(x) || (above && !(x > *above)))
                return above ? fmt::format("expected a finite number > {:g}, got '{}'", *above, v)
                             : fmt::format("expected a finite number, got '{}'", v);
            return "";
        },
        above ? fmt::format("X > {:g}", *above) : std::string("X"));
}

CLI::Validator rope_theta_validator() { return number_validator(1.0); }

std::string resolve_model_arg(const std::string& model) {
    check_symlink_resolves(model);  // a broken link is an error naming it, never a hub id
    return hub::resolve_model_path(model);
}

CLI::Option* add_threads_option(CLI::App* sub, int& threads) {
    return sub->add_option("-t,--threads", threads, "threads, 0 = all cores (default), at most 1024")
        ->check(thread_count_validator());
}

void apply_threads(const ModelOptions& o) { ThreadPool::set_default_threads(o.threads); }

std::optional<nlohmann::json> parse_rope_scaling_arg(const std::string& flag, const std::string& v) {
    if (v.empty() || v == "native") return std::nullopt;  // what config.json (or the GGUF) says
    if (v == "none" || v == "null") return nlohmann::json(nullptr);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(v);
    } catch (const nlohmann::json::exception& e) {
        throw UsageError("{}: not valid JSON ({}): {}", flag, e.what(), v);
    }
    if (!j.is_object() && !j.is_null()) throw UsageError("{}: expected a JSON object, 'none' or 'native', got {}", flag, v);
    return j;
}

LoadOptions load_options(const ModelOptions& o, const std::string& rope_flag) {
    if (o.offline) hub::default_options().offline = true;
    hub::default_options().gguf_file = o.gguf_file;
    LoadOptions l;
    l.name = o.model;
    l.path = resolve_model_arg(o.model);  // the one resolver: folder, .gguf or hub id
    l.rope.scaling = parse_rope_scaling_arg(rope_flag, o.rope_scaling);
    l.rope.theta = o.rope_theta;
    l.rope.source = rope_flag;
    l.wtype = o.dtype == "bf16" ? backend::WeightType::bf16 : backend::WeightType::f32;
    l.backend.name = o.backend;
    l.backend.threads = o.threads;
    return l;
}

std::string flag_for_field(const std::string& field) {
    // Library fields (EvalSpec's paths, the sweep's shard) and the flags that set them.
    static const std::vector<std::pair<std::string, std::string>> k_flags = {
        {"ctx", "--ctx"},
        {"metrics", "--metrics"},
        {"texts", "--text"},
        {"bootstrap_resamples", "--bootstrap"},
        {"ppl.protocol", "--protocol"},
        {"ppl.stride", "--stride"},
        {"ppl.bucket", "--bucket"},
        {"passkey.protocol", "--passkey-protocol"},
        {"passkey.depths", "--depths"},
        {"passkey.trials", "--trials"},
        {"passkey.max_new_tokens", "--max-new-tokens"},
        {"passkey.haystack", "--haystack"},
        {"longppl.evaluator", "--evaluator"},
        {"longppl.convention", "--longppl-convention"},
        {"longppl.short_window", "--short-window"},
        {"longppl.stride", "--key-stride"},
        {"longppl.alpha", "--alpha"},
        {"longppl.beta", "--beta"},
        {"longppl.allow_self_evaluator", "--allow-self-evaluator"},
        {"shard", "--shard"},
    };
    for (const auto& [f, flag] : k_flags)
        if (f == field) return flag;
    return field;
}

void print_json(const nlohmann::json& j) {
    std::string s = j.dump(1);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

}  // namespace rb::app
