// RoPE configuration: rope_scaling standardized and validated as transformers v5 does.
// Formulas and pitfalls: shared/reference/rope-methods.md (section numbers below).
#include "rope/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "rope/methods_table.h"
#include "util/error.h"

namespace rb {

using json = nlohmann::json;

namespace {

// Python's repr() of a float ('r' format: shortest round-trip digits, fixed notation for
// decimal exponents in [-4, 16), always with a fractional part), so warning texts match
// transformers' f-strings verbatim.
std::string py_float_repr(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
    std::string s(buf, res.ptr);
    bool neg = s[0] == '-';
    if (neg) s.erase(0, 1);
    size_t e = s.find('e');
    int exp = std::stoi(s.substr(e + 1));
    std::string digits;
    for (char c : s.substr(0, e))
        if (c != '.') digits += c;
    std::string out;
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            size_t ip = static_cast<size_t>(exp) + 1;
            if (digits.size() <= ip)
                out = digits + std::string(ip - digits.size(), '0') + ".0";
            else
                out = digits.substr(0, ip) + "." + digits.substr(ip);
        } else {
            out = fmt::format("0.{}{}", std::string(static_cast<size_t>(-exp - 1), '0'), digits);
        }
    } else {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
    }
    return neg ? fmt::format("-{}", out) : out;
}

// Python's str() of a JSON value as json.load would give it (f-string formatting).
std::string py_str(const json& v, bool quote_strings = false) {
    switch (v.type()) {
        case json::value_t::null: return "None";
        case json::value_t::boolean: return v.get<bool>() ? "True" : "False";
        case json::value_t::number_integer: return std::to_string(v.get<int64_t>());
        case json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
        case json::value_t::number_float: return py_float_repr(v.get<double>());
        case json::value_t::string: return quote_strings ? fmt::format("'{}'", v.get<std::string>()) : v.get<std::string>();
        case json::value_t::array: {
            std::string s = "[";
            for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + py_str(v[i], true);
            return s + "]";
        }
        case json::value_t::object: {
            std::string s = "{";
            bool first = true;
            for (auto& [k, x] : v.items()) {
                s += (first ? "'" : ", '") + k + "': " + py_str(x, true);
                first = false;
            }
            return s + "}";
        }
        default: return v.dump();
    }
}

std::string py_set(const std::set<std::string>& keys) {
    std::string s = "{";
    bool first = true;
    for (auto& k : keys) {
        s += (first ? "'" : ", '") + k + "'";
        first = false;
    }
    return s + "}";
}

// Python truthiness of a JSON value (None, False, 0, "", [] and {} are false).
bool py_truthy(const json& v) {
    if (v.is_null()) return false;
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0;
    if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
    return true;
}

bool is_num(const json& v) { return v.is_number(); }  // bool is not a number here

double number(const json& p, const char* key) {
    const json& v = p.at(key);
    if (!is_num(v)) throw Error("rope_scaling: {}: expected a number, got {}", key, v.dump());
    double x = v.get<double>();
    if (!std::isfinite(x)) throw Error("rope_scaling: {}: expected a finite number, got {}", key, v.dump());
    return x;
}

std::optional<double> opt_number(const json& p, const char* key) {
    if (!p.contains(key) || p.at(key).is_null()) return std::nullopt;
    return number(p, key);
}

std::vector<double> number_list(const json& p, const char* key, int expected_len) {
    const json& v = p.at(key);
    if (!v.is_array()) throw Error("rope_scaling: {}: expected a list of numbers, got {}", key, v.dump());
    std::vector<double> out;
    for (size_t i = 0; i < v.size(); i++) {
        if (!is_num(v[i]))
            throw Error("rope_scaling: {}[{}]: expected a number, got {}", key, i, v[i].dump());
        out.push_back(v[i].get<double>());
        if (!(out.back() > 0))
            throw Error("rope_scaling: {}[{}]: expected a positive number, got {}", key, i, v[i].dump());
    }
    if (static_cast<int>(out.size()) != expected_len)
        throw Error(
            "rope_scaling: {}: expected {} numbers (rotary_dim/2), got {} (transformers: `rope_parameters`'s {} "
            "field must have length {}, got {}; model construction then fails)",
            key, expected_len, out.size(), key, expected_len, out.size());
    return out;
}

