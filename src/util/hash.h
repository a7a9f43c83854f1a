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

}  // namespace rb
