// ropebench eval / ppl / passkey / longppl on the small checkpoints: the record of the
// issue's reference command validates against docs/record-schema.md (required keys and
// types, checked below), finishes well under a minute, and the commands fail cleanly.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "util/mapped_file.h"

using json = nlohmann::json;
using rb::test::run_cli;
using rb::test::shared_path;

namespace {

// Type names as docs/record-schema.md states them; "number?" = number or null.
bool has_type(const json& v, const std::string& t) {
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer();
    if (t == "boolean") return v.is_boolean();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "object?") return v.is_object() || v.is_null();
    if (t == "number?") return v.is_number() || v.is_null();
    if (t == "integer?") return v.is_number_integer() || v.is_null();
    if (t == "interval?") return v.is_null() || (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number());
    if (t == "any") return true;
    return false;
}

struct Req {
    const char* pointer;
    const char* type;
};

// Required fields of the record (docs/record-schema.md, schema ropebench.eval/1).
const Req k_record[] = {
    {"/schema", "string"}, {"/software/name", "string"}, {"/software/version", "string"}, {"/software/git", "string"},
    {"/model/path", "string"}, {"/model/format", "string"}, {"/model/config_hash", "string"},
    {"/model/weights_fingerprint", "string"}, {"/model/tokenizer", "string"}, {"/model/architecture", "string"},
    {"/model/dtype", "string"}, {"/model/trained_ctx", "integer"}, {"/model/params", "integer"},
    {"/rope/given", "object?"}, {"/rope/resolved", "object"}, {"/rope/method", "string"}, {"/rope/label", "string"},
    {"/rope/attention_factor", "number"}, {"/rope/warnings", "array"}, {"/ctx", "integer"},
    {"/backend/name", "string"}, {"/backend/threads", "integer"}, {"/seed", "integer"}, {"/bos", "string"},
    {"/identity", "string"}, {"/metrics", "object"}, {"/wall_s", "number"}, {"/tokens_processed", "integer"}};
const Req k_ppl[] = {
    {"/protocol", "string"}, {"/stride", "integer?"}, {"/ppl", "number?"}, {"/mean_nll", "number"},
    {"/nll_sum", "number"}, {"/tokens_scored", "integer"}, {"/documents_used", "integer"},
    {"/documents_skipped", "integer"}, {"/skipped", "array"}, {"/split", "object?"}, {"/max_docs", "integer"},
    {"/ci95", "interval?"}, {"/bootstrap/resamples", "integer"}, {"/bootstrap/seed", "integer"},
    {"/buckets/size", "integer"}, {"/buckets/nll_sum", "array"}, {"/buckets/count", "array"}, {"/per_doc", "array"},
    {"/data", "array"}, {"/tokens_processed", "integer"}, {"/wall_s", "number"}};
const Req k_passkey[] = {
    {"/accuracy", "number"}, {"/trials", "integer"}, {"/correct", "integer"}, {"/ci95", "interval?"},
    {"/depths", "array"}, {"/trials_per_depth", "integer"}, {"/seed", "integer"}, {"/key_digits", "integer"},
    {"/max_new_tokens", "integer"}, {"/per_depth", "array"}, {"/per_trial", "array"},
    {"/tokens_processed", "integer"}, {"/wall_s", "number"}};
const Req k_longppl[] = {
    {"/longppl", "number?"}, {"/mean_nll", "number?"}, {"/n_key", "integer"}, {"/nll_key_sum", "number"},
    {"/tokens", "integer"}, {"/documents", "integer"}, {"/documents_skipped", "integer"},
    {"/documents_without_key", "array"}, {"/ci95", "interval?"}, {"/evaluator/path", "string"},
    {"/evaluator/config_hash", "string"}, {"/evaluator/rope/resolved", "object"}, {"/evaluator/self", "boolean"},
    {"/evaluator/same_tokenizer", "boolean"}, {"/alpha", "number"}, {"/beta", "number"},
    {"/short_window", "integer"}, {"/stride", "integer"}, {"/cache/hits", "integer"}, {"/cache/misses", "integer"},
    {"/per_doc", "array"}, {"/data", "array"}, {"/tokens_processed", "integer"},
    {"/evaluator_tokens_processed", "integer"}, {"/wall_s", "number"}};

void check(const json& j, const Req* reqs, size_t n, const std::string& where) {
    for (size_t i = 0; i < n; i++) {
        json::json_pointer p(reqs[i].pointer);
        if (!j.contains(p)) {
            ADD_FAILURE() << where << reqs[i].pointer << ": missing";
            continue;
        }
        EXPECT_TRUE(has_type(j[p], reqs[i].type)) << where << reqs[i].pointer << ": expected " << reqs[i].type
                                                  << ", got " << j[p].dump().substr(0, 80);
    }
    // Undefined values come with a note.
    for (const char* k : {"ci95", "longppl", "ppl"})
        if (j.contains(k) && j[k].is_null()) EXPECT_TRUE(j.contains(std::string(k) + "_note")) << where << k;
}

