// Tokenizer: SentencePiece .model files through libsentencepiece (honouring the model's
// own normalizer settings), Hugging Face tokenizer.json files (merge-based BPE, byte-level
// or SentencePiece-style; see tokenizer/bpe_tokenizer.h), or the vocabulary embedded in a
// GGUF file ("llama" = SentencePiece, "gpt2" = byte-level BPE).
//
// A GGUF "llama" vocabulary is rebuilt into a SentencePiece BPE ModelProto (see
// tokenizer/gguf_spm.h for the normalizer rules), so it segments exactly like the .model it
// came from; a GGUF "gpt2" vocabulary runs the same BPE code as tokenizer.json (see
// tokenizer/gguf_bpe.h). All const methods may be called from several threads at once.
// docs/tokenizers.md lists the supported kinds.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"

namespace rb {

struct TokenSpan {
    int id;
    size_t begin, end;  // byte span [begin, end) in the original text this token covers
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    /// From the checkpoint: the tokenizer files of its folder (see from_folder) or its
    /// embedded vocabulary (GGUF). Throws Error naming the file when none is usable.
    static std::unique_ptr<Tokenizer> from_checkpoint(const Checkpoint& ckpt);
    /// From the tokenizer files of a folder (weights and config.json are not needed):
    /// tokenizer.model when present (SentencePiece; a tokenizer.json beside it is the
    /// Hugging Face conversion of the same model and is not read), otherwise tokenizer.json
    /// (+ tokenizer_config.json when present). Throws Error naming the folder when it has
    /// neither.
    static std::unique_ptr<Tokenizer> from_folder(const std::string& dir);
    /// From a tokenizer-only folder (from_folder), a tokenizer.json (with the
    /// tokenizer_config.json beside it, if any), a SentencePiece .model, or a .gguf file (its
    /// vocabulary only; the tensors are not read).
    static std::unique_ptr<Tokenizer> from_path(const std::string& path);
    /// From a Hugging Face tokenizer.json; `config_path` names its tokenizer_config.json
    /// (read when it exists; empty = none).
    static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path, const std::string& config_path);
    /// From a SentencePiece .model file.
    static std::unique_ptr<Tokenizer> from_sentencepiece_file(const std::string& path);
    /// From a GGUF vocabulary; `source` names the file in messages.
    static std::unique_ptr<Tokenizer> from_gguf_vocab(const GgufVocab& vocab, const std::string& source);

    /// Token ids without BOS/EOS.
    virtual std::vector<int> encode(std::string_view text) const = 0;
    /// Token ids with the byte span of the input each one covers (for LongPPL alignment).
    /// Spans are SentencePiece's own alignment (SentencePieceText begin/end): a piece
    /// "▁word" covers the space before it when that space is in the input (a run of spaces
    /// collapsed into one "▁" covers the whole run); the dummy-prefix "▁" gets an empty
    /// span; a character split into <0xXX> byte pieces is covered by the last of them, the
    /// earlier ones get an empty span at its start. Spans never overlap and begin/end never
    /// decrease.
    virtual std::vector<TokenSpan> encode_with_spans(std::string_view text) const = 0;
    virtual std::string decode(const std::vector<int>& ids) const = 0;
    /// The vocabulary's own spelling of a token ("▁the", "Ġthe", "<0x0A>").
    virtual std::string piece(int id) const = 0;
    /// The bytes the token stands for in text (" the", "\n"; a special token's own text).
    virtual std::string token_bytes(int id) const = 0;
    virtual int vocab_size() const = 0;
    /// BOS / EOS ids; -1 when the tokenizer has none (Qwen's tokenizer.json has no BOS).
    virtual int bos_id() const = 0;
    virtual int eos_id() const = 0;
    /// Whether the model's own tokenizer puts BOS in front of a text (SentencePiece .model:
    /// true; tokenizer.json: tokenizer_config.json add_bos_token, else its post-processor
    /// template; GGUF: tokenizer.ggml.add_bos_token). Never true when bos_id() is -1.
    virtual bool add_bos() const = 0;
    /// The id the model's own rule puts in front of a text: bos_id() when add_bos(), else -1
    /// (nothing). Every window, prompt and `generate` prefix is built from this, never from
    /// bos_id() alone (Qwen: no BOS; its GGUF stores bos = EOS with add_bos_token false).
    int leading_bos() const { return add_bos() ? bos_id() : -1; }
    /// Identifies the vocabulary (hash of pieces + normalizer) for caches and records.
    /// SentencePiece: 64 hex digits; BPE: "bpe-byte-level:<hex>" or "bpe-sentencepiece:<hex>".
    virtual std::string identity() const = 0;
    /// "sentencepiece", "bpe-byte-level" or "bpe-sentencepiece".
    virtual std::string kind() const = 0;
};

}  // namespace rb
