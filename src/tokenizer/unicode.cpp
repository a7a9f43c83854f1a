#include "tokenizer/unicode.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <unordered_map>

#include "util/error.h"

namespace rb {

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(char(cp));
    } else if (cp < 0x800) {
        out.push_back(char(0xC0 | (cp >> 6)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(char(0xE0 | (cp >> 12)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (cp >> 18)));
        out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    }
}

AlignedText AlignedText::from_input(std::string_view s, size_t offset) {
    RB_CHECK(offset + s.size() < size_t(UINT32_MAX), "text too large");
    AlignedText a;
    a.text.assign(s);
    a.begin.resize(s.size());
    a.end.resize(s.size());
    a.last.resize(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = std::min(utf8_len(static_cast<unsigned char>(s[i])), s.size() - i);
        for (size_t k = 0; k < n; ++k) {
            a.begin[i + k] = uint32_t(offset + i);
            a.end[i + k] = uint32_t(offset + i + n);
            a.last[i + k] = k + 1 == n;
        }
        i += n;
    }
    return a;
}

void AlignedText::append(std::string_view bytes, uint32_t ub, uint32_t ue) {
    for (size_t k = 0; k < bytes.size(); ++k) {
        text.push_back(bytes[k]);
        begin.push_back(ub);
        end.push_back(ue);
        last.push_back(k + 1 == bytes.size());
    }
}

void AlignedText::append_slice(const AlignedText& o, size_t b, size_t e) {
    text.append(o.text, b, e - b);
    begin.insert(begin.end(), o.begin.begin() + b, o.begin.begin() + e);
    end.insert(end.end(), o.end.begin() + b, o.end.begin() + e);
    last.insert(last.end(), o.last.begin() + b, o.last.begin() + e);
}

AlignedText AlignedText::slice(size_t b, size_t e) const {
    AlignedText a;
    a.append_slice(*this, b, e);
    return a;
}

namespace {

const UNormalizer2* nfc_instance() {
    UErrorCode st = U_ZERO_ERROR;
    const UNormalizer2* n = unorm2_getNFCInstance(&st);
    if (U_FAILURE(st)) throw Error("ICU: NFC normaliser unavailable: {}", u_errorName(st));
    return n;
}

std::u16string to_u16(std::string_view s) {
    std::u16string out(s.size(), u'\0');
    int32_t len = 0;
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), int32_t(out.size()), &len, s.data(), int32_t(s.size()), &st);
    RB_CHECK(U_SUCCESS(st), "u_strFromUTF8: {}", u_errorName(st));
    out.resize(size_t(len));
    return out;
}

std::string to_u8(const std::u16string& s) {
    std::string out(s.size() * 3, '\0');
    int32_t len = 0;
    UErrorCode st = U_ZERO_ERROR;
    u_strToUTF8(out.data(), int32_t(out.size()), &len, reinterpret_cast<const UChar*>(s.data()), int32_t(s.size()),
                &st);
    RB_CHECK(U_SUCCESS(st), "u_strToUTF8: {}", u_errorName(st));
    out.resize(size_t(len));
    return out;
}

}  // namespace

AlignedText nfc(const AlignedText& in) {
    // Fast path: ASCII, or already NFC.
    bool ascii = true;
    for (char c : in.text) ascii &= static_cast<unsigned char>(c) < 0x80;
    if (ascii) return in;
    const UNormalizer2* n = nfc_instance();
    std::u16string u = to_u16(in.text);
    UErrorCode st = U_ZERO_ERROR;
    if (unorm2_isNormalized(n, reinterpret_cast<const UChar*>(u.data()), int32_t(u.size()), &st) && U_SUCCESS(st))
        return in;

    AlignedText out;
    const auto* p = reinterpret_cast<const uint8_t*>(in.text.data());
    const int32_t len = int32_t(in.text.size());
    int32_t piece = 0, i = 0;
    auto flush = [&](int32_t b, int32_t e) {
        if (e <= b) return;
        std::u16string src = to_u16(std::string_view(in.text).substr(size_t(b), size_t(e - b)));
        std::u16string dst(src.size() * 3 + 8, u'\0');
        UErrorCode s2 = U_ZERO_ERROR;
        int32_t m = unorm2_normalize(n, reinterpret_cast<const UChar*>(src.data()), int32_t(src.size()),
                                     reinterpret_cast<UChar*>(dst.data()), int32_t(dst.size()), &s2);
        RB_CHECK(U_SUCCESS(s2), "unorm2_normalize: {}", u_errorName(s2));
        dst.resize(size_t(m));
        std::string u8 = to_u8(dst);
        if (u8 == std::string_view(in.text).substr(size_t(b), size_t(e - b))) {
            out.append_slice(in, size_t(b), size_t(e));  // unchanged: keep per-character units
        } else {
            out.append(u8, in.begin[size_t(b)], in.end[size_t(e - 1)]);
        }
    };
    while (i < len) {
        int32_t at = i;
        UChar32 c;
        U8_NEXT(p, i, len, c);
        if (at > piece && c >= 0 && unorm2_hasBoundaryBefore(n, c)) {
            flush(piece, at);
            piece = at;
        }
    }
    flush(piece, len);
    return out;
}

AlignedText replace_all(const AlignedText& in, std::string_view from, std::string_view to) {
    RB_CHECK(!from.empty(), "replace_all: empty pattern");
    AlignedText out;
    size_t i = 0;
    while (i < in.size()) {
        size_t j = in.text.find(from, i);
        if (j == std::string::npos) j = in.size();
        out.append_slice(in, i, j);
        if (j == in.size()) break;
        out.append(to, in.begin[j], in.end[j + from.size() - 1]);
        i = j + from.size();
    }
    return out;
}

AlignedText prepend(const AlignedText& in, std::string_view prefix) {
    AlignedText out;
    uint32_t at = in.size() ? in.begin[0] : 0;
    out.append(prefix, at, at);
    out.append_slice(in, 0, in.size());
    return out;
}

std::string spm_piece_bytes(std::string_view p, bool byte_piece) {
    if (byte_piece && p.size() == 6 && p.substr(0, 3) == "<0x" && p[5] == '>')
        return std::string(1, char(std::stoi(std::string(p.substr(3, 2)), nullptr, 16)));
    constexpr std::string_view space = "\xE2\x96\x81";  // "▁"
    std::string out;
    for (size_t i = 0; i < p.size();) {
        if (p.substr(i, space.size()) == space) {
            out.push_back(' ');
            i += space.size();
        } else {
            out.push_back(p[i++]);
        }
    }
    return out;
}

const std::array<std::string, 256>& byte_level_alphabet() {
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        // Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100 onwards
        // in byte order (GPT-2 encoder.py bytes_to_unicode).
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            append_utf8(t[size_t(b)], char32_t(printable ? b : next++));
        }
        return t;
    }();
    return table;
}

std::string byte_level_decode(std::string_view piece) {
    static const std::unordered_map<std::string, char> inverse = [] {
        std::unordered_map<std::string, char> m;
        const auto& t = byte_level_alphabet();
        for (int b = 0; b < 256; ++b) m.emplace(t[size_t(b)], char(b));
        return m;
    }();
    std::string out;
    for (size_t i = 0; i < piece.size();) {
        size_t n = std::min(utf8_len(static_cast<unsigned char>(piece[i])), piece.size() - i);
        auto it = inverse.find(std::string(piece.substr(i, n)));
        if (it != inverse.end()) {
            out.push_back(it->second);
        } else {
            out.append(piece.substr(i, n));
        }
        i += n;
    }
    return out;
}

}  // namespace rb
