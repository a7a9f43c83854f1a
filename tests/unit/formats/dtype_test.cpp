// f16 / bf16 / Q8_0 conversions: exact expected values computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/test_util.h"
#include "formats/checkpoint.h"
#include "formats/dtype_convert.h"
#include "formats_writers.h"

using namespace rb;

TEST(DType, F16Decode) {
    EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
    EXPECT_EQ(f16_to_f32(0xC100), -2.5f);
    EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));   // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x03FF), std::ldexp(1023.0f, -24)); // largest subnormal
    EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));   // smallest normal
    EXPECT_TRUE(std::isinf(f16_to_f32(0x7C00)));
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
    EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(DType, F16EncodeRoundsToNearestEven) {
    EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);            // 0.0999755859375
    EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3C00);  // tie -> even (1.0)
    EXPECT_EQ(f32_to_f16(1.0f + 0x3p-11f), 0x3C02);  // tie -> even (1 + 2^-9)
    EXPECT_EQ(f32_to_f16(3e-8f), 0x0001);            // subnormal, rounds up
    EXPECT_EQ(f32_to_f16(1e-8f), 0x0000);            // below half the smallest subnormal
    EXPECT_EQ(f32_to_f16(70000.0f), 0x7C00);         // overflow -> inf
    EXPECT_EQ(f32_to_f16(-65504.0f), 0xFBFF);
}

TEST(DType, Bf16) {
    EXPECT_EQ(f32_to_bf16(0.1f), 0x3DCD);
    EXPECT_EQ(bf16_to_f32(0x3DCD), 0.10009765625f);
    EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);  // tie -> even
    EXPECT_EQ(f32_to_bf16(1.0f + 0x3p-8f), 0x3F82);  // tie -> even
    EXPECT_EQ(bf16_to_f32(0xC049), -3.140625f);
}

namespace {
// A one-tensor safetensors file whose values are `vals` stored as `dtype`.
std::vector<float> roundtrip(const std::string& dtype, const std::vector<float>& vals) {
    std::string bytes;
    for (float v : vals) test::put_u16(bytes, dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v));
    const std::string file = test::make_safetensors({{"w", dtype, {int64_t(vals.size())}, bytes}});
    auto ck = open_safetensors_bytes(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem.safetensors",
                                     ModelConfig{});
    EXPECT_EQ(ck->tensors().at(0).dtype, dtype == "F16" ? DType::f16 : DType::bf16);
    EXPECT_EQ(ck->weight_bytes(), vals.size() * 2);
    return ck->load_f32("w", {int64_t(vals.size())});
}
}  // namespace

TEST(DType, SafetensorsF16AndBf16Load) {
    const std::vector<float> in = {1.0f, -2.5f, 0.1f, 65504.0f, 3e-8f, 1.0f + 0x3p-11f};
    const std::vector<float> want_f16 = {1.0f, -2.5f, 0.0999755859375f, 65504.0f, 0x1p-24f, 1.001953125f};
    auto got = roundtrip("F16", in);
    ASSERT_EQ(got.size(), want_f16.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want_f16[i]) << "index " << i;

    const std::vector<float> in_b = {1.0f, 0.1f, 1.0f + 0x3p-8f, -3.140625f, 65504.0f};
    const std::vector<float> want_b = {1.0f, 0.10009765625f, 1.015625f, -3.140625f, 65536.0f};
    auto got_b = roundtrip("BF16", in_b);
    ASSERT_EQ(got_b.size(), want_b.size());
    for (size_t i = 0; i < got_b.size(); ++i) EXPECT_EQ(got_b[i], want_b[i]) << "index " << i;
}

TEST(DType, GgufQ8_0Decode) {
    // token_embd: GGUF dims [32, 2] -> PyTorch [2, 32]: one Q8_0 block per row.
    std::string blocks;
    test::put_u16(blocks, 0x3800);  // d = 0.5
    for (int j = 0; j < 32; ++j) blocks.push_back(char(int8_t(j - 16)));
    test::put_u16(blocks, 0x3400);  // d = 0.25
    for (int j = 0; j < 32; ++j) blocks.push_back(char(int8_t(j == 0 ? -128 : (j % 2 ? -4 * j : 4 * j))));
    test::GgufWriter w;
    w.llama_keys();
    w.tensor("token_embd.weight", 8, {32, 2}, blocks);
    const std::string file = w.build();
    auto ck = open_gguf_bytes(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "q8.gguf");
    ASSERT_EQ(ck->tensors().size(), 1u);
    EXPECT_EQ(ck->tensors()[0].dtype, DType::q8_0);
    EXPECT_EQ(ck->tensors()[0].shape, (std::vector<int64_t>{2, 32}));
    EXPECT_EQ(ck->weight_bytes(), 68u);
    auto v = ck->load_f32("model.embed_tokens.weight", {2, 32});
    ASSERT_EQ(v.size(), 64u);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(v[j], 0.5f * float(j - 16)) << "index " << j;
    EXPECT_EQ(v[32], -32.0f);  // -128 * 0.25
    for (int j = 1; j < 32; ++j) EXPECT_EQ(v[32 + j], 0.25f * float(j % 2 ? -4 * j : 4 * j)) << "index " << 32 + j;
}
