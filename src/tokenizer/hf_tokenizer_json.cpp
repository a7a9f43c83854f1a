#include "tokenizer/hf_tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "tokenizer/regex.h"
#include "util/error.h"
#include "util/json.h"

namespace rb {
namespace {

using nlohmann::json;

struct Ctx {
    const std::string& path;
    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw Error("{}: {}: {}", path, field, what);
    }
    std::string str(const json& j, const char* key, const std::string& field) const {
        if (!j.contains(key) || !j[key].is_string()) fail(field + "." + key, "missing or not a string");
        return j[key].get<std::string>();
    }
    bool flag(const json& j, const char* key, bool dflt, const std::string& field) const {
        if (!j.contains(key) || j[key].is_null()) return dflt;
        if (!j[key].is_boolean()) fail(field + "." + key, "expected true or false");
        return j[key].get<bool>();
    }
    std::string type(const json& j, const std::string& field) const {
        if (!j.is_object()) fail(field, "expected an object");
        return str(j, "type", field);
    }
};

void add_normalizer(const Ctx& c, const json& j, const std::string& field, BpeSpec& s) {
    const std::string t = c.type(j, field);
    if (t == "Sequence") {
        if (!j.contains("normalizers") || !j["normalizers"].is_array()) c.fail(field + ".normalizers", "expected a list");
        for (size_t i = 0; i < j["normalizers"].size(); ++i)
            add_normalizer(c, j["normalizers"][i], fmt::format("{}.normalizers[{}]", field, i), s);
    } else if (t == "NFC") {
        s.normalizers.push_back({BpeNormalizer::Kind::nfc, "", ""});
    } else if (t == "Prepend") {
        s.normalizers.push_back({BpeNormalizer::Kind::prepend, c.str(j, "prepend", field), ""});
    } else if (t == "Replace") {
        if (!j.contains("pattern") || !j["pattern"].is_object() || !j["pattern"].contains("String"))
            c.fail(field + ".pattern", "unsupported Replace pattern (only {\"String\": ...} is supported)");
        std::string from = c.str(j["pattern"], "String", field + ".pattern");
        if (from.empty()) c.fail(field + ".pattern", "empty String");
        s.normalizers.push_back({BpeNormalizer::Kind::replace, from, c.str(j, "content", field)});
    } else {
        c.fail(field + ".type", fmt::format("unsupported normalizer '{}' (supported: NFC, Prepend, Replace, Sequence)", t));
    }
}

void add_pre_tokenizer(const Ctx& c, const json& j, const std::string& field, BpeSpec& s) {
    const std::string t = c.type(j, field);
    if (t == "Sequence") {
        if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
            c.fail(field + ".pretokenizers", "expected a list");
        for (size_t i = 0; i < j["pretokenizers"].size(); ++i)
            add_pre_tokenizer(c, j["pretokenizers"][i], fmt::format("{}.pretokenizers[{}]", field, i), s);
    } else if (t == "Split") {
        BpePreTokenizer p{BpePreTokenizer::Kind::split, "", false, false, false, "", "", false};
        const json& pat = j.contains("pattern") ? j["pattern"] : json();
        if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
            p.pattern = pat["Regex"].get<std::string>();
        } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
            p.pattern = regex_quote(pat["String"].get<std::string>());
        } else {
            c.fail(field + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
        }
        const std::string behavior = c.str(j, "behavior", field);
        if (behavior == "Removed") {
            p.removed = true;
        } else if (behavior != "Isolated") {
            c.fail(field + ".behavior", fmt::format("unsupported Split behavior '{}' (supported: Isolated, Removed)", behavior));
        }
        if (c.flag(j, "invert", false, field)) c.fail(field + ".invert", "inverted Split is not supported");
        s.pre_tokenizers.push_back(p);
    } else if (t == "ByteLevel") {
        BpePreTokenizer p{BpePreTokenizer::Kind::byte_level, "", false, false, false, "", "", false};
        p.add_prefix_space = c.flag(j, "add_prefix_space", true, field);
        p.use_regex = c.flag(j, "use_regex", true, field);
        s.pre_tokenizers.push_back(p);
    } else if (t == "Metaspace") {
        BpePreTokenizer p{BpePreTokenizer::Kind::metaspace, "", false, false, false, "", "", false};
        p.replacement = c.str(j, "replacement", field);
        if (p.replacement.empty()) c.fail(field + ".replacement", "empty");
        if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
            p.prepend_scheme = j["prepend_scheme"].get<std::string>();
            if (p.prepend_scheme != "always" && p.prepend_scheme != "first" && p.prepend_scheme != "never")
                c.fail(field + ".prepend_scheme", fmt::format("'{}', expected always, first or never", p.prepend_scheme));
        } else {
            p.prepend_scheme = c.flag(j, "add_prefix_space", true, field) ? "always" : "never";
        }
        p.split_words = c.flag(j, "split", true, field);
        s.pre_tokenizers.push_back(p);
    } else {
        c.fail(field + ".type",
               fmt::format("unsupported pre-tokenizer '{}' (supported: Split, ByteLevel, Metaspace, Sequence)", t));
    }
}

