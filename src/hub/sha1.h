// SHA-1 (FIPS 180-4), used only to check the hub's etag of small files: a file stored in
// git (not LFS) has as etag its git blob id, sha1("blob <size>\0" + content).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace rb::hub {

/// SHA-1 of `data` as 40 lowercase hex digits.
std::string sha1_hex(std::string_view data);
/// git's blob id of `data`: sha1("blob " + size + "\0" + data), as `git hash-object` prints it.
std::string git_blob_sha1(std::string_view data);
/// git's blob id of a file's bytes (streamed); throws Error naming the path.
std::string git_blob_sha1_file(const std::string& path);

}  // namespace rb::hub
