#include "formats/dtype_convert.h"

#include <cmath>
#include <cstring>

namespace rb {

float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            // Subnormal half: mant * 2^-24, exactly representable as a normal float.
            float v = std::ldexp(static_cast<float>(mant), -24);
            return sign ? -v : v;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_f32(uint16_t b) {
    uint32_t bits = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
    const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t f32_to_f16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u;  // NaN
    if (abs >= 0x477ff000u) return sign | 0x7c00u; // rounds to >= 65520 -> inf
    if (abs < 0x38800000u) {                       // below the smallest normal half (2^-14)
        // Subnormal or zero: value / 2^-24 rounded to nearest even.
        float a;
        std::memcpy(&a, &abs, 4);
        float q = std::nearbyint(a * 16777216.0f);  // exact scaling by 2^24; default rounding = even
        return sign | static_cast<uint16_t>(q);
    }
    uint32_t mant = abs & 0x7fffffu;
    uint32_t exp = (abs >> 23) - 112u;
    uint32_t h = (exp << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carries into exponent correctly
    return sign | static_cast<uint16_t>(h);
}

static inline uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void convert_f32(const uint8_t* src, size_t n, float* dst) { std::memcpy(dst, src, n * 4); }

void convert_f16(const uint8_t* src, size_t n, float* dst) {
    for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(src + 2 * i));
}

void convert_bf16(const uint8_t* src, size_t n, float* dst) {
    for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
}

void convert_q8_0(const uint8_t* src, size_t n, float* dst) {
    const size_t blocks = n / k_q8_0_block;
    for (size_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = src + b * k_q8_0_block_bytes;
        const float d = f16_to_f32(load_u16(blk));
        for (size_t j = 0; j < k_q8_0_block; ++j)
            dst[b * k_q8_0_block + j] = d * static_cast<float>(static_cast<int8_t>(blk[2 + j]));
    }
}

}  // namespace rb
