// A small threaded HTTP/1.1 server on 127.0.0.1 (ephemeral port) that plays the Hugging Face
// hub for tests: it serves folders as repos in the hub's URL layout with the hub's headers.
//
//   HEAD/GET /{org}/{name}/resolve/{main|commit}/{file}
//     small file  → 200, ETag "<git blob sha1>", Content-Length, X-Repo-Commit, Accept-Ranges
//     large file  → 302 to http://127.0.0.1:port/lfs/<sha256> (absolute, like the CDN), with
//                   X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
//     missing     → 404 X-Error-Code: EntryNotFound (+ X-Repo-Commit); unknown revision → 404 RevisionNotFound
//     unknown repo→ 401 X-Error-Code: RepoNotFound (as the real hub answers without a token)
//     gated repo  → 401 GatedRepo without "Authorization: Bearer <token>", 403 with a wrong one
//   GET /lfs/<sha256>  → the bytes; Range: bytes=N- → 206 / 416
// Fault injection: drop the connection once mid-body; serve corrupted bytes for a file.
// Hostile modes (`hostile`, docs/hub.md "Tests"): LFS redirects to another host (`cdn`, a
// second FakeHub on 127.0.0.2), via a hop on this host, or to any Location (file://, ftp://,
// ...); redirect loops (HEAD relative, GET absolute); endless bodies; bodies longer or shorter
// than announced; a 206 for another range; endless response headers; no announced size; any
// ETag / X-Repo-Commit value.
// Every request is counted and logged. One request per connection (Connection: close).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hub/sha1.h"
#include "util/hash.h"

namespace rb::test {

class FakeHub {
public:
    struct Request {
        std::string method, path, range, auth;
    };

    struct Hostile {
        std::string location;        // non-empty: the Location of every LFS redirect
        bool lfs_via_hop = false;    // LFS Location -> <endpoint>/hop/<sha256> -> 302 to the CDN
        bool redirect_loop = false;  // LFS Location -> <endpoint>/loop/0 -> /loop/1 -> ... forever
        bool head_loop = false;      // resolve URLs answer 302 with a relative Location to themselves
        bool endless_body = false;   // content GETs: no Content-Length, bytes until the client hangs up
        long long body_delta = 0;    // content GETs: this many bytes more (> 0) or fewer (< 0), Content-Length to match
        bool huge_header = false;    // resolve URLs: header lines until the client hangs up
        bool no_size = false;        // LFS redirects without X-Linked-Size
        bool wrong_range = false;    // content GETs: a 206 whose Content-Range starts at 0, whatever was asked
        std::string etag;            // non-empty: sent as the ETag (and X-Linked-Etag) of every file
        std::string commit;          // non-empty: sent as X-Repo-Commit
        std::string only;            // content modes, etag and commit apply to this file only ("" = all)
    };

    explicit FakeHub(const std::string& address = "127.0.0.1") : m_address(address) {
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m_listen < 0) throw std::runtime_error("socket");
        int one = 1;
        ::setsockopt(m_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) throw std::runtime_error("address " + address);
        a.sin_port = 0;
        if (::bind(m_listen, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
        if (::listen(m_listen, 64) != 0) throw std::runtime_error("listen");
        socklen_t len = sizeof a;
        ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&a), &len);
        m_port = ntohs(a.sin_port);
        m_acceptor = std::thread([this] { accept_loop(); });
    }
    ~FakeHub() {
        m_stop = true;
        ::shutdown(m_listen, SHUT_RDWR);
        ::close(m_listen);
        m_acceptor.join();
        std::lock_guard<std::mutex> g(m_mu);
        for (auto& t : m_workers) t.join();
    }
    FakeHub(const FakeHub&) = delete;
    FakeHub& operator=(const FakeHub&) = delete;

