// Synthetic-but-plausible results stores for the report tests: the documented schema
// (docs/store-schema.md) with eval records (docs/record-schema.md) for several methods x
// rope parameters x context lengths, plus failed, pending and running rows.
//
// The numbers follow a simple made-up model: a configuration with scale factor s keeps a
// flat NLL up to an effective length (256 s for linear/yarn, 384 s for ntk, 256 for
// default) and degrades linearly in NLL past it. PPL is computed from the per-bucket NLL
// so the totals are consistent with the buckets, as a real record's are.
#pragma once
#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rb::test::fixture {

using nlohmann::json;

struct Row {
    std::string id, method;
    int64_t ctx = 0;
    json params;  // null = none
    std::string status = "done";
    std::optional<std::string> record;  // the record column text (nullopt = SQL NULL)
    std::string error;
    double wall_s = 0;
    int attempts = 1;
};

inline void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string e = err ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error("fixture sql: " + e);
    }
}

/// Creates `path` with the store schema, meta rows and `rows`.
inline void create_store(const std::string& path, const std::vector<Row>& rows, const std::string& schema_version = "1") {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error("fixture: cannot create " + path);
    exec(db, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "CREATE TABLE experiments (id TEXT PRIMARY KEY, method TEXT NOT NULL, ctx INTEGER NOT NULL, params TEXT NOT NULL,"
             " spec TEXT NOT NULL, identity TEXT NOT NULL, status TEXT NOT NULL, record TEXT, error TEXT,"
             " attempts INTEGER NOT NULL DEFAULT 0, started_at TEXT, finished_at TEXT, wall_s REAL, worker TEXT, version TEXT);");
    exec(db, "INSERT INTO meta VALUES ('schema_version','" + schema_version + "'), ('created','2026-11-29T00:00:00Z'),"
             " ('tool_version','0.1.0')");
    exec(db, "BEGIN");  // one transaction: fast on any disk
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "INSERT INTO experiments (id, method, ctx, params, spec, identity, status, record, error, attempts,"
                       " started_at, finished_at, wall_s, worker, version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       -1, &st, nullptr);
    for (const Row& r : rows) {
        sqlite3_reset(st);
        std::string params = r.params.dump(), spec = json{{"ctx", r.ctx}}.dump(), identity = json{{"id", r.id}}.dump();
        sqlite3_bind_text(st, 1, r.id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r.method.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, r.ctx);
        sqlite3_bind_text(st, 4, params.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, spec.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, identity.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, r.status.c_str(), -1, SQLITE_TRANSIENT);
        if (r.record) sqlite3_bind_text(st, 8, r.record->c_str(), -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 8);
        if (r.error.empty()) sqlite3_bind_null(st, 9);
        else sqlite3_bind_text(st, 9, r.error.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 10, r.attempts);
        sqlite3_bind_text(st, 11, "2026-11-29T00:00:00Z", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 12, "2026-11-29T00:01:00Z", -1, SQLITE_TRANSIENT);
        if (r.status == "pending") sqlite3_bind_null(st, 13);
        else sqlite3_bind_double(st, 13, r.wall_s);
        sqlite3_bind_text(st, 14, "host:1", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 15, "0.1.0", -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(std::string("fixture insert: ") + sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    exec(db, "COMMIT");
    sqlite3_close(db);
}

inline double factor_of(const json& params) {
    return params.is_object() && params.contains("factor") ? params["factor"].get<double>() : 1.0;
}

/// Effective (non-degrading) length of a configuration in the made-up model.
inline double effective_len(const std::string& method, const json& params, int64_t trained) {
    double f = factor_of(params);
    if (method == "default") return static_cast<double>(trained);
    if (method == "ntk") return 1.5 * trained * f;
    return static_cast<double>(trained) * f;
}

inline double base_nll(const std::string& method, const json& params) {
    double f = factor_of(params);
    double pen = method == "linear" ? 0.03 * (f - 1) : method == "ntk" ? 0.012 * (f - 1) : method == "yarn" ? 0.006 * (f - 1) : 0.0;
    if (method == "yarn" && params.contains("beta_fast") && params["beta_fast"].get<double>() < 32) pen += 0.01;
    return std::log(10.0) + pen;
}

struct RecordOptions {
    bool geometry = true;   // model.head_dim / rope_theta present
    bool buckets = true;
    bool longppl = true;
    bool passkey = true;
    int64_t trained = 256;
};

/// A record as `ropebench eval --json` writes it, for (method, params, ctx).
inline json make_record(const std::string& method, const json& params, int64_t ctx, const RecordOptions& o = {}) {
    const int64_t bucket = 64;
    double eff = effective_len(method, params, o.trained), nll0 = base_nll(method, params);
    std::vector<double> sums, counts;
    double total = 0, n = 0;
    for (int64_t b0 = 0; b0 < ctx; b0 += bucket) {
        double c = static_cast<double>(std::min(bucket, ctx - b0)) - (b0 == 0 ? 1 : 0);  // first token (BOS) not scored
        double centre = b0 + bucket / 2.0;
        double nll = nll0 + 0.3 * std::exp(-centre / 64.0) + (centre > eff ? 2.5 * (centre - eff) / 256.0 : 0.0);
        sums.push_back(nll * c);
        counts.push_back(c);
        total += nll * c;
        n += c;
    }
    double ppl = std::exp(total / n);
    json rope_resolved = params.is_object() ? params : json{{"rope_type", "default"}};
    rope_resolved["rope_theta"] = 10000.0;
    if (params.is_object() && (method == "yarn" || method == "longrope"))
        rope_resolved["original_max_position_embeddings"] = o.trained;
    json model = {{"path", "models/tiny"}, {"format", "safetensors"}, {"config_hash", "abc123"},
                  {"architecture", "LlamaForCausalLM"}, {"dtype", "f32"}, {"trained_ctx", o.trained}, {"params", 279232}};
    if (o.geometry) model["head_dim"] = 64, model["rope_theta"] = 10000.0;
    json rec = {{"schema", "ropebench.eval/1"},
                {"software", {{"name", "ropebench"}, {"version", "0.1.0"}, {"git", "abc1234"}}},
                {"model", model},
                {"rope", {{"given", params}, {"resolved", rope_resolved}, {"method", method}, {"attention_factor", 1.0}, {"warnings", json::array()}}},
                {"ctx", ctx},
                {"backend", {{"name", "cpu"}, {"threads", 2}}},
                {"seed", 1234},
                {"metrics", json::object()},
                {"wall_s", static_cast<double>(ctx) / 100.0},
                {"tokens_processed", ctx * 4}};
    json p = {{"protocol", "truncate"}, {"stride", nullptr}, {"ppl", ppl}, {"mean_nll", total / n},
              {"tokens_scored", static_cast<int64_t>(n) * 4}, {"documents_used", 4}, {"documents_skipped", 0},
              {"ci95", {ppl * 0.96, ppl * 1.05}}, {"bootstrap", {{"resamples", 1000}, {"seed", 1234}}},
              {"data", json::array({{{"file", "text/a.txt"}, {"sha256", "00"}, {"documents", 4}}})},
              {"wall_s", static_cast<double>(ctx) / 300.0}, {"tokens_processed", ctx * 4}};
    if (o.buckets) p["buckets"] = {{"size", bucket}, {"nll_sum", sums}, {"count", counts}};
    rec["metrics"]["ppl"] = p;
    if (o.passkey) {
        std::vector<double> depths = {0.0, 0.25, 0.5, 0.75, 1.0};
        json per = json::array();
        int64_t tc = 0, tt = 0;
        for (size_t i = 0; i < depths.size(); i++) {
            // retrieval fails where the needle sits past the effective length from the question
            double dist = (1.0 - depths[i]) * static_cast<double>(ctx);
            int64_t correct = dist <= eff ? 4 : (dist <= 1.5 * eff ? 2 : 0);
            if (method == "linear" && factor_of(params) >= 4 && correct == 4) correct = 3;
            per.push_back({{"depth", depths[i]}, {"trials", 4}, {"correct", correct}, {"accuracy", correct / 4.0}});
            tc += correct;
            tt += 4;
        }
        rec["metrics"]["passkey"] = {{"accuracy", static_cast<double>(tc) / tt}, {"trials", tt}, {"correct", tc},
                                     {"depths", depths}, {"per_depth", per}, {"max_new_tokens", 10},
                                     {"wall_s", static_cast<double>(ctx) / 200.0}};
    }
    if (o.longppl) {
        int64_t n_key = ctx / 4 + (method == "default" ? 0 : 40);
        rec["metrics"]["longppl"] = {{"longppl", ppl * 1.4 * (ctx > eff ? 1.5 : 1.0)}, {"n_key", n_key}, {"documents", 4},
                                     {"documents_without_key", json::array()}, {"alpha", 2.0}, {"beta", -2.0},
                                     {"short_window", 64}, {"stride", 32}, {"wall_s", 1.0}};
    }
    return rec;
}

/// The standard grid: default (none), linear {2,4}, ntk {2,4}, yarn factor {2,4} x beta_fast
/// {16,32} at L in {256, 512, 1024}; then two failed rows (one with a too-good record that
/// must be ignored), two pending and one running row.
inline std::vector<Row> standard_rows(const RecordOptions& o = {}) {
    std::vector<std::pair<std::string, json>> cfgs = {{"default", nullptr}};
    for (double f : {2.0, 4.0}) cfgs.push_back({"linear", {{"rope_type", "linear"}, {"factor", f}}});
    for (double f : {2.0, 4.0}) cfgs.push_back({"ntk", {{"rope_type", "ntk"}, {"factor", f}}});
    for (double f : {2.0, 4.0})
        for (double bf : {16.0, 32.0})
            cfgs.push_back({"yarn", {{"rope_type", "yarn"}, {"factor", f}, {"beta_fast", bf}, {"beta_slow", 1.0}}});
    std::vector<Row> rows;
    int id = 0;
    for (auto& [m, p] : cfgs)
        for (int64_t L : {256, 512, 1024}) {
            Row r;
            r.id = "exp" + std::to_string(id++);
            r.method = m;
            r.ctx = L;
            r.params = p;
            r.record = make_record(m, p, L, o).dump();
            r.wall_s = static_cast<double>(L) / 100.0;
            rows.push_back(r);
        }
    json lin8 = {{"rope_type", "linear"}, {"factor", 8.0}};
    Row f1{"failed-oom", "linear", 2048, lin8, "failed", std::nullopt, "out of memory: KV cache needs 9 GiB at L=2048", 3.5, 2};
    // a failed row that still carries a (bogus, too good) record: it must not be used
    json bogus = make_record("yarn", cfgs.back().second, 1024, o);
    bogus["metrics"]["ppl"]["ppl"] = 1.0001;
    bogus["metrics"]["passkey"]["accuracy"] = 1.0;
    Row f2{"failed-nonfinite", "yarn", 1024, {{"rope_type", "yarn"}, {"factor", 8.0}}, "failed", bogus.dump(),
           "non-finite logits at position 700", 1.25, 1};
    Row p1{"pending-1", "ntk", 2048, {{"rope_type", "ntk"}, {"factor", 8.0}}, "pending", std::nullopt, "", 0, 0};
    Row p2{"pending-2", "yarn", 2048, {{"rope_type", "yarn"}, {"factor", 8.0}}, "pending", std::nullopt, "", 0, 0};
    Row r1{"running-1", "linear", 1024, lin8, "running", std::nullopt, "", 0, 1};
    rows.insert(rows.end(), {f1, f2, p1, p2, r1});
    return rows;
}

}  // namespace rb::test::fixture
