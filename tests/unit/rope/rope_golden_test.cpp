// Golden test: every record and validation case of shared/golden/rope_reference.json
// (transformers v5 run in float64 and float32; generator bench/rope_golden.py, spec
// shared/reference/rope-methods.md §7). The test iterates the file, so new records are
// covered without code changes; it fails if it checked nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>

#include "common/test_util.h"
#include "rope/rope.h"
#include "util/error.h"

using nlohmann::json;

namespace {

const json& golden() {
    static json j = [] {
        std::ifstream f(rb::test::shared_path("golden/rope_reference.json"));
        return json::parse(f);
    }();
    return j;
}

rb::RopeGeometry geometry_of(const json& cfg) {
    rb::RopeGeometry g;
    g.head_dim = cfg.contains("head_dim") && !cfg["head_dim"].is_null()
                     ? cfg["head_dim"].get<int>()
                     : cfg["hidden_size"].get<int>() / cfg["num_attention_heads"].get<int>();
    g.rope_theta = cfg.value("rope_theta", 10000.0);
    g.max_position_embeddings = cfg["max_position_embeddings"].get<int>();
    if (cfg.contains("partial_rotary_factor")) g.partial_rotary_factor = cfg["partial_rotary_factor"].get<double>();
    if (cfg.contains("original_max_position_embeddings"))
        g.original_max_position_embeddings = cfg["original_max_position_embeddings"].get<int>();
    return g;
}

json scaling_of(const json& cfg) { return cfg.contains("rope_scaling") ? cfg["rope_scaling"] : json(nullptr); }

// Tolerances (spec §7 and the file's doc.tolerance_guidance):
// * inv_freq vs inv_freq_f64: both are the same formulas in double; 1e-12 relative is the
//   brief's bound (measured max here ~2e-16).
constexpr double k_inv_rtol = 1e-12;
// * vs transformers' float32 buffer: it differs from round(f64) by <= 6 ulp (llama3), i.e.
//   <= 6 * 2^-24 = 3.6e-7 relative; 8e-7 is the file's recommended bound.
constexpr double k_inv_f32_rtol = 8e-7;

// Double cos/sin (cos(p*inv)*af, all double) vs cos_f64: the angle p*inv differs by
// p*inv*|rel err of inv| (<= ~4e-16 p inv measured) plus one rounding of the product,
// and cos/sin add ~1 ulp: tol = af * (1e-15 + 2e-15 * p * inv + 4e-16 * p * inv).
double tol_f64(double p, double inv, double af) { return af * (1e-15 + 3e-15 * p * inv); }

void expect_tables(const rb::RopeTables& t, const json& inv_f64, double af, const std::string& what) {
    SCOPED_TRACE(what);
    ASSERT_EQ(t.inv_freq.size(), inv_f64.size());
    for (size_t i = 0; i < t.inv_freq.size(); i++) {
        double want = inv_f64[i].get<double>();
        EXPECT_LE(std::fabs(t.inv_freq[i] - want), k_inv_rtol * std::fabs(want))
            << "inv_freq[" << i << "] got " << t.inv_freq[i] << " want " << want;
    }
    EXPECT_NEAR(t.attention_factor, af, 1e-12 * std::fabs(af));
}

// Compares the values both sides have: numbers to 1e-12 relative, everything else exactly.
void expect_intermediates(const json& mine, const json& want) {
    for (auto& [k, v] : want.items()) {
        SCOPED_TRACE("intermediates_f64." + k);
        ASSERT_TRUE(mine.contains(k)) << "missing intermediate " << k;
        if (v.is_number()) {
            ASSERT_TRUE(mine[k].is_number());
            double a = mine[k].get<double>(), b = v.get<double>();
            EXPECT_LE(std::fabs(a - b), 1e-12 * std::fabs(b) + 1e-300) << k << ": got " << a << " want " << b;
        } else {
            EXPECT_EQ(mine[k], v);
        }
    }
}

// "after construction" -> 0 (no call); "prefill position_ids=arange(N)" -> N;
// "position_ids=[P]" -> P + 1 (seq_len = max(position_ids) + 1).
int call_seq_len(const std::string& call) {
    std::smatch m;
    if (call == "after construction") return 0;
    if (std::regex_search(call, m, std::regex(R"(arange\((\d+)\))"))) return std::stoi(m[1]);
    if (std::regex_search(call, m, std::regex(R"(position_ids=\[(\d+)\])"))) return std::stoi(m[1]) + 1;
    ADD_FAILURE() << "unrecognized call in call_sequence: " << call;
    return -1;
}

TEST(RopeGolden, EveryRecord) {
    const json& g = golden();
    ASSERT_TRUE(g.contains("records"));
    size_t checked = 0, cos_rows = 0, calls = 0;
    double worst_inv = 0, worst_cos = 0;
    for (const json& rec : g["records"]) {
        std::string id = rec["id"].get<std::string>();
        SCOPED_TRACE(id);
        const json& cfg = rec["config"];
        rb::RopeGeometry geo = geometry_of(cfg);
        rb::RopeConfig rc;
        try {
            rc = rb::parse_rope_config(geo, scaling_of(cfg));
        } catch (const std::exception& e) {
            ADD_FAILURE() << "parse failed: " << e.what();
            continue;
        }
        std::string method = rec["method"].get<std::string>();
        // ntk_by_parts records are written as the transformers equivalent (yarn, attention_factor 1.0)
        EXPECT_EQ(rb::rope_type_name(rc.type), method == "ntk_by_parts" ? std::string("yarn") : method);
        EXPECT_EQ(rc.rotary_dim, rec["rotary_dim"].get<int>());
        if (!rec["rope_parameters_standardized"].is_null()) {
            EXPECT_EQ(rc.params, rec["rope_parameters_standardized"]) << "standardized dict";
        }
        std::vector<std::string> want_warn = rec["transformers_warnings"].get<std::vector<std::string>>();
        EXPECT_EQ(rc.warnings, want_warn);

        int seq_len = rec["seq_len"].is_null() ? 0 : rec["seq_len"].get<int>();
        rb::RopeTables t = rb::compute_rope_tables(rc, seq_len);
        // dynamic/longrope state machine across calls; for these records the top-level
        // inv_freq / cos_sin are the state after the last call.
        if (rec.contains("call_sequence")) {
            rb::RopeState st(rc);
            for (const json& step : rec["call_sequence"]) {
                std::string call = step["call"].get<std::string>();
                int L = call_seq_len(call);
                ASSERT_GE(L, 0);
                const rb::RopeTables& cur = L == 0 ? st.current() : st.for_call(L);
                expect_tables(cur, step["inv_freq_f64"], step["attention_factor"].get<double>(), call);
                calls++;
            }
            t = st.current();
        }
        double af = rec["attention_factor"].get<double>();
        expect_tables(t, rec["inv_freq_f64"], af, "compute_rope_tables");
        // the float32 buffer transformers really uses
        const json& f32 = rec["inv_freq_f32"];
        ASSERT_EQ(f32.size(), t.inv_freq.size());
        for (size_t i = 0; i < t.inv_freq.size(); i++) {
            double want = f32[i].get<double>();
            EXPECT_LE(std::fabs(t.inv_freq[i] - want), k_inv_f32_rtol * std::fabs(want)) << "inv_freq_f32[" << i << "]";
            double w64 = rec["inv_freq_f64"][i].get<double>();
            worst_inv = std::max(worst_inv, std::fabs(t.inv_freq[i] - w64) / std::fabs(w64));
        }

        // cos/sin rows
        const json& cs = rec["cos_sin"];
        size_t half = t.inv_freq.size();
        for (size_t r = 0; r < cs["positions"].size(); r++) {
            int p = cs["positions"][r].get<int>();
            std::vector<float> c(half), s(half);
            rb::build_cos_sin(t, p, 1, c.data(), s.data());
            for (size_t i = 0; i < half; i++) {
                double inv = t.inv_freq[i];
                double cd = std::cos(p * inv) * t.attention_factor, sd = std::sin(p * inv) * t.attention_factor;
                double c64 = cs["cos_f64"][r][i].get<double>(), s64 = cs["sin_f64"][r][i].get<double>();
                double tol = tol_f64(p, inv, af);
                EXPECT_LE(std::fabs(cd - c64), tol) << "cos p=" << p << " i=" << i;
                EXPECT_LE(std::fabs(sd - s64), tol) << "sin p=" << p << " i=" << i;
                worst_cos = std::max({worst_cos, std::fabs(cd - c64) / (1 + p * inv), std::fabs(sd - s64) / (1 + p * inv)});
                // build_cos_sin (float output of the double values): one float rounding, 2^-24 relative
                double tol_float = tol + af * 6e-8;
                EXPECT_LE(std::fabs(c[i] - c64), tol_float) << "build_cos_sin cos p=" << p << " i=" << i;
                EXPECT_LE(std::fabs(s[i] - s64), tol_float) << "build_cos_sin sin p=" << p << " i=" << i;
                // transformers' float32 forward: the file's verified bound (angles in float32)
                double di = std::fabs(f32[i].get<double>() - rec["inv_freq_f64"][i].get<double>());
                double tol32 = af * (p * di + p * inv * 6e-8 + 3e-7) + af * 6e-8;
                EXPECT_LE(std::fabs(c[i] - cs["cos_f32"][r][i].get<double>()), tol32) << "vs cos_f32 p=" << p;
                EXPECT_LE(std::fabs(s[i] - cs["sin_f32"][r][i].get<double>()), tol32) << "vs sin_f32 p=" << p;
            }
            cos_rows++;
        }

        expect_intermediates(rb::rope_intermediates(rc, seq_len), rec["intermediates_f64"]);

        // The pseudo-type spelling of NTK-by-parts gives the same tables as its yarn form.
        if (method == "ntk_by_parts") {
            json pseudo = rec["rope_scaling"];
            pseudo["rope_type"] = "ntk_by_parts";
            pseudo.erase("attention_factor");
            rb::RopeConfig pc = rb::parse_rope_config(geo, pseudo);
            EXPECT_EQ(pc.type, rb::RopeType::ntk_by_parts);
            EXPECT_TRUE(pc.warnings.empty());
            expect_tables(rb::compute_rope_tables(pc, 0), rec["inv_freq_f64"], 1.0, "ntk_by_parts pseudo-type");
        }
        checked++;
    }
    std::printf("rope golden: %zu records checked (%zu cos/sin rows, %zu call-sequence steps); worst inv_freq rel "
                "err %.3g, worst cos/sin err/(1+p*inv) %.3g\n",
                checked, cos_rows, calls, worst_inv, worst_cos);
    EXPECT_GT(checked, 0u) << "no golden records checked";
    EXPECT_EQ(checked, g["records"].size());
    EXPECT_GT(calls, 0u);
}

// Keys named in a transformers KeyError text "... {'factor', 'x'}".
std::vector<std::string> keys_in_message(const std::string& msg) {
    std::vector<std::string> keys;
    auto open = msg.rfind('{');
    if (open == std::string::npos) return keys;
    std::string set = msg.substr(open);
    std::regex re("'([A-Za-z_]+)'");
    for (std::sregex_iterator it(set.begin(), set.end(), re), end; it != end; ++it) keys.push_back((*it)[1]);
    return keys;
}

TEST(RopeGolden, EveryValidationCase) {
    const json& g = golden();
    ASSERT_TRUE(g.contains("validation_cases"));
    size_t checked = 0;
    for (const json& vc : g["validation_cases"]) {
        std::string id = vc["id"].get<std::string>();
        SCOPED_TRACE(id);
        rb::RopeGeometry geo = geometry_of(vc["config"]);
        const json& v = vc["validation"];
        bool raises = !v["raises"].is_null();
        bool init_raises = vc.contains("init") && !vc["init"]["raises"].is_null();
        if (raises) {
            // transformers raises (missing required key): an Error naming each key
            std::vector<std::string> keys = keys_in_message(v["message"].get<std::string>());
            ASSERT_FALSE(keys.empty()) << "cannot read keys from " << v["message"];
            try {
                rb::parse_rope_config(geo, scaling_of(vc["config"]));
                ADD_FAILURE() << "expected an Error";
            } catch (const rb::Error& e) {
                for (auto& k : keys) EXPECT_NE(std::string(e.what()).find(k), std::string::npos) << e.what();
            }
        } else if (init_raises) {
            // transformers only warns, then fails at model construction: ropebench rejects it
            // at parse time (or, at the latest, when computing tables).
            EXPECT_THROW(
                {
                    auto rc = rb::parse_rope_config(geo, scaling_of(vc["config"]));
                    rb::compute_rope_tables(rc, 0);
                },
                rb::Error);
        } else {
            rb::RopeConfig rc = rb::parse_rope_config(geo, scaling_of(vc["config"]));
            EXPECT_EQ(rc.warnings, v["warnings"].get<std::vector<std::string>>());
            if (!vc["rope_parameters_standardized"].is_null()) {
                EXPECT_EQ(rc.params, vc["rope_parameters_standardized"]);
            }
            if (vc.contains("init")) {
                rb::RopeTables t = rb::compute_rope_tables(rc, 0);
                const json& f32 = vc["init"]["inv_freq_f32"];
                ASSERT_EQ(t.inv_freq.size(), f32.size());
                for (size_t i = 0; i < f32.size(); i++)
                    EXPECT_LE(std::fabs(t.inv_freq[i] - f32[i].get<double>()), k_inv_f32_rtol * f32[i].get<double>())
                        << "init inv_freq_f32[" << i << "]";
                double af = vc["init"]["attention_factor"].get<double>();
                EXPECT_NEAR(t.attention_factor, af, 1e-12 * af);
            }
        }
        checked++;
    }
    std::printf("rope golden: %zu validation cases checked\n", checked);
    EXPECT_GT(checked, 0u) << "no validation cases checked";
}

}  // namespace