// TemplateProcessing "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, ...]
void read_post_processor(const Ctx& c, const json& j, const std::string& field, std::optional<std::string>& bos,
                         std::optional<std::string>& eos) {
    const std::string t = c.type(j, field);
    if (t == "Sequence") {
        if (!j.contains("processors") || !j["processors"].is_array()) c.fail(field + ".processors", "expected a list");
        for (size_t i = 0; i < j["processors"].size(); ++i)
            read_post_processor(c, j["processors"][i], fmt::format("{}.processors[{}]", field, i), bos, eos);
    } else if (t == "TemplateProcessing") {
        if (!j.contains("single") || !j["single"].is_array()) c.fail(field + ".single", "expected a list");
        bool seen_sequence = false;
        for (const auto& item : j["single"]) {
            if (item.contains("Sequence")) {
                seen_sequence = true;
            } else if (item.contains("SpecialToken") && item["SpecialToken"].contains("id") &&
                       item["SpecialToken"]["id"].is_string()) {
                (seen_sequence ? eos : bos) = item["SpecialToken"]["id"].get<std::string>();
            } else {
                c.fail(field + ".single", "expected SpecialToken or Sequence items");
            }
        }
    } else if (t != "ByteLevel") {  // ByteLevel only trims offsets
        c.fail(field + ".type",
               fmt::format("unsupported post-processor '{}' (supported: TemplateProcessing, ByteLevel, Sequence)", t));
    }
}

std::optional<std::string> token_text(const json& cfg, const char* key, const std::string& path) {
    if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
    const json& v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    throw Error("{}: {}: expected a string or an object with \"content\"", path, key);
}

}  // namespace

