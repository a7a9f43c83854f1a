// Reading a results store (docs/store-schema.md) and the eval records in it
// (docs/record-schema.md). Tolerant of optional record fields, strict about required ones:
// a malformed done row throws Error naming the database, the row id and the field.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/stats.h"

namespace rb::report {

struct PplBuckets {
    int64_t size = 0;               // tokens per position bucket
    std::vector<double> nll_sum;    // [n_buckets]
    std::vector<double> count;      // [n_buckets]
};

struct PplResult {
    Num ppl;                        // undefined when the record holds null
    Num mean_nll;
    int64_t tokens_scored = 0;
    Num ci_lo, ci_hi;               // bootstrap over documents
    std::string protocol;
    std::optional<int64_t> documents_used, documents_skipped;
    std::optional<PplBuckets> buckets;
    std::vector<double> doc_nll;    // per_doc[i].nll_sum (empty when the record has no per_doc)
    std::vector<int64_t> doc_tokens;  // per_doc[i].tokens
    bool split = false;             // documents were cut into consecutive segments (metrics.ppl.split)
    Num wall_s;
};

struct PasskeyDepth {
    double depth = 0;
    int64_t trials = 0, correct = 0;
};

struct PasskeyResult {
    double accuracy = 0;
    int64_t trials = 0, correct = 0;
    Num ci_lo, ci_hi;               // Wilson (recomputed when absent)
    std::vector<PasskeyDepth> per_depth;
    Num wall_s;
};

struct LongPplResult {
    Num longppl;                    // undefined when no key tokens
    std::optional<int64_t> n_key, documents;
    Num wall_s;
};

/// The parts of one eval record the report uses; `raw` keeps the whole record.
struct Record {
    nlohmann::json raw;
    std::string model_path, dtype, config_hash;
    std::string quantisation;                // model.quantisation when recorded ("" otherwise)
    std::optional<int64_t> trained_ctx, head_dim;
    Num rope_theta, partial_rotary_factor;   // model.rope_theta or rope.resolved.rope_theta
    nlohmann::json rope_resolved;            // null when absent
    Num attention_factor;
    std::optional<PplResult> ppl;
    std::optional<PasskeyResult> passkey;
    std::optional<LongPplResult> longppl;
    Num wall_s;
};

enum class Status { pending, running, done, failed };
const char* status_name(Status s);

struct Experiment {
    std::string id, method;
    int64_t ctx = 0;
    nlohmann::json params;          // rope_scaling as configured (null = none)
    std::string config;             // label: method + sorted params ("yarn beta_fast=32 factor=4")
    Status status = Status::pending;
    std::optional<Record> record;   // done rows only
    std::string error;              // failed rows
    int64_t attempts = 0;
    std::string started_at, finished_at, worker, version;
    Num wall_s;
};

struct Store {
    std::string path;
    std::map<std::string, std::string> meta;
    std::vector<Experiment> experiments;  // ordered by method, ctx, config, id
    std::vector<std::string> warnings;    // tolerated oddities (e.g. no schema_version in meta)
};

/// A label for a method and its rope_scaling dict: the method, then key=value for every
/// key except rope_type/type, sorted; lists are summarized ("short_factor=[32 values]").
std::string config_label(const std::string& method, const nlohmann::json& params);

/// Parses one record (the `record` column). `where` prefixes errors ("DB: row ID").
Record parse_record(const nlohmann::json& j, const std::string& where);

/// Opens `path` read-only and reads every experiment. Throws Error for a missing file, a
/// file that is not a store of schema version 1, or a malformed row.
Store read_store(const std::string& path);

}  // namespace rb::report
