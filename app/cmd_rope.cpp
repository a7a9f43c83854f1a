// ropebench rope MODEL | --head-dim D --rope-theta B --max-pos N [--rope-scaling JSON]...
//                [--seq-len L] [--json] [--plot FILE.svg|png]
// Prints the inverse frequencies, wavelengths, ratio to plain RoPE and attention factor of
// one or more rope configurations (DESIGN.md "Command line"); --plot draws the per-pair
// scale factor. The math is all in src/rope.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "command.h"
#include "formats/checkpoint.h"
#include "model/llama.h"
#include "rope/methods_table.h"
#include "rope/rope.h"
#include "util/error.h"
#include "util/log.h"
#include "report/figures.h"
#include "util/plot.h"

namespace rb::app {
namespace {

struct RopeArgs {
    std::string model;
    std::optional<int> head_dim, max_pos, original_max_pos;
    std::optional<double> rope_theta, partial_rotary_factor;
    std::vector<std::string> rope_scaling;
    int seq_len = 0;
    bool json = false;
    std::string plot;
};

constexpr double k_two_pi = 6.28318530717958647692;

struct Row {
    RopeConfig cfg;
    RopeTables t;
    std::vector<double> plain;
};

nlohmann::json row_json(const Row& r, int seq_len) {
    std::vector<double> wl, ratio;
    for (size_t i = 0; i < r.t.inv_freq.size(); i++) {
        wl.push_back(k_two_pi / r.t.inv_freq[i]);
        ratio.push_back(r.t.inv_freq[i] / r.plain[i]);
    }
    return {{"label", rope_config_label(r.cfg)},
            {"given", r.cfg.given},
            {"rope", rope_config_to_json(r.cfg)},
            {"method", rope_type_name(r.cfg.type)},
            {"rotary_dim", r.t.rotary_dim},
            {"seq_len", seq_len},
            {"attention_factor", r.t.attention_factor},
            {"inv_freq", r.t.inv_freq},
            {"wavelength", wl},
            {"ratio", ratio},
            {"warnings", r.cfg.warnings},
            {"geometry",
             {{"head_dim", r.cfg.geometry.head_dim},
              {"rope_theta", r.cfg.geometry.rope_theta},
              {"max_position_embeddings", r.cfg.geometry.max_position_embeddings}}}};
}

void print_text(const Row& r, int seq_len) {
    const RopeConfig& c = r.cfg;
    fmt::print("rope: {}\n", rope_config_label(c));
    fmt::print("resolved: {}\n", rope_config_to_json(c).dump());
    std::string when = seq_len > 0 ? fmt::format("seq_len {}", seq_len) : "state after construction (no --seq-len)";
    fmt::print("rotary_dim {}  theta {}  max_position_embeddings {}  {}  attention_factor {:.10g}\n", r.t.rotary_dim,
               c.theta, c.geometry.max_position_embeddings, when, r.t.attention_factor);
    fmt::print("{:>5}  {:>14}  {:>14}  {:>12}\n", "pair", "inv_freq", "wavelength", "ratio");
    for (size_t i = 0; i < r.t.inv_freq.size(); i++)
        fmt::print("{:>5}  {:>14.8e}  {:>14.6g}  {:>12.8f}\n", i, r.t.inv_freq[i], k_two_pi / r.t.inv_freq[i],
                   r.t.inv_freq[i] / r.plain[i]);
}

// The report's rope panel (report/figures.h) through the one plot engine (util/plot).
void draw_plot(const std::vector<Row>& rows, const std::string& path) {
    const RopeGeometry& g = rows.front().cfg.geometry;
    std::vector<report::RopeCurve> curves;
    for (const Row& r : rows) {
        report::RopeCurve c{rope_config_label(r.cfg), r.t, r.plain, std::nullopt, false};
        if (r.t.attention_factor != 1.0) c.label += fmt::format(" (attn {:.4g})", r.t.attention_factor);
        curves.push_back(std::move(c));
    }
    plot::LineFigure f;
    f.title = fmt::format("RoPE scale factor per dimension pair (head_dim {}, theta {:g})", g.head_dim, g.rope_theta);
    f.panels = {report::rope_scale_panel(curves)};
    f.width = 1100;
    f.height = 560;
    plot::save_figure(path, f.width, f.height, [f](cairo_t* cr) { plot::draw_lines(cr, f); });
    log_info("wrote {}", path);
}

int run(const RopeArgs& a) {
    RopeGeometry geo;
    nlohmann::json model_scaling = nullptr;
    if (!a.model.empty()) {
        auto ck = Checkpoint::open(resolve_model_arg(a.model));
        geo = rope_geometry(ck->config());  // the model's own geometry, as the forward pass reads it
        model_scaling = ck->config().rope_scaling;
    } else {
        if (!a.head_dim || !a.max_pos)
            throw UsageError("rope: give MODEL, or --head-dim and --max-pos (and optionally --rope-theta)");
    }
    if (a.head_dim) geo.head_dim = *a.head_dim;
    if (a.max_pos) geo.max_position_embeddings = *a.max_pos;
    if (a.rope_theta) geo.rope_theta = *a.rope_theta;
    if (a.partial_rotary_factor) geo.partial_rotary_factor = *a.partial_rotary_factor;
    if (a.original_max_pos) geo.original_max_position_embeddings = *a.original_max_pos;

    std::vector<nlohmann::json> scalings;
    if (a.rope_scaling.empty())
        scalings.push_back(model_scaling);  // the checkpoint's own (none without MODEL)
    for (auto& s : a.rope_scaling)
        scalings.push_back(parse_rope_scaling_arg("--rope-scaling", s).value_or(model_scaling));

    std::vector<Row> rows;
    for (auto& sc : scalings) {
        // --rope-theta overrides the base, also one written inside the dict
        if (a.rope_theta && sc.is_object() && sc.contains("rope_theta")) sc["rope_theta"] = *a.rope_theta;
        Row r;
        try {
            r.cfg = parse_rope_config(geo, sc);
        } catch (const Error& e) {
            throw Error("{}{}", a.rope_scaling.empty() ? (a.model.empty() ? "" : a.model + ": ") : "--rope-scaling: ",
                        e.what());
        }
        for (auto& w : r.cfg.warnings) log_warn("{}: {}", rope_config_label(r.cfg), w);
        r.t = compute_rope_tables(r.cfg, a.seq_len);
        r.plain = plain_inv_freq(r.t.rotary_dim, r.cfg.theta);
        rows.push_back(std::move(r));
    }

    if (!a.plot.empty()) draw_plot(rows, a.plot);
    if (a.json) {
        nlohmann::json out;
        if (rows.size() == 1) {
            out = row_json(rows[0], a.seq_len);
        } else {
            out["configs"] = nlohmann::json::array();
            for (auto& r : rows) out["configs"].push_back(row_json(r, a.seq_len));
        }
        std::string s = out.dump(1);
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    } else {
        for (size_t i = 0; i < rows.size(); i++) {
            if (i) fmt::print("\n");
            print_text(rows[i], a.seq_len);
        }
    }
    return 0;
}

CommandRegistrar reg("rope", 20, [](CLI::App& app) -> std::function<int()> {
    auto a = std::make_shared<RopeArgs>();
    auto* sub = app.add_subcommand("rope", "inverse frequencies, wavelengths and attention factor of RoPE scaling methods");
    sub->add_option("MODEL", a->model, "checkpoint folder or .gguf file (geometry and rope_scaling from its config)");
    sub->add_option("--head-dim", a->head_dim, "head dimension D (without MODEL)")
        ->check(count_validator(2, k_max_head_dim));
    sub->add_option("--rope-theta", a->rope_theta, "RoPE base (default 10000 without MODEL; overrides the model's)")
        ->check(rope_theta_validator());
    sub->add_option("--max-pos", a->max_pos, "max_position_embeddings N (without MODEL)")
        ->check(count_validator(1, INT32_MAX));
    sub->add_option("--partial-rotary-factor", a->partial_rotary_factor, "top-level partial_rotary_factor")
        ->check(number_validator());
    sub->add_option("--original-max-pos", a->original_max_pos,
                    "top-level original_max_position_embeddings (Phi-3 layout)")
        ->check(count_validator(1, INT32_MAX));
    sub->add_option("--rope-scaling", a->rope_scaling,
                    "rope_scaling JSON as config.json spells it, 'none' (plain RoPE) or 'native' (MODEL's own); "
                    "repeat to compare methods. Methods (required [optional] keys): " + rope_methods_help())
        ->allow_extra_args(false);
    sub->add_option("--seq-len", a->seq_len,
                    "forward-call length L = max(position_ids)+1 for dynamic/longrope (default: state after "
                    "construction)")
        ->check(count_validator(0, INT32_MAX));
    sub->add_flag("--json", a->json, "print one JSON object");
    sub->add_option("--plot", a->plot, "draw the per-pair scale factor to FILE.png or FILE.svg");
    return [a]() { return run(*a); };
});

}  // namespace
}  // namespace rb::app
