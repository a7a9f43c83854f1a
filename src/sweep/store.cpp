#include "sweep/store.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "util/error.h"
#include "util/sqlite.h"

using nlohmann::json;
using rb::sqlite::Stmt;
namespace fs = std::filesystem;

namespace rb::sweep {
namespace {

const char* k_schema = R"(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
  id          TEXT PRIMARY KEY,
  method      TEXT NOT NULL,
  ctx         INTEGER NOT NULL,
  params      TEXT NOT NULL,
  spec        TEXT NOT NULL,
  identity    TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('pending','running','done','failed')),
  record      TEXT,
  error       TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  started_at  TEXT,
  finished_at TEXT,
  wall_s      REAL,
  worker      TEXT,
  version     TEXT
);
CREATE INDEX IF NOT EXISTS experiments_status ON experiments(status);
)";

const char* k_columns =
    "id, method, ctx, params, spec, identity, status, record, error, attempts, started_at, finished_at, wall_s, worker, version";
const char* k_placeholders = "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15";

StoreRow read_row(const Stmt& s) {
    StoreRow r;
    r.id = *s.text(0);
    r.method = *s.text(1);
    r.ctx = static_cast<int>(s.integer(2));
    r.params = *s.text(3);
    r.spec = *s.text(4);
    r.identity = *s.text(5);
    r.status = *s.text(6);
    r.record = s.text(7);
    r.error = s.text(8);
    r.attempts = static_cast<int>(s.integer(9));
    r.started_at = s.text(10);
    r.finished_at = s.text(11);
    r.wall_s = s.real(12);
    r.worker = s.text(13);
    r.version = s.text(14);
    return r;
}

void bind_row(Stmt& s, const StoreRow& r) {
    s.bind(1, r.id).bind(2, r.method).bind(3, static_cast<int64_t>(r.ctx)).bind(4, r.params).bind(5, r.spec);
    s.bind(6, r.identity).bind(7, r.status).bind(8, r.record).bind(9, r.error).bind(10, static_cast<int64_t>(r.attempts));
    s.bind(11, r.started_at).bind(12, r.finished_at).bind(13, r.wall_s).bind(14, r.worker).bind(15, r.version);
}

/// Creates a complete, empty store at `path` atomically: it is built under a temporary name
/// in the same folder and hard-linked into place, so no process ever sees a half-made store
/// and a file that appears at `path` meanwhile is never touched (the link fails; it is then
/// checked like any existing file).
void create_store_file(const std::string& path) {
    static std::atomic<int> serial{0};
    const std::string tmp = fmt::format("{}.new-{}-{}", path, getpid(), serial++);
    auto remove_tmp = [&] {
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(tmp + suffix, ec);
    };
    try {
        sqlite::Db db(tmp, sqlite::Open::create);
        db.exec("PRAGMA journal_mode=WAL");  // persistent: the store is in WAL mode from its first byte
        db.exec(k_schema);
        Stmt m(db, "INSERT INTO meta(key, value) VALUES('schema_version', '1'), ('created', ?1)");
        m.bind(1, now_iso8601()).step();
    } catch (const Error& e) {
        remove_tmp();
        throw Error("{}: cannot create the store: {}", path, e.what());
    }
    int rc = ::link(tmp.c_str(), path.c_str());
    int err = errno;
    if (rc != 0 && err != EEXIST) {  // a file system without hard links
        rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
        err = errno;
    }
    remove_tmp();
    if (rc != 0 && err != EEXIST) throw Error("{}: cannot create the store: {}", path, std::strerror(err));
}

/// Throws unless `path` holds a ropebench store of schema version 1; reads only.
void check_is_store(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw Error("{}: not a regular file (expected a ropebench results store)", path);
    const std::string unchanged = "refusing to use it; it was left unchanged";
    if (fs::file_size(path, ec) == 0)
        throw Error("{}: an empty file, not a ropebench results store; {} (name a new file to create a store)", path,
                    unchanged);
    std::string why, version;
    char magic[16] = {0};
    std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
    if (std::string(magic, sizeof magic) != std::string("SQLite format 3\0", 16))
        throw Error("{}: not a ropebench results store (not an SQLite database); {}", path, unchanged);
    try {
        sqlite::Db db(path, sqlite::Open::untouched);
        if (!db.has_table("meta") || !db.has_table("experiments")) {
            why = "it has no meta and experiments tables";
        } else {
            Stmt columns(db, fmt::format("SELECT {} FROM experiments LIMIT 0", k_columns));
            Stmt v(db, "SELECT value FROM meta WHERE key = 'schema_version'");
            if (v.step()) version = v.str(0);
            else why = "meta has no schema_version";
        }
    } catch (const Error& e) {  // not SQLite, or a missing column: "<path>: sqlite: ..."
        why = e.what();
        if (why.rfind(path + ": ", 0) == 0) why = why.substr(path.size() + 2);
    }
    if (!why.empty()) throw Error("{}: not a ropebench results store ({}); {}", path, why, unchanged);
    if (version != "1") throw Error("{}: meta.schema_version: expected 1, got {}; {}", path, version, unchanged);
}

