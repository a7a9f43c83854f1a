// Reading a sweep's TOML: errors as "file:line: key: what", unknown keys refused with the
// closest known name, typed getters that name the key and line on a wrong type or range.
// Internal to src/sweep (config.cpp, expand.cpp).
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "formats/model_config.h"
#include "sweep/config.h"
#include "util/error.h"

namespace rb::sweep::toml_reader {

using nlohmann::json;

// Everything one config error needs: the file name for "file:line: key: what".
struct Src {
    std::string file;
    [[noreturn]] void fail(int line, const std::string& key, const std::string& what) const {
        if (line > 0) throw Error("{}:{}: {}: {}", file, line, key, what);
        throw Error("{}: {}: {}", file, key, what);
    }
};

inline int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

inline std::string type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::array: return "an array";
        case toml::node_type::table: return "a table";
        default: return "a date/time";
    }
}

inline json to_json(const toml::node& n) {
    if (auto v = n.as_integer()) return json(v->get());
    if (auto v = n.as_floating_point()) return json(v->get());
    if (auto v = n.as_boolean()) return json(v->get());
    if (auto v = n.as_string()) return json(v->get());
    if (auto a = n.as_array()) {
        json out = json::array();
        for (auto& e : *a) out.push_back(to_json(e));
        return out;
    }
    if (auto t = n.as_table()) {
        json out = json::object();
        for (auto& [k, v] : *t) out[std::string(k.str())] = to_json(v);
        return out;
    }
    return json();
}

// Unknown keys in a table are errors, with the closest known name suggested.
inline void check_keys(const Src& src, const toml::table& t, const std::string& prefix, const std::vector<std::string>& known,
                const std::string& what = "key") {
    for (auto& [k, v] : t) {
        std::string name(k.str());
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        std::string hint = closest_name(name, known);
        std::string list;
        for (auto& s : known) list += (list.empty() ? "" : ", ") + s;
        src.fail(static_cast<int>(k.source().begin.line), prefix + name,
                 fmt::format("unknown {}{}; expected one of: {}", what,
                             hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint), list));
    }
}

// Typed getters: each names key and line on a wrong type.
struct Reader {
    const Src& src;
    const toml::table& t;
    std::string prefix;

    const toml::node* get(const std::string& key) const { return t.get(key); }
    int line(const std::string& key) const {
        auto* n = get(key);
        return n ? line_of(*n) : line_of(t);
    }
    [[noreturn]] void wrong(const std::string& key, const toml::node& n, const std::string& expected) const {
        src.fail(line_of(n), prefix + key, fmt::format("expected {}, got {}", expected, type_name(n)));
    }
    std::optional<std::string> str(const std::string& key) const {
        auto* n = get(key);
        if (!n) return std::nullopt;
        if (auto s = n->as_string()) return s->get();
        wrong(key, *n, "a string");
    }
    std::optional<int64_t> integer(const std::string& key, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const {
        auto* n = get(key);
        if (!n) return std::nullopt;
        auto v = n->as_integer();
        if (!v) wrong(key, *n, "an integer");
        if (v->get() < min) src.fail(line_of(*n), prefix + key, fmt::format("expected an integer >= {}, got {}", min, v->get()));
        if (v->get() > max) src.fail(line_of(*n), prefix + key, fmt::format("expected an integer <= {}, got {}", max, v->get()));
        return v->get();
    }
    /// An int-sized field: [min, max] with max at most INT_MAX (never cast out of range).
    std::optional<int> int_field(const std::string& key, int min, int max = INT_MAX) const {
        auto v = integer(key, min, max);
        if (!v) return std::nullopt;
        return static_cast<int>(*v);
    }
    std::optional<double> number(const std::string& key) const {
        auto* n = get(key);
        if (!n) return std::nullopt;
        if (auto v = n->as_integer()) return static_cast<double>(v->get());
        if (auto v = n->as_floating_point()) return v->get();
        wrong(key, *n, "a number");
    }
    std::optional<bool> boolean(const std::string& key) const {
        auto* n = get(key);
        if (!n) return std::nullopt;
        if (auto v = n->as_boolean()) return v->get();
        wrong(key, *n, "a boolean (true/false)");
    }
    const toml::table* table(const std::string& key) const {
        auto* n = get(key);
        if (!n) return nullptr;
        if (auto v = n->as_table()) return v;
        wrong(key, *n, "a table");
    }
    std::vector<std::string> strings(const std::string& key) const {
        std::vector<std::string> out;
        auto* n = get(key);
        if (!n) return out;
        if (auto s = n->as_string()) return {s->get()};
        auto a = n->as_array();
        if (!a) wrong(key, *n, "a string or an array of strings");
        for (auto& e : *a) {
            auto s = e.as_string();
            if (!s) src.fail(line_of(e), prefix + key, fmt::format("expected an array of strings, got an element that is {}", type_name(e)));
            out.push_back(s->get());
        }
        return out;
    }
    std::vector<double> numbers(const std::string& key) const {
        std::vector<double> out;
        auto* n = get(key);
        if (!n) return out;
        auto a = n->as_array();
        if (!a) wrong(key, *n, "an array of numbers");
        for (auto& e : *a) {
            if (auto i = e.as_integer()) out.push_back(static_cast<double>(i->get()));
            else if (auto f = e.as_floating_point()) out.push_back(f->get());
            else src.fail(line_of(e), prefix + key, fmt::format("expected an array of numbers, got an element that is {}", type_name(e)));
        }
        return out;
    }
    /// Context lengths: an integer or an array of integers, each checked by check_context_length.
    std::vector<int> contexts(const std::string& key) const {
        std::vector<int> out;
        auto* n = get(key);
        if (!n) return out;
        auto one = [&](const toml::node& e) {
            auto i = e.as_integer();
            if (!i)
                src.fail(line_of(e), prefix + key,
                         fmt::format("expected an array of integers, got an element that is {}", type_name(e)));
            try {
                check_context_length(i->get());
            } catch (const FieldError& err) {
                src.fail(line_of(e), prefix + key, err.message());
            }
            out.push_back(static_cast<int>(i->get()));
        };
        if (n->is_integer()) {
            one(*n);
            return out;
        }
        auto a = n->as_array();
        if (!a) wrong(key, *n, "an integer or an array of integers");
        for (auto& e : *a) one(e);
        return out;
    }
};

}  // namespace rb::sweep::toml_reader
