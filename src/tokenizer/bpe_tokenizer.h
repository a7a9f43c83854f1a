// Merge-based BPE tokenizers as Hugging Face `tokenizers` runs them: the byte-level kind
// (Llama 3.x, Qwen2/2.5/3: Split regex + ByteLevel) and the SentencePiece-style kind
// (Llama 2 / Mistral tokenizer.json: Prepend/Replace normalizer or Metaspace, byte
// fallback, fused <unk>). BpeSpec is the parsed description; it is filled from a
// tokenizer.json (hf_tokenizer_json.h) or a GGUF `gpt2` vocabulary (gguf_bpe.h).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace rb {

struct BpeAddedToken {
    int id = -1;
    std::string content;
    bool special = false;      // a control token (decoded as its content, never merged)
    bool lstrip = false;       // swallows whitespace on its left
    bool rstrip = false;       // swallows whitespace on its right
    bool single_word = false;  // only matches when not inside a word
};

struct BpeNormalizer {
    enum class Kind { nfc, prepend, replace };
    Kind kind;
    std::string a, b;  // prepend: a = text; replace: a -> b (literal strings)
};

struct BpePreTokenizer {
    enum class Kind { split, byte_level, metaspace };
    Kind kind;
    std::string pattern;           // split: PCRE2 pattern
    bool removed = false;          // split: behaviour "Removed" (matches dropped) instead of "Isolated"
    bool add_prefix_space = false; // byte_level
    bool use_regex = false;        // byte_level: split with the GPT-2 pattern first
    std::string replacement;       // metaspace
    std::string prepend_scheme;    // metaspace: always | first | never
    bool split_words = false;      // metaspace: split before each replacement
};

struct BpeSpec {
    std::string source;                   // file named in messages
    std::vector<std::string> pieces;      // id -> piece (vocabulary + added tokens; "" = hole)
    int vocab_pieces = 0;                 // ids below this come from the model vocabulary
    std::vector<std::pair<std::string, std::string>> merges;  // in priority order
    std::vector<BpeAddedToken> added;
    std::vector<BpeNormalizer> normalizers;
    std::vector<BpePreTokenizer> pre_tokenizers;
    bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
    int unk_id = -1;
    int bos_id = -1, eos_id = -1;
    bool add_bos = false;                 // EOS is never appended
};

/// Pre-tokenizer patterns of the families in use (tokenizer.json spellings).
extern const char* const k_gpt2_pattern;   // GPT-2 / ByteLevel use_regex
extern const char* const k_llama3_pattern; // Llama 3.x: digits in groups of 1-3
extern const char* const k_qwen2_pattern;  // Qwen2/2.5/3: single digits

/// A merge as tokenizer.json strings and GGUF tokenizer.ggml.merges spell it: "a b", split
/// at the first space after the first byte (pieces never start with a space). nullopt when
/// there is no such space or nothing after it.
std::optional<std::pair<std::string, std::string>> split_merge(const std::string& m);

/// Builds the tokenizer; throws Error naming spec.source on an inconsistent spec (a merge
/// whose parts or result are not in the vocabulary, a missing byte-level character, ...).
std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeSpec spec);

}  // namespace rb
