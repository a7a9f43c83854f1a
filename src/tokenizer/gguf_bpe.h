// GGUF vocabularies with tokenizer.ggml.model = "gpt2" (byte-level BPE) -> BpeSpec.
//
// A GGUF keeps the pieces, merges and token types but not the pre-tokenizer: it names it in
// tokenizer.ggml.pre, and, as llama.cpp does, we map that name to the pattern of the model
// family (k_gpt2_pattern / k_llama3_pattern / k_qwen2_pattern, written in the spelling of
// the families' tokenizer.json files). Tokens of type control (3) and user-defined (4)
// are split out of the text before pre-tokenization, like the added tokens of a
// tokenizer.json. Qwen2's tokenizer.json normalises to NFC; llama.cpp skips that, we keep it,
// so both paths give the same ids on text that is not in NFC.
#pragma once
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "tokenizer/bpe_tokenizer.h"

namespace rb {

/// tokenizer.ggml.pre values understood, with what each means.
struct GgufPreTokenizer {
    std::vector<const char*> names;
    const char* pattern;
    bool nfc;            // Qwen2 family: NFC normaliser
    bool ignore_merges;  // Llama 3 family: a word that is a whole token skips the merges
};
const std::vector<GgufPreTokenizer>& gguf_pre_tokenizers();

/// Throws Error naming `source` and the tokenizer.ggml.* field on an unusable vocabulary
/// (unknown pre-tokenizer, missing merges, ids out of range).
BpeSpec gguf_vocab_to_bpe_spec(const GgufVocab& vocab, const std::string& source);

}  // namespace rb
