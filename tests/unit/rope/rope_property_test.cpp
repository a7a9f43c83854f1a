// Property tests per method: factor 1 = plain RoPE, rotation composition R(q)R(p) = R(p+q),
// norms kept (attention factor divided out), plus parsing rules and the state machine.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/test_util.h"
#include "rope/rope.h"
#include "util/error.h"

using nlohmann::json;

namespace {

rb::RopeGeometry geo(int head_dim, double theta, int mpe) {
    rb::RopeGeometry g;
    g.head_dim = head_dim;
    g.rope_theta = theta;
    g.max_position_embeddings = mpe;
    return g;
}

// TinyLlama-like, Llama-3-like, stories260K-like (the golden geometries A, B, C).
std::vector<rb::RopeGeometry> geometries() { return {geo(64, 1e4, 2048), geo(128, 5e5, 131072), geo(8, 1e4, 512)}; }

json ones(int n) { return json(std::vector<double>(n, 1.0)); }

// Configs with factor 1 for every method (and seq_len values to try).
std::vector<json> factor_one_configs(int half) {
    return {
        json{{"rope_type", "linear"}, {"factor", 1.0}},
        json{{"rope_type", "dynamic"}, {"factor", 1.0}},
        json{{"rope_type", "ntk"}, {"factor", 1.0}},
        json{{"rope_type", "yarn"}, {"factor", 1.0}},
        json{{"rope_type", "yarn"}, {"factor", 1.0}, {"mscale", 1.0}, {"mscale_all_dim", 0.5}},
        json{{"rope_type", "ntk_by_parts"}, {"factor", 1.0}},
        json{{"rope_type", "llama3"}, {"factor", 1.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
             {"original_max_position_embeddings", 256}},
        json{{"rope_type", "longrope"}, {"factor", 1.0}, {"short_factor", ones(half)}, {"long_factor", ones(half)},
             {"original_max_position_embeddings", 256}},
    };
}

TEST(RopeProperty, FactorOneIsPlainRope) {
    // Factor 1 reduces every method to plain RoPE: linear divides by 1; dynamic's base is
    // theta*(1*L*/mpe)^(d/(d-2)), which is theta only for L <= mpe (for longer calls dynamic
    // with factor 1 is static NTK at alpha = L/mpe, tested below; the L values here are
    // <= mpe); yarn/ntk_by_parts blend inv0 with inv0/1; llama3 mixes inv0/1 and inv0;
    // longrope with all-ones lists. Attention factor: yarn get_mscale(1) = 1 (also the
    // mscale/mscale_all_dim ratio), longrope 1 for factor <= 1. Exception not covered: an
    // explicit attention_factor is used verbatim whatever the factor.
    // Tolerance: 4e-16 relative (a division by 1.0 is exact; the blend a*(1-w)+a*w may round once).
    size_t n = 0;
    for (const auto& g : geometries()) {
        auto plain = rb::plain_inv_freq(g.head_dim, g.rope_theta);
        for (const json& rs : factor_one_configs(g.head_dim / 2)) {
            SCOPED_TRACE(rs.dump() + " head_dim " + std::to_string(g.head_dim));
            rb::RopeConfig c = rb::parse_rope_config(g, rs);
            for (int L : {0, 1, 100, g.max_position_embeddings}) {
                rb::RopeTables t = rb::compute_rope_tables(c, L);
                ASSERT_EQ(t.inv_freq.size(), plain.size());
                EXPECT_TRUE(rb::test::all_close(t.inv_freq.data(), plain.data(), plain.size(), 0, 4e-16));
                EXPECT_EQ(t.attention_factor, 1.0);
                n++;
            }
        }
    }
    EXPECT_GT(n, 0u);
}

TEST(RopeProperty, DynamicFactorOneIsStaticNtkAtLength) {
    // Documented in the spec (§3.8): dynamic with factor 1 at L = alpha*mpe equals static NTK alpha.
    for (const auto& g : geometries()) {
        for (double alpha : {2.0, 4.0}) {
            auto d = rb::parse_rope_config(g, json{{"rope_type", "dynamic"}, {"factor", 1.0}});
            auto s = rb::parse_rope_config(g, json{{"rope_type", "ntk"}, {"factor", alpha}});
            auto td = rb::compute_rope_tables(d, static_cast<int>(alpha * g.max_position_embeddings));
            auto ts = rb::compute_rope_tables(s, 0);
            EXPECT_TRUE(rb::test::all_close(td.inv_freq.data(), ts.inv_freq.data(), ts.inv_freq.size(), 0, 1e-14));
            // static NTK: highest frequency unchanged, lowest divided by exactly alpha
            auto plain = rb::plain_inv_freq(g.head_dim, g.rope_theta);
            EXPECT_DOUBLE_EQ(ts.inv_freq.front(), plain.front());
            EXPECT_NEAR(ts.inv_freq.back(), plain.back() / alpha, 1e-14 * plain.back());
        }
    }
}

// A spread of scaled configs for the rotation properties.
std::vector<json> scaled_configs(int half) {
    std::vector<double> longf(half), shortf(half);
    for (int i = 0; i < half; i++) {
        shortf[i] = 1.0 + 0.05 * i / half;
        longf[i] = 1.0 + 3.0 * i / half;
    }
    return {
        json(nullptr),
        json{{"rope_type", "linear"}, {"factor", 4.0}},
        json{{"rope_type", "dynamic"}, {"factor", 4.0}},
        json{{"rope_type", "ntk"}, {"factor", 8.0}},
        json{{"rope_type", "yarn"}, {"factor", 8.0}},
        json{{"rope_type", "yarn"}, {"factor", 16.0}, {"beta_fast", 64}, {"beta_slow", 2}, {"truncate", false}},
        json{{"rope_type", "ntk_by_parts"}, {"factor", 4.0}, {"beta_fast", 48}},
        json{{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
             {"original_max_position_embeddings", 256}},
        json{{"rope_type", "longrope"}, {"factor", 4.0}, {"short_factor", shortf}, {"long_factor", longf},
             {"original_max_position_embeddings", 256}},
    };
}

// Applies the rotate_half rotation for one position to x (in place) in float:
// x' = x*cos + rotate_half(x)*sin, pairs (i, i+half). cos/sin rows are [half].
void rotate(std::vector<float>& x, const float* c, const float* s, size_t half) {
    for (size_t i = 0; i < half; i++) {
        float a = x[i], b = x[i + half];
        x[i] = a * c[i] - b * s[i];
        x[i + half] = b * c[i] + a * s[i];
    }
}

TEST(RopeProperty, CompositionAndNorm) {
    // Float rotations with tables from build_cos_sin. Each table entry is the double value
    // rounded once to float (rel. err <= 2^-24 ~ 6e-8), each rotated component has ~2
    // float roundings; two rotations vs one: error <= ~8 * 6e-8 * af^2 * |x|_max. We allow
    // 1e-6 * af^2 * max|x| (about 2x margin), which would fail for any angle error
    // > ~1e-6 rad (a 1-position offset changes the fastest pair by ~1 rad).
    std::mt19937 rng(1234);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    size_t n = 0;
    for (const auto& g : geometries()) {
        for (const json& rs : scaled_configs(g.head_dim / 2)) {
            SCOPED_TRACE(rs.dump() + " head_dim " + std::to_string(g.head_dim));
            rb::RopeConfig c = rb::parse_rope_config(g, rs);
            for (int L : {0, 4 * g.max_position_embeddings}) {
                rb::RopeTables t = rb::compute_rope_tables(c, L);
                size_t half = t.inv_freq.size(), d = 2 * half;
                float af = static_cast<float>(t.attention_factor);
                for (auto [p, q] : std::vector<std::pair<int, int>>{{1, 1}, {7, 100}, {1000, 3000}, {65535, 65537}}) {
                    std::vector<float> cp(half), sp(half), cq(half), sq(half), cpq(half), spq(half);
                    rb::build_cos_sin(t, p, 1, cp.data(), sp.data());
                    rb::build_cos_sin(t, q, 1, cq.data(), sq.data());
                    rb::build_cos_sin(t, p + q, 1, cpq.data(), spq.data());
                    std::vector<float> x(d);
                    for (auto& v : x) v = nd(rng);
                    float xmax = 0;
                    for (float v : x) xmax = std::max(xmax, std::fabs(v));
                    std::vector<float> two = x, one = x;
                    rotate(two, cp.data(), sp.data(), half);
                    // norm of each pair kept, up to the attention factor
                    for (size_t i = 0; i < half; i++) {
                        double n0 = std::hypot(x[i], x[i + half]), n1 = std::hypot(two[i], two[i + half]);
                        EXPECT_NEAR(n1 / af, n0, 3e-7 * (n0 + 1e-3)) << "norm pair " << i << " p=" << p;
                    }
                    rotate(two, cq.data(), sq.data(), half);
                    rotate(one, cpq.data(), spq.data(), half);
                    for (auto& v : one) v *= af;  // R(p+q) applied once carries af, twice af^2
                    EXPECT_TRUE(rb::test::all_close(two.data(), one.data(), d, 1e-6 * af * af * xmax, 0))
                        << "p=" << p << " q=" << q;
                    n++;
                }
            }
        }
    }
    EXPECT_GT(n, 0u);
}

TEST(RopeProperty, BuildCosSinOffsetRows) {
    auto c = rb::parse_rope_config(geo(64, 1e4, 2048), json{{"rope_type", "yarn"}, {"factor", 4.0}});
    auto t = rb::compute_rope_tables(c, 0);
    size_t half = t.inv_freq.size();
    std::vector<float> c5(5 * half), s5(5 * half), c1(half), s1(half);
    rb::build_cos_sin(t, 10, 5, c5.data(), s5.data());
    for (int r = 0; r < 5; r++) {
        rb::build_cos_sin(t, 10 + r, 1, c1.data(), s1.data());
        for (size_t i = 0; i < half; i++) {
            EXPECT_EQ(c5[r * half + i], c1[i]);
            EXPECT_EQ(s5[r * half + i], s1[i]);
        }
    }
    // position 0: cos = af, sin = 0
    rb::build_cos_sin(t, 0, 1, c1.data(), s1.data());
    for (size_t i = 0; i < half; i++) {
        EXPECT_FLOAT_EQ(c1[i], static_cast<float>(t.attention_factor));
        EXPECT_EQ(s1[i], 0.0f);
    }
}

// ---- parsing rules ----

std::string error_of(const rb::RopeGeometry& g, const json& rs) {
    try {
        rb::parse_rope_config(g, rs);
    } catch (const rb::Error& e) {
        return e.what();
    }
    return "";
}

TEST(RopeParse, NoneAndEmptyMeanDefault) {
    auto g = geo(64, 1e4, 2048);
    for (const json& rs : {json(nullptr), json::object(), json{{"rope_type", "default"}}}) {
        auto c = rb::parse_rope_config(g, rs);
        EXPECT_EQ(c.type, rb::RopeType::default_);
        EXPECT_TRUE(c.warnings.empty());
        EXPECT_EQ(c.rotary_dim, 64);
    }
}

TEST(RopeParse, RopeThetaInsideDictWins) {
    auto c = rb::parse_rope_config(geo(64, 1e4, 2048), json{{"rope_type", "linear"}, {"factor", 2}, {"rope_theta", 5e5}});
    EXPECT_EQ(c.theta, 5e5);
    auto t = rb::compute_rope_tables(c, 0);
    EXPECT_DOUBLE_EQ(t.inv_freq[1], 1.0 / std::pow(5e5, 2.0 / 64) / 2);
}

TEST(RopeParse, TopLevelOriginalWinsForYarnNotForDynamic) {
    auto g = geo(64, 1e4, 8192);
    g.original_max_position_embeddings = 2048;
    auto y = rb::parse_rope_config(
        g, json{{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 1024}});
    EXPECT_EQ(y.original_max_position_embeddings, 2048);
    EXPECT_EQ(y.params["original_max_position_embeddings"], 2048);
    auto d = rb::parse_rope_config(g, json{{"rope_type", "dynamic"}, {"factor", 4.0}});
    EXPECT_FALSE(d.params.contains("original_max_position_embeddings"));
}

TEST(RopeParse, PartialRotary) {
    auto g = geo(64, 1e4, 2048);
    g.partial_rotary_factor = 0.5;
    // scaled types honour it
    auto y = rb::parse_rope_config(g, json{{"rope_type", "linear"}, {"factor", 2.0}});
    EXPECT_EQ(y.rotary_dim, 32);
    EXPECT_EQ(rb::compute_rope_tables(y, 0).inv_freq.size(), 16u);
    // Llama's default path ignores it (spec §1), with a warning
    auto d = rb::parse_rope_config(g, json(nullptr));
    EXPECT_EQ(d.rotary_dim, 64);
    ASSERT_EQ(d.warnings.size(), 1u);
    EXPECT_NE(d.warnings[0].find("partial_rotary_factor"), std::string::npos);
    // the top-level value overwrites a dict value
    auto o = rb::parse_rope_config(g, json{{"rope_type", "linear"}, {"factor", 2.0}, {"partial_rotary_factor", 0.25}});
    EXPECT_EQ(o.rotary_dim, 32);
}

TEST(RopeParse, ErrorsNameTheKey) {
    auto g = geo(64, 1e4, 2048);
    struct Case {
        json rs;
        std::string key;
    };
    std::vector<Case> cases = {
        {json{{"rope_type", "linear"}}, "factor"},
        {json{{"rope_type", "linear"}, {"factor", "2"}}, "factor"},
        {json{{"rope_type", "dynamic"}, {"factor", nullptr}}, "factor"},
        {json{{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", "x"}}, "beta_fast"},
        {json{{"rope_type", "yarn"}, {"factor", 4.0}, {"attention_factor", "big"}}, "attention_factor"},
        {json{{"rope_type", "yarn"}, {"factor", 4.0}, {"mscale", true}}, "mscale"},
        {json{{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}}, "high_freq_factor"},
        {json{{"rope_type", "longrope"}, {"short_factor", ones(32)}}, "long_factor"},
        {json{{"rope_type", "longrope"}, {"short_factor", "1"}, {"long_factor", ones(32)}}, "short_factor"},
        {json{{"rope_type", "longrope"}, {"short_factor", ones(31)}, {"long_factor", ones(32)}}, "short_factor"},
        {json{{"rope_type", "su"}, {"factor", 2.0}}, "rope_type"},
        {json{{"rope_type", 3}}, "rope_type"},
        {json{{"type", "linear"}, {"factor", 2.0}, {"rope_theta", "x"}}, "rope_theta"},
        {json("yarn"), "rope_scaling"},
    };
    for (auto& c : cases) {
        std::string e = error_of(g, c.rs);
        EXPECT_NE(e, "") << c.rs.dump() << " should fail";
        EXPECT_NE(e.find(c.key), std::string::npos) << c.rs.dump() << " -> " << e;
    }
}

TEST(RopeParse, WarningsOnly) {
    auto g = geo(64, 1e4, 2048);
    // factor < 1 only warns and is used (transformers: 0.5 gives inv0 * 2)
    auto c = rb::parse_rope_config(g, json{{"rope_type", "linear"}, {"factor", 0.5}});
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0], "`rope_parameters`'s factor field must be a float or int >= 1, got 0.5");
    EXPECT_DOUBLE_EQ(rb::compute_rope_tables(c, 0).inv_freq[0], 2.0);
    // beta_fast 0 means the default 32 ("or 32")
    auto y0 = rb::parse_rope_config(g, json{{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", 0}});
    auto y32 = rb::parse_rope_config(g, json{{"rope_type", "yarn"}, {"factor", 4.0}});
    EXPECT_EQ(y0.beta_fast, 32.0);
    EXPECT_EQ(rb::compute_rope_tables(y0, 0).inv_freq, rb::compute_rope_tables(y32, 0).inv_freq);
    // mscale alone is ignored
    auto m = rb::parse_rope_config(g, json{{"rope_type", "yarn"}, {"factor", 4.0}, {"mscale", 0.5}});
    EXPECT_DOUBLE_EQ(rb::compute_rope_tables(m, 0).attention_factor, 0.1 * std::log(4.0) + 1.0);
}

TEST(RopeParse, ResolvedJsonIsCanonical) {
    auto g = geo(64, 1e4, 2048);
    auto a = rb::parse_rope_config(g, json{{"type", "yarn"}, {"factor", 4}});
    auto b = rb::parse_rope_config(
        g, json{{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", 32.0}, {"beta_slow", 1}, {"rope_theta", 10000}});
    EXPECT_EQ(rb::rope_config_to_json(a).dump(), rb::rope_config_to_json(b).dump());
    json r = rb::rope_config_to_json(a);
    EXPECT_FALSE(r.contains("type"));
    EXPECT_EQ(r["rope_type"], "yarn");
    EXPECT_EQ(r["original_max_position_embeddings"], 2048);
    EXPECT_TRUE(r["factor"].is_number_float());
    // a resolved dict parses back to the same tables
    auto back = rb::parse_rope_config(g, r);
    EXPECT_EQ(rb::compute_rope_tables(back, 0).inv_freq, rb::compute_rope_tables(a, 0).inv_freq);
    EXPECT_TRUE(back.warnings.empty());
}

// ---- state machine (spec §3.3 / §3.5) beyond the golden call sequences ----

TEST(RopeState, DynamicGrowOnlyAndStrictReset) {
    auto g = geo(64, 1e4, 2048);
    auto c = rb::parse_rope_config(g, json{{"rope_type", "dynamic"}, {"factor", 2.0}});
    rb::RopeState st(c);
    auto plain = rb::plain_inv_freq(64, 1e4);
    EXPECT_EQ(st.current().inv_freq, plain);
    EXPECT_EQ(st.for_call(1000).inv_freq, plain);  // below mpe: default
    auto at4000 = rb::rope_dynamic(c, 4000).inv_freq;
    EXPECT_EQ(st.for_call(4000).inv_freq, at4000);
    EXPECT_EQ(st.for_call(3000).inv_freq, at4000);  // shorter but above mpe: keeps the larger base
    EXPECT_EQ(st.for_call(2048).inv_freq, at4000);  // == mpe: no reset (strict <)
    EXPECT_EQ(st.for_call(4001).inv_freq, rb::rope_dynamic(c, 4001).inv_freq);  // grows at every step
    EXPECT_EQ(st.for_call(2047).inv_freq, plain);  // < mpe: reset
}

TEST(RopeState, LongropeSwitchesBothWays) {
    auto g = geo(8, 1e4, 2048);
    json rs{{"rope_type", "longrope"},
            {"factor", 4.0},
            {"short_factor", {1.0, 1.0, 1.0, 1.0}},
            {"long_factor", {1.0, 2.0, 3.0, 4.0}},
            {"original_max_position_embeddings", 512}};
    auto c = rb::parse_rope_config(g, rs);
    rb::RopeState st(c);
    auto plain = rb::plain_inv_freq(8, 1e4);
    EXPECT_EQ(st.for_call(512).inv_freq, plain);
    EXPECT_NEAR(st.for_call(513).inv_freq[3], plain[3] / 4.0, 1e-18);
    EXPECT_EQ(st.for_call(10).inv_freq, plain);  // back to short
    EXPECT_DOUBLE_EQ(st.current().attention_factor, std::sqrt(1 + std::log(4.0) / std::log(512.0)));
}

}  // namespace
