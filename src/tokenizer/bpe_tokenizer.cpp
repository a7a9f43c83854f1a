#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <queue>
#include <unordered_map>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace rb {

const char* const k_gpt2_pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* const k_llama3_pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
const char* const k_qwen2_pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

namespace {


struct Symbol {
    int id;
    uint32_t b, e;  // bytes [b, e) of the word
    int prev, next;
};

struct Candidate {
    int rank;
    int left;  // symbol index (symbols are in text order, so this breaks ties leftmost first)
    int new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
};

bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_byte(unsigned char c) { return c >= 0x80 || std::isalnum(c) || c == '_'; }

class BpeTokenizer final : public Tokenizer {
public:
    explicit BpeTokenizer(BpeSpec spec) : m(std::move(spec)) {
        const std::string& src = m.source;
        for (size_t i = 0; i < m.pieces.size(); ++i)
            if (!m.pieces[i].empty() && int(i) < m.vocab_pieces) m_vocab.emplace(m.pieces[i], int(i));
        for (const auto& p : m.pre_tokenizers) {
            if (p.kind == BpePreTokenizer::Kind::byte_level) m_byte_level = true;
            if (p.kind == BpePreTokenizer::Kind::split)
                m_regex.push_back(std::make_unique<Regex>(p.pattern, src + ": pre_tokenizer Split"));
            if (p.kind == BpePreTokenizer::Kind::byte_level && p.use_regex)
                m_regex.push_back(std::make_unique<Regex>(k_gpt2_pattern, src + ": pre_tokenizer ByteLevel"));
        }
        if (m_byte_level) {
            const auto& alpha = byte_level_alphabet();
            for (int b = 0; b < 256; ++b) {
                auto it = m_vocab.find(alpha[size_t(b)]);
                if (it == m_vocab.end())
                    throw Error("{}: model.vocab: byte-level vocabulary lacks the character '{}' for byte 0x{:02X}", src,
                                alpha[size_t(b)], b);
                m_byte_id[size_t(b)] = it->second;
            }
        }
        if (m.byte_fallback) {
            for (int b = 0; b < 256; ++b) {
                auto it = m_vocab.find(fmt::format("<0x{:02X}>", b));
                m_fallback_id[size_t(b)] = it == m_vocab.end() ? -1 : it->second;
            }
        }
        m_merges.reserve(m.merges.size());
        for (size_t r = 0; r < m.merges.size(); ++r) {
            const auto& [a, b] = m.merges[r];
            auto ia = m_vocab.find(a), ib = m_vocab.find(b), ic = m_vocab.find(a + b);
            if (ia == m_vocab.end() || ib == m_vocab.end() || ic == m_vocab.end())
                throw Error("{}: merges[{}]: '{} {}': {} not in the vocabulary", src, r, a, b,
                            ia == m_vocab.end() ? "'" + a + "'" : ib == m_vocab.end() ? "'" + b + "'" : "'" + a + b + "'");
            m_merges.emplace(key(ia->second, ib->second), std::make_pair(int(r), ic->second));  // first rank wins
        }
        for (const auto& t : m.added) {
            if (t.content.empty()) continue;
            m_added_by_byte[static_cast<unsigned char>(t.content[0])].push_back(&t);
            m_added_ids.emplace(t.id, &t);
        }
        for (auto& v : m_added_by_byte)
            std::stable_sort(v.begin(), v.end(),
                             [](const BpeAddedToken* x, const BpeAddedToken* y) { return x->content.size() > y->content.size(); });
        m_identity = compute_identity();
    }

    std::vector<int> encode(std::string_view text) const override {
        std::vector<int> ids;
        for (const auto& s : encode_with_spans(text)) ids.push_back(s.id);
        return ids;
    }

    std::vector<TokenSpan> encode_with_spans(std::string_view text) const override {
        if (size_t bad = 0; !is_valid_utf8(text, &bad))
            throw Error("{}: input text is not valid UTF-8 at byte {}", m.source, bad);
        std::vector<TokenSpan> out;
        size_t prev_end = 0;
        auto emit = [&](int id, size_t b, size_t e) {
            b = std::max(b, prev_end);
            e = std::max(e, b);
            out.push_back({id, b, e});
            prev_end = e;
        };
        std::unordered_map<std::string, std::vector<std::pair<int, std::pair<uint32_t, uint32_t>>>> cache;
        size_t pos = 0;
        while (pos <= text.size()) {
            auto [mb, me, tok] = find_added(text, pos);
            size_t seg_end = tok ? mb : text.size();
            if (seg_end > pos) encode_segment(text.substr(pos, seg_end - pos), pos, pos == 0, cache, emit);
            if (!tok) break;
            emit(tok->id, mb, me);
            pos = me;
        }
        return out;
    }

