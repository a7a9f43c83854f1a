#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace rb::hub {
namespace {

struct State {
    const HttpRequest* req;
    HttpResponse* resp;
    bool aborted = false;
};

size_t on_header(char* buf, size_t size, size_t n, void* ud) {
    auto* st = static_cast<State*>(ud);
    std::string line(buf, size * n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (redirect, 100-continue): keep the last one
        st->resp->headers.clear();
        auto sp = line.find(' ');
        st->resp->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
        return size * n;
    }
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        size_t v = colon + 1;
        while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) v++;
        st->resp->headers[name] = line.substr(v);
    }
    return size * n;
}

size_t on_body(char* buf, size_t size, size_t n, void* ud) {
    auto* st = static_cast<State*>(ud);
    size_t bytes = size * n;
    long status = st->resp->status;
    if (status >= 200 && status < 300 && st->req->sink) {
        if (!st->req->sink(buf, bytes, status)) {
            st->aborted = true;
            return 0;
        }
        st->resp->body_bytes += bytes;
    } else if (st->resp->body.size() < (1u << 16)) {
        st->resp->body.append(buf, std::min(bytes, (1u << 16) - st->resp->body.size()));
    }
    return bytes;
}

int on_progress(void* ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
    auto* st = static_cast<State*>(ud);
    if (st->req->progress && st->resp->status >= 200 && st->resp->status < 300)
        st->req->progress(uint64_t(dlnow), uint64_t(dltotal));
    return 0;
}

}  // namespace

HttpResponse http_perform(const HttpRequest& req) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    HttpResponse resp;
    State st{&req, &resp};
    CURL* c = curl_easy_init();
    if (!c) {
        resp.transport_error = true;
        resp.error = "curl_easy_init failed";
        return resp;
    }
    curl_slist* hdrs = nullptr;
    for (const auto& h : req.headers) hdrs = curl_slist_append(hdrs, h.c_str());
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ropebench/" ROPEBENCH_VERSION " (libcurl)");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    // Custom Authorization headers are not sent to another host after a redirect (curl >= 7.58).
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (req.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && !st.aborted) {
        resp.transport_error = true;
        resp.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    } else if (st.aborted) {
        resp.transport_error = true;
        resp.error = "transfer aborted";
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return resp;
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

}  // namespace rb::hub