std::string hostname() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

// Bookkeeping that differs between two runs of the same experiment (timings, work done, cache
// hits, the build, the machine's paths and threads); everything else is the result.
void strip(json& j) {
    if (j.is_object()) {
        for (const char* k : {"wall_s", "tokens_per_s", "software", "tokens_processed", "evaluator_tokens_processed",
                              "cache", "cache_hit", "backend", "path", "local_path", "file"})
            j.erase(k);
        for (auto& [k, v] : j.items()) strip(v);
    } else if (j.is_array()) {
        for (auto& v : j) strip(v);
    }
}

}  // namespace

std::string now_iso8601() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string this_worker() { return fmt::format("{}:{}", hostname(), getpid()); }

json record_fingerprint(const json& record) {
    json j = record;
    strip(j);
    return j;
}

Store::Store(const std::string& path, Access access) : m_path(path) {
    std::error_code ec;
    if (access == Access::read_write && !fs::exists(path, ec)) create_store_file(path);
    if (!fs::exists(path, ec)) throw Error("{}: store not found", path);
    check_is_store(path);
    m_db = std::make_unique<sqlite::Db>(path, access == Access::read_only ? sqlite::Open::untouched
                                                                         : sqlite::Open::read_write);
    if (access == Access::read_write) {
        // Stores are created in WAL mode; this confirms it, waiting for a lock like every statement.
        m_db->exec_waiting("PRAGMA journal_mode=WAL");
        m_db->exec("PRAGMA synchronous=FULL");
    }
}

Store::~Store() = default;

void Store::begin() { m_db->begin(); }
void Store::commit() { m_db->commit(); }
void Store::rollback() { m_db->rollback(); }

