#include "hub/hub.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "hub/http.h"
#include "hub/sha1.h"
#include "util/hash.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace rb::hub {
namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

bool env_true(const char* name) {
    std::string v = env(name);
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
    return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

std::string trim(std::string s) {
    auto ws = [](unsigned char c) { return std::isspace(c); };
    while (!s.empty() && ws(s.back())) s.pop_back();
    size_t i = 0;
    while (i < s.size() && ws(s[i])) i++;
    return s.substr(i);
}

bool is_hex(const std::string& s, size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}
bool is_commit(const std::string& s) { return is_hex(s, 40); }

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 96) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
    if (s.front() == '.' || s.front() == '-' || s.back() == '.' || s.back() == '-') return false;
    return s.find("--") == std::string::npos && s.find("..") == std::string::npos;
}

/// A file name inside a repo, from untrusted input (index.json, flags): relative, no "..".
void check_repo_filename(const std::string& f, const std::string& where) {
    bool bad = f.empty() || f.front() == '/' || f.find('\\') != std::string::npos || f.find('\0') != std::string::npos;
    for (const auto& part : fs::path(f))
        if (part == ".." || part == ".") bad = true;
    if (bad) throw Error("{}: invalid file name '{}': expected a relative path inside the repository", where, f);
}

std::string read_small(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// "W/\"abc\"" → "abc" (huggingface_hub's _normalize_etag).
std::string normalize_etag(std::string e) {
    e = trim(e);
    if (e.rfind("W/", 0) == 0) e = e.substr(2);
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
    return e;
}

std::string human_bytes(double b) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4) b /= 1000, u++;
    return u == 0 ? fmt::format("{:.0f} {}", b, units[u]) : fmt::format("{:.1f} {}", b, units[u]);
}

/// Progress bar on stderr (only when it is a terminal): name, percent, bytes, rate, ETA.
class Progress {
public:
    Progress(std::string name, uint64_t total, uint64_t start, bool enabled)
        : m_name(std::move(name)), m_total(total), m_start(start), m_enabled(enabled && isatty(STDERR_FILENO)),
          m_t0(std::chrono::steady_clock::now()) {}
    ~Progress() { finish(); }
    void update(uint64_t done) {
        if (!m_enabled) return;
        auto now = std::chrono::steady_clock::now();
        if (done < m_total && now - m_last < std::chrono::milliseconds(100)) return;
        m_last = now;
        m_printed = true;
        double secs = std::chrono::duration<double>(now - m_t0).count();
        double rate = secs > 0 ? double(done - std::min(done, m_start)) / secs : 0;
        std::string eta = "--:--";
        if (rate > 0 && m_total > done) {
            auto s = uint64_t(double(m_total - done) / rate);
            eta = s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                            : fmt::format("{:02}:{:02}", s / 60, s % 60);
        }
        double frac = m_total ? std::min(1.0, double(done) / double(m_total)) : 0;
        int width = 24, fill = int(frac * width);
        fmt::print(stderr, "\r{} [{}{}] {:3.0f}% {} / {}  {}/s  ETA {}\x1b[K", m_name, std::string(fill, '#'),
                   std::string(width - fill, '.'), frac * 100, human_bytes(double(done)),
                   m_total ? human_bytes(double(m_total)) : std::string("?"), human_bytes(rate), eta);
        std::fflush(stderr);
    }
    void finish() {
        if (m_printed) fmt::print(stderr, "\n");
        m_printed = false;
    }

private:
    std::string m_name;
    uint64_t m_total, m_start;
    bool m_enabled, m_printed = false;
    std::chrono::steady_clock::time_point m_t0, m_last{};
};

