// Tokenizer: SentencePiece .model files through libsentencepiece (honouring the model's
// own normalizer settings), or the vocabulary embedded in a GGUF file.
//
// Both paths run libsentencepiece: a GGUF "llama" vocabulary is rebuilt into a
// SentencePiece BPE ModelProto (see tokenizer/gguf_spm.h for the normalizer rules), so it
// segments exactly like the .model it came from. All const methods may be called from
// several threads at once.
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

    /// From the checkpoint: its tokenizer.model (folder) or embedded vocabulary (GGUF).
    /// Throws Error naming the file when neither is usable.
    static std::unique_ptr<Tokenizer> from_checkpoint(const Checkpoint& ckpt);
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
    virtual std::string piece(int id) const = 0;
    virtual int vocab_size() const = 0;
    virtual int bos_id() const = 0;
    virtual int eos_id() const = 0;
    /// Identifies the vocabulary (hash of pieces + normalizer) for caches and records.
    virtual std::string identity() const = 0;
};

}  // namespace rb