// Long by nature: tokenizer.json's sections in file order, each check beside the field it reads.
BpeSpec parse_tokenizer_json(const std::string& json_text, const std::string& path,
                             const std::optional<std::string>& config_text, const std::string& config_path) {
    const json j = parse_json(json_text, path);
    const Ctx c{path};
    if (!j.is_object()) c.fail("top level", "expected an object");
    if (!j.contains("model") || !j["model"].is_object()) c.fail("model", "missing or not an object");
    const json& model = j["model"];
    const std::string mtype = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>()
                                                                                   : std::string("BPE");
    if (mtype != "BPE")
        c.fail("model.type", fmt::format("unsupported tokenizer model '{}' (supported: BPE)", mtype));

    BpeSpec s;
    s.source = path;
    if (!model.contains("vocab") || !model["vocab"].is_object()) c.fail("model.vocab", "missing or not an object");
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= (1 << 24))
            c.fail("model.vocab", fmt::format("'{}': id must be an integer in 0..16777215", it.key()));
        const size_t id = size_t(it.value().get<int64_t>());
        if (it.key().empty()) c.fail("model.vocab", fmt::format("id {}: empty piece", id));
        if (id >= s.pieces.size()) s.pieces.resize(id + 1);
        if (!s.pieces[id].empty()) c.fail("model.vocab", fmt::format("id {} used by '{}' and '{}'", id, s.pieces[id], it.key()));
        s.pieces[id] = it.key();
    }
    s.vocab_pieces = int(s.pieces.size());
    if (s.pieces.empty()) c.fail("model.vocab", "empty vocabulary");
    if (!model.contains("merges") || !model["merges"].is_array()) c.fail("model.merges", "missing or not a list");
    s.merges.reserve(model["merges"].size());
    for (size_t i = 0; i < model["merges"].size(); ++i) {
        const json& mj = model["merges"][i];
        if (mj.is_string()) {
            auto m = split_merge(mj.get<std::string>());
            if (!m)
                c.fail(fmt::format("model.merges[{}]", i),
                       fmt::format("'{}': expected two pieces separated by a space", mj.get<std::string>()));
            s.merges.push_back(std::move(*m));
        } else if (mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string()) {
            s.merges.emplace_back(mj[0].get<std::string>(), mj[1].get<std::string>());
        } else {
            c.fail(fmt::format("model.merges[{}]", i), "expected \"a b\" or [\"a\", \"b\"]");
        }
    }
    s.byte_fallback = c.flag(model, "byte_fallback", false, "model");
    s.fuse_unk = c.flag(model, "fuse_unk", false, "model");
    s.ignore_merges = c.flag(model, "ignore_merges", false, "model");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty())
            c.fail(std::string("model.") + k, "not supported (GPT-2/Llama-style BPE has none)");
    if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
        c.fail("model.dropout", "BPE dropout is not supported (tokenization must be deterministic)");

    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
        if (!j["added_tokens"].is_array()) c.fail("added_tokens", "expected a list");
        for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
            const json& a = j["added_tokens"][i];
            const std::string f = fmt::format("added_tokens[{}]", i);
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 ||
                a["id"].get<int64_t>() >= (1 << 24))
                c.fail(f + ".id", "missing or not an integer in 0..16777215");
            BpeAddedToken t;
            t.id = int(a["id"].get<int64_t>());
            t.content = c.str(a, "content", f);
            if (t.content.empty()) c.fail(f + ".content", "empty");
            t.special = c.flag(a, "special", false, f);
            t.lstrip = c.flag(a, "lstrip", false, f);
            t.rstrip = c.flag(a, "rstrip", false, f);
            t.single_word = c.flag(a, "single_word", false, f);
            if (size_t(t.id) >= s.pieces.size()) s.pieces.resize(size_t(t.id) + 1);
            if (!s.pieces[size_t(t.id)].empty() && s.pieces[size_t(t.id)] != t.content)
                c.fail(f, fmt::format("id {} is '{}' in model.vocab but '{}' here", t.id, s.pieces[size_t(t.id)], t.content));
            s.pieces[size_t(t.id)] = t.content;
            s.added.push_back(t);
        }
    }
    auto id_of = [&](const std::string& text) -> int {
        for (const auto& t : s.added)
            if (t.content == text) return t.id;
        for (size_t i = 0; i < s.pieces.size(); ++i)
            if (s.pieces[i] == text) return int(i);
        return -1;
    };
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        s.unk_id = id_of(model["unk_token"].get<std::string>());
        if (s.unk_id < 0) c.fail("model.unk_token", fmt::format("'{}' is not in the vocabulary", model["unk_token"].get<std::string>()));
    }

    if (j.contains("normalizer") && !j["normalizer"].is_null()) add_normalizer(c, j["normalizer"], "normalizer", s);
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
        add_pre_tokenizer(c, j["pre_tokenizer"], "pre_tokenizer", s);

    std::optional<std::string> tmpl_bos, tmpl_eos;
    if (j.contains("post_processor") && !j["post_processor"].is_null())
        read_post_processor(c, j["post_processor"], "post_processor", tmpl_bos, tmpl_eos);

    std::optional<std::string> bos = tmpl_bos, eos;
    std::optional<bool> add_bos;
    if (config_text) {
        const json cfg = parse_json(*config_text, config_path);
        if (!cfg.is_object()) throw Error("{}: top level: expected an object", config_path);
        if (auto b = token_text(cfg, "bos_token", config_path)) bos = b;
        eos = token_text(cfg, "eos_token", config_path);
        if (cfg.contains("add_bos_token") && !cfg["add_bos_token"].is_null()) {
            if (!cfg["add_bos_token"].is_boolean())
                throw Error("{}: add_bos_token: expected true or false", config_path);
            add_bos = cfg["add_bos_token"].get<bool>();
        }
    }
    if (bos) {
        s.bos_id = id_of(*bos);
        if (s.bos_id < 0) throw Error("{}: bos_token '{}' is not in {}", config_text ? config_path : path, *bos, path);
    }
    if (eos) {
        s.eos_id = id_of(*eos);
        if (s.eos_id < 0) throw Error("{}: eos_token '{}' is not in {}", config_path, *eos, path);
    }
    if (add_bos) {
        s.add_bos = *add_bos;
    } else {
        s.add_bos = tmpl_bos.has_value();
        if (tmpl_bos && s.bos_id != id_of(*tmpl_bos)) s.bos_id = id_of(*tmpl_bos);
    }
    if (s.add_bos && s.bos_id < 0) throw Error("{}: add_bos_token is true but there is no bos_token", config_path);
    return s;
}

}  // namespace rb