/// Exclusive flock on <cache>/.locks/<repo folder>/<etag>.lock, as huggingface_hub's FileLock.
class FileLock {
public:
    explicit FileLock(const fs::path& p) {
        fs::create_directories(p.parent_path());
        m_fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (m_fd < 0) throw Error("{}: cannot create lock file", p.string());
        while (::flock(m_fd, LOCK_EX) != 0) {
            if (errno != EINTR) throw Error("{}: cannot lock", p.string());
        }
    }
    ~FileLock() {
        if (m_fd >= 0) ::close(m_fd);  // closing releases the lock
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    int m_fd = -1;
};

/// Where this client's requests may go: https anywhere; http only when the endpoint is
/// itself http on a loopback address (then to loopback hosts) or with the explicit opt-in.
/// The token goes only to the endpoint's origin.
TransportPolicy transport_policy(const HubOptions& o) {
    const std::string ep = endpoint(o);
    auto u = parse_url(ep);
    if (!u || (u->scheme != "https" && u->scheme != "http") || u->host.empty())
        throw Error("HF_ENDPOINT: '{}' is not an http(s) URL", ep);
    TransportPolicy p;
    p.allow_http = allow_http(o);
    p.allow_http_loopback = u->scheme == "http" && is_loopback_host(u->host);
    if (u->scheme == "http" && !p.allow_http && !p.allow_http_loopback)
        throw Error("HF_ENDPOINT: '{}' uses plain http on a host that is not a loopback address; use https, or set "
                    "ROPEBENCH_HUB_ALLOW_HTTP=1 to allow it",
                    ep);
    p.token = token(o).value_or("");
    p.token_origin = u->origin();
    return p;
}

/// Removes a `.incomplete` file when it goes out of scope, unless told to keep it.
class IncompleteGuard {
public:
    explicit IncompleteGuard(fs::path p) : m_path(std::move(p)) {}
    ~IncompleteGuard() {
        std::error_code ec;
        if (!m_keep) fs::remove(m_path, ec);
    }
    void keep() { m_keep = true; }

private:
    fs::path m_path;
    bool m_keep = false;
};

/// Turns an HTTP error status of the hub into one Error line; returns normally for 2xx/3xx
/// and for a missing file when `optional` (the caller checks `status == 404`).
void check_status(const HttpResponse& r, const HubId& id, const std::string& filename, const std::string& url,
                  bool optional, const HubOptions& o) {
    long s = r.status;
    if (s >= 200 && s < 400) return;
    std::string code = r.header("x-error-code");
    std::string msg = r.header("x-error-message");
    std::string detail = fmt::format("HTTP {}{}{}", s, code.empty() ? "" : " " + code, msg.empty() ? "" : ": " + msg);
    bool have_token = token(o).has_value();
    if (s == 401 || s == 403 || code == "GatedRepo") {
        std::string pre = code == "RepoNotFound" ? fmt::format("{}: not found on {}, or it", id.repo_id, endpoint(o))
                                                 : id.repo_id;
        throw Error("{} is gated or private: set HF_TOKEN (or write the token to {}/token) for an account that has "
                    "access{} ({})",
                    pre, hf_home(), have_token ? "; the token given was refused, request access on the model page" : "",
                    detail);
    }
    if (s == 404) {
        if (code == "RepoNotFound")
            throw Error("{}: repository not found on {} ({})", id.repo_id, endpoint(o), detail);
        if (code == "RevisionNotFound")
            throw Error("{}: revision '{}' not found ({})", id.repo_id, id.revision, detail);
        if (optional) return;
        throw Error("{}: file '{}' not found at revision '{}' ({})", id.repo_id, filename, id.revision, detail);
    }
    throw Error("{}: {} from {}", id.repo_id, detail, url);
}

void write_ref(const fs::path& repo_dir, const std::string& revision, const std::string& commit) {
    if (revision == commit) return;
    fs::path ref = repo_dir / "refs" / revision;
    if (fs::exists(ref) && trim(read_small(ref.string())) == commit) return;
    fs::create_directories(ref.parent_path());
    std::ofstream f(ref, std::ios::binary | std::ios::trunc);
    f << commit;  // no trailing newline, as huggingface_hub writes it
    if (!f) throw Error("{}: cannot write", ref.string());
}

/// snapshots/<commit>/<filename> → relative symlink to blobs/<etag> (../../blobs/<etag> at the top level).
void link_pointer(const fs::path& blob, const fs::path& pointer) {
    fs::create_directories(pointer.parent_path());
    std::error_code ec;
    if (fs::is_symlink(pointer, ec) || fs::exists(pointer, ec)) fs::remove(pointer, ec);
    fs::path rel = blob.lexically_relative(pointer.parent_path());
    fs::create_symlink(rel, pointer, ec);
    if (ec) throw Error("{}: cannot create symlink to {}: {}", pointer.string(), rel.string(), ec.message());
}

void touch(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::app);
}

