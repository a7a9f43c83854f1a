#include "util/sqlite.h"

#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "util/error.h"

namespace rb::sqlite {
namespace {

const char* code_name(int code) {
    switch (code) {  // the extended codes a full or failing disk gives
        case SQLITE_IOERR_READ: return "SQLITE_IOERR_READ";
        case SQLITE_IOERR_SHORT_READ: return "SQLITE_IOERR_SHORT_READ";
        case SQLITE_IOERR_WRITE: return "SQLITE_IOERR_WRITE";
        case SQLITE_IOERR_FSYNC: return "SQLITE_IOERR_FSYNC";
        case SQLITE_IOERR_TRUNCATE: return "SQLITE_IOERR_TRUNCATE";
        case SQLITE_IOERR_SHMSIZE: return "SQLITE_IOERR_SHMSIZE";
        case SQLITE_IOERR_SHMMAP: return "SQLITE_IOERR_SHMMAP";
        default: break;
    }
    switch (code & 0xff) {
        case SQLITE_ERROR: return "SQLITE_ERROR";
        case SQLITE_PERM: return "SQLITE_PERM";
        case SQLITE_BUSY: return "SQLITE_BUSY";
        case SQLITE_LOCKED: return "SQLITE_LOCKED";
        case SQLITE_NOMEM: return "SQLITE_NOMEM";
        case SQLITE_READONLY: return "SQLITE_READONLY";
        case SQLITE_IOERR: return "SQLITE_IOERR";
        case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
        case SQLITE_FULL: return "SQLITE_FULL";
        case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
        case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
        case SQLITE_NOTADB: return "SQLITE_NOTADB";
        default: return nullptr;
    }
}

/// "file:" URI of `path` (absolute, with the characters URIs reserve percent-encoded).
std::string file_uri(const std::string& path) {
    static const char* hex = "0123456789ABCDEF";
    std::string out = "file:";
    for (unsigned char c : std::filesystem::absolute(path).string()) {
        if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f) {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += char(c);
        }
    }
    return out;
}

}  // namespace

Db::Db(const std::string& path, Open mode, int busy_timeout_ms) : m_path(path), m_busy_ms(busy_timeout_ms) {
    std::error_code ec;
    if (mode == Open::untouched && !std::filesystem::exists(path + "-wal", ec) &&
        std::filesystem::exists(path, ec)) {
        open(file_uri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX);
        m_immutable = true;
        return;
    }
    int flags = SQLITE_OPEN_FULLMUTEX;
    flags |= mode == Open::read_only || mode == Open::untouched ? SQLITE_OPEN_READONLY
             : mode == Open::read_write ? SQLITE_OPEN_READWRITE
                                        : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    open(path, flags);
    if (mode != Open::read_only && mode != Open::untouched) return;
    // A WAL database in a read-only folder cannot get its -shm file: read it as immutable.
    int rc = sqlite3_exec(m_db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) {
        sqlite3_close(m_db);
        m_db = nullptr;
        open(file_uri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX);
        m_immutable = true;
    }
}

void Db::open(const std::string& name, int flags) {
    if (sqlite3_open_v2(name.c_str(), &m_db, flags, nullptr) != SQLITE_OK) {
        std::string msg = m_db ? last_error() : "out of memory";
        sqlite3_close(m_db);
        m_db = nullptr;
        throw Error("{}: cannot open as SQLite: {}", m_path, msg);
    }
    sqlite3_extended_result_codes(m_db, 1);
    sqlite3_busy_timeout(m_db, m_busy_ms);
}

Db::~Db() {
    if (m_db) sqlite3_close(m_db);
}

std::string Db::last_error() const {
    int code = sqlite3_extended_errcode(m_db);
    int sys = sqlite3_system_errno(m_db);
    std::string s = sqlite3_errmsg(m_db);
    const char* name = code_name(code);
    if (name || sys) {
        s += " (";
        if (name) s += name;
        if (sys) s += fmt::format("{}errno {}: {}", name ? ", " : "", sys, std::strerror(sys));
        s += ")";
    }
    if (code == SQLITE_IOERR_WRITE || (code & 0xff) == SQLITE_FULL) s += "; is the disk full?";
    return s;
}

void Db::exec(const std::string& sql) {
    if (sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
        throw Error("{}: sqlite: {} (in '{}')", m_path, last_error(), sql.substr(0, 80));
}

void Db::exec_waiting(const std::string& sql) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(m_busy_ms);
    while (true) {
        int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) return;
        if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline)
            throw Error("{}: sqlite: {} (in '{}')", m_path, last_error(), sql.substr(0, 80));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int Db::changes() const { return sqlite3_changes(m_db); }

bool Db::has_table(const std::string& name) const {
    Stmt s(*this, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
    s.bind(1, name);
    return s.step();
}

void Db::begin() { exec("BEGIN IMMEDIATE"); }
void Db::commit() { exec("COMMIT"); }
void Db::rollback() noexcept {
    if (!sqlite3_get_autocommit(m_db)) sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
}

Stmt::Stmt(const Db& db, const std::string& sql) : m_db(db) {
    if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &m_s, nullptr) != SQLITE_OK) {
        sqlite3_finalize(m_s);
        m_s = nullptr;
        throw Error("{}: sqlite: {} (in '{}')", db.path(), db.last_error(), sql.substr(0, 120));
    }
}

Stmt::~Stmt() { sqlite3_finalize(m_s); }

Stmt& Stmt::bind(int i, const std::string& v) {
    sqlite3_bind_text(m_s, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::bind(int i, const std::optional<std::string>& v) {
    if (v) return bind(i, *v);
    sqlite3_bind_null(m_s, i);
    return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
    sqlite3_bind_int64(m_s, i, v);
    return *this;
}
Stmt& Stmt::bind(int i, std::optional<double> v) {
    if (v) sqlite3_bind_double(m_s, i, *v);
    else sqlite3_bind_null(m_s, i);
    return *this;
}

bool Stmt::step() {
    int rc = sqlite3_step(m_s);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error("{}: sqlite: {}", m_db.path(), m_db.last_error());
}

void Stmt::reset() {
    sqlite3_reset(m_s);
    sqlite3_clear_bindings(m_s);
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(m_s, col) == SQLITE_NULL; }
bool Stmt::is_integer(int col) const { return sqlite3_column_type(m_s, col) == SQLITE_INTEGER; }

std::optional<std::string> Stmt::text(int col) const {
    if (is_null(col)) return std::nullopt;
    return str(col);
}

std::string Stmt::str(int col) const {
    const unsigned char* t = sqlite3_column_text(m_s, col);
    return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(m_s, col))) : std::string();
}

int64_t Stmt::integer(int col) const { return sqlite3_column_int64(m_s, col); }

std::optional<double> Stmt::real(int col) const {
    if (is_null(col)) return std::nullopt;
    return sqlite3_column_double(m_s, col);
}

}  // namespace rb::sqlite