void validate_record(const json& r) {
    check(r, k_record, std::size(k_record), "");
    EXPECT_EQ(r["schema"], "ropebench.eval/1");
    const auto& m = r["metrics"];
    if (m.contains("ppl")) check(m["ppl"], k_ppl, std::size(k_ppl), "/metrics/ppl");
    if (m.contains("passkey")) {
        check(m["passkey"], k_passkey, std::size(k_passkey), "/metrics/passkey");
        for (const auto& d : m["passkey"]["per_depth"]) {
            EXPECT_TRUE(d["depth"].is_number() && d["trials"].is_number_integer() && d["correct"].is_number_integer());
            EXPECT_TRUE(has_type(d["ci95"], "interval?"));
        }
        for (const auto& t : m["passkey"]["per_trial"]) {
            EXPECT_TRUE(t["key"].is_string() && t["output"].is_string() && t["correct"].is_boolean());
            EXPECT_TRUE(t["prompt_tokens"].is_number_integer() && t["needle_token"].is_number_integer());
        }
    }
    if (m.contains("longppl")) check(m["longppl"], k_longppl, std::size(k_longppl), "/metrics/longppl");
}

}  // namespace

TEST(EvalCli, IssueReferenceCommandRecordValidates) {
    const std::string cache = rb::test::temp_dir();
    std::vector<std::string> args = {"eval",
                                     shared_path("data/models/llama2xs-tok512-ctx256"),
                                     "--ctx", "1024",
                                     "--rope-scaling", R"({"rope_type":"yarn","factor":4})",
                                     "--metrics", "ppl,passkey,longppl",
                                     "--text", shared_path("data/text/tinystories_valid_sample.txt"),
                                     "--split", "--max-docs", "8",
                                     "--evaluator", shared_path("data/models/babyllama-tok105-ctx256"),
                                     "--evaluator-rope-scaling", R"({"rope_type":"ntk","factor":4})",
                                     "--short-window", "128", "--key-stride", "64",
                                     "--trials", "3",
                                     "--key-cache", cache,
                                     "--json"};
    auto r = run_cli(args);
    ASSERT_EQ(r.status, 0) << r.err;
    json rec = json::parse(r.out);
    validate_record(rec);  // (its wall time is a figure for the note, never a test condition)
    const auto& m = rec["metrics"];
    EXPECT_EQ(rec["rope"]["method"], "yarn");
    EXPECT_EQ(m["ppl"]["documents_used"], 8);
    EXPECT_EQ(m["ppl"]["tokens_scored"], 8 * 1023);
    EXPECT_EQ(m["passkey"]["trials"], 11 * 3);
    EXPECT_EQ(m["longppl"]["documents"], 8);
    EXPECT_EQ(m["longppl"]["evaluator"]["rope"]["resolved"]["rope_type"], "ntk");
    EXPECT_EQ(m["longppl"]["cache"]["misses"], 8);
    // Same command again: the key sets come from the cache, the numbers are identical.
    auto r2 = run_cli(args);
    ASSERT_EQ(r2.status, 0) << r2.err;
    json rec2 = json::parse(r2.out);
    EXPECT_EQ(rec2["metrics"]["longppl"]["cache"]["hits"], 8);
    EXPECT_EQ(rec2["metrics"]["longppl"]["n_key"], m["longppl"]["n_key"]);
    EXPECT_EQ(rec2["metrics"]["ppl"]["ppl"], m["ppl"]["ppl"]);
    EXPECT_EQ(rec2["identity"], rec["identity"]);
}

TEST(EvalCli, PplProtocolsJson) {
    for (const char* proto : {"truncate", "chunks", "sliding"}) {
        auto r = run_cli({"ppl", shared_path("data/models/llama2xs-tok512-ctx256"), "--ctx", "128", "--text",
                          shared_path("data/text/tinystories_valid_sample.txt"), "--split", "--max-docs", "4",
                          "--protocol", proto, "--stride", "32", "--json"});
        ASSERT_EQ(r.status, 0) << proto << ": " << r.err;
        json j = json::parse(r.out);
        EXPECT_EQ(j["protocol"], proto);
        EXPECT_EQ(j["ctx"], 128);
        EXPECT_EQ(j["documents"], 4);
        EXPECT_TRUE(j["ppl"].is_number());
        EXPECT_TRUE(j["ci95"].is_array());
        // One 127-token segment per document = one window of 128: truncate and sliding score
        // all 127, chunks the last 128 − 64 − 1 = 63.
        EXPECT_EQ(j["tokens_scored"], std::string(proto) == "chunks" ? 4 * 63 : 4 * 127) << proto;
    }
}

