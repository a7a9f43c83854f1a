// Minimal libcurl wrapper for the hub client (internal to rb_hub).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace rb::hub {

struct HttpRequest {
    std::string method = "GET";            // GET | HEAD
    std::string url;
    std::vector<std::string> headers;      // "Name: value"
    bool follow_redirects = false;
    long connect_timeout_s = 10;
    long stall_timeout_s = 60;
    /// Body bytes of a 2xx response; `status` is the final status. Return false to abort.
    std::function<bool(const char* data, size_t n, long status)> sink;
    /// Called while the body arrives: bytes received in this request and its expected total (0 = unknown).
    std::function<void(uint64_t now, uint64_t total)> progress;
};

struct HttpResponse {
    long status = 0;                                  // 0 = no HTTP response at all
    std::map<std::string, std::string> headers;       // of the last response, names lowercased
    std::string body;                                 // non-2xx bodies (capped) or 2xx without sink
    uint64_t body_bytes = 0;                          // 2xx bytes given to the sink
    bool transport_error = false;                     // curl failed (connect, reset, timeout, ...)
    std::string error;                                // curl's message
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

HttpResponse http_perform(const HttpRequest& req);

/// Percent-encodes `s` (RFC 3986 unreserved kept; '/' kept when keep_slash).
std::string url_quote(const std::string& s, bool keep_slash);

}  // namespace rb::hub
