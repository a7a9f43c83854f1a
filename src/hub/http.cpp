#include "hub/http.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace rb::hub {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

/// A server-chosen string made fit for one error line: printable ASCII, at most `n` characters.
std::string printable(const std::string& s, size_t n = 160) {
    std::string out;
    for (unsigned char c : s.substr(0, n)) out += (c >= 0x20 && c < 0x7f) ? char(c) : '?';
    if (s.size() > n) out += fmt::format("... ({} bytes)", s.size());
    return out;
}

struct State {
    const HttpRequest* req = nullptr;
    HttpResponse* resp = nullptr;
    HeaderBlock block;
    bool sink_aborted = false;
    bool body_truncated = false;  // a non-2xx body past k_max_error_body: not read further
    std::string limit;            // a limit stopped the transfer
};

size_t on_header(char* buf, size_t size, size_t n, void* ud) {
    auto* st = static_cast<State*>(ud);
    if (!st->block.feed(buf, size * n)) {
        st->limit = fmt::format("the response headers exceed {} bytes", k_max_header_bytes);
        return 0;
    }
    return size * n;
}

size_t on_body(char* buf, size_t size, size_t n, void* ud) {
    auto* st = static_cast<State*>(ud);
    size_t bytes = size * n;
    long status = st->block.status();
    HttpResponse& resp = *st->resp;
    if (status >= 200 && status < 300) {
        if (bytes > st->req->max_body - resp.body_bytes) {
            resp.overflow = true;
            st->limit = fmt::format("the response body is longer than {} bytes", st->req->max_body);
            return 0;
        }
        if (st->req->sink) {
            if (!st->req->sink(buf, bytes, status)) {
                st->sink_aborted = true;
                return 0;
            }
        } else {
            resp.body.append(buf, bytes);
        }
        resp.body_bytes += bytes;
        return bytes;
    }
    // Redirects and errors: the start of the body is kept for messages, the rest is not read.
    size_t room = k_max_error_body - std::min(k_max_error_body, resp.body.size());
    resp.body.append(buf, std::min(bytes, room));
    if (bytes > room) {
        st->body_truncated = true;
        return 0;
    }
    return bytes;
}

int on_progress(void* ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
    auto* st = static_cast<State*>(ud);
    long status = st->block.status();
    if (st->req->progress && status >= 200 && status < 300) st->req->progress(uint64_t(dlnow), uint64_t(dltotal));
    return 0;
}

/// One exchange with `u`, no redirect followed.
HttpResponse perform_once(const HttpRequest& req, const Url& u) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    HttpResponse resp;
    resp.url = u.url;
    State st;
    st.req = &req;
    st.resp = &resp;
    std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
    if (!c) {
        resp.transport_error = true;
        resp.error = "curl_easy_init failed";
        return resp;
    }
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> hdrs(nullptr, curl_slist_free_all);
    auto add = [&](const std::string& h) {
        curl_slist* n = curl_slist_append(hdrs.get(), h.c_str());
        if (n) hdrs.release(), hdrs.reset(n);
    };
    for (const auto& h : req.headers) add(h);
    if (!req.policy->token.empty() && u.origin() == req.policy->token_origin)
        add("Authorization: Bearer " + req.policy->token);
    char errbuf[CURL_ERROR_SIZE] = {0};
    CURL* h = c.get();
    curl_easy_setopt(h, CURLOPT_URL, u.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");  // defence in depth: the policy checked already
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);           // every hop goes through http_perform's checks
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs.get());
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ropebench/" ROPEBENCH_VERSION " (libcurl)");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (req.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(h);
    resp.status = st.block.status();
    resp.headers = st.block.headers();
    if (!st.limit.empty()) {
        resp.refused = fmt::format("{}: {}", printable(u.url), st.limit);
        resp.error = resp.refused;
    } else if (st.sink_aborted) {
        resp.transport_error = true;
        resp.error = "transfer aborted";
    } else if (rc != CURLE_OK && !st.body_truncated) {
        resp.transport_error = true;
        resp.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    }
    return resp;
}

bool is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

}  // namespace

