// Minimal libcurl wrapper for the hub client (internal to rb_hub).
//
// Every request is made one hop at a time: libcurl never follows a redirect itself. Each hop's
// URL is checked against the TransportPolicy (scheme) before it is requested, and the bearer
// token is attached only to URLs of the token's origin, so a redirect to another host (the
// hub's CDN, or a hostile server's choice) never sees it. Limits that hold for every request:
// at most k_max_redirects hops, k_max_header_bytes of response headers per request, and a
// caller-given cap on 2xx body bytes (docs/hub.md, "Limits").
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rb::hub {

inline constexpr int k_max_redirects = 10;             // hops after the first request
inline constexpr size_t k_max_header_bytes = 64 * 1024;  // all header lines of one request, 1xx and 3xx included
inline constexpr size_t k_max_error_body = 64 * 1024;    // non-2xx bodies kept (the rest is not read)

/// The parts of an absolute URL that decide where it goes; scheme and host lowercased.
struct Url {
    std::string url;     // normalised by libcurl
    std::string scheme;  // "https"
    std::string host;    // "huggingface.co", "127.0.0.1", "[::1]"
    std::string port;    // explicit or the scheme's default ("443")
    std::string origin() const { return scheme + "://" + host + ":" + port; }
};

/// `location` resolved against `base` (RFC 3986: absolute, scheme-relative, absolute path or
/// relative path); nullopt when either is malformed or the result does not parse again.
std::optional<Url> resolve_url(const std::string& base, const std::string& location);
std::optional<Url> parse_url(const std::string& url);
/// 127.0.0.0/8, [::1], localhost.
bool is_loopback_host(const std::string& host);
/// A Location value that names no scheme and no host (followed by HEAD requests, as
/// huggingface_hub follows only relative redirects there).
bool is_relative_reference(const std::string& location);

/// Where requests may go and where the token may go.
struct TransportPolicy {
    std::string token;                 // bearer token; "" = none
    std::string token_origin;          // Url::origin() the token is sent to (the hub endpoint)
    bool allow_http_loopback = false;  // http:// to loopback hosts (the endpoint itself is one)
    bool allow_http = false;           // http:// anywhere (explicit opt-in)
    /// "" when `u` may be requested, else why not.
    std::string refusal(const Url& u) const;
};

enum class Follow { none, relative, all };

struct HttpRequest {
    std::string method = "GET";            // GET | HEAD
    std::string url;
    std::vector<std::string> headers;      // "Name: value" (never Authorization: the policy adds it)
    const TransportPolicy* policy = nullptr;  // required
    Follow follow = Follow::none;          // relative: only Locations without scheme and host
    long connect_timeout_s = 10;
    long stall_timeout_s = 60;
    /// Most 2xx body bytes accepted; one more aborts the transfer with `overflow` set.
    uint64_t max_body = UINT64_MAX;
    /// Body bytes of a 2xx response; `status` is the final status. Return false to abort.
    std::function<bool(const char* data, size_t n, long status)> sink;
    /// Called while the body arrives: bytes received in this request and its expected total (0 = unknown).
    std::function<void(uint64_t now, uint64_t total)> progress;
};

struct HttpResponse {
    long status = 0;                                  // 0 = no HTTP response at all
    std::string url;                                  // the last hop's URL
    std::map<std::string, std::string> headers;       // of the last response, names lowercased
    std::string body;                                 // non-2xx bodies (capped) or 2xx without sink
    uint64_t body_bytes = 0;                          // 2xx bytes given to the sink
    int redirects = 0;                                // hops followed
    bool transport_error = false;                     // curl failed (connect, reset, timeout, ...): worth a retry
    bool overflow = false;                            // the 2xx body went past max_body
    std::string refused;                              // a policy or limit refused the exchange (not retried)
    std::string error;                                // curl's message, or `refused`
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

/// Collects the header lines of one request as libcurl hands them over: a status line
/// ("HTTP/...") starts a new response (redirect, 1xx) and clears the previous one's headers.
class HeaderBlock {
public:
    /// One raw line (CRLF included or not). False once the request's header bytes pass the limit.
    bool feed(const char* data, size_t n);
    long status() const { return m_status; }
    const std::map<std::string, std::string>& headers() const { return m_headers; }
    size_t bytes() const { return m_bytes; }

private:
    long m_status = 0;
    size_t m_bytes = 0;
    std::map<std::string, std::string> m_headers;
};

/// One request, following redirects as `req.follow` says, each hop checked by the policy.
HttpResponse http_perform(const HttpRequest& req);

/// Percent-encodes `s` (RFC 3986 unreserved kept; '/' kept when keep_slash).
std::string url_quote(const std::string& s, bool keep_slash);

/// A byte count from a header: decimal digits only, at most 18 of them; nullopt otherwise.
std::optional<uint64_t> parse_length(const std::string& v);

/// "bytes START-END/TOTAL" (TOTAL may be "*"): the numbers, nullopt when malformed.
struct ContentRange {
    uint64_t start = 0, end = 0;
    std::optional<uint64_t> total;
};
std::optional<ContentRange> parse_content_range(const std::string& v);

}  // namespace rb::hub
