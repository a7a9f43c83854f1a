// Content hashes for identities (data files, configs, experiment keys).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace rb {

/// SHA-256 of `data` as 64 lowercase hex digits (FIPS 180-4).
std::string sha256_hex(std::string_view data);
/// SHA-256 of a file's bytes (streamed); throws Error naming the path.
std::string sha256_file(const std::string& path);
/// SHA-1 of `data` as 40 lowercase hex digits (FIPS 180-4).
std::string sha1_hex(std::string_view data);
/// SHA-1 of `prefix` followed by a file's bytes (streamed); `*bytes` gets how many file bytes
/// were read. Throws Error naming the path.
std::string sha1_file(const std::string& path, std::string_view prefix = {}, uint64_t* bytes = nullptr);

}  // namespace rb