    std::string decode(const std::vector<int>& ids) const override {
        std::string out;
        for (size_t i = 0; i < ids.size(); ++i) {
            check_id(ids[i], fmt::format("decode: position {}", i));
            out += token_bytes(ids[i]);
        }
        if (!m_byte_level && !out.empty() && out[0] == ' ' && leading_space_is_prefix()) out.erase(0, 1);
        return out;
    }

    std::string piece(int id) const override {
        check_id(id, "piece");
        return m.pieces[size_t(id)];
    }

    std::string token_bytes(int id) const override {
        check_id(id, "token");
        const std::string& p = m.pieces[size_t(id)];
        if (m_added_ids.count(id)) return p;
        if (m_byte_level) return byte_level_decode(p);
        return spm_piece_bytes(p, m.byte_fallback);
    }

    int vocab_size() const override { return int(m.pieces.size()); }
    int bos_id() const override { return m.bos_id; }
    int eos_id() const override { return m.eos_id; }
    bool add_bos() const override { return m.add_bos && m.bos_id >= 0; }
    std::string identity() const override { return m_identity; }
    std::string kind() const override { return m_byte_level ? "bpe-byte-level" : "bpe-sentencepiece"; }

private:
    static uint64_t key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

    void check_id(int id, const std::string& what) const {
        if (id < 0 || size_t(id) >= m.pieces.size() || m.pieces[size_t(id)].empty())
            throw Error("{}: {}: token id {} out of range or unused, expected 0..{}", m.source, what, id,
                        m.pieces.size() - 1);
    }

    // SentencePiece-style decoders strip the space that the "▁" prefix put at the front.
    bool leading_space_is_prefix() const {
        for (const auto& n : m.normalizers)
            if (n.kind == BpeNormalizer::Kind::prepend) return true;
        for (const auto& p : m.pre_tokenizers)
            if (p.kind == BpePreTokenizer::Kind::metaspace && p.prepend_scheme != "never") return true;
        return false;
    }

    struct AddedMatch {
        size_t b, e;
        const BpeAddedToken* tok;
    };

    // Leftmost, then longest, added token at or after `pos` (lstrip/rstrip widen the match).
    AddedMatch find_added(std::string_view text, size_t pos) const {
        if (m.added.empty()) return {0, 0, nullptr};
        for (size_t i = pos; i < text.size(); ++i) {
            const auto& cands = m_added_by_byte[static_cast<unsigned char>(text[i])];
            for (const BpeAddedToken* t : cands) {
                if (text.compare(i, t->content.size(), t->content) != 0) continue;
                size_t b = i, e = i + t->content.size();
                if (t->single_word && ((b > 0 && is_word_byte(text[b - 1]) && is_word_byte(text[b])) ||
                                       (e < text.size() && is_word_byte(text[e]) && is_word_byte(text[e - 1]))))
                    continue;
                if (t->lstrip)
                    while (b > pos && is_ws(static_cast<unsigned char>(text[b - 1]))) --b;
                if (t->rstrip)
                    while (e < text.size() && is_ws(static_cast<unsigned char>(text[e]))) ++e;
                return {b, e, t};
            }
        }
        return {0, 0, nullptr};
    }

