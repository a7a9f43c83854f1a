#include "hub/sha1.h"

#include <filesystem>

#include "util/error.h"
#include "util/hash.h"

namespace rb::hub {
namespace {

std::string blob_header(uint64_t size) { return "blob " + std::to_string(size) + std::string(1, '\0'); }

}  // namespace

std::string git_blob_sha1(std::string_view data) { return sha1_hex(blob_header(data.size()) + std::string(data)); }

std::string git_blob_sha1_file(const std::string& path) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw Error("{}: cannot read file", path);
    uint64_t got = 0;
    const std::string h = sha1_file(path, blob_header(size), &got);
    if (got != size) throw Error("{}: file changed while hashing (expected {} bytes, read {})", path, size, got);
    return h;
}

}  // namespace rb::hub