void Store::set_meta(const std::string& key, const std::string& value) {
    Stmt s(*m_db, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    s.bind(1, key).bind(2, value).step();
}

std::optional<std::string> Store::meta(const std::string& key) const {
    Stmt s(*m_db, "SELECT value FROM meta WHERE key = ?1");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

int Store::add(const std::vector<StoreRow>& rows) {
    int n = 0;
    transaction([&] {
        Stmt s(*m_db, fmt::format("INSERT OR IGNORE INTO experiments({}) VALUES({})", k_columns, k_placeholders));
        for (const auto& r : rows) {
            s.reset();
            bind_row(s, r);
            s.step();
            n += m_db->changes();
        }
    });
    return n;
}

int Store::reset_stale_running(bool all_hosts) {
    std::vector<std::string> stale;
    {
        Stmt s(*m_db, "SELECT id, worker FROM experiments WHERE status = 'running'");
        std::string host = hostname();
        while (s.step()) {
            std::string id = *s.text(0);
            std::string w = s.text(1).value_or("");
            auto colon = w.find(':');  // "host:pid", maybe followed by " (rank 2 ...)"
            bool dead = all_hosts;
            if (!dead && colon != std::string::npos && w.substr(0, colon) == host) {
                long pid = std::strtol(w.c_str() + colon + 1, nullptr, 10);
                dead = pid <= 0 || (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
            }
            if (!dead && colon == std::string::npos) dead = true;  // no owner recorded
            if (dead) stale.push_back(id);
        }
    }
    if (stale.empty()) return 0;
    transaction([&] {
        for (auto& id : stale) release(id);
    });
    return static_cast<int>(stale.size());
}

int Store::reset_failed(const std::vector<std::string>& ids) {
    int n = 0;
    transaction([&] {
        for (auto& id : ids) {
            Stmt u(*m_db, "UPDATE experiments SET status = 'pending' WHERE id = ?1 AND status = 'failed'");
            u.bind(1, id).step();
            n += m_db->changes();
        }
    });
    return n;
}

bool Store::claim(const std::string& id, const std::string& worker) {
    Stmt u(*m_db,
           "UPDATE experiments SET status = 'running', worker = ?2, started_at = ?3, attempts = attempts + 1, "
           "finished_at = NULL WHERE id = ?1 AND status = 'pending'");
    u.bind(1, id).bind(2, worker).bind(3, now_iso8601()).step();
    return m_db->changes() == 1;
}

void Store::release(const std::string& id) {
    Stmt u(*m_db, "UPDATE experiments SET status = 'pending', worker = NULL WHERE id = ?1 AND status = 'running'");
    u.bind(1, id).step();
}

void Store::finish(const std::string& id, const std::string& record_json, double wall_s, const std::string& version) {
    Stmt u(*m_db,
           "UPDATE experiments SET status = 'done', record = ?2, error = NULL, finished_at = ?3, wall_s = ?4, version = ?5 "
           "WHERE id = ?1");
    u.bind(1, id).bind(2, record_json).bind(3, now_iso8601()).bind(4, std::optional<double>(wall_s)).bind(5, version).step();
}

void Store::fail(const std::string& id, const std::string& error, double wall_s, const std::string& version) {
    Stmt u(*m_db,
           "UPDATE experiments SET status = 'failed', record = NULL, error = ?2, finished_at = ?3, wall_s = ?4, version = ?5 "
           "WHERE id = ?1");
    u.bind(1, id).bind(2, error).bind(3, now_iso8601()).bind(4, std::optional<double>(wall_s)).bind(5, version).step();
}

std::optional<StoreRow> Store::get(const std::string& id) const {
    Stmt s(*m_db, fmt::format("SELECT {} FROM experiments WHERE id = ?1", k_columns));
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_row(s);
}

std::vector<StoreRow> Store::rows() const {
    Stmt s(*m_db, fmt::format("SELECT {} FROM experiments ORDER BY id", k_columns));
    std::vector<StoreRow> out;
    while (s.step()) out.push_back(read_row(s));
    return out;
}

int Store::count(const std::string& status) const {
    Stmt s(*m_db, "SELECT COUNT(*) FROM experiments WHERE status = ?1");
    s.bind(1, status).step();
    return static_cast<int>(s.integer(0));
}

void Store::put(const StoreRow& row) {
    Stmt s(*m_db, fmt::format("INSERT OR REPLACE INTO experiments({}) VALUES({})", k_columns, k_placeholders));
    bind_row(s, row);
    s.step();
}

int merge_stores(const std::vector<std::string>& inputs, const std::string& output) {
    auto rank = [](const std::string& status) { return status == "done" ? 3 : status == "failed" ? 2 : status == "running" ? 1 : 0; };
    std::map<std::string, std::pair<StoreRow, std::string>> merged;  // id -> (row, file it came from)
    std::vector<std::string> sources;
    auto take = [&](const StoreRow& r, const std::string& file) {
        auto it = merged.find(r.id);
        if (it == merged.end()) {
            merged.emplace(r.id, std::make_pair(r, file));
            return;
        }
        auto& [have, from] = it->second;
        if (have.status == "done" && r.status == "done") {
            json a = record_fingerprint(json::parse(have.record.value_or("null")));
            json b = record_fingerprint(json::parse(r.record.value_or("null")));
            if (a != b)
                throw Error("merge: experiment {} ({} ctx {}) is done in both {} and {} with different results; refusing to merge",
                            r.id, r.method, r.ctx, from, file);
            return;
        }
        if (rank(r.status) > rank(have.status)) {
            have = r;
            from = file;
        }
    };
    std::vector<std::pair<std::string, std::string>> config_texts;
    if (fs::exists(output)) {
        Store out(output, Store::Access::read_only);
        for (auto& r : out.rows()) take(r, output);
    }
    for (const auto& in : inputs) {
        Store s(in, Store::Access::read_only);
        for (auto& r : s.rows()) take(r, in);
        if (auto c = s.meta("config")) config_texts.emplace_back(in, *c);
    }
    Store out(output);
    out.transaction([&] {
        for (auto& [id, rf] : merged) out.put(rf.first);
        json m = json::array();
        for (auto& in : inputs) m.push_back(in);
        out.set_meta("merged_from", m.dump());
        if (!config_texts.empty() && !out.meta("config")) out.set_meta("config", config_texts.front().second);
    });
    return static_cast<int>(merged.size());
}

}  // namespace rb::sweep