    template <typename Emit, typename Cache>
    void encode_segment(std::string_view seg, size_t offset, bool first_segment, Cache& cache, Emit& emit) const {
        AlignedText t = AlignedText::from_input(seg, offset);
        for (const auto& n : m.normalizers) {
            switch (n.kind) {
                case BpeNormalizer::Kind::nfc: t = nfc(t); break;
                case BpeNormalizer::Kind::prepend:
                    if (t.size()) t = prepend(t, n.a);
                    break;
                case BpeNormalizer::Kind::replace: t = replace_all(t, n.a, n.b); break;
            }
        }
        std::vector<AlignedText> words;
        words.push_back(std::move(t));
        size_t regex_i = 0;
        for (const auto& p : m.pre_tokenizers) {
            std::vector<AlignedText> next;
            switch (p.kind) {
                case BpePreTokenizer::Kind::split:
                    for (const auto& w : words) split_regex(*m_regex[regex_i], w, p.removed, next);
                    ++regex_i;
                    break;
                case BpePreTokenizer::Kind::byte_level:
                    for (auto& w : words) {
                        AlignedText x = p.add_prefix_space && (w.size() == 0 || w.text[0] != ' ') ? prepend(w, " ")
                                                                                                   : std::move(w);
                        if (p.use_regex) {
                            split_regex(*m_regex[regex_i], x, false, next);
                        } else {
                            next.push_back(std::move(x));
                        }
                    }
                    if (p.use_regex) ++regex_i;
                    break;
                case BpePreTokenizer::Kind::metaspace:
                    for (const auto& w : words) {
                        AlignedText x = replace_all(w, " ", p.replacement);
                        bool want = p.prepend_scheme == "always" || (p.prepend_scheme == "first" && first_segment);
                        if (want && x.size() && x.text.compare(0, p.replacement.size(), p.replacement) != 0)
                            x = prepend(x, p.replacement);
                        if (!p.split_words) {
                            next.push_back(std::move(x));
                            continue;
                        }
                        size_t b = 0;
                        for (size_t i = 1; i <= x.size(); ++i) {
                            if (i == x.size() || x.text.compare(i, p.replacement.size(), p.replacement) == 0) {
                                next.push_back(x.slice(b, i));
                                b = i;
                            }
                        }
                    }
                    break;
            }
            words = std::move(next);
        }
        for (const auto& w : words) {
            if (w.size() == 0) continue;
            auto it = cache.find(w.text);
            if (it == cache.end()) it = cache.emplace(w.text, bpe_word(w.text)).first;
            for (const auto& [id, r] : it->second) {
                const size_t lastb = r.second - 1;
                size_t b = w.begin[r.first];
                size_t e = w.last[lastb] ? w.end[lastb] : w.begin[lastb];
                emit(id, b, e);
            }
        }
    }

    static void split_regex(const Regex& re, const AlignedText& w, bool removed, std::vector<AlignedText>& out) {
        size_t prev = 0;
        for (auto [b, e] : re.find_all(w.text)) {
            if (b > prev) out.push_back(w.slice(prev, b));
            if (!removed) out.push_back(w.slice(b, e));
            prev = e;
        }
        if (prev < w.size()) out.push_back(w.slice(prev, w.size()));
    }

    // One pre-token -> (token id, byte range in the word).
    std::vector<std::pair<int, std::pair<uint32_t, uint32_t>>> bpe_word(const std::string& w) const {
        std::vector<std::pair<int, std::pair<uint32_t, uint32_t>>> out;
        std::vector<Symbol> sym;
        if (m_byte_level) {
            if (m.ignore_merges) {
                std::string mapped;
                for (unsigned char c : w) mapped += byte_level_alphabet()[c];
                if (auto it = m_vocab.find(mapped); it != m_vocab.end()) {
                    out.push_back({it->second, {0u, uint32_t(w.size())}});
                    return out;
                }
            }
            for (size_t i = 0; i < w.size(); ++i)
                sym.push_back({m_byte_id[static_cast<unsigned char>(w[i])], uint32_t(i), uint32_t(i + 1), 0, 0});
        } else {
            if (m.ignore_merges)
                if (auto it = m_vocab.find(w); it != m_vocab.end()) {
                    out.push_back({it->second, {0u, uint32_t(w.size())}});
                    return out;
                }
            for (size_t i = 0; i < w.size();) {
                size_t n = std::min(utf8_len(static_cast<unsigned char>(w[i])), w.size() - i);
                auto it = m_vocab.find(w.substr(i, n));
                if (it != m_vocab.end()) {
                    sym.push_back({it->second, uint32_t(i), uint32_t(i + n), 0, 0});
                } else if (m.byte_fallback && all_fallback(w, i, n)) {
                    for (size_t k = 0; k < n; ++k)
                        sym.push_back({m_fallback_id[static_cast<unsigned char>(w[i + k])], uint32_t(i + k),
                                       uint32_t(i + k + 1), 0, 0});
                } else if (m.unk_id >= 0) {
                    if (m.fuse_unk && !sym.empty() && sym.back().id == m.unk_id && sym.back().e == i)
                        sym.back().e = uint32_t(i + n);
                    else
                        sym.push_back({m.unk_id, uint32_t(i), uint32_t(i + n), 0, 0});
                } else {
                    throw Error("{}: character '{}' is not in the vocabulary and there is no unk_token", m.source,
                                w.substr(i, n));
                }
                i += n;
            }
        }
        const int n = int(sym.size());
        for (int i = 0; i < n; ++i) {
            sym[size_t(i)].prev = i - 1;
            sym[size_t(i)].next = i + 1 < n ? i + 1 : -1;
        }
        std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> q;
        auto push = [&](int l) {
            if (l < 0) return;
            int r = sym[size_t(l)].next;
            if (r < 0) return;
            auto it = m_merges.find(key(sym[size_t(l)].id, sym[size_t(r)].id));
            if (it != m_merges.end()) q.push({it->second.first, l, it->second.second});
        };
        for (int i = 0; i + 1 < n; ++i) push(i);
        while (!q.empty()) {
            Candidate c = q.top();
            q.pop();
            Symbol& l = sym[size_t(c.left)];
            if (l.id < 0 || l.next < 0) continue;
            Symbol& r = sym[size_t(l.next)];
            auto it = m_merges.find(key(l.id, r.id));
            if (it == m_merges.end() || it->second.second != c.new_id) continue;  // stale entry
            l.id = c.new_id;
            l.e = r.e;
            int rn = r.next;
            r.id = -1;
            l.next = rn;
            if (rn >= 0) sym[size_t(rn)].prev = c.left;
            push(l.prev);
            push(c.left);
        }
        for (int i = n ? 0 : -1; i >= 0; i = sym[size_t(i)].next) out.push_back({sym[size_t(i)].id, {sym[size_t(i)].b, sym[size_t(i)].e}});
        return out;
    }

