// ropebench generate MODEL --prompt TEXT [-n N]: greedy decoding with the KV cache.
#include <fmt/format.h>

#include "command.h"
#include "util/log.h"
#include "util/error.h"

namespace rb::app {
namespace {

struct GenerateArgs {
    ModelOptions m;
    std::string prompt;
    int n = 64;
    int ctx = 0;
    bool json = false;
    bool no_bos = false;
};

CommandRegistrar reg("generate", 30, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<GenerateArgs>();
    auto* sub = app.add_subcommand("generate", "greedy decoding from a prompt (BOS first when the tokenizer adds one)");
    add_model_options(sub, a->m);
    sub->add_option("-p,--prompt", a->prompt, "prompt text (\"\" = BOS only)")->required();
    sub->add_option("-n,--n-predict", a->n, "tokens to generate")->check(count_validator(0, k_max_context));
    sub->add_option("--ctx", a->ctx, "KV cache capacity (default: prompt + n)")->check(count_validator(0, k_max_context));
    sub->add_flag("--no-bos", a->no_bos, "do not prepend BOS");
    sub->add_flag("--json", a->json, "print one JSON object");
    return [a]() {
        apply_threads(a->m);
        // Refuse a cache that will not fit before loading: --ctx, else at most BOS + the dummy
        // prefix + one token per prompt byte + n.
        const int64_t cap_bound = a->ctx > 0 ? a->ctx : int64_t(a->prompt.size()) + 2 + a->n;
        if (cap_bound > k_max_context)
            throw UsageError("--prompt: {} bytes + {} new tokens may exceed the longest context, {} tokens",
                             a->prompt.size(), a->n, k_max_context);
        const LoadOptions lo = load_options(a->m);
        LoadedModel lm = load_model(lo, cap_bound);
        std::vector<int> prompt;
        if (!a->no_bos && lm.tokenizer->leading_bos() >= 0) prompt.push_back(lm.tokenizer->leading_bos());
        auto ids = lm.tokenizer->encode(a->prompt);
        prompt.insert(prompt.end(), ids.begin(), ids.end());
        if (prompt.empty())
            throw UsageError("--prompt: empty prompt and no BOS ({})",
                             a->no_bos ? "--no-bos" : "the tokenizer adds none");
        int cap = a->ctx > 0 ? a->ctx : static_cast<int>(prompt.size()) + a->n;
        if (cap < static_cast<int>(prompt.size()))
            throw UsageError("--ctx: {} is smaller than the prompt ({} tokens)", cap, prompt.size());
        const RopeConfig rope = resolve_rope(lm.ckpt->config(), lo.rope);
        for (const auto& w : rope.warnings) log_warn("rope_scaling: {}", w);
        auto s = lm.model->new_session(cap, rope);
        auto out = lm.model->generate_greedy(*s, prompt, a->n);
        std::string text = lm.tokenizer->decode(out);
        if (a->json) {
            print_json({{"prompt_tokens", prompt.size()}, {"tokens", out}, {"text", text}});
        } else {
            fmt::print("{}\n", text);
        }
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
