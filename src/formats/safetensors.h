// safetensors parsing from bytes (the file is mapped by the caller). Layout: u64 LE header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {...}}, then the data section; offsets are relative to the data section.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/checkpoint.h"

namespace rb {

struct SafetensorsTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;  // PyTorch order
    uint64_t begin = 0, end = 0; // byte range within the data section
};

struct SafetensorsHeader {
    uint64_t data_start = 0;     // 8 + header length
    std::vector<SafetensorsTensor> tensors;  // in header order
};

/// Validates and parses a whole safetensors file held in memory. Throws Error naming `file`
/// and the tensor/field: header length past the end, invalid JSON, unsupported dtype, bad
/// shape, offsets outside the data section, size != prod(shape) * element size, overlaps.
SafetensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& file);

/// Bytes per element of a dense dtype (f32 4, f16/bf16 2); 0 for the GGUF block formats.
size_t dtype_size(DType t);

}  // namespace rb
