#include "tokenizer/gguf_spm.h"

#include <cstdint>
#include <cstring>
#include <string_view>

#include "util/error.h"

namespace rb {
namespace {

// --- minimal protobuf writer (proto2 wire format) -----------------------------------------
// Field numbers are those of sentencepiece_model.proto (ModelProto, TrainerSpec,
// NormalizerSpec); only what the encoder reads is written.
enum : uint32_t { k_wire_varint = 0, k_wire_len = 2, k_wire_fixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (uint64_t(field) << 3) | wire); }
void put_int(std::string& out, uint32_t field, int64_t v) {
    put_tag(out, field, k_wire_varint);
    put_varint(out, static_cast<uint64_t>(v));  // negative int32 -> 10-byte two's complement, as protobuf does
}
void put_bool(std::string& out, uint32_t field, bool v) { put_int(out, field, v ? 1 : 0); }
void put_bytes(std::string& out, uint32_t field, std::string_view s) {
    put_tag(out, field, k_wire_len);
    put_varint(out, s.size());
    out.append(s);
}
void put_float(std::string& out, uint32_t field, float f) {
    put_tag(out, field, k_wire_fixed32);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));  // little endian
}

// ModelProto.SentencePiece.Type values; GGUF token types use the same numbering.
enum SpType : int { k_normal = 1, k_unknown = 2, k_control = 3, k_user_defined = 4, k_unused = 5, k_byte = 6 };

constexpr std::string_view k_space_run = "\xE2\x96\x81\xE2\x96\x81";  // "▁▁"

}  // namespace

bool gguf_vocab_keeps_space_runs(const GgufVocab& vocab) {
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
        int type = i < vocab.token_types.size() ? vocab.token_types[i] : k_normal;
        if (type != k_normal && type != k_user_defined) continue;
        if (vocab.tokens[i].find(k_space_run) != std::string::npos) return true;
    }
    return false;
}

GgufSpmSettings gguf_spm_settings(const GgufVocab& vocab) {
    GgufSpmSettings s;
    s.add_dummy_prefix = vocab.add_space_prefix.value_or(true);
    if (vocab.remove_extra_whitespaces) {
        s.remove_extra_whitespaces = *vocab.remove_extra_whitespaces;
        s.whitespace_rule = "tokenizer.ggml.remove_extra_whitespaces";
    } else if (gguf_vocab_keeps_space_runs(vocab)) {
        s.remove_extra_whitespaces = false;
        s.whitespace_rule = "vocabulary has pieces with \"\xE2\x96\x81\xE2\x96\x81\": space runs kept";
    } else {
        s.remove_extra_whitespaces = true;
        s.whitespace_rule = "no \"\xE2\x96\x81\xE2\x96\x81\" piece: SentencePiece default, space runs collapsed";
    }
    for (int32_t t : vocab.token_types)
        if (t == k_byte) s.byte_fallback = true;
    return s;
}

std::string gguf_vocab_to_spm_proto(const GgufVocab& vocab, const std::string& source) {
    const size_t n = vocab.tokens.size();
    if (vocab.model != "llama")
        throw Error("{}: tokenizer.ggml.model: unsupported tokenizer '{}', expected 'llama' (SentencePiece) or 'gpt2' "
                    "(byte-level BPE)",
                    source, vocab.model);
    if (n == 0) throw Error("{}: tokenizer.ggml.tokens: empty vocabulary", source);
    if (!vocab.scores.empty() && vocab.scores.size() != n)
        throw Error("{}: tokenizer.ggml.scores: expected {} entries (one per token), got {}", source, n,
                    vocab.scores.size());
    if (!vocab.token_types.empty() && vocab.token_types.size() != n)
        throw Error("{}: tokenizer.ggml.token_type: expected {} entries (one per token), got {}", source, n,
                    vocab.token_types.size());
    auto check_id = [&](int id, const char* field, int want_type) {
        if (id < 0 || static_cast<size_t>(id) >= n)
            throw Error("{}: {}: id {} out of range, expected 0..{}", source, field, id, n - 1);
        int type = vocab.token_types.empty() ? k_normal : vocab.token_types[id];
        if (want_type && type != want_type)
            throw Error("{}: {}: token {} ('{}') has type {}, expected {}", source, field, id, vocab.tokens[id], type,
                        want_type);
    };
    check_id(vocab.unk_id, "tokenizer.ggml.unknown_token_id", k_unknown);
    check_id(vocab.bos_id, "tokenizer.ggml.bos_token_id", 0);
    check_id(vocab.eos_id, "tokenizer.ggml.eos_token_id", 0);

    const GgufSpmSettings settings = gguf_spm_settings(vocab);
    std::string model;
    model.reserve(n * 24);
    std::string sub;
    for (size_t i = 0; i < n; ++i) {
        int type = vocab.token_types.empty() ? k_normal : vocab.token_types[i];
        if (type == 0) type = k_normal;  // GGUF "undefined"
        if (type < k_normal || type > k_byte)
            throw Error("{}: tokenizer.ggml.token_type[{}]: unknown type {}, expected 1..6", source, i, type);
        if (vocab.tokens[i].empty()) throw Error("{}: tokenizer.ggml.tokens[{}]: empty piece", source, i);
        sub.clear();
        put_bytes(sub, 1, vocab.tokens[i]);                                  // piece
        put_float(sub, 2, vocab.scores.empty() ? 0.0f : vocab.scores[i]);    // score
        put_int(sub, 3, type);                                               // type
        put_bytes(model, 1, sub);                                            // ModelProto.pieces
    }

    // TrainerSpec: model_type(3)=BPE(2), vocab_size(4), byte_fallback(35), unk/bos/eos/pad ids
    // (40..43) and pieces (45..48), so that bos_id()/eos_id() resolve to the GGUF's tokens.
    std::string trainer;
    put_int(trainer, 3, 2);
    put_int(trainer, 4, static_cast<int64_t>(n));
    put_bool(trainer, 35, settings.byte_fallback);
    put_int(trainer, 40, vocab.unk_id);
    put_int(trainer, 41, vocab.bos_id);
    put_int(trainer, 42, vocab.eos_id);
    put_int(trainer, 43, -1);
    put_bytes(trainer, 45, vocab.tokens[vocab.unk_id]);
    put_bytes(trainer, 46, vocab.tokens[vocab.bos_id]);
    put_bytes(trainer, 47, vocab.tokens[vocab.eos_id]);
    put_bytes(model, 2, trainer);

    // NormalizerSpec: name(1)="identity" (no character map), add_dummy_prefix(3),
    // remove_extra_whitespaces(4), escape_whitespaces(5)=true (space -> "▁").
    std::string norm;
    put_bytes(norm, 1, "identity");
    put_bool(norm, 3, settings.add_dummy_prefix);
    put_bool(norm, 4, settings.remove_extra_whitespaces);
    put_bool(norm, 5, true);
    put_bytes(model, 3, norm);
    return model;
}

}  // namespace rb