    std::string endpoint() const { return "http://" + m_address + ":" + std::to_string(m_port); }
    void add_repo(const std::string& id, const std::string& dir, const std::string& commit, bool gated = false) {
        std::lock_guard<std::mutex> g(m_mu);
        m_repos[id] = Repo{dir, commit, gated};
    }
    int requests() const { return m_count.load(); }
    std::vector<Request> log() const {
        std::lock_guard<std::mutex> g(m_mu);
        return m_log;
    }
    /// The next GET whose path ends with `suffix` sends its headers and only `after_bytes` of the body, then closes.
    void drop_once(const std::string& suffix, size_t after_bytes) {
        std::lock_guard<std::mutex> g(m_mu);
        m_drop_suffix = suffix;
        m_drop_after = after_bytes;
    }
    /// Bodies of `filename` (any repo) are served with one byte flipped, headers unchanged.
    void corrupt(const std::string& filename, bool on = true) {
        std::lock_guard<std::mutex> g(m_mu);
        if (on) m_corrupt.insert({filename, true});
        else m_corrupt.erase(filename);
    }

    /// Set before the requests they should affect (read by the connection threads under the lock).
    void set_hostile(const Hostile& h) {
        std::lock_guard<std::mutex> g(m_mu);
        m_hostile = h;
    }
    /// LFS redirects point at this base URL ("" = this hub), e.g. another FakeHub's endpoint().
    void set_cdn(const std::string& base) {
        std::lock_guard<std::mutex> g(m_mu);
        m_cdn = base;
    }

    std::string token = "hf_test_token_123";
    size_t lfs_threshold = 500 * 1000;  // files above this are "LFS": redirected, etag = sha256

private:
    struct Repo {
        std::string dir, commit;
        bool gated;
    };
    struct File {
        std::string bytes, sha256, sha1;
    };

    static std::string lower(std::string s) {
        for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }
    static std::string unquote(const std::string& s) {
        std::string out;
        for (size_t i = 0; i < s.size(); i++) {
            if (s[i] == '%' && i + 2 < s.size()) {
                out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                out += s[i];
            }
        }
        return out;
    }

