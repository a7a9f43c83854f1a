// GGUF block quantisations Q4_0, Q4_K, Q5_K, Q6_K:
//  - hand-built blocks decoded against values computed element by element from the format's
//    definition (ggml-common.h block layouts; written here per element, not per loop);
//  - a quantise -> dequantise round trip through a reference quantiser written here, with
//    each format's error bound: half a quantisation step of the element's sub-block;
//  - the formats read through a GGUF file (dtype, bytes, the file's quantisation label).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "formats/dtype_convert.h"
#include "formats/gguf.h"
#include "formats_writers.h"

using namespace rb;

namespace {

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> b(n);
    std::mt19937 rng(seed);
    for (auto& x : b) x = uint8_t(rng());
    return b;
}
void set_f16(std::vector<uint8_t>& b, size_t at, float v) {
    const uint16_t h = f32_to_f16(v);
    b[at] = uint8_t(h & 0xFF);
    b[at + 1] = uint8_t(h >> 8);
}
int bits(int byte, int lo, int count) { return (byte >> lo) & ((1 << count) - 1); }

// 6-bit scale (what = 0) or min (what = 1) of sub-block s from the 12 packed bytes, per the
// definition: s < 4 -> low 6 bits of byte s (scale) / s+4 (min); s >= 4 -> low nibble (scale)
// or high nibble (min) of byte s+4, topped with the 2 high bits of byte s-4 (scale) / s (min).
int k4_field(const uint8_t* sc, int s, int what) {
    if (s < 4) return bits(sc[s + 4 * what], 0, 6);
    const int low4 = what == 0 ? bits(sc[s + 4], 0, 4) : bits(sc[s + 4], 4, 4);
    const int high2 = bits(sc[what == 0 ? s - 4 : s], 6, 2);
    return low4 | (high2 << 4);
}

std::vector<float> decode(DType t, const std::vector<uint8_t>& b, size_t n) {
    std::vector<float> y(n);
    switch (t) {
        case DType::q4_0: convert_q4_0(b.data(), n, y.data()); break;
        case DType::q4_k: convert_q4_k(b.data(), n, y.data()); break;
        case DType::q5_k: convert_q5_k(b.data(), n, y.data()); break;
        case DType::q6_k: convert_q6_k(b.data(), n, y.data()); break;
        default: ADD_FAILURE() << "not a block type";
    }
    return y;
}

}  // namespace

TEST(Quant, Q4_0HandBuiltBlocks) {
    auto b = pattern(2 * k_q4_0_block_bytes, 1);
    set_f16(b, 0, 0.75f);
    set_f16(b, 18, -0.125f);
    const auto y = decode(DType::q4_0, b, 64);
    for (int i = 0; i < 64; ++i) {
        const int blk = i / 32, j = i % 32;
        const float d = blk == 0 ? 0.75f : -0.125f;
        const int byte = b[blk * 18 + 2 + j % 16];
        const int q = j < 16 ? bits(byte, 0, 4) : bits(byte, 4, 4);
        EXPECT_EQ(y[i], float(q - 8) * d) << "element " << i;
    }
}

TEST(Quant, Q4_KAndQ5_KHandBuiltBlocks) {
    for (DType t : {DType::q4_k, DType::q5_k}) {
        const bool five = t == DType::q5_k;
        const size_t bb = five ? k_q5_k_block_bytes : k_q4_k_block_bytes;
        auto b = pattern(2 * bb, five ? 3 : 2);  // random scale bytes: every packing path
        for (int blk = 0; blk < 2; ++blk) {
            set_f16(b, blk * bb, blk ? 0.0625f : 0.015625f);     // d
            set_f16(b, blk * bb + 2, blk ? 0.25f : 0.0078125f);  // dmin
        }
        const auto y = decode(t, b, 512);
        for (int i = 0; i < 512; ++i) {
            const uint8_t* blk = b.data() + (i / 256) * bb;
            const int e = i % 256, s = e / 32, c = e / 64, l = e % 32;
            const float d = f16_to_f32(uint16_t(blk[0] | blk[1] << 8));
            const float dmin = f16_to_f32(uint16_t(blk[2] | blk[3] << 8));
            const uint8_t* qs = blk + (five ? 48 : 16);
            int q = bits(qs[32 * c + l], s % 2 ? 4 : 0, 4);
            if (five) q |= bits(blk[16 + l], s, 1) << 4;  // bit s of qh[l]
            const float want = d * float(k4_field(blk + 4, s, 0)) * float(q) - dmin * float(k4_field(blk + 4, s, 1));
            EXPECT_EQ(y[i], want) << dtype_name(t) << " element " << i;
        }
    }
}