void warn_factor(RopeConfig& c, const json& p) {
    // `factor is None or not isinstance(factor, (float, int)) or factor < 1.0`
    if (c.factor < 1.0)
        c.warnings.push_back(
            fmt::format("`rope_parameters`'s factor field must be a float or int >= 1, got {}", py_str(p.at("factor"))));
}

double positive_factor(const json& p) {
    double f = number(p, "factor");
    if (!(f > 0)) throw Error("rope_scaling: factor: expected a positive number, got {}", p.at("factor").dump());
    return f;
}

void read_betas(RopeConfig& c, const json& p, bool warn) {
    json bf = p.contains("beta_fast") ? p["beta_fast"] : json(nullptr);
    json bs = p.contains("beta_slow") ? p["beta_slow"] : json(nullptr);
    // transformers warns about non-numbers, then `(beta_fast or 32) < (beta_slow or 1)` raises.
    if (!bf.is_null() && !is_num(bf)) throw Error("rope_scaling: beta_fast: expected a number, got {}", bf.dump());
    if (!bs.is_null() && !is_num(bs)) throw Error("rope_scaling: beta_slow: expected a number, got {}", bs.dump());
    // `rope_parameters.get("beta_fast") or 32`: missing, null and 0 all mean the default.
    c.beta_fast = py_truthy(bf) ? bf.get<double>() : 32.0;
    c.beta_slow = py_truthy(bs) ? bs.get<double>() : 1.0;
    if (warn && c.beta_fast < c.beta_slow)
        c.warnings.push_back(fmt::format(
            "`rope_parameters`'s beta_fast field must be greater than beta_slow, got beta_fast={} (defaults to 32 if "
            "None) and beta_slow={} (defaults to 1 if None)",
            py_str(bf), py_str(bs)));
}

void read_truncate(RopeConfig& c, const json& p) {
    // `config.rope_parameters.get("truncate", True)`, used for its truthiness.
    if (!p.contains("truncate")) {
        c.truncate = true;
        return;
    }
    const json& v = p["truncate"];
    if (!(v.is_null() || v.is_boolean() || v.is_number()))
        throw Error("rope_scaling: truncate: expected true or false, got {}", v.dump());
    c.truncate = py_truthy(v);
}

double read_orig(const json& p) {
    double o = number(p, "original_max_position_embeddings");
    if (!(o > 0))
        throw Error("rope_scaling: original_max_position_embeddings: expected a positive integer, got {}",
                    p.at("original_max_position_embeddings").dump());
    return o;
}

}  // namespace

const char* rope_type_name(RopeType t) { return rope_method(t).name; }

std::optional<RopeType> rope_type_from_name(const std::string& name) {
    if (const RopeMethod* m = find_rope_method(name)) return m->type;
    return std::nullopt;
}