/// A 2xx answer that ended without a transport error: throws unless it is what was asked
/// for (a 206 answers the Range; the body has the announced size).
void check_complete(const HttpResponse& r, uint64_t offset, uint64_t written, std::optional<uint64_t> size,
                    const std::string& limit_what, const std::string& label) {
    if (r.status == 206) {
        auto cr = parse_content_range(r.header("content-range"));
        if (!cr || cr->start != offset || (size && cr->total && *cr->total != *size))
            throw Error("{}: HTTP 206 with Content-Range '{}' does not answer 'Range: bytes={}-' (size {}); the partial "
                        "file was removed",
                        label, r.header("content-range").substr(0, 100), offset,
                        size ? std::to_string(*size) : std::string("?"));
    }
    if (size && written != *size)
        throw Error("{}: the server ended the body after {} of {}; the partial file was removed", label, written,
                    limit_what);
}

/// Streams `url` into `incomplete`, resuming from its current size with a Range request, and
/// retrying interrupted transfers (as huggingface_hub's http_get does). The transfer stops at
/// the announced size (or o.max_unannounced_bytes); the file is kept on failure only when a
/// network interruption left bytes to resume from, and removed after every other failure.
/// Long by nature: the retry loop's states (resume offset, attempts, size checks) are one piece.
void fetch_blob(const std::string& url, const fs::path& incomplete, std::optional<uint64_t> size,
                const std::string& label, const HubOptions& o, const TransportPolicy& policy) {
    std::error_code ec;
    const uint64_t limit = size ? *size : o.max_unannounced_bytes;
    const std::string limit_what = size ? fmt::format("the announced {} bytes", *size)
                                        : fmt::format("{} bytes (the cap for a file of unannounced size)", limit);
    IncompleteGuard guard(incomplete);
    Progress bar(label, size.value_or(0), fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0, o.progress);
    std::string last_error;
    for (int attempt = 1; attempt <= std::max(1, o.max_attempts); attempt++) {
        uint64_t offset = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
        if (offset > limit) {
            fs::remove(incomplete, ec);
            offset = 0;
        }
        if (size && offset == *size) return guard.keep();
        if (size) {
            struct statvfs vfs {};
            if (::statvfs(incomplete.parent_path().c_str(), &vfs) == 0 &&
                uint64_t(vfs.f_bavail) * vfs.f_frsize < *size - offset)
                throw Error("{}: needs {} more bytes, but only {} are free in {}", label, *size - offset,
                            uint64_t(vfs.f_bavail) * vfs.f_frsize, incomplete.parent_path().string());
        }
        FILE* f = std::fopen(incomplete.c_str(), "ab");
        if (!f) throw Error("{}: cannot open for writing: {}", incomplete.string(), std::strerror(errno));
        HttpRequest req;
        req.url = url;
        req.policy = &policy;
        req.follow = Follow::all;
        req.max_body = limit;
        req.connect_timeout_s = o.connect_timeout_s;
        req.stall_timeout_s = o.stall_timeout_s;
        if (offset > 0) req.headers.push_back(fmt::format("Range: bytes={}-", offset));
        uint64_t written = offset;
        bool first = true, too_long = false;
        int write_errno = 0;
        req.sink = [&](const char* d, size_t n, long status) {
            if (first) {
                first = false;
                if (status == 200 && offset > 0) {  // the server ignored the Range: start over
                    std::fflush(f);
                    if (::ftruncate(fileno(f), 0) != 0) return write_errno = errno, false;
                    std::fseek(f, 0, SEEK_SET);
                    written = 0;
                }
            }
            if (n > limit - written) return too_long = true, false;
            if (std::fwrite(d, 1, n, f) != n) return write_errno = errno ? errno : EIO, false;
            written += n;
            bar.update(written);
            return true;
        };
        HttpResponse r = http_perform(req);
        if (std::fclose(f) != 0 && !write_errno) write_errno = errno ? errno : EIO;
        if (write_errno)
            throw Error("{}: write failed: {}; the partial file was removed", incomplete.string(), std::strerror(write_errno));
        if (too_long || r.overflow)
            throw Error("{}: the server sent more than {}; the download was stopped and removed", label, limit_what);
        if (!r.refused.empty()) throw Error("{}: {}", label, r.refused);
        if (r.status == 416) {  // our partial file does not fit the remote one: restart
            fs::remove(incomplete, ec);
            last_error = "HTTP 416";
            continue;
        }
        if (!r.transport_error && r.status >= 200 && r.status < 300) {
            check_complete(r, offset, written, size, limit_what, label);
            return guard.keep();
        }
        if (!r.transport_error) throw Error("{}: HTTP {} while downloading from {}", label, r.status, r.url);
        last_error = r.error;
        if (r.status == 0 && written == offset && attempt == 1 && offset == 0) throw NetworkError("{}: {}", url, r.error);
        bar.finish();
        log_warn("{}: download interrupted at {} bytes ({}); resuming (attempt {} of {})", label, written, last_error,
                 attempt + 1, o.max_attempts);
    }
    uint64_t have = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
    if (have == 0)
        throw Error("{}: download failed {} times ({}); nothing was kept", label, std::max(1, o.max_attempts), last_error);
    guard.keep();  // a later run resumes from here
    throw Error("{}: download interrupted after {} of {} bytes ({}); run the command again to resume from {}", label,
                have, size ? std::to_string(*size) : std::string("?"), last_error, incomplete.string());
}

