// git blob ids, to check the hub's etag of small files: a file stored in git (not LFS) has
// as etag sha1("blob <size>\0" + content). The SHA-1 itself is util/hash.h's.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace rb::hub {

/// git's blob id of `data`: sha1("blob " + size + "\0" + data), as `git hash-object` prints it.
std::string git_blob_sha1(std::string_view data);
/// git's blob id of a file's bytes (streamed); throws Error naming the path.
std::string git_blob_sha1_file(const std::string& path);

}  // namespace rb::hub
