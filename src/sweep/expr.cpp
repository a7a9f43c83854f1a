#include "sweep/expr.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace rb::sweep {
namespace {

// Recursive descent:  expr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ;
// unary := '-' unary | '+' unary | primary ; primary := number | name | '(' expr ')'.
class Parser {
public:
    Parser(const std::string& s, const std::map<std::string, double>& vars) : m_s(s), m_vars(vars) {}

    double parse() {
        double v = expr(0);
        skip();
        if (m_i != m_s.size()) fail(fmt::format("unexpected '{}'", m_s[m_i]));
        if (!std::isfinite(v)) fail("result is not a finite number");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw Error("expression '{}': {} at column {}", m_s, what, m_i + 1);
    }
    void skip() {
        while (m_i < m_s.size() && std::isspace(static_cast<unsigned char>(m_s[m_i]))) ++m_i;
    }
    double expr(int depth) {
        if (depth > 64) fail("nested too deeply");
        double v = term(depth);
        for (;;) {
            skip();
            if (m_i < m_s.size() && (m_s[m_i] == '+' || m_s[m_i] == '-')) {
                char op = m_s[m_i++];
                double r = term(depth);
                v = op == '+' ? v + r : v - r;
            } else {
                return v;
            }
        }
    }
    double term(int depth) {
        double v = unary(depth);
        for (;;) {
            skip();
            if (m_i < m_s.size() && (m_s[m_i] == '*' || m_s[m_i] == '/')) {
                char op = m_s[m_i++];
                size_t at = m_i;
                double r = unary(depth);
                if (op == '/') {
                    if (r == 0) {
                        m_i = at;
                        fail("division by zero");
                    }
                    v /= r;
                } else {
                    v *= r;
                }
            } else {
                return v;
            }
        }
    }
    double unary(int depth) {
        skip();
        if (m_i < m_s.size() && (m_s[m_i] == '-' || m_s[m_i] == '+')) {
            char op = m_s[m_i++];
            double v = unary(depth + 1);
            return op == '-' ? -v : v;
        }
        return primary(depth);
    }
    double primary(int depth) {
        skip();
        if (m_i >= m_s.size()) fail("unexpected end");
        char c = m_s[m_i];
        if (c == '(') {
            ++m_i;
            double v = expr(depth + 1);
            skip();
            if (m_i >= m_s.size() || m_s[m_i] != ')') fail("expected ')'");
            ++m_i;
            return v;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
            const char* begin = m_s.c_str() + m_i;
            char* end = nullptr;
            double v = std::strtod(begin, &end);
            if (end == begin) fail("bad number");
            m_i += static_cast<size_t>(end - begin);
            return v;
        }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t start = m_i;
            while (m_i < m_s.size() && (std::isalnum(static_cast<unsigned char>(m_s[m_i])) || m_s[m_i] == '_')) ++m_i;
            std::string name = m_s.substr(start, m_i - start);
            auto it = m_vars.find(name);
            if (it == m_vars.end()) {
                std::string known;
                for (auto& [k, v] : m_vars) known += (known.empty() ? "" : ", ") + k;
                m_i = start;
                fail(fmt::format("unknown name '{}' (known: {})", name, known));
            }
            return it->second;
        }
        fail(fmt::format("unexpected '{}'", c));
    }

    const std::string& m_s;
    const std::map<std::string, double>& m_vars;
    size_t m_i = 0;
};

}  // namespace

double eval_expression(const std::string& text, const std::map<std::string, double>& vars) {
    return Parser(text, vars).parse();
}

}  // namespace rb::sweep