/// Size and content hash of a finished download; removes it on mismatch (never renamed into place).
void verify_blob(const fs::path& incomplete, const std::string& etag, std::optional<uint64_t> size,
                 const std::string& label) {
    std::error_code ec;
    uint64_t got = fs::file_size(incomplete, ec);
    if (ec) throw Error("{}: cannot stat {}", label, incomplete.string());
    if (size && got != *size) {
        fs::remove(incomplete, ec);
        throw Error("{}: downloaded {} bytes, expected {} (the hub's X-Linked-Size/Content-Length); the partial file "
                    "was removed",
                    label, got, *size);
    }
    std::string kind, h;
    if (is_hex(etag, 64)) kind = "sha256", h = sha256_file(incomplete.string());
    else if (is_hex(etag, 40)) kind = "git blob sha1", h = git_blob_sha1_file(incomplete.string());
    if (!kind.empty() && h != etag) {
        fs::remove(incomplete, ec);
        throw Error("{}: {} mismatch: expected {} (the hub's etag), got {}; the corrupt download was removed and "
                    "nothing was cached",
                    label, kind, etag, h);
    }
}

std::vector<std::string> shards_of_index(const fs::path& index_path, const std::string& label) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_small(index_path.string()));
    } catch (const std::exception& e) {
        throw Error("{}: not valid JSON: {}", label, e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error("{}: weight_map: expected an object of tensor name → shard file", label);
    std::set<std::string> shards;
    for (const auto& [k, v] : j["weight_map"].items()) {
        if (!v.is_string()) throw Error("{}: weight_map[{}]: expected a file name string", label, k);
        check_repo_filename(v.get<std::string>(), label + ": weight_map[" + k + "]");
        shards.insert(v.get<std::string>());
    }
    if (shards.empty()) throw Error("{}: weight_map is empty", label);
    return {shards.begin(), shards.end()};
}

const char* k_local_hint = "or pass a local checkpoint folder or .gguf file as MODEL";

}  // namespace

