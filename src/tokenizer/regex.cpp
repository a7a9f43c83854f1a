#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "util/error.h"

namespace rb {
namespace {

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    int n = pcre2_get_error_message(code, buf, sizeof buf);
    return n < 0 ? fmt::format("PCRE2 error {}", code) : std::string(reinterpret_cast<const char*>(buf), size_t(n));
}

struct MatchDeleter {
    void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
    void operator()(pcre2_match_context* p) const { pcre2_match_context_free(p); }
    void operator()(pcre2_jit_stack* p) const { pcre2_jit_stack_free(p); }
};

}  // namespace

Regex::Regex(std::string pattern, const std::string& where) : m_pattern(std::move(pattern)), m_where(where) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(m_pattern.data()), m_pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!code) throw Error("{}: regex '{}': {} at offset {}", where, m_pattern, pcre2_message(err), off);
    m_code = code;
    m_jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(m_code)); }

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view s) const {
    auto* code = static_cast<pcre2_code*>(m_code);
    std::unique_ptr<pcre2_match_data, MatchDeleter> md(pcre2_match_data_create_from_pattern(code, nullptr));
    std::unique_ptr<pcre2_match_context, MatchDeleter> mc(pcre2_match_context_create(nullptr));
    // Long runs (a megabyte of spaces matched by \s+) need more than the default 32 KiB JIT stack.
    std::unique_ptr<pcre2_jit_stack, MatchDeleter> js;
    if (m_jit) {
        js.reset(pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr));
        if (js) pcre2_jit_stack_assign(mc.get(), nullptr, js.get());
    }
    if (!md || !mc) throw Error("{}: regex: out of memory", m_where);
    std::vector<std::pair<size_t, size_t>> out;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
    size_t start = 0;
    while (start < s.size()) {
        int rc = pcre2_match(code, subject, s.size(), start, PCRE2_NO_UTF_CHECK, md.get(), mc.get());
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) throw Error("{}: regex '{}': matching failed: {}", m_where, m_pattern, pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        size_t b = ov[0], e = ov[1];
        if (e > b) {
            out.emplace_back(b, e);
            start = e;
        } else {  // empty match: step over one character
            start = b + 1;
            while (start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
        }
    }
    return out;
}

std::string regex_quote(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (std::string_view("\\^$.|?*+()[]{}/-").find(c) != std::string_view::npos) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

}  // namespace rb
