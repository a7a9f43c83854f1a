// The results store: one SQLite file per sweep (schema: docs/store-schema.md).
//
// Durability: WAL journal + synchronous=FULL. Every state change (insert pending, claim,
// finish, fail) is its own short transaction; with FULL the WAL is fsynced at each commit,
// so a finished experiment survives SIGKILL and a power cut. (NORMAL would survive SIGKILL
// too but may roll back the last commits on power loss; one fsync per experiment costs
// nothing next to an experiment's run time.) A reader may open the file while a sweep runs.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/sqlite.h"

namespace rb::sweep {

struct StoreRow {
    std::string id;                  // sha256 of the canonical eval_identity JSON
    std::string method;
    int ctx = 0;
    std::string params = "null";     // JSON
    std::string spec = "{}";         // JSON
    std::string identity = "{}";     // JSON
    std::string status = "pending";  // pending | running | done | failed
    std::optional<std::string> record, error, started_at, finished_at, worker, version;
    int attempts = 0;
    std::optional<double> wall_s;
};

class Store {
public:
    enum class Access { read_write, read_only };
    /// Opens `path`. read_write creates a missing file (atomically: built under a temporary
    /// name and linked into place). An existing file must be a ropebench store of schema
    /// version 1, checked before anything is written: any other file (an empty file, a
    /// foreign SQLite database, not SQLite at all) throws Error naming it and is left
    /// byte-identical. read_only never writes (merge inputs).
    explicit Store(const std::string& path, Access access = Access::read_write);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& path() const { return m_path; }

    void set_meta(const std::string& key, const std::string& value);
    std::optional<std::string> meta(const std::string& key) const;

    /// Inserts rows whose id is not yet present, as given (normally status pending), in one
    /// transaction. Existing rows are left untouched. Returns the number inserted.
    int add(const std::vector<StoreRow>& rows);
    /// `running` rows left by a dead process on this host (worker "host:pid" with no such
    /// pid), or by any process when `all_hosts`, go back to pending. Returns how many.
    int reset_stale_running(bool all_hosts = false);
    /// failed -> pending for these ids. Returns how many.
    int reset_failed(const std::vector<std::string>& ids);
    /// pending -> running for `worker`; false if the row was not pending (someone else has it).
    bool claim(const std::string& id, const std::string& worker);
    /// running -> pending (its worker died; the experiment goes back in the queue).
    void release(const std::string& id);
    /// running -> done with the record.
    void finish(const std::string& id, const std::string& record_json, double wall_s, const std::string& version);
    /// -> failed with the error text.
    void fail(const std::string& id, const std::string& error, double wall_s, const std::string& version);

    std::optional<StoreRow> get(const std::string& id) const;
    std::vector<StoreRow> rows() const;  // ordered by id
    int count(const std::string& status) const;

    /// Inserts or replaces a full row (merge).
    void put(const StoreRow& row);
    void begin();
    void commit();
    /// Rolls back the open transaction, if SQLite has not already (it does after a full disk).
    void rollback();
    /// Runs f() in one transaction: committed when f returns, rolled back when it throws; the
    /// first error propagates (a full disk reads "database or disk is full (SQLITE_FULL)").
    template <typename F>
    void transaction(F&& f) {
        m_db->transaction(std::forward<F>(f));
    }

private:
    std::string m_path;
    std::unique_ptr<sqlite::Db> m_db;
};

/// "2026-11-29T01:23:45Z"
std::string now_iso8601();
/// "host:pid" of this process.
std::string this_worker();
/// The record without what legitimately differs between two runs of the same experiment
/// (bookkeeping, at any depth): "wall_s", "tokens_per_s", "tokens_processed",
/// "evaluator_tokens_processed", "cache" and "cache_hit" (key-cache hits), "software" (build), "backend"
/// (threads), and the machine's paths ("path", "local_path", "file"). Metric values,
/// per-document sums and passkey outputs remain. Two records of one experiment
/// are the same result iff their fingerprints are equal (merge, tests).
nlohmann::json record_fingerprint(const nlohmann::json& record);

/// Unites `inputs` (opened read-only, never changed) into `output` (created if missing; rows
/// already there take part; an existing output must be a ropebench store).
/// Per id: done beats failed beats running/pending; two done rows must have equal
/// fingerprints, else the merge is refused (Error naming the id and both files) and
/// `output` is left unchanged. Returns the number of rows in the result.
int merge_stores(const std::vector<std::string>& inputs, const std::string& output);

}  // namespace rb::sweep
