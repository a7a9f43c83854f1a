// ropebench tokenize MODEL (--text S | --file F) [--json] [--no-bos]: token ids of a text,
// printed like llama.cpp's llama-tokenize ("    id -> 'text'" per token). MODEL may be a
// folder with only tokenizer files (tokenizer.model or tokenizer.json), a checkpoint
// folder, a .gguf file or a hub id.
#include <fmt/format.h>

#include "command.h"
#include "hub/hub.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace rb::app {
namespace {

struct TokenizeArgs {
    std::string model;
    std::string text;
    std::string file;
    bool json = false;
    bool no_bos = false;
    bool offline = false;
};

/// Control characters as \n, \t, \xNN so that each token stays on one line; a token
/// that is part of a UTF-8 character (byte-level and byte-fallback pieces) shows its bytes.
std::string escaped(const std::string& s) {
    const bool utf8 = is_valid_utf8(s);
    std::string out;
    for (unsigned char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) out += fmt::format("\\x{:02x}", c);
        else out.push_back(char(c));
    }
    return out;
}

CommandRegistrar reg("tokenize", 25, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<TokenizeArgs>();
    auto* sub = app.add_subcommand("tokenize", "token ids of a text (BOS first when the tokenizer adds one)");
    sub->add_option("MODEL", a->model,
                    "tokenizer folder, checkpoint folder, tokenizer.json, .model or .gguf file, or hub id org/name")
        ->required();
    auto* text = sub->add_option("--text", a->text, "the text");
    auto* file = sub->add_option("--file", a->file, "read the text from this file");
    text->excludes(file);
    file->excludes(text);
    sub->add_flag("--json", a->json, "print one JSON object {\"ids\": [...], ...}");
    sub->add_flag("--no-bos", a->no_bos, "do not prepend BOS");
    sub->add_flag("--offline", a->offline, "use only the local Hugging Face cache (also HF_HUB_OFFLINE=1)");
    return [a, text, file]() {
        if (text->count() == 0 && file->count() == 0) throw UsageError("tokenize: give --text S or --file F");
        if (a->offline) hub::default_options().offline = true;
        const std::string input = file->count() ? read_file(a->file) : a->text;  // read_file names the file
        auto tok = Tokenizer::from_path(resolve_model_arg(a->model));
        std::vector<int> ids;
        const int lead = a->no_bos ? -1 : tok->leading_bos();
        const bool bos = lead >= 0;
        if (bos) ids.push_back(lead);
        auto body = tok->encode(input);
        ids.insert(ids.end(), body.begin(), body.end());
        if (a->json) {
            print_json({{"ids", ids},
                        {"n_tokens", ids.size()},
                        {"bos_added", bos},
                        {"tokenizer", {{"kind", tok->kind()}, {"identity", tok->identity()}, {"vocab_size", tok->vocab_size()}}}});
        } else {
            for (int id : ids) fmt::print("{:6d} -> '{}'\n", id, escaped(tok->token_bytes(id)));
        }
        return 0;
    };
});

}  // namespace
}  // namespace rb::app
