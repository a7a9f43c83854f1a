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

void convert_q4_0(const uint8_t* src, size_t n, float* dst) {
    for (size_t b = 0; b < n / k_q4_0_block; ++b) {
        const uint8_t* blk = src + b * k_q4_0_block_bytes;
        const float d = f16_to_f32(load_u16(blk));
        float* y = dst + b * k_q4_0_block;
        for (size_t j = 0; j < 16; ++j) {
            y[j] = static_cast<float>((blk[2 + j] & 0x0F) - 8) * d;
            y[j + 16] = static_cast<float>((blk[2 + j] >> 4) - 8) * d;
        }
    }
}

namespace {

// The 6-bit scale and min of sub-block s (0..7) of a Q4_K/Q5_K super-block.
void scale_min_k4(int s, const uint8_t* q, int& sc, int& m) {
    if (s < 4) {
        sc = q[s] & 63;
        m = q[s + 4] & 63;
    } else {
        sc = (q[s + 4] & 0x0F) | ((q[s - 4] >> 6) << 4);
        m = (q[s + 4] >> 4) | ((q[s] >> 6) << 4);
    }
}

// Q4_K (qh == nullptr) and Q5_K share the scale layout and the element order.
void convert_k4_k5(const uint8_t* blk, const uint8_t* scales, const uint8_t* qh, const uint8_t* qs, float* y) {
    const float d = f16_to_f32(load_u16(blk));
    const float dmin = f16_to_f32(load_u16(blk + 2));
    for (int c = 0; c < 4; ++c) {  // 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high)
        int sc1, m1, sc2, m2;
        scale_min_k4(2 * c, scales, sc1, m1);
        scale_min_k4(2 * c + 1, scales, sc2, m2);
        const float d1 = d * static_cast<float>(sc1), mm1 = dmin * static_cast<float>(m1);
        const float d2 = d * static_cast<float>(sc2), mm2 = dmin * static_cast<float>(m2);
        const uint8_t* q = qs + 32 * c;
        for (int l = 0; l < 32; ++l) {
            int lo = q[l] & 0x0F, hi = q[l] >> 4;
            if (qh) {
                lo += (qh[l] >> (2 * c)) & 1 ? 16 : 0;
                hi += (qh[l] >> (2 * c + 1)) & 1 ? 16 : 0;
            }
            y[64 * c + l] = d1 * static_cast<float>(lo) - mm1;
            y[64 * c + 32 + l] = d2 * static_cast<float>(hi) - mm2;
        }
    }
}

}  // namespace

void convert_q4_k(const uint8_t* src, size_t n, float* dst) {
    for (size_t b = 0; b < n / k_qk_k; ++b) {
        const uint8_t* blk = src + b * k_q4_k_block_bytes;
        convert_k4_k5(blk, blk + 4, nullptr, blk + 16, dst + b * k_qk_k);
    }
}

void convert_q5_k(const uint8_t* src, size_t n, float* dst) {
    for (size_t b = 0; b < n / k_qk_k; ++b) {
        const uint8_t* blk = src + b * k_q5_k_block_bytes;
        convert_k4_k5(blk, blk + 4, blk + 16, blk + 48, dst + b * k_qk_k);
    }
}

void convert_q6_k(const uint8_t* src, size_t n, float* dst) {
    for (size_t b = 0; b < n / k_qk_k; ++b) {
        const uint8_t* blk = src + b * k_q6_k_block_bytes;
        const float d = f16_to_f32(load_u16(blk + 208));
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = blk + 64 * h;
            const uint8_t* qh = blk + 128 + 32 * h;
            const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * h);
            float* y = dst + b * k_qk_k + 128 * h;
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
                y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
                y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
                y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
            }
        }
    }
}

}  // namespace rb
