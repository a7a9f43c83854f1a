// The compatibility protocols against numbers computed by the published algorithms
// (tests/golden/protocols.json, written by tools/ref/make_golden_protocols.py):
// CPython's `random` (PyRandom), the YaRN/Landmark passkey prompts (protocol `yarn`), the
// Hugging Face spans of byte pieces, and PKU-ML/LongPPL's compute_longppl (convention
// `reference`) on the shared checkpoints.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "eval/documents.h"
#include "eval/longppl.h"
#include "eval/passkey.h"
#include "eval/py_random.h"
#include "model/loader.h"
#include "util/hash.h"

using namespace rb;
using nlohmann::json;

namespace {

const json& golden() {
    static const json g = json::parse(std::ifstream(test::source_path("tests/golden/protocols.json")));
    return g;
}

std::unique_ptr<Tokenizer> tokenizer(const std::string& name) {
    return Tokenizer::from_sentencepiece_file(test::shared_path(
        name == "tok512" ? "data/models/stories260K/tokenizer.model" : "data/tokenizers/llama2/tokenizer.model"));
}

// Character index of every byte offset of a UTF-8 string (size + 1 entries).
std::vector<size_t> char_index(const std::string& s) {
    std::vector<size_t> c(s.size() + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.size(); i++) {
        const bool continuation = (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
        c[i] = continuation ? n - 1 : n++;  // a continuation byte: its character's index
    }
    c[s.size()] = n;
    return c;
}

json char_spans(const std::vector<ByteSpan>& spans, const std::vector<size_t>& ci) {
    json a = json::array();
    for (const auto& s : spans) a.push_back({ci[s.begin], ci[s.end]});
    return a;
}

}  // namespace

// Python's random, bit for bit (integers: exact).
TEST(Protocols, PyRandomEqualsCPython) {
    for (const auto& c : golden()["python_random"]) {
        const uint64_t seed = c["seed"].get<uint64_t>();
        SCOPED_TRACE("seed " + std::to_string(seed));
        {
            PyRandom r(seed);
            for (const auto& w : c["getrandbits32"]) EXPECT_EQ(r.getrandbits(32), w.get<uint32_t>());
        }
        {
            PyRandom r(seed);
            for (const auto& d : c["randint0"]) {
                const int64_t n = d[0].get<int64_t>();
                for (const auto& v : d[1]) EXPECT_EQ(r.randint(0, n), v.get<int64_t>()) << "randint(0, " << n << ")";
            }
        }
        {
            PyRandom r(seed);
            for (const auto& v : c["randint_1_50000"]) ASSERT_EQ(r.randint(1, 50000), v.get<int64_t>());
        }
    }
}

// The yarn passkey prompts equal the script's: n_garbage from the length search, then per
// trial the depth draw, the key, the prompt text and its tokens (all exact).
TEST(Protocols, YarnPasskeyPromptsEqualTheScript) {
    const auto& g = golden()["passkey_yarn"]["cases"];
    ASSERT_GE(g.size(), 6u);
    for (const auto& c : g) {
        auto tok = tokenizer(c["tokenizer"].get<std::string>());
        const int L = c["ctx"].get<int>();
        const uint64_t seed = c["seed"].get<uint64_t>();
        SCOPED_TRACE(fmt::format("{} seed {} L {}", c["tokenizer"].get<std::string>(), seed, L));
        PyRandom rng(seed);
        EXPECT_EQ(yarn_passkey_garbage(rng, *tok, L), c["n_garbage"].get<int>());
        for (const auto& t : c["trials"]) {
            PasskeyPrompt p = yarn_passkey_prompt(rng, *tok, c["n_garbage"].get<int>());
            EXPECT_EQ(p.key, t["key"].get<std::string>());
            EXPECT_EQ(p.n_prefix, t["n_prefix"].get<int>());
            EXPECT_EQ(static_cast<int>(p.tokens.size()), t["prompt_tokens"].get<int>());
            EXPECT_EQ(sha256_hex(p.text), t["text_sha256"].get<std::string>());
            std::string ids;
            for (size_t i = 0; i < p.tokens.size(); i++) ids += (i ? "," : "") + std::to_string(p.tokens[i]);
            EXPECT_EQ(sha256_hex(ids), t["tokens_sha256"].get<std::string>());
        }
    }
}

// Byte pieces of a split character get that character's span, as HF offsets give them.
TEST(Protocols, HfSpansOfBytePieces) {
    const auto& g = golden()["hf_spans"];
    auto tok = tokenizer("tok512");
    const std::string text = g["text"].get<std::string>();
    auto spans = tok->encode_with_spans(text);
    std::vector<int> ids;
    for (const auto& s : spans) ids.push_back(s.id);
    EXPECT_EQ(json(ids), g["ids"]);
    EXPECT_EQ(char_spans(hf_token_spans(*tok, text, spans), char_index(text)), g["spans_chars"]);
}

// compute_longppl (convention reference) on stories260K with two evaluators: the
// evaluator's key token indices, the merged key spans and the evaluated key tokens exactly;
// LongPPL and PPL per document and over documents to 2e-5 relative.
//
// Tolerances: the golden side is a float64 forward, ours float32. Over these ≤ 993-token
// windows the per-token NLL differs by ≲ 1e-6 (measured: LongPPL 8e-7 relative), so the
// key decisions, whose distance from the thresholds is at least 3.6e-3 in the golden file
// (`decision_margin`), cannot flip, and means of such NLLs agree to well under 2e-5
// relative (PPL of 1023-token windows: 1e-3 in rope_ppl_test, a longer and larger sum).
TEST(Protocols, LongPplReferenceEqualsComputeLongppl) {
    constexpr double k_rtol = 2e-5;
    LoadOptions mo;
    mo.path = test::shared_path("data/models/stories260K");
    LoadedModel model = load_model(mo);
    std::vector<Document> docs;
    for (const char* f : {"pg84_frankenstein.txt", "tinystories_valid_sample.txt"}) {
        auto d = load_documents({test::shared_path(std::string("data/text/") + f)}, 0);
        docs.push_back(d.at(0));
        docs.back().source = f;
    }
    for (const auto& c : golden()["longppl_reference"]["cases"]) {
        const std::string ev_name = c["evaluator"].get<std::string>();
        SCOPED_TRACE(fmt::format("{} K={} d={}", ev_name, c["short_window"].get<int>(), c["stride"].get<int>()));
        for (const auto& d : c["docs"]) ASSERT_GE(d["decision_margin"].get<double>(), 1e-3);
        LoadOptions eo;
        eo.path = test::shared_path("data/models/" + ev_name);
        LoadedModel ev = load_model(eo);
        LongPplOptions o;
        o.convention = "reference";
        o.ctx = c["ctx"].get<int>();
        o.short_window = c["short_window"].get<int>();
        o.stride = c["stride"].get<int>();
        o.alpha = c["alpha"].get<double>();
        o.beta = c["beta"].get<double>();
        ModelLm mlm(*model.model, resolve_rope(model.ckpt->config(), {})),
            elm(*ev.model, resolve_rope(ev.ckpt->config(), {}));
        LongPplResult r = evaluate_longppl(mlm, *model.tokenizer, elm, *ev.tokenizer, docs, o, false, 0);
        ASSERT_EQ(r.docs.size(), c["docs"].size());
        for (size_t i = 0; i < r.docs.size(); i++) {
            const auto& want = c["docs"][i];
            const LongPplDoc& got = r.docs[i];
            SCOPED_TRACE(want["source"].get<std::string>());
            // The evaluator side on the unit's text: key indices and merged spans.
            auto sp = model.tokenizer->encode_with_spans(docs[i].text);
            const std::string text = docs[i].text.substr(0, sp[o.ctx - 1].end);
            const auto ci = char_index(text);
            EXPECT_EQ(static_cast<int64_t>(ci.back()), want["text_chars"].get<int64_t>());
            EXPECT_EQ(got.evaluator_tokens, want["evaluator_tokens"].get<int64_t>());
            EXPECT_EQ(json(got.evaluator_keys), want["evaluator_keys"]);
            EXPECT_EQ(char_spans(got.key_spans, ci), want["key_spans_chars"]);
            // The evaluated side.
            EXPECT_EQ(json(got.key_tokens), want["key_tokens"]);
            EXPECT_EQ(got.tokens + 1, want["n_token"].get<int64_t>());
            const double ppl = std::exp(got.nll_sum / static_cast<double>(got.tokens));
            EXPECT_NEAR(ppl, want["ppl"].get<double>(), k_rtol * want["ppl"].get<double>());
            if (want["longppl"].is_null()) {
                EXPECT_EQ(got.n_key, 0);
            } else {
                EXPECT_EQ(got.n_key, want["n_key_token"].get<int64_t>());
                const double lp = std::exp(got.nll_key_sum / static_cast<double>(got.n_key));
                EXPECT_NEAR(lp, want["longppl"].get<double>(), k_rtol * want["longppl"].get<double>());
                std::printf("%-24s %-30s longppl %.9g  reference %.9g  rel %.1e\n", ev_name.c_str(),
                            want["source"].get<std::string>().c_str(), lp, want["longppl"].get<double>(),
                            std::fabs(lp / want["longppl"].get<double>() - 1));
            }
        }
        if (c["longppl"].is_null()) {
            EXPECT_EQ(r.n_key, 0);
        } else {
            EXPECT_NEAR(r.longppl(), c["longppl"].get<double>(), k_rtol * c["longppl"].get<double>());
        }
        EXPECT_NEAR(r.ppl_all_tokens(), c["ppl"].get<double>(), k_rtol * c["ppl"].get<double>());
    }
}