TEST(Quant, Q6_KHandBuiltBlocks) {
    auto b = pattern(2 * k_q6_k_block_bytes, 4);
    set_f16(b, 208, 0.01f);
    set_f16(b, 210 + 208, -0.5f);
    const auto y = decode(DType::q6_k, b, 512);
    for (int i = 0; i < 512; ++i) {
        const uint8_t* blk = b.data() + (i / 256) * k_q6_k_block_bytes;
        const int e = i % 256, h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        // Quarter 0/1 take the low nibble of ql[l] / ql[l+32], quarters 2/3 the high nibbles;
        // the top 2 bits come from qh[l] at bit 2*quarter; sub-block of 16 = e / 16.
        const int ql = blk[64 * h + l + (quarter % 2) * 32];
        const int low = bits(ql, quarter < 2 ? 0 : 4, 4);
        const int high = bits(blk[128 + 32 * h + l], 2 * quarter, 2);
        const int q = (low | high << 4) - 32;
        const float d = f16_to_f32(uint16_t(blk[208] | blk[209] << 8));
        const float sc = float(int8_t(blk[192 + e / 16]));
        EXPECT_EQ(y[i], d * sc * float(q)) << "element " << i;
    }
}

namespace {

// f16 rounded up (never below v, v >= 0): the quantisers below need scales at least as
// large as asked so that every element stays inside the representable range.
uint16_t f16_up(float v) {
    uint16_t h = f32_to_f16(v);
    if (f16_to_f32(h) < v) ++h;
    return h;
}
void put16(std::vector<uint8_t>& b, size_t at, uint16_t h) {
    b[at] = uint8_t(h & 0xFF);
    b[at + 1] = uint8_t(h >> 8);
}

// Reference quantisers: scales rounded up, elements rounded to nearest, so |x - x^| <= step/2
// where step is the element's sub-block scale; `step` receives it per element.
std::vector<uint8_t> quantise_q4_0(const std::vector<float>& x, std::vector<float>& step) {
    std::vector<uint8_t> b(x.size() / 32 * 18);
    for (size_t blk = 0; blk < x.size() / 32; ++blk) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
        const uint16_t dh = f16_up(amax / 7);  // [-8, 7] * d covers [-amax, amax]
        const float d = f16_to_f32(dh);
        put16(b, blk * 18, dh);
        for (int j = 0; j < 32; ++j) {
            const int q = d > 0 ? std::clamp(int(std::lround(x[blk * 32 + j] / d)) + 8, 0, 15) : 8;
            uint8_t& byte = b[blk * 18 + 2 + j % 16];
            byte |= uint8_t(j < 16 ? q : q << 4);
            step[blk * 32 + j] = d;
        }
    }
    return b;
}

