// Element conversions to float32 for the stored types (safetensors F32/F16/BF16, GGUF
// F32/F16/BF16/Q8_0). All reads are little-endian and unaligned-safe.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rb {

/// IEEE half -> float, exact (subnormals, inf and NaN included).
float f16_to_f32(uint16_t h);
/// bfloat16 -> float, exact (the upper 16 bits of a float).
float bf16_to_f32(uint16_t b);
/// float -> IEEE half, round to nearest even (test helper / writers).
uint16_t f32_to_f16(float f);
/// float -> bfloat16, round to nearest even (NaN kept quiet).
uint16_t f32_to_bf16(float f);

/// GGUF Q8_0: blocks of 32 values, each {f16 scale d; int8 q[32]} (34 bytes); x = d * q.
constexpr size_t k_q8_0_block = 32;
constexpr size_t k_q8_0_block_bytes = 34;

/// Converts `n` elements at `src` (stored as `dtype_bytes`-wide values of the given kind)
/// to float32 in `dst`. For q8_0, `n` must be a multiple of 32 (callers validate shapes).
void convert_f16(const uint8_t* src, size_t n, float* dst);
void convert_bf16(const uint8_t* src, size_t n, float* dst);
void convert_f32(const uint8_t* src, size_t n, float* dst);
void convert_q8_0(const uint8_t* src, size_t n, float* dst);

}  // namespace rb
