// GGUF "llama" vocabularies (SentencePiece BPE) turned back into a SentencePiece model.
//
// A GGUF file keeps the pieces, scores and token types of the SentencePiece model it was
// converted from, but not its normalizer settings. We rebuild a ModelProto by hand (the
// protobuf wire format of sentencepiece_model.proto; no protobuf headers needed) and load
// it into libsentencepiece, so the GGUF path segments exactly like the .model path.
#pragma once
#include <string>

#include "formats/checkpoint.h"

namespace rb {

/// Normalizer settings used for a GGUF vocabulary and why.
struct GgufSpmSettings {
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool byte_fallback = false;
    std::string whitespace_rule;  // human-readable reason for remove_extra_whitespaces
};

/// Rule for remove_extra_whitespaces when the GGUF does not carry
/// tokenizer.ggml.remove_extra_whitespaces: a vocabulary that contains a piece with two
/// consecutive U+2581 ("▁▁") was trained on text whose space runs were kept, so the
/// normalizer did not collapse them (false); otherwise SentencePiece's default (true),
/// under which such a piece can never be learned. Matches all three tokenizers in
/// shared/data (tok512, tok105: true; Llama 2: false).
bool gguf_vocab_keeps_space_runs(const GgufVocab& vocab);

/// Settings derived from the vocabulary (explicit GGUF keys win over the rules above).
GgufSpmSettings gguf_spm_settings(const GgufVocab& vocab);

/// Serialized sentencepiece.ModelProto (BPE) for `vocab`. Throws Error naming `source` and
/// the tokenizer.ggml.* field when the vocabulary is not a usable SentencePiece vocabulary.
std::string gguf_vocab_to_spm_proto(const GgufVocab& vocab, const std::string& source);

}  // namespace rb
