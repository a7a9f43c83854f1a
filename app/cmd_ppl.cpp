// ropebench ppl MODEL --text PATH... --ctx L: perplexity under a protocol (DESIGN.md).
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "command.h"
#include "eval/documents.h"
#include "eval/perplexity.h"
#include "util/error.h"

namespace rb::app {
namespace {

struct PplArgs {
    ModelOptions m;
    std::vector<std::string> text;
    int ctx = 0;
    int max_docs = 0;
    PplOptions p;
    bool json = false;
};

CommandRegistrar reg("ppl", 40, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<PplArgs>();
    auto* sub = app.add_subcommand("ppl", "perplexity of text files / .jsonl / folders at context L");
    add_model_options(sub, a->m);
    sub->add_option("--text", a->text, "text file (one document), .jsonl (one {\"text\"} per line) or folder")
        ->required();
    sub->add_option("--ctx", a->p.ctx, "context length L")->required()->check(CLI::PositiveNumber);
    sub->add_option("--protocol", a->p.protocol, "truncate (default)");
    sub->add_option("--max-docs", a->max_docs, "use at most N documents")->check(CLI::NonNegativeNumber);
    sub->add_option("--bucket", a->p.bucket, "position bucket width for the NLL profile")->check(CLI::PositiveNumber);
    sub->add_flag("--json", a->json, "print one JSON object");
    return [a]() {
        apply_threads(a->m);
        std::vector<DataFile> files;
        auto docs = load_documents(a->text, a->max_docs, &files);
        LoadedModel lm = load_model(load_options(a->m));
        auto t0 = std::chrono::steady_clock::now();
        PplResult r = evaluate_perplexity(*lm.model, *lm.tokenizer, lm.rope, docs, a->p);
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (a->json) {
            nlohmann::json data = nlohmann::json::array();
            for (auto& f : files) data.push_back({{"file", f.path}, {"sha256", f.sha256}, {"documents", f.documents}});
            print_json({{"ppl", r.ppl()},
                        {"mean_nll", r.mean_nll()},
                        {"tokens_scored", r.tokens_scored},
                        {"documents", r.documents_used},
                        {"documents_skipped", r.documents_skipped},
                        {"ctx", r.ctx},
                        {"protocol", r.protocol},
                        {"rope", lm.rope_given},
                        {"buckets", {{"size", r.bucket}, {"nll_sum", r.bucket_nll}, {"count", r.bucket_count}}},
                        {"data", data},
                        {"wall_s", wall}});
        } else {
            fmt::print("ppl {:.4f}  mean_nll {:.6f}  tokens_scored {}  documents {} (skipped {})  ctx {}  protocol {}\n",
                       r.ppl(), r.mean_nll(), r.tokens_scored, r.documents_used, r.documents_skipped, r.ctx,
                       r.protocol);
        }
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
