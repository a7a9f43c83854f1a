// Regular expressions with Unicode properties (\p{L}, \p{N}, ...) through PCRE2, compiled
// with PCRE2_UTF | PCRE2_UCP (so \s, \w and \d are Unicode-aware, as in Oniguruma, which
// the Rust tokenizers use) and JIT-compiled when the library supports it.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rb {

class Regex {
public:
    /// Throws Error "`where`: regex '...': <PCRE2 message> at offset N" on a bad pattern.
    Regex(std::string pattern, const std::string& where);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    /// Byte ranges [begin, end) of the successive non-overlapping, non-empty matches in
    /// `s` (which must be valid UTF-8). Safe to call from several threads at once.
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;
    const std::string& pattern() const { return m_pattern; }

private:
    std::string m_pattern, m_where;
    void* m_code = nullptr;  // pcre2_code_8*
    bool m_jit = false;
};

/// `s` quoted for use as a literal inside a PCRE2 pattern.
std::string regex_quote(std::string_view s);

}  // namespace rb
