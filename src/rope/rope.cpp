// RoPE: config standardization/validation (transformers v5 semantics) and one function per
// method. Formulas and pitfalls: shared/reference/rope-methods.md (section numbers below).
#include "rope/rope.h"

#include "rope/methods_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "util/error.h"

namespace rb {

using json = nlohmann::json;

namespace {

constexpr double k_pi = 3.14159265358979323846;


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

// inv0[i] = 1 / theta^(2i/d), as transformers: base ** (arange(0, d, 2) / d).
double inv0(double theta, int i, int d) { return 1.0 / std::pow(theta, static_cast<double>(2 * i) / d); }

double get_mscale(double scale, double m = 1.0) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

// YaRN correction range (spec §3.4): dimension index where a wavelength makes `r` turns over orig.
double correction_dim(double r, int d, double theta, double orig) {
    return (d * std::log(orig / (r * 2 * k_pi))) / (2 * std::log(theta));
}

struct YarnRange {
    double dim_fast, dim_slow, low, high;
};
YarnRange yarn_range(const RopeConfig& c) {
    int d = c.rotary_dim;
    YarnRange r;
    r.dim_fast = correction_dim(c.beta_fast, d, c.theta, c.original_max_position_embeddings);
    r.dim_slow = correction_dim(c.beta_slow, d, c.theta, c.original_max_position_embeddings);
    double low = r.dim_fast, high = r.dim_slow;
    if (c.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    r.low = std::max(low, 0.0);
    r.high = std::min(high, static_cast<double>(d - 1));  // d-1, not d/2-1 (as transformers)
    return r;
}

// The frequency blend shared by yarn and ntk_by_parts (YaRN §3.2, linear in the index).
std::vector<double> yarn_inv_freq(const RopeConfig& c) {
    int d = c.rotary_dim, half = d / 2;
    YarnRange r = yarn_range(c);
    double low = r.low, high = r.high;
    if (low == high) high += 0.001;  // prevent a singularity, as transformers
    std::vector<double> inv(half);
    for (int i = 0; i < half; i++) {
        double pos_freq = std::pow(c.theta, static_cast<double>(2 * i) / d);
        double extrap = 1.0 / pos_freq;
        double interp = 1.0 / (c.factor * pos_freq);
        double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
        double w = 1.0 - ramp;  // weight of the unscaled frequency
        inv[i] = interp * (1.0 - w) + extrap * w;
    }
    return inv;
}

double dynamic_base(const RopeConfig& c, int seq_len, double* eff_len = nullptr) {
    double mpe = c.geometry.max_position_embeddings;
    double L = std::max(static_cast<double>(seq_len), mpe);  // seq_len <= 0 (no call) -> mpe
    if (eff_len) *eff_len = L;
    int d = c.rotary_dim;
    return c.theta * std::pow(c.factor * L / mpe - (c.factor - 1.0), static_cast<double>(d) / (d - 2));
}

double ntk_base(const RopeConfig& c) {
    int d = c.rotary_dim;
    return c.theta * std::pow(c.factor, static_cast<double>(d) / (d - 2));
}

RopeTables tables_from_base(const RopeConfig& c, double base) {
    RopeTables t;
    t.rotary_dim = c.rotary_dim;
    t.inv_freq = plain_inv_freq(c.rotary_dim, base);
    return t;
}

}  // namespace

const char* rope_type_name(RopeType t) { return rope_method(t).name; }

std::optional<RopeType> rope_type_from_name(const std::string& name) {
    if (const RopeMethod* m = find_rope_method(name)) return m->type;
    return std::nullopt;
}

RopeConfig parse_rope_config(const RopeGeometry& geo, const json& rope_scaling) {
    if (geo.head_dim <= 0) throw Error("head_dim: expected a positive integer, got {}", geo.head_dim);
    if (!(geo.rope_theta > 0) || !std::isfinite(geo.rope_theta))
        throw Error("rope_theta: expected a positive number, got {}", geo.rope_theta);
    if (geo.max_position_embeddings < 0)
        throw Error("max_position_embeddings: expected a positive integer, got {}", geo.max_position_embeddings);

    RopeConfig c;
    c.geometry = geo;
    c.given = rope_scaling;

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
    c.params = p;

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

    double mpe = geo.max_position_embeddings;
    auto need_mpe = [&]() {
        if (geo.max_position_embeddings <= 0)
            throw Error("max_position_embeddings: rope_type '{}' needs it, got {}", tname, geo.max_position_embeddings);
    };

    switch (c.type) {
        case RopeType::default_: break;
        case RopeType::linear:
        case RopeType::ntk:
            c.factor = positive_factor(p);
            warn_factor(c, p);
            break;
        case RopeType::dynamic:
            need_mpe();
            c.factor = positive_factor(p);
            warn_factor(c, p);
            break;
        case RopeType::yarn: {
            c.original_max_position_embeddings = read_orig(p);
            if (p["factor"].is_null()) {
                // only reachable with an explicit null: transformers uses mpe/orig
                need_mpe();
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
            break;
        }
        case RopeType::ntk_by_parts:
            c.original_max_position_embeddings = read_orig(p);
            c.factor = positive_factor(p);
            warn_factor(c, p);
            read_betas(c, p, true);
            read_truncate(c, p);
            c.attention_factor = 1.0;  // by definition: no attention temperature
            break;
        case RopeType::longrope: {
            int half = c.rotary_dim / 2;
            c.short_factor = number_list(p, "short_factor", half);
            c.long_factor = number_list(p, "long_factor", half);
            c.original_max_position_embeddings = read_orig(p);
            if (!p.contains("factor") || p["factor"].is_null()) {
                need_mpe();
                c.warnings.push_back(
                    "This model config has set a `rope_parameters['original_max_position_embeddings']` field, to be "
                    "used together with `max_position_embeddings` to determine a scaling factor. Please set the "
                    "`factor` field of `rope_parameters`with this ratio instead -- we recommend the use of this field "
                    "over `original_max_position_embeddings`, as it is compatible with most model architectures.");
                c.factor = mpe / c.original_max_position_embeddings;
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
            break;
        }
        case RopeType::llama3: {
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
            break;
        }
    }
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

std::vector<double> plain_inv_freq(int rotary_dim, double theta) {
    std::vector<double> inv(rotary_dim / 2);
    for (int i = 0; i < rotary_dim / 2; i++) inv[i] = inv0(theta, i, rotary_dim);
    return inv;
}

// §3.1: inv[i] = 1/theta^(2i/d), attention factor 1.
RopeTables rope_default(const RopeConfig& c) { return tables_from_base(c, c.theta); }

// §3.2 Position Interpolation: inv0 / factor (same as positions p / factor).
RopeTables rope_linear(const RopeConfig& c) {
    RopeTables t = tables_from_base(c, c.theta);
    for (auto& x : t.inv_freq) x /= c.factor;
    return t;
}

// §3.3 Dynamic NTK: base' = theta * (factor*L*/mpe - (factor-1))^(d/(d-2)), L* = max(L, mpe).
// Note: max_position_embeddings, not original_max_position_embeddings.
RopeTables rope_dynamic(const RopeConfig& c, int seq_len) { return tables_from_base(c, dynamic_base(c, seq_len)); }

// §3.4 YaRN: NTK-by-parts blend + attention temperature sqrt(1/t) = 0.1 ln s + 1.
RopeTables rope_yarn(const RopeConfig& c) {
    RopeTables t;
    t.rotary_dim = c.rotary_dim;
    t.inv_freq = yarn_inv_freq(c);
    if (c.attention_factor)
        t.attention_factor = *c.attention_factor;
    else if (c.mscale && c.mscale_all_dim && *c.mscale != 0 && *c.mscale_all_dim != 0)
        t.attention_factor = get_mscale(c.factor, *c.mscale) / get_mscale(c.factor, *c.mscale_all_dim);
    else
        t.attention_factor = get_mscale(c.factor);
    return t;
}

// §3.5 LongRoPE: inv[i] = 1/(ext[i] * theta^(2i/d)), ext = long_factor when L > orig, else short.
RopeTables rope_longrope(const RopeConfig& c, int seq_len) {
    double orig = c.original_max_position_embeddings;
    const auto& ext = (seq_len > 0 && seq_len > orig) ? c.long_factor : c.short_factor;
    RopeTables t;
    t.rotary_dim = c.rotary_dim;
    int d = c.rotary_dim;
    t.inv_freq.resize(d / 2);
    for (int i = 0; i < d / 2; i++) t.inv_freq[i] = 1.0 / (ext[i] * std::pow(c.theta, static_cast<double>(2 * i) / d));
    if (c.attention_factor)
        t.attention_factor = *c.attention_factor;
    else
        t.attention_factor = c.factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(c.factor) / std::log(orig));
    return t;
}

// §3.6 Llama 3.1 bands by wavelength; both band edges are "medium" (continuous there).
RopeTables rope_llama3(const RopeConfig& c) {
    RopeTables t = tables_from_base(c, c.theta);
    double orig = c.original_max_position_embeddings;
    double low_wl = orig / c.low_freq_factor, high_wl = orig / c.high_freq_factor;
    for (auto& inv : t.inv_freq) {
        double wl = 2 * k_pi / inv;
        if (wl > low_wl) {
            inv = inv / c.factor;
        } else if (!(wl < high_wl)) {
            double smooth = (orig / wl - c.low_freq_factor) / (c.high_freq_factor - c.low_freq_factor);
            inv = (1 - smooth) * inv / c.factor + smooth * inv;
        }
    }
    return t;
}

// §3.8 static NTK-aware: base' = theta * alpha^(d/(d-2)); i=0 unchanged, last pair divided by alpha.
RopeTables rope_ntk(const RopeConfig& c) { return tables_from_base(c, ntk_base(c)); }

// §3.9 NTK-by-parts: yarn's frequencies, attention factor 1.
RopeTables rope_ntk_by_parts(const RopeConfig& c) {
    RopeTables t;
    t.rotary_dim = c.rotary_dim;
    t.inv_freq = yarn_inv_freq(c);
    t.attention_factor = 1.0;
    return t;
}

RopeTables compute_rope_tables(const RopeConfig& c, int seq_len) {
    switch (c.type) {
        case RopeType::default_: return rope_default(c);
        case RopeType::linear: return rope_linear(c);
        case RopeType::dynamic: return rope_dynamic(c, seq_len);
        case RopeType::yarn: return rope_yarn(c);
        case RopeType::longrope: return rope_longrope(c, seq_len);
        case RopeType::llama3: return rope_llama3(c);
        case RopeType::ntk: return rope_ntk(c);
        case RopeType::ntk_by_parts: return rope_ntk_by_parts(c);
    }
    RB_CHECK(false, "unhandled rope type");
    return {};
}

json rope_intermediates(const RopeConfig& c, int seq_len) {
    json j = json::object();
    auto num_or_int = [](double x) { return x == std::floor(x) && std::fabs(x) < 1e15 ? json(int64_t(x)) : json(x); };
    switch (c.type) {
        case RopeType::yarn:
        case RopeType::ntk_by_parts: {
            YarnRange r = yarn_range(c);
            j["factor_used"] = c.factor;
            j["original_max_position_embeddings"] = num_or_int(c.original_max_position_embeddings);
            j["beta_fast"] = c.beta_fast;
            j["beta_slow"] = c.beta_slow;
            j["correction_dim_fast"] = r.dim_fast;
            j["correction_dim_slow"] = r.dim_slow;
            j["ramp_low"] = r.low;
            j["ramp_high"] = r.high;
            break;
        }
        case RopeType::dynamic: {
            double L = 0;
            j["effective_base"] = dynamic_base(c, seq_len, &L);
            j["effective_seq_len"] = num_or_int(L);
            break;
        }
        case RopeType::ntk: j["effective_base"] = ntk_base(c); break;
        case RopeType::longrope:
            j["factor_used"] = c.factor;
            j["original_max_position_embeddings"] = num_or_int(c.original_max_position_embeddings);
            j["uses"] = (seq_len > 0 && seq_len > c.original_max_position_embeddings) ? "long_factor" : "short_factor";
            break;
        case RopeType::llama3: {
            double orig = c.original_max_position_embeddings;
            double low_wl = orig / c.low_freq_factor, high_wl = orig / c.high_freq_factor;
            j["low_freq_wavelen"] = low_wl;
            j["high_freq_wavelen"] = high_wl;
            json band = json::array();
            for (double inv : plain_inv_freq(c.rotary_dim, c.theta)) {
                double wl = 2 * k_pi / inv;
                band.push_back(wl > low_wl ? "low" : (wl < high_wl ? "high" : "medium"));
            }
            j["band"] = band;
            break;
        }
        default: break;
    }
    return j;
}

RopeState::RopeState(const RopeConfig& cfg)
    : m_cfg(cfg), m_tables(compute_rope_tables(cfg, 0)), m_original(m_tables),
      m_cached_len(cfg.geometry.max_position_embeddings) {}

const RopeTables& RopeState::for_call(int seq_len) {
    if (m_cfg.type == RopeType::dynamic) {
        // transformers' dynamic_frequency_update: grow-only cache, strict reset below mpe.
        int mpe = m_cfg.geometry.max_position_embeddings;
        int cached_before = m_cached_len;
        if (seq_len > m_cached_len) {
            m_tables = rope_dynamic(m_cfg, seq_len);
            m_cached_len = seq_len;
        }
        if (seq_len < mpe && cached_before > mpe) {
            m_tables = m_original;
            m_cached_len = mpe;
        }
    } else if (m_cfg.type == RopeType::longrope) {
        // longrope_frequency_update: long factors when L > orig, else back to the short ones.
        if (seq_len > m_cfg.original_max_position_embeddings)
            m_tables = rope_longrope(m_cfg, static_cast<int>(m_cfg.original_max_position_embeddings) + 1);
        else
            m_tables = m_original;
    }
    return m_tables;
}

void build_cos_sin(const RopeTables& t, int pos0, int n, float* out_cos, float* out_sin) {
    size_t half = t.inv_freq.size();
    for (int r = 0; r < n; r++) {
        double p = static_cast<double>(pos0) + r;
        for (size_t i = 0; i < half; i++) {
            double a = p * t.inv_freq[i];
            out_cos[r * half + i] = static_cast<float>(std::cos(a) * t.attention_factor);
            out_sin[r * half + i] = static_cast<float>(std::sin(a) * t.attention_factor);
        }
    }
}

}  // namespace rb
