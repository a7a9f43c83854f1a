// One function per RoPE method (spec: shared/reference/rope-methods.md §3).
#include "rope/methods.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace rb {

using json = nlohmann::json;

namespace {

constexpr double k_pi = 3.14159265358979323846;

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
YarnRange yarn_range(int d, double theta, double orig, double beta_fast, double beta_slow, bool truncate) {
    YarnRange r;
    r.dim_fast = correction_dim(beta_fast, d, theta, orig);
    r.dim_slow = correction_dim(beta_slow, d, theta, orig);
    double low = r.dim_fast, high = r.dim_slow;
    if (truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    r.low = std::max(low, 0.0);
    r.high = std::min(high, static_cast<double>(d - 1));  // d-1, not d/2-1 (as transformers)
    return r;
}
YarnRange yarn_range(const RopeConfig& c) {
    return yarn_range(c.rotary_dim, c.theta, c.original_max_position_embeddings, c.beta_fast, c.beta_slow, c.truncate);
}

// The frequency blend shared by yarn and ntk_by_parts (YaRN §3.2, linear in the index).
std::vector<double> yarn_inv_freq(const RopeConfig& c) {
    int d = c.rotary_dim, half = d / 2;
    const std::vector<double> ramp =
        yarn_ramp(d, c.theta, c.original_max_position_embeddings, c.beta_fast, c.beta_slow, c.truncate);
    std::vector<double> inv(half);
    for (int i = 0; i < half; i++) {
        double pos_freq = std::pow(c.theta, static_cast<double>(2 * i) / d);
        double extrap = 1.0 / pos_freq;
        double interp = 1.0 / (c.factor * pos_freq);
        double w = 1.0 - ramp[i];  // weight of the unscaled frequency
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

std::vector<double> yarn_ramp(int rotary_dim, double theta, double orig, double beta_fast, double beta_slow,
                              bool truncate) {
    YarnRange r = yarn_range(rotary_dim, theta, orig, beta_fast, beta_slow, truncate);
    double low = r.low, high = r.high;
    if (low == high) high += 0.001;  // prevent a singularity, as transformers
    std::vector<double> ramp(rotary_dim / 2);
    for (int i = 0; i < rotary_dim / 2; i++) ramp[i] = std::clamp((i - low) / (high - low), 0.0, 1.0);
    return ramp;
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
}  // namespace rb
