// UTF-8 helpers, Unicode normalisation (NFC through ICU) with an alignment back to the
// input bytes, and the GPT-2 byte-level alphabet.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rb {

/// Bytes of the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte).
inline size_t utf8_len(unsigned char lead) { return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }
/// Appends the UTF-8 encoding of code point `cp`.
void append_utf8(std::string& out, char32_t cp);

/// Text being normalised, with each byte's origin in the input: the byte belongs to the
/// input unit [begin, end) (a character, or a group of characters that normalisation
/// merged); `last` marks the final output byte of that unit. Inserted text (a prepended
/// "▁") has an empty unit.
struct AlignedText {
    std::string text;
    std::vector<uint32_t> begin, end;
    std::vector<uint8_t> last;

    /// `s` (valid UTF-8) at input offset `offset`; every character is its own unit.
    static AlignedText from_input(std::string_view s, size_t offset);
    void append(std::string_view bytes, uint32_t unit_begin, uint32_t unit_end);
    void append_slice(const AlignedText& other, size_t b, size_t e);
    AlignedText slice(size_t b, size_t e) const;
    size_t size() const { return text.size(); }
};

/// NFC (canonical composition). The input is cut before every character ICU reports as a
/// normalisation boundary; each piece is normalised on its own and becomes one unit.
AlignedText nfc(const AlignedText& in);
/// Replaces every occurrence of `from` (non-empty) by `to`; each replacement is one unit
/// covering the bytes it replaced.
AlignedText replace_all(const AlignedText& in, std::string_view from, std::string_view to);
/// `prefix` inserted at the front with an empty unit at the first byte's origin.
AlignedText prepend(const AlignedText& in, std::string_view prefix);

/// The bytes a SentencePiece-style piece stands for: "▁" -> space; with `byte_piece`, a
/// "<0xXX>" piece -> that byte.
std::string spm_piece_bytes(std::string_view piece, bool byte_piece);

/// GPT-2's bytes_to_unicode(): byte b -> the UTF-8 text of the printable character that
/// stands for it in byte-level vocabularies ("Ġ" for a space).
const std::array<std::string, 256>& byte_level_alphabet();
/// Inverse of byte_level_alphabet() on one piece: the bytes it stands for. Characters
/// outside the alphabet are kept as they are.
std::string byte_level_decode(std::string_view piece);

}  // namespace rb
