// Feeds bytes to the hub client's response-header handling as libcurl would hand them over
// (one call per line): HeaderBlock, then parse_file_metadata, the Content-Range and length
// parsers and the redirect resolution and policy. Besides crashes and sanitizer reports, it
// traps when an accepted answer could name a blob outside blobs/ or a Location the policy
// should have refused.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "hub/http.h"
#include "hub/hub.h"
#include "util/error.h"

namespace {

bool is_hex40(const std::string& s) {
    if (s.size() != 40) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace rb::hub;
    const std::string in(reinterpret_cast<const char*>(data), size);
    HeaderBlock block;
    size_t start = 0;
    while (start < in.size()) {
        size_t nl = in.find('\n', start);
        size_t end = nl == std::string::npos ? in.size() : nl + 1;
        if (!block.feed(in.data() + start, end - start)) break;
        start = end;
    }
    const long status = block.status();
    if (status != 0 && (status < 100 || status > 599)) __builtin_trap();
    const std::string base = "http://127.0.0.1:8080/org/name/resolve/main/model.safetensors";
    for (const auto& [name, value] : block.headers()) {
        if (name == "content-range")
            if (auto cr = parse_content_range(value); cr && (cr->start > cr->end || (cr->total && *cr->total <= cr->end)))
                __builtin_trap();
        if (name == "content-length" || name == "x-linked-size") (void)parse_length(value);
        if (name == "location") {
            if (auto u = resolve_url(base, value)) {
                TransportPolicy p;
                p.allow_http_loopback = true;
                if (p.refusal(*u).empty() && u->scheme != "https" && !(u->scheme == "http" && is_loopback_host(u->host)))
                    __builtin_trap();
            }
            (void)is_relative_reference(value);
        }
    }
    try {
        FileMetadata m = parse_file_metadata(block.headers(), status, base, "fuzz", "http://127.0.0.1:8080");
        if (!is_hex40(m.commit) || !valid_etag(m.etag)) __builtin_trap();
        namespace fs = std::filesystem;
        const fs::path blobs = "/cache/models--org--name/blobs";
        const fs::path blob = (blobs / m.etag).lexically_normal();
        if (blob.parent_path() != blobs) __builtin_trap();
        const fs::path snap = ("/cache/models--org--name/snapshots" / fs::path(m.commit)).lexically_normal();
        if (snap.parent_path() != "/cache/models--org--name/snapshots") __builtin_trap();
        if (!resolve_url("", m.location)) __builtin_trap();
    } catch (const rb::Error&) {
    }
    return 0;
}
