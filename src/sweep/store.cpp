#include "sweep/store.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>

#include "util/error.h"

using nlohmann::json;

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

// A prepared statement that finalizes itself.
class Stmt {
public:
    Stmt(sqlite3* db, const std::string& sql, const std::string& path) : m_db(db), m_path(path) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &m_s, nullptr) != SQLITE_OK)
            throw Error("{}: sqlite: {} (in '{}')", path, sqlite3_errmsg(db), sql);
    }
    ~Stmt() { sqlite3_finalize(m_s); }
    Stmt& bind(int i, const std::string& v) {
        sqlite3_bind_text(m_s, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(int i, const std::optional<std::string>& v) {
        if (v) return bind(i, *v);
        sqlite3_bind_null(m_s, i);
        return *this;
    }
    Stmt& bind(int i, int64_t v) {
        sqlite3_bind_int64(m_s, i, v);
        return *this;
    }
    Stmt& bind(int i, std::optional<double> v) {
        if (v) sqlite3_bind_double(m_s, i, *v);
        else sqlite3_bind_null(m_s, i);
        return *this;
    }
    bool step() {
        int rc = sqlite3_step(m_s);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw Error("{}: sqlite: {}", m_path, sqlite3_errmsg(m_db));
    }
    std::optional<std::string> text(int col) const {
        if (sqlite3_column_type(m_s, col) == SQLITE_NULL) return std::nullopt;
        return std::string(reinterpret_cast<const char*>(sqlite3_column_text(m_s, col)));
    }
    void reset() {
        sqlite3_reset(m_s);
        sqlite3_clear_bindings(m_s);
    }
    int64_t integer(int col) const { return sqlite3_column_int64(m_s, col); }
    std::optional<double> real(int col) const {
        if (sqlite3_column_type(m_s, col) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_double(m_s, col);
    }

private:
    sqlite3* m_db;
    sqlite3_stmt* m_s = nullptr;
    std::string m_path;
};

const char* k_columns =
    "id, method, ctx, params, spec, identity, status, record, error, attempts, started_at, finished_at, wall_s, worker, version";

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
                              "cache", "backend", "path", "local_path", "file"})
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

Store::Store(const std::string& path) : m_path(path) {
    if (sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
        SQLITE_OK) {
        std::string msg = m_db ? sqlite3_errmsg(m_db) : "cannot allocate";
        sqlite3_close(m_db);
        throw Error("{}: cannot open the store: {}", path, msg);
    }
    sqlite3_busy_timeout(m_db, 30000);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");
        exec("PRAGMA foreign_keys=ON");
        exec(k_schema);
        auto v = meta("schema_version");
        if (!v) {
            set_meta("schema_version", "1");
            set_meta("created", now_iso8601());
        } else if (*v != "1") {
            throw Error("{}: meta.schema_version: expected 1, got {}", path, *v);
        }
    } catch (...) {
        sqlite3_close(m_db);
        m_db = nullptr;
        throw;
    }
}

Store::~Store() {
    if (m_db) sqlite3_close(m_db);
}

void Store::exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw Error("{}: sqlite: {} (in '{}')", m_path, msg, sql.substr(0, 80));
    }
}

void Store::begin() { exec("BEGIN IMMEDIATE"); }
void Store::commit() { exec("COMMIT"); }
void Store::rollback() { exec("ROLLBACK"); }

void Store::set_meta(const std::string& key, const std::string& value) {
    Stmt s(m_db, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", m_path);
    s.bind(1, key).bind(2, value).step();
}

std::optional<std::string> Store::meta(const std::string& key) const {
    Stmt s(m_db, "SELECT value FROM meta WHERE key = ?1", m_path);
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

int Store::add(const std::vector<StoreRow>& rows) {
    int n = 0;
    transaction([&] {
        Stmt s(m_db, fmt::format("INSERT OR IGNORE INTO experiments({}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)", k_columns),
               m_path);
        for (const auto& r : rows) {
            s.reset();
            bind_row(s, r);
            s.step();
            n += sqlite3_changes(m_db);
        }
    });
    return n;
}

int Store::reset_stale_running(bool all_hosts) {
    std::vector<std::string> stale;
    {
        Stmt s(m_db, "SELECT id, worker FROM experiments WHERE status = 'running'", m_path);
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
            Stmt u(m_db, "UPDATE experiments SET status = 'pending' WHERE id = ?1 AND status = 'failed'", m_path);
            u.bind(1, id).step();
            n += sqlite3_changes(m_db);
        }
    });
    return n;
}

bool Store::claim(const std::string& id, const std::string& worker) {
    Stmt u(m_db,
           "UPDATE experiments SET status = 'running', worker = ?2, started_at = ?3, attempts = attempts + 1, "
           "finished_at = NULL WHERE id = ?1 AND status = 'pending'",
           m_path);
    u.bind(1, id).bind(2, worker).bind(3, now_iso8601()).step();
    return sqlite3_changes(m_db) == 1;
}

void Store::release(const std::string& id) {
    Stmt u(m_db, "UPDATE experiments SET status = 'pending', worker = NULL WHERE id = ?1 AND status = 'running'", m_path);
    u.bind(1, id).step();
}

void Store::finish(const std::string& id, const std::string& record_json, double wall_s, const std::string& version) {
    Stmt u(m_db,
           "UPDATE experiments SET status = 'done', record = ?2, error = NULL, finished_at = ?3, wall_s = ?4, version = ?5 "
           "WHERE id = ?1",
           m_path);
    u.bind(1, id).bind(2, record_json).bind(3, now_iso8601()).bind(4, std::optional<double>(wall_s)).bind(5, version).step();
}

void Store::fail(const std::string& id, const std::string& error, double wall_s, const std::string& version) {
    Stmt u(m_db,
           "UPDATE experiments SET status = 'failed', record = NULL, error = ?2, finished_at = ?3, wall_s = ?4, version = ?5 "
           "WHERE id = ?1",
           m_path);
    u.bind(1, id).bind(2, error).bind(3, now_iso8601()).bind(4, std::optional<double>(wall_s)).bind(5, version).step();
}

std::optional<StoreRow> Store::get(const std::string& id) const {
    Stmt s(m_db, fmt::format("SELECT {} FROM experiments WHERE id = ?1", k_columns), m_path);
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_row(s);
}

std::vector<StoreRow> Store::rows() const {
    Stmt s(m_db, fmt::format("SELECT {} FROM experiments ORDER BY id", k_columns), m_path);
    std::vector<StoreRow> out;
    while (s.step()) out.push_back(read_row(s));
    return out;
}

int Store::count(const std::string& status) const {
    Stmt s(m_db, "SELECT COUNT(*) FROM experiments WHERE status = ?1", m_path);
    s.bind(1, status).step();
    return static_cast<int>(s.integer(0));
}

void Store::put(const StoreRow& row) {
    Stmt s(m_db, fmt::format("INSERT OR REPLACE INTO experiments({}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)", k_columns),
           m_path);
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
    if (std::filesystem::exists(output)) {
        Store out(output);
        for (auto& r : out.rows()) take(r, output);
    }
    for (const auto& in : inputs) {
        if (!std::filesystem::exists(in)) throw Error("{}: store not found", in);
        Store s(in);
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