    bool all_fallback(const std::string& w, size_t i, size_t n) const {
        for (size_t k = 0; k < n; ++k)
            if (m_fallback_id[static_cast<unsigned char>(w[i + k])] < 0) return false;
        return true;
    }

    // Hash of everything that decides the ids: kind, normalizers, pre-tokenizers, pieces,
    // merges, added tokens and the BOS/EOS rule. A tokenizer.json and the GGUF converted
    // from it share it when they tokenize alike. Prefixed by the kind so that it can
    // never equal a SentencePiece identity.
    std::string compute_identity() const {
        std::string s = "ropebench-bpe-1\n";
        auto add = [&](std::string_view x) {
            s += std::to_string(x.size());
            s += ':';
            s.append(x);
        };
        for (const auto& n : m.normalizers) {
            add("norm");
            add(std::to_string(int(n.kind)));
            add(n.a);
            add(n.b);
        }
        for (const auto& p : m.pre_tokenizers) {
            add("pre");
            add(std::to_string(int(p.kind)));
            add(p.pattern);
            add(fmt::format("{}{}{}{}", p.removed, p.add_prefix_space, p.use_regex, p.split_words));
            add(p.replacement);
            add(p.prepend_scheme);
        }
        // BOS only where it is added: EOS and an unused BOS do not change any id.
        add(fmt::format("{} {} {} {} {}", m.byte_fallback, m.fuse_unk, m.ignore_merges, m.unk_id,
                        add_bos() ? m.bos_id : -1));
        for (const auto& p : m.pieces) add(p);
        for (const auto& [a, b] : m.merges) {
            add(a);
            add(b);
        }
        for (const auto& t : m.added) {
            add(std::to_string(t.id));
            add(t.content);
            add(fmt::format("{}{}{}{}", t.special, t.lstrip, t.rstrip, t.single_word));
        }
        return std::string(m_byte_level ? "bpe-byte-level:" : "bpe-sentencepiece:") + sha256_hex(s);
    }

    BpeSpec m;
    bool m_byte_level = false;
    std::unordered_map<std::string, int> m_vocab;
    std::unordered_map<uint64_t, std::pair<int, int>> m_merges;  // (left id, right id) -> (rank, merged id)
    std::vector<std::unique_ptr<Regex>> m_regex;                 // in pre-tokenizer order
    std::array<int, 256> m_byte_id{}, m_fallback_id{};
    std::array<std::vector<const BpeAddedToken*>, 256> m_added_by_byte;  // by first byte, longest first
    std::unordered_map<int, const BpeAddedToken*> m_added_ids;
    std::string m_identity;
};

}  // namespace

std::optional<std::pair<std::string, std::string>> split_merge(const std::string& m) {
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size()) return std::nullopt;
    return std::make_pair(m.substr(0, sp), m.substr(sp + 1));
}

std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeSpec spec) { return std::make_unique<BpeTokenizer>(std::move(spec)); }

}  // namespace rb