bool HeaderBlock::feed(const char* data, size_t n) {
    m_bytes += n;
    if (m_bytes > k_max_header_bytes) return false;
    std::string line(data, n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (redirect, 1xx): keep the last one
        m_headers.clear();
        m_status = 0;
        auto sp = line.find(' ');
        if (sp != std::string::npos && line.size() >= sp + 4) {
            long s = 0;
            bool ok = true;
            for (size_t i = sp + 1; i < sp + 4; i++) {
                if (!std::isdigit(static_cast<unsigned char>(line[i]))) ok = false;
                else s = s * 10 + (line[i] - '0');
            }
            bool ends = line.size() == sp + 4 || line[sp + 4] == ' ';
            if (ok && ends && s >= 100 && s <= 599) m_status = s;
        }
        return true;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return true;
    std::string name = lower(line.substr(0, colon));
    size_t v = colon + 1, e = line.size();
    while (v < e && (line[v] == ' ' || line[v] == '\t')) v++;
    while (e > v && (line[e - 1] == ' ' || line[e - 1] == '\t')) e--;
    m_headers[name] = line.substr(v, e - v);
    return true;
}

std::optional<Url> parse_url(const std::string& url) { return resolve_url("", url); }

std::optional<Url> resolve_url(const std::string& base, const std::string& location) {
    std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
    if (!u) return std::nullopt;
    if (location.find('\0') != std::string::npos) return std::nullopt;
    if (!base.empty() && curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return std::nullopt;
    if (curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) return std::nullopt;
    auto get = [&](CURLUPart part, unsigned flags) -> std::string {
        char* s = nullptr;
        if (curl_url_get(u.get(), part, &s, flags) != CURLUE_OK || !s) return {};
        std::string out(s);
        curl_free(s);
        return out;
    };
    Url r;
    r.url = get(CURLUPART_URL, 0);
    r.scheme = lower(get(CURLUPART_SCHEME, 0));
    r.host = lower(get(CURLUPART_HOST, 0));
    r.port = get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
    if (r.url.empty() || r.scheme.empty()) return std::nullopt;
    // libcurl may resolve a reference into a URL it does not parse itself ("file:'//x" ->
    // "file://'//x", found by fuzz_hub_headers): return only what will parse when requested.
    if (!base.empty()) return resolve_url("", r.url);
    return r;
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "[::1]") return true;
    // libcurl normalises IPv4 literals to dotted quads ("127.1" -> "127.0.0.1").
    if (host.rfind("127.", 0) != 0) return false;
    int dots = 0;
    for (char c : host) {
        if (c == '.') dots++;
        else if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return dots == 3;
}

bool is_relative_reference(const std::string& location) {
    if (location.rfind("//", 0) == 0) return false;
    for (size_t i = 0; i < location.size(); i++) {
        char c = location[i];
        if (c == ':') return i == 0;  // "scheme:" (a leading ':' is a path)
        if (c == '/' || c == '?' || c == '#') return true;
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) return true;
    }
    return true;
}

std::string TransportPolicy::refusal(const Url& u) const {
    if (u.scheme == "https") return u.host.empty() ? "no host" : "";
    if (u.scheme == "http") {
        if (u.host.empty()) return "no host";
        if (allow_http || (allow_http_loopback && is_loopback_host(u.host))) return "";
        return "plain http is only used for a loopback HF_ENDPOINT or with ROPEBENCH_HUB_ALLOW_HTTP=1";
    }
    return fmt::format("the scheme '{}' is not followed (only https, and http as configured)", printable(u.scheme, 20));
}

HttpResponse http_perform(const HttpRequest& req) {
    HttpResponse resp;
    std::string url = req.url;
    for (int hop = 0;; hop++) {
        auto u = parse_url(url);
        std::string why = !u ? "not a valid URL" : req.policy->refusal(*u);
        if (!why.empty()) {
            resp = HttpResponse{};
            resp.url = url;
            resp.redirects = hop;
            resp.refused = fmt::format("{}: refused: {}", printable(url), why);
            resp.error = resp.refused;
            return resp;
        }
        resp = perform_once(req, *u);
        resp.redirects = hop;
        if (!resp.error.empty() || !is_redirect(resp.status) || req.follow == Follow::none) return resp;
        std::string loc = resp.header("location");
        if (loc.empty() || (req.follow == Follow::relative && !is_relative_reference(loc))) return resp;
        if (hop == k_max_redirects) {
            resp.refused = fmt::format("{}: more than {} redirects", printable(req.url), k_max_redirects);
            resp.error = resp.refused;
            return resp;
        }
        auto next = resolve_url(u->url, loc);
        if (!next) {
            resp.refused = fmt::format("{}: redirect to '{}' refused: not a valid http(s) URL", printable(u->url),
                                       printable(loc));
            resp.error = resp.refused;
            return resp;
        }
        url = next->url;
    }
}

std::string url_quote(const std::string& s, bool keep_slash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
            out += char(ch);
        } else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

std::optional<uint64_t> parse_length(const std::string& v) {
    if (v.empty() || v.size() > 18) return std::nullopt;
    uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + uint64_t(c - '0');
    }
    return n;
}

std::optional<ContentRange> parse_content_range(const std::string& v) {
    if (v.rfind("bytes ", 0) != 0) return std::nullopt;
    auto dash = v.find('-', 6), slash = v.find('/', 6);
    if (dash == std::string::npos || slash == std::string::npos || dash > slash) return std::nullopt;
    auto a = parse_length(v.substr(6, dash - 6)), b = parse_length(v.substr(dash + 1, slash - dash - 1));
    if (!a || !b || *a > *b) return std::nullopt;
    ContentRange r{*a, *b, std::nullopt};
    std::string t = v.substr(slash + 1);
    if (t != "*") {
        r.total = parse_length(t);
        if (!r.total || *r.total <= *b) return std::nullopt;
    }
    return r;
}

}  // namespace rb::hub