// Q4_K (levels 15) and Q5_K (levels 31): per sub-block of 32, x = D*q - M with M = dmin*m >=
// -min(x, 0) and D = d*sc >= (max(x) + M) / levels, so [min x, max x] lies in [-M, levels*D - M].
std::vector<uint8_t> quantise_k45(const std::vector<float>& x, bool five, std::vector<float>& step) {
    const int levels = five ? 31 : 15;
    const size_t bb = five ? k_q5_k_block_bytes : k_q4_k_block_bytes;
    std::vector<uint8_t> b(x.size() / 256 * bb);
    for (size_t blk = 0; blk < x.size() / 256; ++blk) {
        const float* xs = x.data() + blk * 256;
        uint8_t* out = b.data() + blk * bb;
        float mins[8], maxs[8];
        for (int s = 0; s < 8; ++s) {
            mins[s] = 0;
            maxs[s] = -1e30f;
            for (int l = 0; l < 32; ++l) mins[s] = std::min(mins[s], xs[32 * s + l]), maxs[s] = std::max(maxs[s], xs[32 * s + l]);
        }
        float max_min = 0;
        for (float m : mins) max_min = std::max(max_min, -m);
        const uint16_t dminh = f16_up(max_min / 63);
        const float dmin = f16_to_f32(dminh);
        int m6[8], sc6[8];
        float M[8], want_scale[8], max_scale = 0;
        for (int s = 0; s < 8; ++s) {
            m6[s] = dmin > 0 ? std::min(63, int(std::ceil(-mins[s] / dmin))) : 0;
            M[s] = dmin * float(m6[s]);
            want_scale[s] = (maxs[s] + M[s]) / float(levels) * (1 + 1e-6f);
            max_scale = std::max(max_scale, want_scale[s]);
        }
        const uint16_t dh = f16_up(max_scale / 63);
        const float d = f16_to_f32(dh);
        for (int s = 0; s < 8; ++s) sc6[s] = d > 0 ? std::min(63, int(std::ceil(want_scale[s] / d))) : 0;
        put16(b, blk * bb, dh);
        put16(b, blk * bb + 2, dminh);
        uint8_t* sc = out + 4;
        for (int s = 0; s < 4; ++s) {
            sc[s] = uint8_t(sc6[s] | (sc6[s + 4] >> 4) << 6);
            sc[s + 4] = uint8_t(m6[s] | (m6[s + 4] >> 4) << 6);
            sc[s + 8] = uint8_t((sc6[s + 4] & 15) | (m6[s + 4] & 15) << 4);
        }
        uint8_t* qh = out + 16;
        uint8_t* qs = out + (five ? 48 : 16);
        for (int s = 0; s < 8; ++s) {
            const float D = d * float(sc6[s]);
            for (int l = 0; l < 32; ++l) {
                const int q = D > 0 ? std::clamp(int(std::lround((xs[32 * s + l] + M[s]) / D)), 0, levels) : 0;
                qs[32 * (s / 2) + l] |= uint8_t((q & 15) << (s % 2 ? 4 : 0));
                if (five) qh[l] |= uint8_t((q >> 4) << s);
                step[blk * 256 + 32 * s + l] = D;
            }
        }
    }
    return b;
}

// Q6_K: per sub-block of 16, x = D*(q - 32), q - 32 in [-32, 31], D = d*sc >= amax / 31.
std::vector<uint8_t> quantise_q6_k(const std::vector<float>& x, std::vector<float>& step) {
    std::vector<uint8_t> b(x.size() / 256 * k_q6_k_block_bytes);
    for (size_t blk = 0; blk < x.size() / 256; ++blk) {
        const float* xs = x.data() + blk * 256;
        uint8_t* out = b.data() + blk * k_q6_k_block_bytes;
        float want[16], max_scale = 0;
        for (int s = 0; s < 16; ++s) {
            float amax = 0;
            for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(xs[16 * s + l]));
            want[s] = amax / 31 * (1 + 1e-6f);
            max_scale = std::max(max_scale, want[s]);
        }
        const uint16_t dh = f16_up(max_scale / 127);
        const float d = f16_to_f32(dh);
        put16(b, blk * k_q6_k_block_bytes + 208, dh);
        for (int s = 0; s < 16; ++s) {
            const int sc = d > 0 ? std::min(127, int(std::ceil(want[s] / d))) : 0;
            out[192 + s] = uint8_t(int8_t(sc));
            const float D = d * float(sc);
            for (int l = 0; l < 16; ++l) {
                const int e = 16 * s + l;
                const int q = (D > 0 ? std::clamp(int(std::lround(xs[e] / D)), -32, 31) : 0) + 32;
                const int h = e / 128, quarter = (e % 128) / 32, j = e % 32;
                out[64 * h + j + (quarter % 2) * 32] |= uint8_t((q & 15) << (quarter < 2 ? 0 : 4));
                out[128 + 32 * h + j] |= uint8_t((q >> 4) << (2 * quarter));
                step[blk * 256 + e] = D;
            }
        }
    }
    return b;
}

}  // namespace