namespace {

// §1 steps 1-5: `rope_scaling or {}`, rope_theta and partial_rotary_factor folded in, the
// type named, original_max_position_embeddings resolved. Sets c.type; returns the dict.
json standardize(RopeConfig& c, const json& rope_scaling) {
    const RopeGeometry& geo = c.geometry;
    // §1 step 1: `rope_scaling or {}` (null and {} both mean no scaling).
    json p = json::object();
    if (!rope_scaling.is_null()) {
        if (!rope_scaling.is_object())
            throw Error("rope_scaling: expected a JSON object or null, got {}", rope_scaling.dump());
        p = rope_scaling;
    }
    // Step 2: a rope_theta inside the dict wins over the top-level one.
    if (!p.contains("rope_theta")) p["rope_theta"] = geo.rope_theta;
    // Step 3: a top-level partial_rotary_factor is assigned (overwrites a dict value).
    if (geo.partial_rotary_factor) p["partial_rotary_factor"] = *geo.partial_rotary_factor;
    // Step 4: rope_type beats the legacy "type"; the "type" key stays in the dict.
    if (!p.contains("rope_type")) p["rope_type"] = p.contains("type") ? p["type"] : json("default");
    if (!p["rope_type"].is_string())
        throw Error("rope_scaling: rope_type: expected a string, got {}", p["rope_type"].dump());
    std::string tname = p["rope_type"].get<std::string>();
    auto type = rope_type_from_name(tname);
    if (!type) {
        // transformers: "Missing validation function ..." warning, then KeyError at model construction.
        if (tname == "proportional")
            throw Error("rope_scaling: rope_type: 'proportional' (Gemma-4) is not supported by ropebench");
        std::string names;
        for (const auto& m : rope_methods()) names += (names.empty() ? "" : ", ") + std::string(m.name);
        throw Error("rope_scaling: rope_type: unknown type '{}', expected one of {}", tname, names);
    }
    c.type = *type;
    // Step 5: original_max_position_embeddings for llama3/yarn/longrope: top-level field wins,
    // then the dict value, then max_position_embeddings. ntk_by_parts is yarn's blend.
    bool uses_orig = c.type == RopeType::llama3 || c.type == RopeType::yarn || c.type == RopeType::longrope ||
                     c.type == RopeType::ntk_by_parts;
    if (uses_orig) {
        if (geo.original_max_position_embeddings)
            p["original_max_position_embeddings"] = *geo.original_max_position_embeddings;
        else if (!p.contains("original_max_position_embeddings"))
            p["original_max_position_embeddings"] = geo.max_position_embeddings;
    }
    return p;
}

// Effective base and rotary dimension (spec §1: partial_rotary_factor).
void read_base_and_rotary_dim(RopeConfig& c, const json& p, const std::string& tname) {
    const RopeGeometry& geo = c.geometry;
    c.theta = number(p, "rope_theta");
    if (!(c.theta > 1.0)) throw Error("rope_scaling: rope_theta: expected a number > 1, got {}", p["rope_theta"].dump());
    double prf = 1.0;
    if (p.contains("partial_rotary_factor")) {
        prf = number(p, "partial_rotary_factor");
        if (!(prf > 0 && prf <= 1))
            throw Error("partial_rotary_factor: expected a number in (0, 1], got {}", p["partial_rotary_factor"].dump());
    }
    // Llama's default path (LlamaRotaryEmbedding.compute_default_rope_parameters) ignores
    // partial_rotary_factor; every scaled type honours it (spec §1).
    if (c.type == RopeType::default_) {
        c.rotary_dim = geo.head_dim;
        if (prf != 1.0)
            c.warnings.push_back(fmt::format(
                "partial_rotary_factor {} is ignored by the default RoPE (Llama rotates the whole head_dim {})",
                py_float_repr(prf), geo.head_dim));
    } else {
        c.rotary_dim = static_cast<int>(geo.head_dim * prf);  // Python int(): truncation
    }
    if (c.rotary_dim < 2 || c.rotary_dim % 2 != 0)
        throw Error("partial_rotary_factor: rotary dim int({} * {}) = {} must be even and >= 2", geo.head_dim,
                    py_float_repr(prf), c.rotary_dim);
    if ((c.type == RopeType::dynamic || c.type == RopeType::ntk) && c.rotary_dim < 4)
        throw Error("head_dim: rope_type '{}' needs a rotary dim >= 4 (exponent d/(d-2)), got {}", tname, c.rotary_dim);
}

// transformers' _check_received_keys against the methods table.
void check_keys(RopeConfig& c, const json& p, const std::string& tname, const json& rope_scaling) {
    // Key check (transformers' _check_received_keys): missing required keys raise,
    // unrecognized keys warn. "type" and "partial_rotary_factor" are always tolerated.
    std::set<std::string> required{"rope_type"}, optional;
    for (const auto& prm : rope_method(c.type).params) (prm.required ? required : optional).insert(prm.name);
    std::set<std::string> received;
    for (auto& [k, v] : p.items())
        if (k != "type" && k != "partial_rotary_factor") received.insert(k);
    std::set<std::string> missing, unused;
    for (auto& k : required)
        if (!received.count(k)) missing.insert(k);
    for (auto& k : received)
        if (!required.count(k) && !optional.count(k)) unused.insert(k);
    if (!missing.empty()) {
        std::string names;
        for (auto& k : missing) names += (names.empty() ? "" : ", ") + k;
        throw Error("rope_scaling: {}: required key{} missing for rope_type '{}' ({} given)", names,
                    missing.size() > 1 ? "s" : "", tname, rope_scaling.is_null() ? "null" : rope_scaling.dump());
    }
    if (!unused.empty())
        c.warnings.push_back(
            fmt::format("Unrecognized keys in `rope_parameters` for 'rope_type'='{}': {}", tname, py_set(unused)));
}

void need_mpe(const RopeConfig& c, const std::string& tname) {
    if (c.geometry.max_position_embeddings <= 0)
        throw Error("max_position_embeddings: rope_type '{}' needs it, got {}", tname, c.geometry.max_position_embeddings);
}

void read_yarn(RopeConfig& c, json& p, const std::string& tname) {
    const double mpe = c.geometry.max_position_embeddings;
    c.original_max_position_embeddings = read_orig(p);
    if (p["factor"].is_null()) {
        // only reachable with an explicit null: transformers uses mpe/orig
        need_mpe(c, tname);
        c.factor = mpe / c.original_max_position_embeddings;
        c.warnings.push_back("`rope_parameters`'s factor field must be a float or int >= 1, got None");
    } else {
        c.factor = positive_factor(p);
        warn_factor(c, p);
    }
    if (p.contains("attention_factor") && !p["attention_factor"].is_null()) {
        c.attention_factor = number(p, "attention_factor");
        if (!p["attention_factor"].is_number_float() || *c.attention_factor < 0)
            c.warnings.push_back(
                fmt::format("`rope_parameters`'s attention_factor field must be a float greater than 0, got {}",
                            py_str(p["attention_factor"])));
    }
    read_betas(c, p, true);
    c.mscale = opt_number(p, "mscale");
    c.mscale_all_dim = opt_number(p, "mscale_all_dim");
    read_truncate(c, p);
    if (mpe > 0) {
        double implicit = mpe / c.original_max_position_embeddings;
        bool factor_null = p["factor"].is_null();
        if ((factor_null || implicit != c.factor) && implicit != 1)
            c.warnings.push_back(fmt::format(
                "The explicitly set RoPE scaling factor (config.rope_parameters['factor'] = {}) does not match "
                "the ratio implicitly set by other parameters (implicit factor = post-yarn context length / "
                "pre-yarn context length = config.max_position_embeddings / "
                "config.rope_parameters['original_max_position_embeddings'] = {}). Using the explicit factor "
                "({}) in YaRN. This may cause unexpected behaviour in model usage, please correct the "
                "'original_max_position_embeddings' fields in the model config.",
                py_str(p["factor"]), py_float_repr(implicit), py_str(p["factor"])));
    }
}

void read_longrope(RopeConfig& c, json& p, const std::string& tname) {
    int half = c.rotary_dim / 2;
    c.short_factor = number_list(p, "short_factor", half);
    c.long_factor = number_list(p, "long_factor", half);
    c.original_max_position_embeddings = read_orig(p);
    if (!p.contains("factor") || p["factor"].is_null()) {
        need_mpe(c, tname);
        c.warnings.push_back(
            "This model config has set a `rope_parameters['original_max_position_embeddings']` field, to be "
            "used together with `max_position_embeddings` to determine a scaling factor. Please set the "
            "`factor` field of `rope_parameters`with this ratio instead -- we recommend the use of this field "
            "over `original_max_position_embeddings`, as it is compatible with most model architectures.");
        c.factor = c.geometry.max_position_embeddings / c.original_max_position_embeddings;
    } else {
        c.factor = positive_factor(p);
        warn_factor(c, p);
    }
    if (p.contains("attention_factor") && !p["attention_factor"].is_null()) {
        c.attention_factor = number(p, "attention_factor");
        if (*c.attention_factor < 0)
            c.warnings.push_back(fmt::format(
                "`rope_parameters`'s attention_factor field must be a float or int greater than 0, got {}",
                py_str(p["attention_factor"])));
    }
}

void read_llama3(RopeConfig& c, json& p) {
    const RopeGeometry& geo = c.geometry;
    const double mpe = geo.max_position_embeddings;
    c.factor = positive_factor(p);
    warn_factor(c, p);
    c.low_freq_factor = number(p, "low_freq_factor");
    c.high_freq_factor = number(p, "high_freq_factor");
    if (!(c.low_freq_factor > 0))
        throw Error("rope_scaling: low_freq_factor: expected a positive number, got {}",
                    p["low_freq_factor"].dump());
    if (!(c.high_freq_factor > 0))
        throw Error("rope_scaling: high_freq_factor: expected a positive number, got {}",
                    p["high_freq_factor"].dump());
    if (c.high_freq_factor <= c.low_freq_factor)
        c.warnings.push_back(fmt::format(
            "`rope_parameters`'s high_freq_factor field must be greater than low_freq_factor, got "
            "high_freq_factor={} and low_freq_factor={}",
            py_str(p["high_freq_factor"]), py_str(p["low_freq_factor"])));
    c.original_max_position_embeddings = read_orig(p);
    const json& o = p["original_max_position_embeddings"];
    if (!o.is_number_integer())
        c.warnings.push_back(fmt::format(
            "`rope_parameters`'s original_max_position_embeddings field must be an integer, got {}", py_str(o)));
    if (c.original_max_position_embeddings >= mpe)
        c.warnings.push_back(fmt::format(
            "`rope_parameters`'s original_max_position_embeddings field must be less than "
            "max_position_embeddings, got {} and max_position_embeddings={}",
            py_str(o), geo.max_position_embeddings));
}

// The typed values of each method (spec §3), with transformers' warnings.
void read_method_params(RopeConfig& c, json& p, const std::string& tname) {

    switch (c.type) {
        case RopeType::default_: break;
        case RopeType::linear:
        case RopeType::ntk:
            c.factor = positive_factor(p);
            warn_factor(c, p);
            break;
        case RopeType::dynamic:
            need_mpe(c, tname);
            c.factor = positive_factor(p);
            warn_factor(c, p);
            break;
        case RopeType::yarn: read_yarn(c, p, tname); break;
        case RopeType::ntk_by_parts:
            c.original_max_position_embeddings = read_orig(p);
            c.factor = positive_factor(p);
            warn_factor(c, p);
            read_betas(c, p, true);
            read_truncate(c, p);
            c.attention_factor = 1.0;  // by definition: no attention temperature
            break;
        case RopeType::longrope: read_longrope(c, p, tname); break;
        case RopeType::llama3: read_llama3(c, p); break;
    }
}

}  // namespace

