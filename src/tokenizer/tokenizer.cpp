#include "tokenizer/tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>

#include "formats/gguf.h"
#include "tokenizer/gguf_bpe.h"
#include "tokenizer/gguf_spm.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace rb {
namespace {

// Both paths end here: a SentencePiece model loaded from serialized ModelProto bytes.
class SpmTokenizer final : public Tokenizer {
public:
    SpmTokenizer(const std::string& proto_bytes, std::string source, std::string identity)
        : m_source(std::move(source)), m_identity(std::move(identity)) {
        auto status = m_sp.LoadFromSerializedProto(proto_bytes);
        if (!status.ok())
            throw Error("{}: not a usable SentencePiece model: {}", m_source, status.ToString());
        m_vocab_size = m_sp.GetPieceSize();
        m_bos = m_sp.bos_id();
        m_eos = m_sp.eos_id();
    }

    void set_special(int bos, int eos, bool add_bos) {
        m_bos = bos;
        m_eos = eos;
        m_add_bos = add_bos;
    }

    std::vector<int> encode(std::string_view text) const override {
        std::vector<int> ids;
        auto status = m_sp.Encode(text, &ids);
        if (!status.ok()) throw Error("{}: encoding failed: {}", m_source, status.ToString());
        return ids;
    }

    // Spans come from SentencePiece itself (SentencePieceText.pieces[].begin/end): byte
    // offsets into the original input, mapped back through the normalizer's alignment. A
    // character split into several <0xXX> byte pieces gets its whole span on the first
    // piece and empty spans [end, end) on the rest.
    std::vector<TokenSpan> encode_with_spans(std::string_view text) const override {
        sentencepiece::ImmutableSentencePieceText spt;
        auto status = m_sp.Encode(text, spt.mutable_proto());
        if (!status.ok()) throw Error("{}: encoding failed: {}", m_source, status.ToString());
        std::vector<TokenSpan> out;
        out.reserve(spt.pieces_size());
        for (size_t i = 0; i < spt.pieces_size(); ++i) {
            auto p = spt.pieces(static_cast<int>(i));
            out.push_back({static_cast<int>(p.id()), p.begin(), p.end()});
        }
        return out;
    }

    std::string decode(const std::vector<int>& ids) const override {
        for (size_t i = 0; i < ids.size(); ++i)
            if (ids[i] < 0 || ids[i] >= m_vocab_size)
                throw Error("{}: decode: token id {} at position {} out of range, expected 0..{}", m_source, ids[i],
                            i, m_vocab_size - 1);
        std::string out;
        auto status = m_sp.Decode(ids, &out);
        if (!status.ok()) throw Error("{}: decoding failed: {}", m_source, status.ToString());
        return out;
    }

    std::string piece(int id) const override {
        if (id < 0 || id >= m_vocab_size)
            throw Error("{}: token id {} out of range, expected 0..{}", m_source, id, m_vocab_size - 1);
        return m_sp.IdToPiece(id);
    }
    std::string token_bytes(int id) const override {
        return spm_piece_bytes(piece(id), m_sp.IsByte(id));
    }
    int vocab_size() const override { return m_vocab_size; }
    int bos_id() const override { return m_bos; }
    int eos_id() const override { return m_eos; }
    bool add_bos() const override { return m_add_bos && m_bos >= 0; }
    std::string identity() const override { return m_identity; }
    std::string kind() const override { return "sentencepiece"; }

private:
    sentencepiece::SentencePieceProcessor m_sp;
    std::string m_source, m_identity;
    int m_vocab_size = 0, m_bos = -1, m_eos = -1;
    bool m_add_bos = true;
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_sentencepiece_file(const std::string& path) {
    std::string bytes = read_file(path);  // throws Error naming the path
    if (bytes.empty()) throw Error("{}: empty SentencePiece model file", path);
    return std::make_unique<SpmTokenizer>(bytes, path, sha256_hex(bytes));
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf_vocab(const GgufVocab& vocab, const std::string& source) {
    if (vocab.model == "gpt2") return make_bpe_tokenizer(gguf_vocab_to_bpe_spec(vocab, source));
    std::string proto = gguf_vocab_to_spm_proto(vocab, source);
    // Identity: hash of the rebuilt model (pieces, scores, types, normalizer settings).
    auto tok = std::make_unique<SpmTokenizer>(proto, source, sha256_hex(proto));
    tok->set_special(vocab.bos_id, vocab.eos_id, vocab.add_bos);
    return tok;
}

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path, const std::string& config_path) {
    std::string text = read_file(path);  // throws Error naming the path
    std::optional<std::string> config;
    if (!config_path.empty() && file_exists(config_path)) config = read_file(config_path);
    return make_bpe_tokenizer(parse_tokenizer_json(text, path, config, config_path));
}

std::unique_ptr<Tokenizer> Tokenizer::from_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path d(dir);
    const std::string spm = (d / "tokenizer.model").string();
    if (file_exists(spm)) return from_sentencepiece_file(spm);
    const std::string hf = (d / "tokenizer.json").string();
    if (file_exists(hf)) return from_tokenizer_json(hf, (d / "tokenizer_config.json").string());
    throw Error("{}: no tokenizer: expected tokenizer.model or tokenizer.json in this folder", dir);
}

std::unique_ptr<Tokenizer> Tokenizer::from_path(const std::string& path) {
    if (is_directory(path)) return from_folder(path);
    const std::filesystem::path p(path);
    if (p.extension() == ".json") return from_tokenizer_json(path, (p.parent_path() / "tokenizer_config.json").string());
    if (p.extension() == ".model") return from_sentencepiece_file(path);
    MappedFile f(path);  // throws Error naming the path; tensor pages are never touched
    GgufFile g = parse_gguf(f.data(), f.size(), path);
    auto vocab = gguf_vocab(g);
    if (!vocab) throw Error("{}: no tokenizer: no tokenizer.ggml.tokens in this GGUF file", path);
    return from_gguf_vocab(*vocab, path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_checkpoint(const Checkpoint& ckpt) {
    if (auto path = ckpt.tokenizer_model_path()) return from_sentencepiece_file(*path);
    if (auto vocab = ckpt.gguf_vocab()) return from_gguf_vocab(*vocab, ckpt.path());
    if (ckpt.format() != "gguf") {
        const std::string hf = (std::filesystem::path(ckpt.path()) / "tokenizer.json").string();
        if (file_exists(hf))
            return from_tokenizer_json(hf, (std::filesystem::path(ckpt.path()) / "tokenizer_config.json").string());
    }
    throw Error("{}: no tokenizer: expected tokenizer.model or tokenizer.json next to the weights, or a "
                "tokenizer.ggml.* vocabulary",
                ckpt.path());
}

}  // namespace rb