// Bound: |x - x^| <= step/2 (round to nearest inside the range the scales were chosen to
// cover) plus float rounding of the decode expression d*sc*q - m (a few ulps of the operands,
// bounded by 1e-6 relative to the block's magnitude). The step itself is at most the format's
// nominal resolution: amax/7 (Q4_0), range/15 (Q4_K), range/31 (Q5_K), amax/31 (Q6_K), each
// widened by the 6/8-bit scale rounding; the RMS error is checked to sit near step/sqrt(12).
TEST(Quant, RoundTripWithinHalfAStep) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    std::vector<float> x(4096);
    for (auto& v : x) v = nd(rng);
    x[5] = 0.3f;    // an outlier in one block
    x[700] = -0.25f;
    for (DType t : {DType::q4_0, DType::q4_k, DType::q5_k, DType::q6_k}) {
        std::vector<float> step(x.size());
        std::vector<uint8_t> b = t == DType::q4_0   ? quantise_q4_0(x, step)
                                 : t == DType::q6_k ? quantise_q6_k(x, step)
                                                    : quantise_k45(x, t == DType::q5_k, step);
        const auto y = decode(t, b, x.size());
        double se = 0, rel_se = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            const double err = std::fabs(double(y[i]) - double(x[i]));
            ASSERT_LE(err, step[i] / 2 + 1e-6 * 0.3) << dtype_name(t) << " element " << i << " x " << x[i] << " got "
                                                     << y[i] << " step " << step[i];
            se += err * err;
            rel_se += double(step[i]) * step[i] / 12;
        }
        const double ratio = std::sqrt(se / rel_se);  // uniform rounding error: ~1
        std::printf("%s rms error %.3g = %.2f x step/sqrt(12)\n", dtype_name(t), std::sqrt(se / x.size()), ratio);
        EXPECT_GT(ratio, 0.8) << dtype_name(t);
        EXPECT_LT(ratio, 1.2) << dtype_name(t);
    }
}

TEST(Quant, ReadThroughGguf) {
    // token_embd [2, 256] in each type, plus an F32 norm: dtype, bytes and values as decoded.
    struct T {
        uint32_t id;
        DType dt;
        size_t bytes;
    };
    for (T t : {T{k_ggml_q4_0, DType::q4_0, 16 * 18}, T{k_ggml_q4_k, DType::q4_k, 2 * 144},
                T{k_ggml_q5_k, DType::q5_k, 2 * 176}, T{k_ggml_q6_k, DType::q6_k, 2 * 210}}) {
        auto raw = pattern(t.bytes, t.id);
        for (size_t at = t.dt == DType::q6_k ? 208 : 0; at < raw.size(); at += t.bytes / (t.dt == DType::q4_0 ? 16 : 2))
            set_f16(raw, at, 0.01f);  // finite scales
        if (t.dt == DType::q4_k || t.dt == DType::q5_k)
            for (size_t at = 2; at < raw.size(); at += t.bytes / 2) set_f16(raw, at, 0.02f);
        test::GgufWriter w;
        w.llama_keys();
        w.tensor("token_embd.weight", t.id, {256, 2}, std::string(raw.begin(), raw.end()));
        w.tensor("output_norm.weight", k_ggml_f32, {64}, test::f32_bytes(std::vector<float>(64, 1.0f)));
        const std::string file = w.build();
        auto ck = open_gguf_bytes(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "q.gguf");
        EXPECT_EQ(ck->tensors()[0].dtype, t.dt);
        EXPECT_EQ(ck->weight_bytes(), t.bytes + 256);
        EXPECT_EQ(quantisation(*ck), dtype_name(t.dt));
        EXPECT_EQ(ck->load_f32("model.embed_tokens.weight", {2, 256}), decode(t.dt, raw, 512));
    }
}

TEST(Quant, BlockSizeChecked) {
    test::GgufWriter w;
    w.llama_keys();
    w.tensor("token_embd.weight", k_ggml_q6_k, {128, 4}, std::string(420, '\0'));  // 128 % 256 != 0
    const std::string file = w.build();
    try {
        open_gguf_bytes(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "q.gguf");
        FAIL() << "expected an error";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("Q6_K needs the innermost dimension to be a multiple of 256, got 128"),
                  std::string::npos)
            << e.what();
    }
}
