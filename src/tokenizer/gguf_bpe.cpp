#include "tokenizer/gguf_bpe.h"

#include "util/error.h"

namespace rb {

const std::vector<GgufPreTokenizer>& gguf_pre_tokenizers() {
    static const std::vector<GgufPreTokenizer> table = {
        {{"gpt-2", "gpt2"}, k_gpt2_pattern, false, false},
        {{"llama-bpe", "llama3", "llama-v3"}, k_llama3_pattern, false, true},
        {{"qwen2", "qwen2.5", "qwen-2.5", "deepseek-r1-qwen"}, k_qwen2_pattern, true, false},
    };
    return table;
}

BpeSpec gguf_vocab_to_bpe_spec(const GgufVocab& v, const std::string& source) {
    if (v.model != "gpt2")
        throw Error("{}: tokenizer.ggml.model: '{}' is not a byte-level BPE vocabulary (expected 'gpt2')", source, v.model);
    const size_t n = v.tokens.size();
    if (n == 0) throw Error("{}: tokenizer.ggml.tokens: empty vocabulary", source);
    if (v.merges.empty()) throw Error("{}: tokenizer.ggml.merges: missing or empty (required for gpt2 vocabularies)", source);
    if (!v.token_types.empty() && v.token_types.size() != n)
        throw Error("{}: tokenizer.ggml.token_type: expected {} entries (one per token), got {}", source, n,
                    v.token_types.size());
    const GgufPreTokenizer* pre = nullptr;
    for (const auto& p : gguf_pre_tokenizers())
        for (const char* name : p.names)
            if (v.pre == name) pre = &p;
    if (!pre) {
        std::string known;
        for (const auto& p : gguf_pre_tokenizers())
            for (const char* name : p.names) known += (known.empty() ? "" : ", ") + std::string(name);
        throw Error("{}: tokenizer.ggml.pre: unsupported pre-tokenizer '{}' (supported: {})", source,
                    v.pre.empty() ? "(missing)" : v.pre, known);
    }

    BpeSpec s;
    s.source = source;
    s.pieces = v.tokens;
    s.vocab_pieces = int(n);
    for (size_t i = 0; i < n; ++i) {
        const int type = v.token_types.empty() ? 1 : v.token_types[i];
        if (v.tokens[i].empty()) throw Error("{}: tokenizer.ggml.tokens[{}]: empty piece", source, i);
        if (type == 3 || type == 4) {
            BpeAddedToken t;
            t.id = int(i);
            t.content = v.tokens[i];
            t.special = type == 3;
            s.added.push_back(t);
        }
    }
    s.merges.reserve(v.merges.size());
    for (size_t i = 0; i < v.merges.size(); ++i) {
        auto m = split_merge(v.merges[i]);
        if (!m)
            throw Error("{}: tokenizer.ggml.merges[{}]: '{}': expected two pieces separated by a space", source, i,
                        v.merges[i]);
        s.merges.push_back(std::move(*m));
    }
    if (pre->nfc) s.normalizers.push_back({BpeNormalizer::Kind::nfc, "", ""});
    s.pre_tokenizers.push_back({BpePreTokenizer::Kind::split, pre->pattern, false, false, false, "", "", false});
    s.pre_tokenizers.push_back({BpePreTokenizer::Kind::byte_level, "", false, false, false, "", "", false});
    s.ignore_merges = pre->ignore_merges;
    auto check = [&](int id, const char* field) {
        if (id < 0 || size_t(id) >= n) throw Error("{}: {}: id {} out of range, expected 0..{}", source, field, id, n - 1);
        return id;
    };
    s.bos_id = check(v.bos_id, "tokenizer.ggml.bos_token_id");
    s.eos_id = check(v.eos_id, "tokenizer.ggml.eos_token_id");
    s.add_bos = v.add_bos;
    return s;
}

}  // namespace rb