HubOptions& default_options() {
    static HubOptions o;
    return o;
}

std::optional<HubId> parse_hub_id(const std::string& s) {
    HubId id;
    std::string repo = s;
    auto at = s.find('@');
    if (at != std::string::npos) {
        repo = s.substr(0, at);
        id.revision = s.substr(at + 1);
        if (id.revision.empty() || id.revision.find("..") != std::string::npos || id.revision.front() == '/' ||
            id.revision.back() == '/')
            return std::nullopt;
        for (char c : id.revision)
            if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)) ||
                c == '\\' || c == '@' || c == ':' || c == '~' || c == '^' || c == '?' || c == '*' || c == '[')
                return std::nullopt;
    }
    auto slash = repo.find('/');
    if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos) return std::nullopt;
    if (!valid_name(repo.substr(0, slash)) || !valid_name(repo.substr(slash + 1))) return std::nullopt;
    id.repo_id = repo;
    return id;
}

std::string hf_home() {
    std::string h = env("HF_HOME");
    if (!h.empty()) return h;
    std::string xdg = env("XDG_CACHE_HOME");
    if (!xdg.empty()) return xdg + "/huggingface";
    return env("HOME") + "/.cache/huggingface";
}

std::string cache_dir(const HubOptions& o) {
    std::string d = o.cache_dir;
    if (d.empty()) d = env("HF_HUB_CACHE");
    if (d.empty()) d = env("HUGGINGFACE_HUB_CACHE");
    if (d.empty()) d = hf_home() + "/hub";
    return fs::absolute(d).lexically_normal().string();
}

std::string endpoint(const HubOptions& o) {
    std::string e = o.endpoint.empty() ? env("HF_ENDPOINT") : o.endpoint;
    if (e.empty()) e = "https://huggingface.co";
    while (!e.empty() && e.back() == '/') e.pop_back();
    return e;
}

std::optional<std::string> token(const HubOptions& o) {
    if (o.token) return o.token->empty() ? std::nullopt : o.token;
    for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
        std::string t = trim(env(name));
        if (!t.empty()) return t;
    }
    std::string path = env("HF_TOKEN_PATH");
    if (path.empty()) path = hf_home() + "/token";
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        std::string t = trim(read_small(path));
        if (!t.empty()) return t;
    }
    return std::nullopt;
}

bool offline(const HubOptions& o) {
    if (o.offline) return *o.offline;
    return env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE");
}

bool allow_http(const HubOptions& o) {
    if (o.allow_http) return *o.allow_http;
    return env_true("ROPEBENCH_HUB_ALLOW_HTTP");
}

