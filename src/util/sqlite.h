// The one SQLite wrapper: a connection and a prepared statement that close themselves and
// throw Error naming the file, SQLite's message, its result code and, when the OS gave one,
// errno (so a full disk reads "database or disk is full", never a follow-up error). Used by
// the results store's writer (sweep/store) and reader (report/store).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace rb::sqlite {

enum class Open {
    read_only,   // never writes the database; in a folder that forbids the -shm file, falls back to immutable=1
    untouched,   // read_only that also creates no -wal/-shm file: immutable=1 while no -wal file exists
                 // (no connection has the database open), else read_only
    read_write,  // the file must exist
    create,      // created when missing
};

class Db {
public:
    /// Opens `path`; every statement waits up to `busy_timeout_ms` for a lock held by another
    /// connection (set before any statement runs). Throws Error naming the file.
    Db(const std::string& path, Open mode, int busy_timeout_ms = 30000);
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    sqlite3* handle() const { return m_db; }
    const std::string& path() const { return m_path; }
    /// True when the database was opened with immutable=1 (see Open): rows still only in a
    /// -wal file are then not seen.
    bool immutable() const { return m_immutable; }

    /// Runs `sql` (one or more statements, no rows). Throws Error.
    void exec(const std::string& sql);
    /// Like exec, but retries SQLITE_BUSY until the busy timeout has passed: for statements
    /// such as `PRAGMA journal_mode=WAL` for which SQLite does not call the busy handler.
    void exec_waiting(const std::string& sql);
    /// Rows changed by the last INSERT/UPDATE/DELETE.
    int changes() const;
    bool has_table(const std::string& name) const;

    void begin();     // BEGIN IMMEDIATE
    void commit();
    /// Rolls back the open transaction; nothing when SQLite already rolled it back (it does so
    /// itself after SQLITE_FULL, SQLITE_IOERR, ...). Never throws.
    void rollback() noexcept;
    /// Runs f() in one transaction: committed when f returns, rolled back when f or the commit
    /// throws; the first error is the one that propagates.
    template <typename F>
    void transaction(F&& f) {
        begin();
        try {
            f();
            commit();
        } catch (...) {
            rollback();
            throw;
        }
    }

    /// "<message> (<result code name>[, <strerror(errno)>])" for the connection's last error.
    std::string last_error() const;

private:
    void open(const std::string& name, int flags);
    std::string m_path;
    sqlite3* m_db = nullptr;
    int m_busy_ms = 0;
    bool m_immutable = false;
};

/// A prepared statement. Errors name the file and, for prepare, the SQL.
class Stmt {
public:
    Stmt(const Db& db, const std::string& sql);
    ~Stmt();
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, const std::string& v);
    Stmt& bind(int i, const std::optional<std::string>& v);
    Stmt& bind(int i, int64_t v);
    Stmt& bind(int i, std::optional<double> v);
    /// True for a row, false when done; throws Error on failure.
    bool step();
    void reset();  // also clears the bindings

    bool is_null(int col) const;
    bool is_integer(int col) const;
    std::optional<std::string> text(int col) const;  // nullopt for NULL
    std::string str(int col) const;                   // "" for NULL
    int64_t integer(int col) const;
    std::optional<double> real(int col) const;        // nullopt for NULL

private:
    const Db& m_db;
    sqlite3_stmt* m_s = nullptr;
};

}  // namespace rb::sqlite
