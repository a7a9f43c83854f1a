#include "model/loader.h"

#include <algorithm>
#include <fstream>

#include "formats/memory_estimate.h"
#include "util/error.h"

namespace rb {

RopeConfig resolve_rope(const ModelConfig& cfg, const RopeChoice& choice) {
    nlohmann::json dict = choice.scaling ? *choice.scaling : cfg.rope_scaling;
    RopeGeometry geo = rope_geometry(cfg);
    if (choice.theta) {
        geo.rope_theta = *choice.theta;
        if (dict.is_object() && dict.contains("rope_theta")) dict["rope_theta"] = *choice.theta;
    }
    const std::string where = choice.scaling ? (choice.source.empty() ? std::string("rope_scaling") : choice.source)
                                             : cfg.source + ": rope_scaling";
    try {
        return parse_rope_config(geo, dict);
    } catch (const Error& e) {
        throw Error("{}: {}", where, e.what());
    }
}

void check_memory_fits(const Checkpoint& ckpt, backend::WeightType wtype, const std::string& backend, int64_t ctx) {
    if (ctx <= 0 || backend != "cpu") return;
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    bool found = false;
    while (in >> key >> kib) {
        if (key == "MemAvailable:") {
            found = true;
            break;
        }
        in.ignore(1 << 10, '\n');
    }
    if (!found) return;
    const ModelConfig& c = ckpt.config();
    const double file_bpw = double(ckpt.weight_bytes()) / double(std::max<uint64_t>(1, parameter_count(c)));
    const MemoryEstimate m = estimate_forward_memory(c, ctx, wtype == backend::WeightType::bf16 ? 2 : 4, file_bpw);
    const uint64_t avail = kib * 1024;
    const double gib = double(uint64_t(1) << 30);
    if (m.total() > avail)
        throw Error("{}: a {}-token window in {} needs about {:.2f} GiB (weights {:.2f} + KV cache {:.2f} + working "
                    "{:.2f}, or {:.2f} while loading), only {:.2f} GiB available (MemAvailable, /proc/meminfo)",
                    ckpt.path(), ctx, backend::weight_type_name(wtype), m.total() / gib, m.weights / gib,
                    m.kv_cache / gib, m.working / gib, m.loading / gib, avail / gib);
}

namespace {

// What can fail without reading weights fails first: memory, then the RoPE choice.
void check_before_load(const Checkpoint& ck, const LoadOptions& opts, int64_t ctx) {
    check_memory_fits(ck, opts.wtype, opts.backend.name, ctx);
    resolve_rope(ck.config(), opts.rope);
}

LoadedModel load_weights(const LoadOptions& opts, std::unique_ptr<Checkpoint> ckpt, std::unique_ptr<Tokenizer> tokenizer) {
    LoadedModel lm;
    lm.ckpt = std::move(ckpt);
    lm.tokenizer = std::move(tokenizer);
    lm.be = backend::make_backend(opts.backend);
    lm.model = std::make_unique<LlamaModel>(*lm.ckpt, *lm.be, opts.wtype);
    return lm;
}

}  // namespace

LoadedModel load_model(const LoadOptions& opts, int64_t ctx) {
    auto ckpt = Checkpoint::open(opts.path);
    check_before_load(*ckpt, opts, ctx);
    auto tokenizer = Tokenizer::from_checkpoint(*ckpt);
    return load_weights(opts, std::move(ckpt), std::move(tokenizer));
}

LoadedModel load_model(const LoadOptions& opts, int64_t ctx, std::unique_ptr<Checkpoint> ckpt,
                       std::unique_ptr<Tokenizer> tokenizer) {
    check_before_load(*ckpt, opts, ctx);
    return load_weights(opts, std::move(ckpt), std::move(tokenizer));
}

}  // namespace rb