bool valid_etag(const std::string& e) {
    if (e.empty() || e.size() > 128 || e.front() == '.') return false;
    return std::all_of(e.begin(), e.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

FileMetadata parse_file_metadata(const std::map<std::string, std::string>& headers, long status,
                                 const std::string& url, const std::string& label, const std::string& ep) {
    auto get = [&](const char* name) {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    };
    auto shown = [](const std::string& v) {
        std::string out;
        for (unsigned char c : v.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? char(c) : '?';
        return v.size() > 80 ? out + fmt::format("... ({} bytes)", v.size()) : out;
    };
    FileMetadata m;
    m.commit = get("x-repo-commit");
    if (!is_commit(m.commit))
        throw Error("{}: the server sent no valid X-Repo-Commit header (got '{}'): is HF_ENDPOINT ({}) a Hugging Face "
                    "hub?",
                    label, shown(m.commit), ep);
    std::string raw_etag = get("x-linked-etag").empty() ? get("etag") : get("x-linked-etag");
    m.etag = normalize_etag(raw_etag);
    if (!valid_etag(m.etag))
        throw Error("{}: the server sent no usable ETag / X-Linked-Etag header (got '{}'; expected 1 to 128 of "
                    "[A-Za-z0-9._-], not starting with '.')",
                    label, shown(raw_etag));
    const bool redirect = status >= 300 && status < 400;
    const char* size_name = !get("x-linked-size").empty() ? "x-linked-size" : redirect ? nullptr : "content-length";
    if (size_name && !get(size_name).empty()) {
        m.size = parse_length(get(size_name));
        if (!m.size) throw Error("{}: {}: expected a byte count, got '{}'", label, size_name, shown(get(size_name)));
    }
    m.location = url;
    if (redirect) {
        std::string loc = get("location");
        if (loc.empty()) throw Error("{}: HTTP {} without a Location header", label, status);
        auto u = resolve_url(url, loc);
        if (!u) throw Error("{}: HTTP {} to '{}': not a valid URL", label, status, shown(loc));
        m.location = u->url;
    }
    return m;
}

std::string repo_folder_name(const std::string& repo_id) {
    std::string out = "models";
    size_t start = 0;
    while (true) {
        auto slash = repo_id.find('/', start);
        out += "--" + repo_id.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return out;
}

std::string repo_cache_path(const std::string& repo_id, const HubOptions& o) {
    return (fs::path(cache_dir(o)) / repo_folder_name(repo_id)).string();
}

std::optional<std::string> cached_commit(const HubId& id, const HubOptions& o) {
    fs::path repo_dir = repo_cache_path(id.repo_id, o);
    std::error_code ec;
    if (is_commit(id.revision) && fs::is_directory(repo_dir / "snapshots" / id.revision, ec)) return id.revision;
    fs::path ref = repo_dir / "refs" / id.revision;
    if (!fs::is_regular_file(ref, ec)) return std::nullopt;
    std::string c = trim(read_small(ref.string()));
    if (!is_commit(c)) return std::nullopt;
    return c;
}

std::vector<std::string> missing_files(const std::string& repo_dir, const std::string& commit, const HubOptions& o) {
    fs::path snap = fs::path(repo_dir) / "snapshots" / commit;
    fs::path no_exist = fs::path(repo_dir) / ".no_exist" / commit;
    std::error_code ec;
    auto have = [&](const std::string& f) { return fs::is_regular_file(snap / f, ec); };  // follows the symlink
    std::vector<std::string> miss;
    if (!o.gguf_file.empty()) {
        if (!have(o.gguf_file)) miss.push_back(o.gguf_file);
        return miss;
    }
    if (!have("config.json")) miss.push_back("config.json");
    if (!have("tokenizer.model") && !have("tokenizer.json") && !fs::exists(no_exist / "tokenizer.model", ec))
        miss.push_back("tokenizer.model");
    if (!have("model.safetensors")) {
        if (!have("model.safetensors.index.json")) {
            miss.push_back("model.safetensors");
        } else {
            for (const auto& s : shards_of_index(snap / "model.safetensors.index.json",
                                                 (snap / "model.safetensors.index.json").string()))
                if (!have(s)) miss.push_back(s);
        }
    }
    return miss;
}

// Long by nature: the cache lookup, offline rule, metadata request and transfer of one file share the resolved names.
FileResult download_file(const HubId& id, const std::string& filename, bool optional, const HubOptions& o) {
    check_repo_filename(filename, id.repo_id);
    const fs::path cache = cache_dir(o);
    const fs::path repo_dir = cache / repo_folder_name(id.repo_id);
    const std::string label = id.repo_id + "/" + filename;
    std::error_code ec;

    // 1. The cache alone: a commit revision whose snapshot holds the file (or marks it missing).
    auto from_cache = [&](const std::string& commit) -> std::optional<FileResult> {
        fs::path pointer = repo_dir / "snapshots" / commit / filename;
        if (fs::is_regular_file(pointer, ec)) return FileResult{pointer.string(), commit, false};
        if (fs::exists(repo_dir / ".no_exist" / commit / filename, ec)) {
            if (optional) return FileResult{"", commit, false};
            throw Error("{}: file '{}' not found at revision '{}' (cached as missing in {})", id.repo_id, filename,
                        id.revision, (repo_dir / ".no_exist" / commit).string());
        }
        return std::nullopt;
    };
    if (is_commit(id.revision))
        if (auto r = from_cache(id.revision)) return *r;
    if (offline(o)) {
        if (auto c = cached_commit(id, o))
            if (auto r = from_cache(*c)) return *r;
        throw Error("{}: '{}' is not in the Hugging Face cache ({}) and offline mode is on (HF_HUB_OFFLINE / "
                    "--offline); run once with network access, {}",
                    id.repo_id, filename, cache.string(), k_local_hint);
    }

    // 2. HEAD the resolve URL, following only relative redirects (renamed repos), as huggingface_hub does:
    //    a redirect to another host is the LFS/CDN location, downloaded below.
    const TransportPolicy policy = transport_policy(o);
    const std::string url = fmt::format("{}/{}/resolve/{}/{}", endpoint(o), id.repo_id, url_quote(id.revision, false),
                                        url_quote(filename, true));
    HttpRequest head;
    head.method = "HEAD";
    head.url = url;
    head.policy = &policy;
    head.follow = Follow::relative;
    head.headers.push_back("Accept-Encoding: identity");
    head.connect_timeout_s = o.connect_timeout_s;
    head.stall_timeout_s = o.stall_timeout_s;
    HttpResponse r = http_perform(head);
    if (!r.refused.empty()) throw Error("{}: {}", label, r.refused);
    if (r.transport_error) throw NetworkError("{}: {}", r.url, r.error);
    check_status(r, id, filename, r.url, optional, o);
    if (r.status == 404) {  // optional file not in the repo: mark it, as huggingface_hub does
        std::string commit = r.header("x-repo-commit");
        if (is_commit(commit)) {
            touch(repo_dir / ".no_exist" / commit / filename);
            write_ref(repo_dir, id.revision, commit);
        }
        return FileResult{"", commit, false};
    }
    const FileMetadata meta = parse_file_metadata(r.headers, r.status, r.url, label, endpoint(o));
    const std::string& commit = meta.commit;
    const std::string& etag = meta.etag;
    const std::optional<uint64_t>& size = meta.size;

    // 3. Blob by etag (shared across revisions), under the same lock name as huggingface_hub.
    const fs::path blob = repo_dir / "blobs" / etag;
    const fs::path pointer = repo_dir / "snapshots" / commit / filename;
    bool downloaded = false;
    {
        FileLock lock(cache / ".locks" / repo_folder_name(id.repo_id) / (etag + ".lock"));
        if (fs::is_regular_file(blob, ec) && size && fs::file_size(blob, ec) != *size) {
            log_warn("{}: cached blob {} has the wrong size; downloading it again", label, blob.string());
            fs::remove(blob, ec);
        }
        if (!fs::is_regular_file(blob, ec)) {
            fs::create_directories(blob.parent_path());
            const fs::path incomplete = blob.string() + ".incomplete";
            log_info("downloading {} ({})", label, size ? human_bytes(double(*size)) : std::string("size unknown"));
            fetch_blob(meta.location, incomplete, size, label, o, policy);
            verify_blob(incomplete, etag, size, label);
            fs::rename(incomplete, blob, ec);
            if (ec) throw Error("{}: cannot rename into place: {}", blob.string(), ec.message());
            downloaded = true;
        }
        link_pointer(blob, pointer);
    }
    write_ref(repo_dir, id.revision, commit);
    return FileResult{pointer.string(), commit, downloaded};
}

std::string resolve_hub_model(const HubId& id, const HubOptions& o) {
    if (!o.gguf_file.empty()) check_repo_filename(o.gguf_file, "--gguf-file");
    const std::string repo_dir = repo_cache_path(id.repo_id, o);
    auto result_path = [&](const std::string& commit) {
        fs::path snap = fs::path(repo_dir) / "snapshots" / commit;
        return (o.gguf_file.empty() ? snap : snap / o.gguf_file).string();
    };
    std::vector<std::string> miss;
    auto cached = cached_commit(id, o);
    if (cached) {
        miss = missing_files(repo_dir, *cached, o);
        if (miss.empty()) return result_path(*cached);
    }
    const std::string what =
        cached ? fmt::format("not complete in the Hugging Face cache ({}; missing {})", cache_dir(o), fmt::join(miss, ", "))
               : fmt::format("not in the Hugging Face cache ({})", cache_dir(o));
    const std::string name = id.revision == "main" ? id.repo_id : id.repo_id + "@" + id.revision;
    if (offline(o))
        throw Error("{}: {}, and offline mode is on (HF_HUB_OFFLINE / --offline); run once with network access, {}",
                    name, what, k_local_hint);
    try {
        HubId cur = id;
        auto first = download_file(cur, o.gguf_file.empty() ? "config.json" : o.gguf_file, false, o);
        cur.revision = first.commit;  // every further file from the same commit
        if (!o.gguf_file.empty()) return first.path;
        for (const char* t : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json"})
            download_file(cur, t, true, o);
        auto st = download_file(cur, "model.safetensors", true, o);
        if (st.path.empty()) {
            HubId idx_id = cur;
            FileResult idx;
            try {
                idx = download_file(idx_id, "model.safetensors.index.json", false, o);
            } catch (const NetworkError&) {
                throw;
            } catch (const Error& e) {
                throw Error("{}; the repository has neither model.safetensors nor model.safetensors.index.json (for "
                            "a GGUF repository pass --gguf-file NAME)",
                            e.what());
            }
            for (const auto& s : shards_of_index(idx.path, id.repo_id + "/model.safetensors.index.json")) download_file(cur, s, false, o);
        }
        return result_path(first.commit);
    } catch (const NetworkError& e) {
        throw Error("{}: {} and the hub is not reachable at {} ({}); download it where there is network access, {}", name,
                    what, endpoint(o), e.what(), k_local_hint);
    }
}

std::string resolve_hub_config(const HubId& id, const HubOptions& o) {
    const std::string name = id.revision == "main" ? id.repo_id : id.repo_id + "@" + id.revision;
    if (auto c = cached_commit(id, o)) {
        fs::path p = fs::path(repo_cache_path(id.repo_id, o)) / "snapshots" / *c / "config.json";
        std::error_code ec;
        if (fs::is_regular_file(p, ec)) return p.string();
    }
    if (offline(o))
        throw Error("{}: config.json is not in the Hugging Face cache ({}), and offline mode is on (HF_HUB_OFFLINE / "
                    "--offline); run once with network access, {}",
                    name, cache_dir(o), k_local_hint);
    try {
        return download_file(id, "config.json", false, o).path;
    } catch (const NetworkError& e) {
        throw Error("{}: config.json is not in the Hugging Face cache ({}) and the hub is not reachable at {} ({}); {}",
                    name, cache_dir(o), endpoint(o), e.what(), k_local_hint);
    }
}

std::string resolve_model_path(const std::string& model, const HubOptions& o) {
    std::error_code ec;
    if (model.empty() || fs::exists(model, ec)) return model;
    auto id = parse_hub_id(model);
    if (!id) return model;
    return resolve_hub_model(*id, o);
}

std::string resolve_model_path(const std::string& model) { return resolve_model_path(model, default_options()); }

}  // namespace rb::hub
