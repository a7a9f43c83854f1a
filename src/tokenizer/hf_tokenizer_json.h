// Hugging Face tokenizer.json (+ tokenizer_config.json) -> BpeSpec.
//
// Supported: model BPE (byte_fallback, fuse_unk, ignore_merges; merges as "a b" strings or
// [a, b] pairs); normalizers NFC, Prepend, Replace (String pattern) and Sequence of them;
// pre-tokenizers Split (Regex/String pattern, behaviour Isolated or Removed), ByteLevel,
// Metaspace and Sequence of them; post-processors TemplateProcessing, ByteLevel, Sequence.
// Anything else is refused with one Error naming the file, the field and the type.
//
// BOS/EOS: bos_token/eos_token from tokenizer_config.json (string or {"content": ...});
// add_bos_token from tokenizer_config.json when present, otherwise from the
// post-processor's TemplateProcessing "single" template (a SpecialToken before the sequence
// = BOS is added), as Llama 3.x files do. EOS is never appended (add_eos_token and special
// tokens after the sequence are not read).
#pragma once
#include <optional>
#include <string>

#include "tokenizer/bpe_tokenizer.h"

namespace rb {

/// `config` is the text of tokenizer_config.json, if there is one.
BpeSpec parse_tokenizer_json(const std::string& json_text, const std::string& json_path,
                             const std::optional<std::string>& config_text, const std::string& config_path);

}  // namespace rb