RopeConfig parse_rope_config(const RopeGeometry& geo, const json& rope_scaling) {
    if (geo.head_dim <= 0) throw Error("head_dim: expected a positive integer, got {}", geo.head_dim);
    if (!(geo.rope_theta > 0) || !std::isfinite(geo.rope_theta))
        throw Error("rope_theta: expected a positive number, got {}", geo.rope_theta);
    if (geo.max_position_embeddings < 0)
        throw Error("max_position_embeddings: expected a positive integer, got {}", geo.max_position_embeddings);

    RopeConfig c;
    c.geometry = geo;
    c.given = rope_scaling;
    json p = standardize(c, rope_scaling);
    c.params = p;
    const std::string tname = p["rope_type"].get<std::string>();
    read_base_and_rotary_dim(c, p, tname);
    check_keys(c, p, tname, rope_scaling);
    read_method_params(c, p, tname);
    return c;
}

json rope_config_to_json(const RopeConfig& c) {
    static const std::set<std::string> float_keys{
        "rope_theta", "factor", "attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
        "low_freq_factor", "high_freq_factor", "partial_rotary_factor"};
    json out = json::object();
    for (auto& [k, v] : c.params.items()) {
        if (k == "type") continue;
        if (float_keys.count(k) && v.is_number())
            out[k] = v.get<double>();
        else if ((k == "short_factor" || k == "long_factor") && v.is_array()) {
            json a = json::array();
            for (auto& x : v) a.push_back(x.is_number() ? json(x.get<double>()) : x);
            out[k] = a;
        } else if (k == "original_max_position_embeddings" && v.is_number() &&
                   v.get<double>() == std::floor(v.get<double>()))
            out[k] = static_cast<int64_t>(v.get<double>());
        else
            out[k] = v;
    }
    switch (c.type) {
        case RopeType::yarn:
        case RopeType::ntk_by_parts:
            out["factor"] = c.factor;
            out["beta_fast"] = c.beta_fast;
            out["beta_slow"] = c.beta_slow;
            out["truncate"] = c.truncate;
            break;
        case RopeType::longrope: out["factor"] = c.factor; break;
        default: break;
    }
    return out;
}

std::string rope_config_label(const RopeConfig& c) {
    if (c.given.is_null() || (c.given.is_object() && c.given.empty())) return "none";
    std::string s = rope_type_name(c.type);
    for (auto& [k, v] : c.given.items()) {
        if (k == "rope_type" || k == "type" || k == "short_factor" || k == "long_factor") continue;
        if (v.is_number_float())
            s += fmt::format(" {}={}", k, v.get<double>());
        else
            s += fmt::format(" {}={}", k, v.dump());
    }
    return s;
}

}  // namespace rb