TEST(EvalCli, SingleDocumentIntervalIsUndefined) {
    auto r = run_cli({"ppl", shared_path("data/models/llama2xs-tok512-ctx256"), "--ctx", "256", "--text",
                      shared_path("data/text/pg84_frankenstein.txt"), "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_TRUE(j["ci95"].is_null());
    EXPECT_EQ(j["ci95_note"].get<std::string>().rfind("undefined:", 0), 0u);
    EXPECT_EQ(j["tokens_scored"], 255);
}

TEST(EvalCli, PasskeyAndLongpplCommands) {
    auto r = run_cli({"passkey", shared_path("data/models/stories260K"), "--ctx", "256", "--trials", "2", "--depths",
                      "0,0.5,1", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["trials"], 6);
    EXPECT_TRUE(j["accuracy"].is_number());
    EXPECT_TRUE(j["correct"].is_number_integer());
    EXPECT_EQ(j["per_depth"].size(), 3u);
    auto l = run_cli({"longppl", shared_path("data/models/llama2xs-tok512-ctx256"), "--ctx", "256", "--text",
                      shared_path("data/text/tinystories_valid_sample.txt"), "--split", "--max-docs", "2",
                      "--evaluator", shared_path("data/models/stories260K"), "--short-window", "64", "--key-stride",
                      "32", "--key-cache", "-", "--json"});
    ASSERT_EQ(l.status, 0) << l.err;
    json k = json::parse(l.out);
    EXPECT_EQ(k["documents"], 2);
    EXPECT_EQ(k["evaluator"]["same_tokenizer"], true);
    EXPECT_TRUE(k["n_key"].is_number_integer());
}

TEST(EvalCli, Failures) {
    const std::string m = shared_path("data/models/llama2xs-tok512-ctx256");
    const std::string t = shared_path("data/text/tinystories_valid_sample.txt");
    // Self-evaluation is refused with a clear error (exit 1) unless allowed.
    auto a = run_cli({"longppl", m, "--ctx", "128", "--text", t, "--max-docs", "1", "--evaluator", m, "--key-cache", "-"});
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find("error: --evaluator"), std::string::npos) << a.err;
    auto b = run_cli({"longppl", m, "--ctx", "128", "--text", t, "--max-docs", "1", "--evaluator", m, "--key-cache", "-",
                      "--allow-self-evaluator", "--short-window", "32", "--key-stride", "16", "--json"});
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_EQ(json::parse(b.out)["evaluator"]["self"], true);
    // Malformed command lines: exit 2.
    EXPECT_EQ(run_cli({"ppl", m, "--ctx", "128", "--text", t, "--protocol", "bogus"}).status, 2);
    EXPECT_EQ(run_cli({"eval", m, "--ctx", "128", "--metrics", "ppl,bogus", "--text", t}).status, 2);
    EXPECT_EQ(run_cli({"ppl", m, "--ctx", "128", "--text", t, "--protocol", "sliding", "--stride", "128"}).status, 2);
    EXPECT_EQ(run_cli({"eval", m, "--ctx", "128", "--metrics", "longppl", "--text", t}).status, 2);  // no evaluator
    // Bad input: exit 1 naming the flag.
    auto c = run_cli({"passkey", m, "--ctx", "30"});
    EXPECT_EQ(c.status, 1);
    EXPECT_NE(c.err.find("error: --ctx"), std::string::npos) << c.err;
}

// A model whose tokenizer adds no BOS (the tiny Qwen2 family, tools/make_tiny_families.py):
// `tokenize` adds none, `eval` says so in the record and its perplexity sum is the float64
// reference's without BOS (tests/golden/families/qwen2.json; tolerance as in
// tests/unit/eval/no_bos_test.cpp), from the GGUF file; `generate` refuses an empty prompt.
TEST(EvalCli, ModelWithoutBos) {
    const json meta = json::parse(rb::read_file(rb::test::source_path("tests/golden/families/qwen2.json")));
    const std::string dir = rb::test::source_path("tests/fixtures/families/qwen2");
    const std::string text = meta["text"];
    auto t = run_cli({"tokenize", dir, "--text", text, "--json"});
    ASSERT_EQ(t.status, 0) << t.err;
    EXPECT_EQ(json::parse(t.out)["bos_added"], false);
    EXPECT_EQ(json::parse(t.out)["ids"], meta["text_ids"]);

    const std::string file = rb::test::temp_dir() + "/text.txt";
    rb::write_file(file, text);
    auto r = run_cli({"eval", dir + "/tiny-qwen2-f32.gguf", "--ctx", "64", "--metrics", "ppl", "--text", file, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    const json rec = json::parse(r.out);
    EXPECT_EQ(rec["bos"].get<std::string>().rfind("no BOS", 0), 0u) << rec["bos"];
    const json& want = meta["nll_no_bos"][1];
    ASSERT_EQ(want["ctx"], 64);
    EXPECT_EQ(rec["metrics"]["ppl"]["tokens_scored"], 63);
    EXPECT_NEAR(rec["metrics"]["ppl"]["nll_sum"].get<double>(), want["nll_sum"].get<double>(), 6e-4 * 63);

    auto g = run_cli({"generate", dir, "--prompt", "", "-n", "2"});
    EXPECT_EQ(g.status, 2);
    EXPECT_NE(g.err.find("no BOS (the tokenizer adds none)"), std::string::npos) << g.err;
    auto g2 = run_cli({"generate", dir, "--prompt", "Once", "-n", "2", "--json"});
    ASSERT_EQ(g2.status, 0) << g2.err;
    auto t2 = run_cli({"tokenize", dir, "--text", "Once", "--json"});
    ASSERT_EQ(t2.status, 0) << t2.err;
    EXPECT_EQ(json::parse(g2.out)["prompt_tokens"], json::parse(t2.out)["ids"].size());
}

// The compatibility protocols from the command line: the record names them, the yarn
// prompts are the script's (keys of tests/golden/protocols.json, tok512, seed 7, L 256),
// LongPPL `reference` gives compute_longppl's value (tests/unit/eval/protocols_test.cpp
// checks it in detail; 2e-5 relative as there), and the evaluator running past its
// trained context (256) without scaling gets one warning line.
TEST(EvalCli, CompatibilityProtocols) {
    auto p = run_cli({"passkey", shared_path("data/models/stories260K"), "--ctx", "256", "--passkey-protocol", "yarn",
                      "--trials", "4", "--seed", "7", "--json"});
    ASSERT_EQ(p.status, 0) << p.err;
    json j = json::parse(p.out);
    EXPECT_EQ(j["protocol"], "yarn");
    EXPECT_EQ(j["n_garbage"], 150);
    std::vector<std::string> keys;
    for (const auto& t : j["per_trial"]) keys.push_back(t["key"].get<std::string>());
    EXPECT_EQ(keys, (std::vector<std::string>{"28420", "4579", "5945", "27822"}));
    EXPECT_TRUE(j["depths"].is_null());

    auto l = run_cli({"eval", shared_path("data/models/stories260K"), "--ctx", "512", "--metrics", "longppl", "--text",
                      shared_path("data/text/tinystories_valid_sample.txt"), "--evaluator",
                      shared_path("data/models/llama2xs-tok512-ctx256"), "--longppl-convention", "reference",
                      "--short-window", "128", "--key-stride", "56", "--key-cache", "-", "--json"});
    ASSERT_EQ(l.status, 0) << l.err;
    json r = json::parse(l.out);
    const json& k = r["metrics"]["longppl"];
    EXPECT_EQ(k["convention"], "reference");
    EXPECT_NEAR(k["longppl"].get<double>(), 5.728467956050893, 2e-5 * 5.73);
    EXPECT_EQ(k["evaluator"]["past_trained_ctx_unscaled"], true);
    size_t warnings = 0;
    for (size_t pos = 0; (pos = l.err.find("warning: LongPPL evaluator", pos)) != std::string::npos; pos++) warnings++;
    EXPECT_EQ(warnings, 1u) << l.err;
    // Defaults follow the convention: reference K = 4096, d = 1024; ropebench 1024 / 512.
    auto d = run_cli({"longppl", shared_path("data/models/stories260K"), "--ctx", "512", "--text",
                      shared_path("data/text/tinystories_valid_sample.txt"), "--evaluator",
                      shared_path("data/models/llama2xs-tok512-ctx256"), "--longppl-convention", "reference",
                      "--key-cache", "-", "--json"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_EQ(json::parse(d.out)["short_window"], 4096);
    EXPECT_EQ(json::parse(d.out)["stride"], 1024);

    const std::string m = shared_path("data/models/stories260K");
    EXPECT_EQ(run_cli({"passkey", m, "--ctx", "256", "--passkey-protocol", "bogus"}).status, 2);
    EXPECT_EQ(run_cli({"passkey", m, "--ctx", "256", "--passkey-protocol", "yarn", "--depths", "0.5"}).status, 2);
    EXPECT_EQ(run_cli({"longppl", m, "--ctx", "256", "--text", shared_path("data/text/tinystories_valid_sample.txt"),
                       "--evaluator", m, "--longppl-convention", "bogus"})
                  .status,
              2);
}
