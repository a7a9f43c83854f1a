// Element conversions to float32 for the stored types (safetensors F32/F16/BF16, GGUF
// F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K). All reads are little-endian and unaligned-safe.
// The GGUF block layouts are ggml's (ggml-common.h); each dequantiser computes exactly
// ggml's float expression, so the values equal llama.cpp's dequantised weights bit for bit.
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

/// GGUF Q4_0: blocks of 32, {f16 d; u8 qs[16]} (18 bytes); element j < 16 is the low nibble
/// of qs[j], element j + 16 its high nibble; x = d * (nibble - 8).
constexpr size_t k_q4_0_block = 32;
constexpr size_t k_q4_0_block_bytes = 18;

/// K-quants: super-blocks of 256 elements.
constexpr size_t k_qk_k = 256;
/// Q4_K: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]} (144 bytes). Eight sub-blocks of 32
/// with 6-bit scale sc_s and min m_s packed in `scales` (s < 4: sc = scales[s] & 63,
/// m = scales[s+4] & 63; s >= 4: sc = (scales[s+4] & 15) | (scales[s-4] >> 6) << 4,
/// m = (scales[s+4] >> 4) | (scales[s] >> 6) << 4). Element 64c + l (l < 32) is the low
/// nibble of qs[32c + l] in sub-block 2c, element 64c + 32 + l its high nibble in sub-block
/// 2c+1; x = (d * sc) * q - (dmin * m).
constexpr size_t k_q4_k_block_bytes = 144;
/// Q5_K: {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]} (176 bytes): Q4_K plus a
/// fifth bit: element 64c + l takes bit 2c of qh[l] (+16), element 64c + 32 + l bit 2c+1.
constexpr size_t k_q5_k_block_bytes = 176;
/// Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} (210 bytes). For each half h (128
/// elements) and l < 32, with ql' = ql + 64h, qh' = qh + 32h, sc' = scales + 8h:
///   q[l]      = (ql'[l] & 15)    | ((qh'[l] >> 0) & 3) << 4,  scale sc'[l/16]
///   q[l + 32] = (ql'[l+32] & 15) | ((qh'[l] >> 2) & 3) << 4,  scale sc'[l/16 + 2]
///   q[l + 64] = (ql'[l] >> 4)    | ((qh'[l] >> 4) & 3) << 4,  scale sc'[l/16 + 4]
///   q[l + 96] = (ql'[l+32] >> 4) | ((qh'[l] >> 6) & 3) << 4,  scale sc'[l/16 + 6]
/// x = d * scale * (q - 32).
constexpr size_t k_q6_k_block_bytes = 210;

/// Converts `n` elements at `src` (stored as `dtype_bytes`-wide values of the given kind)
/// to float32 in `dst`. For block formats, `n` must be a multiple of the block size (callers validate shapes).
void convert_f16(const uint8_t* src, size_t n, float* dst);
void convert_bf16(const uint8_t* src, size_t n, float* dst);
void convert_f32(const uint8_t* src, size_t n, float* dst);
void convert_q8_0(const uint8_t* src, size_t n, float* dst);
void convert_q4_0(const uint8_t* src, size_t n, float* dst);
void convert_q4_k(const uint8_t* src, size_t n, float* dst);
void convert_q5_k(const uint8_t* src, size_t n, float* dst);
void convert_q6_k(const uint8_t* src, size_t n, float* dst);

}  // namespace rb