    const File* file(const std::string& path) {  // under m_mu
        auto it = m_files.find(path);
        if (it != m_files.end()) return &it->second;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) return nullptr;
        std::ifstream f(path, std::ios::binary);
        std::ostringstream ss;
        ss << f.rdbuf();
        File fl{ss.str(), "", ""};
        fl.sha256 = rb::sha256_hex(fl.bytes);
        fl.sha1 = rb::hub::git_blob_sha1(fl.bytes);
        return &m_files.emplace(path, std::move(fl)).first->second;
    }

    void accept_loop() {
        while (!m_stop) {
            int c = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                if (m_stop) return;
                continue;
            }
            std::lock_guard<std::mutex> g(m_mu);
            m_workers.emplace_back([this, c] {
                handle(c);
                ::close(c);
            });
        }
    }

    static bool send_all(int fd, const char* p, size_t n) {
        while (n > 0) {
            ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
            if (w <= 0) return false;
            p += w, n -= size_t(w);
        }
        return true;
    }

    void respond(int fd, int status, const std::string& reason, std::vector<std::string> headers,
                 const std::string& body, bool head, size_t declared_len, size_t send_body_bytes) {
        std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
        headers.push_back("Content-Length: " + std::to_string(declared_len));
        headers.push_back("Connection: close");
        for (auto& x : headers) h += x + "\r\n";
        h += "\r\n";
        send_all(fd, h.data(), h.size());
        if (!head) send_all(fd, body.data(), std::min(send_body_bytes, body.size()));
    }
    void error(int fd, int status, const std::string& code, const std::string& commit, bool head) {
        std::vector<std::string> hs{"X-Error-Code: " + code, "X-Error-Message: " + code};
        if (!commit.empty()) hs.push_back("X-Repo-Commit: " + commit);
        std::string body = "{\"error\":\"" + code + "\"}";
        respond(fd, status, status == 404 ? "Not Found" : status == 401 ? "Unauthorized" : "Forbidden", hs, body, head,
                body.size(), body.size());
    }

    /// Sends `content` honouring Range and the fault injections.
    void send_content(int fd, const std::string& path, std::string content, const std::string& range, bool head,
                      std::vector<std::string> hs, const std::string& filename) {
        size_t drop_at = std::string::npos;
        Hostile hm;
        {
            std::lock_guard<std::mutex> g(m_mu);
            hm = m_hostile;
            if (m_corrupt.count(filename) && !content.empty()) content[content.size() / 2] ^= 0x5a;
            if (!head && !m_drop_suffix.empty() && path.size() >= m_drop_suffix.size() &&
                path.compare(path.size() - m_drop_suffix.size(), m_drop_suffix.size(), m_drop_suffix) == 0) {
                drop_at = m_drop_after;
                m_drop_suffix.clear();
            }
        }
        const bool targeted = !head && (hm.only.empty() || hm.only == filename);
        if (targeted && hm.endless_body) {
            std::string h = "HTTP/1.1 200 OK\r\nConnection: close\r\n";
            for (auto& x : hs) h += x + "\r\n";
            h += "\r\n";
            send_all(fd, h.data(), h.size());
            std::string chunk(64 * 1024, 'z');
            while (!m_stop && send_all(fd, chunk.data(), chunk.size())) {
            }
            return;
        }
        if (targeted && hm.body_delta > 0) content += std::string(size_t(hm.body_delta), 'x');
        if (targeted && hm.body_delta < 0) content.resize(content.size() - std::min(content.size(), size_t(-hm.body_delta)));
        hs.push_back("Accept-Ranges: bytes");
        size_t from = 0;
        int status = 200;
        if (!range.empty() && range.rfind("bytes=", 0) == 0) {
            from = std::stoull(range.substr(6));
            if (from >= content.size()) {
                hs.push_back("Content-Range: bytes */" + std::to_string(content.size()));
                respond(fd, 416, "Range Not Satisfiable", hs, "", head, 0, 0);
                return;
            }
            status = 206;
            hs.push_back("Content-Range: bytes " + std::to_string(targeted && hm.wrong_range ? 0 : from) + "-" +
                         std::to_string(content.size() - 1) +
                         "/" + std::to_string(content.size()));
        }
        std::string body = content.substr(from);
        respond(fd, status, status == 206 ? "Partial Content" : "OK", hs, body, head, body.size(),
                drop_at == std::string::npos ? body.size() : drop_at);
    }

    void handle(int fd) {
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return;
            req.append(buf, size_t(n));
        }
        std::istringstream in(req);
        std::string line, method, target;
        std::getline(in, line);
        std::istringstream(line) >> method >> target;
        std::map<std::string, std::string> hdr;
        while (std::getline(in, line) && line != "\r") {
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string v = line.substr(colon + 1);
            while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
            while (!v.empty() && v.front() == ' ') v.erase(0, 1);
            hdr[lower(line.substr(0, colon))] = v;
        }
        m_count++;
        {
            std::lock_guard<std::mutex> g(m_mu);
            m_log.push_back({method, target, hdr["range"], hdr["authorization"]});
        }
        const bool head = method == "HEAD";
        std::string path = target.substr(0, target.find('?'));

        Hostile hm;
        std::string cdn;
        {
            std::lock_guard<std::mutex> g(m_mu);
            hm = m_hostile;
            cdn = m_cdn.empty() ? endpoint() : m_cdn;
        }
        if (path.rfind("/hop/", 0) == 0) {  // a redirect on this host that the client follows itself
            respond(fd, 302, "Found", {"Location: " + cdn + "/lfs/" + path.substr(5) + "?X-Amz-Signature=hop"}, "", head,
                    0, 0);
            return;
        }
        if (path.rfind("/loop/", 0) == 0) {
            int n = std::atoi(path.c_str() + 6);
            respond(fd, 302, "Found", {"Location: " + endpoint() + "/loop/" + std::to_string(n + 1)}, "", head, 0, 0);
            return;
        }
        if (path.rfind("/lfs/", 0) == 0) {  // the "CDN": content-addressed by sha256
            std::string sha = path.substr(5);
            std::string content, name;
            {
                std::lock_guard<std::mutex> g(m_mu);
                for (auto& [id, r] : m_repos)
                    for (auto& e : std::filesystem::directory_iterator(r.dir))
                        if (const File* f = file(e.path().string()); f && f->sha256 == sha)
                            content = f->bytes, name = e.path().filename().string();
            }
            if (name.empty()) return error(fd, 404, "EntryNotFound", "", head);
            return send_content(fd, path, content, hdr["range"], head, {"ETag: \"" + sha + "\""}, name);
        }

        // /{org}/{name}/resolve/{rev}/{file...}
        auto parts_end = path.find("/resolve/");
        if (parts_end == std::string::npos) return error(fd, 404, "NotFound", "", head);
        if (hm.huge_header) {
            std::string h = "HTTP/1.1 200 OK\r\n";
            send_all(fd, h.data(), h.size());
            std::string pad = std::string(1000, 'a');
            for (long i = 0; !m_stop; i++) {
                std::string line = "X-Pad-" + std::to_string(i) + ": " + pad + "\r\n";
                if (!send_all(fd, line.data(), line.size())) break;
            }
            return;
        }
        if (hm.head_loop) {
            respond(fd, 302, "Found", {"Location: " + path}, "", head, 0, 0);
            return;
        }
        std::string repo_id = path.substr(1, parts_end - 1);
        std::string rest = path.substr(parts_end + 9);
        auto slash = rest.find('/');
        if (slash == std::string::npos) return error(fd, 404, "EntryNotFound", "", head);
        std::string rev = unquote(rest.substr(0, slash)), filename = unquote(rest.substr(slash + 1));
        Repo repo;
        {
            std::lock_guard<std::mutex> g(m_mu);
            auto it = m_repos.find(repo_id);
            if (it == m_repos.end()) return error(fd, 401, "RepoNotFound", "", head);
            repo = it->second;
        }
        if (repo.gated) {
            std::string auth = hdr["authorization"];
            if (auth.empty()) return error(fd, 401, "GatedRepo", "", head);
            if (auth != "Bearer " + token) return error(fd, 403, "GatedRepo", "", head);
        }
        if (rev != "main" && rev != repo.commit) return error(fd, 404, "RevisionNotFound", "", head);
        if (filename.find("..") != std::string::npos) return error(fd, 404, "EntryNotFound", repo.commit, head);
        File fl;
        {
            std::lock_guard<std::mutex> g(m_mu);
            const File* f = file(repo.dir + "/" + filename);
            if (!f) return error(fd, 404, "EntryNotFound", repo.commit, head);
            fl = *f;
        }
        if (!hm.only.empty() && hm.only != filename) hm.etag.clear(), hm.commit.clear();
        std::vector<std::string> hs{"X-Repo-Commit: " + (hm.commit.empty() ? repo.commit : hm.commit)};
        if (fl.bytes.size() > lfs_threshold) {
            hs.push_back("ETag: \"" + rb::sha1_hex("pointer " + fl.sha256) + "\"");
            hs.push_back("X-Linked-Etag: \"" + (hm.etag.empty() ? fl.sha256 : hm.etag) + "\"");
            if (!hm.no_size) hs.push_back("X-Linked-Size: " + std::to_string(fl.bytes.size()));
            std::string loc = cdn + "/lfs/" + fl.sha256 + "?X-Amz-Signature=abc";
            if (hm.lfs_via_hop) loc = endpoint() + "/hop/" + fl.sha256;
            if (hm.redirect_loop) loc = endpoint() + "/loop/0";
            if (!hm.location.empty()) loc = hm.location;
            hs.push_back("Location: " + loc);
            respond(fd, 302, "Found", hs, "", head, 0, 0);
            return;
        }
        hs.push_back(hm.etag.empty() ? "ETag: W/\"" + fl.sha1 + "\"" : "ETag: \"" + hm.etag + "\"");
        send_content(fd, path, fl.bytes, hdr["range"], head, hs, filename);
    }

    std::string m_address;
    int m_listen = -1;
    int m_port = 0;
    Hostile m_hostile;
    std::string m_cdn;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_count{0};
    std::thread m_acceptor;
    mutable std::mutex m_mu;
    std::vector<std::thread> m_workers;
    std::map<std::string, Repo> m_repos;
    std::map<std::string, File> m_files;
    std::vector<Request> m_log;
    std::string m_drop_suffix;
    size_t m_drop_after = 0;
    std::map<std::string, bool> m_corrupt;
};

}  // namespace rb::test
