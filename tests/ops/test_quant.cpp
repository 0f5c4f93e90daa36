// ops/quant: the dtype table and known-answer tests of the reference dequantiser. Every block
// here is written byte by byte from the layout definition (ggml's block formats as stored in
// GGUF files; ops/quant.h restates them), independently of ops/quant.cpp, and the expected
// values are stated exactly: every scale is a small power of two or integer, so the products
// are exact in fp32 and EXPECT_EQ applies. The round trips of the quantisers are in
// test_quant_roundtrip.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "ops/quant.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::vector<float> dequant(DType t, const Bytes& b, std::int64_t n) {
  EXPECT_EQ(b.size(), dtype_row_bytes(t, n));
  std::vector<float> y(static_cast<std::size_t>(n), NAN);
  dequantize_row(t, b.data(), y.data(), n);
  return y;
}

// ------------------------------- the type table -------------------------------

TEST(QuantTraits, TableMatchesTheGgmlTypes) {
  struct Row { DType t; const char* name; int elems, bytes, ggml; };
  const Row rows[] = {
      {DType::kF32, "f32", 1, 4, 0},          {DType::kF16, "f16", 1, 2, 1},
      {DType::kBF16, "bf16", 1, 2, 30},       {DType::kQ8_0, "q8_0", 32, 34, 8},
      {DType::kQ8_0F, "q8_0f", 32, 36, -1},   {DType::kQ4_0, "q4_0", 32, 18, 2},
      {DType::kQ4_1, "q4_1", 32, 20, 3},      {DType::kQ4_K, "q4_k", 256, 144, 12},
      {DType::kQ5_K, "q5_k", 256, 176, 13},   {DType::kQ6_K, "q6_k", 256, 210, 14},
  };
  for (const Row& r : rows) {
    const DTypeTraits& tr = dtype_traits(r.t);
    EXPECT_EQ(tr.type, r.t);
    EXPECT_STREQ(tr.name, r.name);
    EXPECT_EQ(dtype_name(r.t), r.name);
    EXPECT_EQ(tr.block_elems, r.elems) << r.name;
    EXPECT_EQ(tr.block_bytes, r.bytes) << r.name;
    EXPECT_EQ(tr.ggml_id, r.ggml) << r.name;
    EXPECT_EQ(dtype_from_name(r.name), r.t);
    if (r.ggml >= 0) {
      EXPECT_EQ(dtype_from_ggml(static_cast<std::uint32_t>(r.ggml)), r.t);
    }
  }
}

TEST(QuantTraits, NamesAreCaseInsensitiveAndStrict) {
  EXPECT_EQ(dtype_from_name("Q4_K"), DType::kQ4_K);
  EXPECT_EQ(dtype_from_name("q4_K"), DType::kQ4_K);
  EXPECT_EQ(dtype_from_name("BF16"), DType::kBF16);
  EXPECT_EQ(dtype_from_name("Q8_0F"), DType::kQ8_0F);
  EXPECT_EQ(dtype_from_name("F32"), DType::kF32);
  for (const char* bad : {"", "q4k", "q4_k ", " q4_k", "q4_km", "q4_k_m", "f64", "q8", "int8",
                          "q5_0", "q2_k", "fp16", "q8_0ff"}) {
    EXPECT_FALSE(dtype_from_name(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(QuantTraits, UnsupportedGgmlIdsAreNullopt) {
  // q5_0 6, q5_1 7, q8_1 9, q2_K 10, q3_K 11, q8_K 15, iq* 16..23, i8..f64 24..28, 29, 31+.
  for (std::uint32_t id : {4u, 5u, 6u, 7u, 9u, 10u, 11u, 15u, 16u, 23u, 24u, 28u, 29u, 31u, 39u,
                           1000u, 0xffffffffu}) {
    EXPECT_FALSE(dtype_from_ggml(id).has_value()) << id;
  }
}

TEST(QuantTraits, UserSelectableNamesListSkipsTheInternalRepacking) {
  EXPECT_EQ(dtype_names(), "f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k");
}

TEST(QuantTraits, RowBytes) {
  EXPECT_EQ(dtype_row_bytes(DType::kF32, 7), 28u);
  EXPECT_EQ(dtype_row_bytes(DType::kF16, 7), 14u);
  EXPECT_EQ(dtype_row_bytes(DType::kBF16, 0), 0u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ8_0, 4096), 128u * 34);
  EXPECT_EQ(dtype_row_bytes(DType::kQ8_0F, 64), 72u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_0, 96), 54u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_1, 32), 20u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_K, 4096), 16u * 144);
  EXPECT_EQ(dtype_row_bytes(DType::kQ5_K, 512), 352u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ6_K, 8192), 32u * 210);
  // A 7B-sized row count in bytes does not overflow.
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_K, std::int64_t(1) << 34), (std::size_t(1) << 26) * 144);
  EXPECT_TRUE(dtype_fits(DType::kQ4_K, 0));
  EXPECT_TRUE(dtype_fits(DType::kQ4_0, 64));
  EXPECT_FALSE(dtype_fits(DType::kQ4_0, 48));
  EXPECT_FALSE(dtype_fits(DType::kQ6_K, 288));
  EXPECT_FALSE(dtype_fits(DType::kF32, -1));
}

TEST(QuantTraits, RowBytesErrorNamesTypeColsAndBlock) {
  try {
    dtype_row_bytes(DType::kQ4_K, 288);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("q4_k"), std::string::npos) << m;
    EXPECT_NE(m.find("288"), std::string::npos) << m;
    EXPECT_NE(m.find("256"), std::string::npos) << m;
  }
  try {
    dtype_row_bytes(DType::kQ8_0, 33);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("q8_0"), std::string::npos) << m;
    EXPECT_NE(m.find("33"), std::string::npos) << m;
    EXPECT_NE(m.find("32"), std::string::npos) << m;
  }
  EXPECT_THROW(dtype_row_bytes(DType::kF16, -2), Error);
}

// ------------------------------- known answers -------------------------------

TEST(QuantKnownAnswer, F32F16Bf16) {
  // f32 1.5 = 0x3fc00000, -0.0 = 0x80000000 (little-endian bytes).
  EXPECT_EQ(dequant(DType::kF32, {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0x80}, 2),
            (std::vector<float>{1.5f, -0.0f}));
  // f16: 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24 (smallest subnormal), 0x7bff = 65504,
  // 0x3555 = 0.333251953125, 0x0400 = 2^-14 (smallest normal).
  const auto h = dequant(DType::kF16, {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b, 0x55, 0x35, 0x00, 0x04}, 6);
  EXPECT_EQ(h, (std::vector<float>{1.0f, -2.0f, 0x1p-24f, 65504.0f, 0.333251953125f, 0x1p-14f}));
  // bf16: 0x3f80 = 1, 0xbfc0 = -1.5, 0x7f7f = 3.3895314e38 (largest finite), 0x0001 = 2^-133.
  const auto b = dequant(DType::kBF16, {0x80, 0x3f, 0xc0, 0xbf, 0x7f, 0x7f, 0x01, 0x00}, 4);
  EXPECT_EQ(b, (std::vector<float>{1.0f, -1.5f, 0x1.fep127f, 0x1p-133f}));
}

TEST(QuantKnownAnswer, Q8_0) {
  // { f16 d = 0.5 (0x3800); int8 qs[32] = j - 16, except qs[31] = -128 (0x80) }.
  Bytes b = {0x00, 0x38};
  for (int j = 0; j < 32; ++j) b.push_back(static_cast<std::uint8_t>(j == 31 ? 0x80 : j - 16));
  const auto y = dequant(DType::kQ8_0, b, 32);
  for (int j = 0; j < 31; ++j) EXPECT_EQ(y[j], 0.5f * (j - 16)) << j;
  EXPECT_EQ(y[0], -8.0f);
  EXPECT_EQ(y[17], 0.5f);
  EXPECT_EQ(y[31], -64.0f);
}

TEST(QuantKnownAnswer, Q8_0F) {
  // { float d = 0.25 (0x3e800000); int8 qs[32] = 3j - 50 }, then a second block with d = -2.0
  // (0xc0000000) and qs = 127, -127, 0, 1, ...
  Bytes b = {0x00, 0x00, 0x80, 0x3e};
  for (int j = 0; j < 32; ++j) b.push_back(static_cast<std::uint8_t>(3 * j - 50));
  const Bytes second = {0x00, 0x00, 0x00, 0xc0, 0x7f, 0x81, 0x00, 0x01};
  b.insert(b.end(), second.begin(), second.end());
  b.resize(72, 0);
  const auto y = dequant(DType::kQ8_0F, b, 64);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.25f * (3 * j - 50)) << j;
  EXPECT_EQ(y[0], -12.5f);
  EXPECT_EQ(y[31], 10.75f);
  EXPECT_EQ(y[32], -254.0f);
  EXPECT_EQ(y[33], 254.0f);
  EXPECT_EQ(y[34], 0.0f);
  EXPECT_EQ(y[35], -2.0f);
  for (int j = 36; j < 64; ++j) EXPECT_EQ(y[j], 0.0f);
}

TEST(QuantKnownAnswer, Q4_0) {
  // { f16 d = 2.0 (0x4000); qs[j] = j | (15 - j) << 4 }: element j = 2 (j - 8),
  // element j + 16 = 2 ((15 - j) - 8).
  Bytes b = {0x00, 0x40};
  for (int j = 0; j < 16; ++j) b.push_back(static_cast<std::uint8_t>(j | ((15 - j) << 4)));
  const auto y = dequant(DType::kQ4_0, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * (j - 8)) << j;
    EXPECT_EQ(y[j + 16], 2.0f * (7 - j)) << j;
  }
  EXPECT_EQ(y[0], -16.0f);   // low nibble 0 of qs[0]
  EXPECT_EQ(y[15], 14.0f);   // low nibble 15 of qs[15]
  EXPECT_EQ(y[16], 14.0f);   // high nibble 15 of qs[0]
  EXPECT_EQ(y[31], -16.0f);  // high nibble 0 of qs[15]
}

TEST(QuantKnownAnswer, Q4_1) {
  // { f16 d = 0.5 (0x3800); f16 m = -3.0 (0xc200); qs[j] = j | (15 - j) << 4 }.
  Bytes b = {0x00, 0x38, 0x00, 0xc2};
  for (int j = 0; j < 16; ++j) b.push_back(static_cast<std::uint8_t>(j | ((15 - j) << 4)));
  const auto y = dequant(DType::kQ4_1, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * j - 3.0f) << j;
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j) - 3.0f) << j;
  }
  EXPECT_EQ(y[0], -3.0f);
  EXPECT_EQ(y[16], 4.5f);
}

// The 6-bit scales and mins of the Q4_K / Q5_K known-answer blocks, chosen so that every one of
// the 12 bytes and both 2-bit high fields of the i >= 4 entries carry non-zero bits.
constexpr int kSc[8] = {1, 10, 37, 63, 17, 34, 51, 6};
constexpr int kMn[8] = {0, 63, 5, 22, 40, 9, 63, 32};
// Packed by hand from the get_scale_min_k4 layout:
//   bytes 0..3:  sc[i] | (sc[i+4] >> 4) << 6      bytes 4..7: mn[i] | (mn[i+4] >> 4) << 6
//   bytes 8..11: (sc[i+4] & 15) | (mn[i+4] & 15) << 4
constexpr std::uint8_t kScales12[12] = {
    0x41,  // 1  | (17 >> 4 = 1) << 6
    0x8a,  // 10 | (34 >> 4 = 2) << 6
    0xe5,  // 37 | (51 >> 4 = 3) << 6
    0x3f,  // 63 | (6 >> 4 = 0) << 6
    0x80,  // 0  | (40 >> 4 = 2) << 6
    0x3f,  // 63 | (9 >> 4 = 0) << 6
    0xc5,  // 5  | (63 >> 4 = 3) << 6
    0x96,  // 22 | (32 >> 4 = 2) << 6
    0x81,  // (17 & 15 = 1) | (40 & 15 = 8) << 4
    0x92,  // (34 & 15 = 2) | (9 & 15 = 9) << 4
    0xf3,  // (51 & 15 = 3) | (63 & 15 = 15) << 4
    0x06,  // (6 & 15 = 6)  | (32 & 15 = 0) << 4
};

// qs byte of the K-quant known-answer blocks: low nibble l & 15, high nibble 15 - (l & 15),
// varied by group so no two groups are alike.
std::uint8_t kq_byte(int g, int l) {
  const int lo = (l + 3 * g) & 15;
  return static_cast<std::uint8_t>(lo | ((15 - lo) << 4));
}

TEST(QuantKnownAnswer, Q4_KScalePackingOfAllEightSubBlocks) {
  // { f16 d = 1.0 (0x3c00); f16 dmin = 0.5 (0x3800); scales[12]; qs[128] }.
  Bytes b = {0x00, 0x3c, 0x00, 0x38};
  b.insert(b.end(), kScales12, kScales12 + 12);
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) b.push_back(kq_byte(g, l));
  }
  ASSERT_EQ(b.size(), 144u);
  const auto y = dequant(DType::kQ4_K, b, 256);
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      const int lo = kq_byte(g, l) & 15, hi = kq_byte(g, l) >> 4;
      EXPECT_EQ(y[64 * g + l], 1.0f * kSc[2 * g] * lo - 0.5f * kMn[2 * g]) << g << ' ' << l;
      EXPECT_EQ(y[64 * g + 32 + l], 1.0f * kSc[2 * g + 1] * hi - 0.5f * kMn[2 * g + 1]) << g << ' ' << l;
    }
  }
  // Spot values: element 0 (sub-block 0, q 0): 1*1*0 - 0.5*0 = 0.
  EXPECT_EQ(y[0], 0.0f);
  // element 33 (sub-block 1, high nibble of qs[1] = 14): 10*14 - 0.5*63 = 108.5.
  EXPECT_EQ(y[33], 108.5f);
  // element 64 (sub-block 2, low nibble of qs[32] = 3): 37*3 - 0.5*5 = 108.5.
  EXPECT_EQ(y[64], 108.5f);
  // element 100 (sub-block 3, high nibble of qs[36] = 15 - 7 = 8): 63*8 - 11 = 493.
  EXPECT_EQ(y[100], 493.0f);
  // element 128 (sub-block 4, low nibble of qs[64] = 6): 17*6 - 20 = 82.
  EXPECT_EQ(y[128], 82.0f);
  // element 191 (sub-block 5, high nibble of qs[95] = 15 - ((31 + 6) & 15 = 5) = 10): 34*10 - 4.5.
  EXPECT_EQ(y[191], 335.5f);
  // element 192 (sub-block 6, low nibble of qs[96] = 9): 51*9 - 31.5 = 427.5.
  EXPECT_EQ(y[192], 427.5f);
  // element 255 (sub-block 7, high nibble of qs[127] = 15 - ((31 + 9) & 15 = 8) = 7): 6*7 - 16.
  EXPECT_EQ(y[255], 26.0f);
}

TEST(QuantKnownAnswer, Q5_KHighBitAtEveryPosition) {
  // Two super-blocks with the Q4_K scales above, d = 0.25 (0x3400), dmin = 2.0 (0x4000):
  // { f16 d; f16 dmin; scales[12]; qh[32]; qs[128] }. The first has qh[l] = pattern(l), the
  // second its complement, so every element sees its 5th bit both clear and set.
  auto pattern = [](int l) { return static_cast<std::uint8_t>(0x5a ^ (l * 29)); };
  Bytes b;
  for (int blk = 0; blk < 2; ++blk) {
    const Bytes head = {0x00, 0x34, 0x00, 0x40};
    b.insert(b.end(), head.begin(), head.end());
    b.insert(b.end(), kScales12, kScales12 + 12);
    for (int l = 0; l < 32; ++l) b.push_back(blk == 0 ? pattern(l) : static_cast<std::uint8_t>(~pattern(l)));
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) b.push_back(kq_byte(g, l));
    }
  }
  ASSERT_EQ(b.size(), 352u);
  const auto y = dequant(DType::kQ5_K, b, 512);
  for (int blk = 0; blk < 2; ++blk) {
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const std::uint8_t qh = blk == 0 ? pattern(l) : static_cast<std::uint8_t>(~pattern(l));
        const int q0 = (kq_byte(g, l) & 15) + 16 * ((qh >> (2 * g)) & 1);
        const int q1 = (kq_byte(g, l) >> 4) + 16 * ((qh >> (2 * g + 1)) & 1);
        EXPECT_EQ(y[256 * blk + 64 * g + l], 0.25f * kSc[2 * g] * q0 - 2.0f * kMn[2 * g]);
        EXPECT_EQ(y[256 * blk + 64 * g + 32 + l], 0.25f * kSc[2 * g + 1] * q1 - 2.0f * kMn[2 * g + 1]);
      }
    }
  }
  // Spot values. pattern(0) = 0x5a = 0b01011010: element 0 (bit 0 clear): 0.25*1*0 - 0 = 0;
  // element 32 (bit 1 set, high nibble 15): 0.25*10*(15 + 16) - 2*63 = -48.5.
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[32], -48.5f);
  // element 64 (g 1, bit 2 clear, low nibble 3): 0.25*37*3 - 10 = 17.75;
  // element 224 (g 3, l 0, bit 7 clear, high nibble 15 - 9 = 6): 0.25*6*6 - 64 = -55.
  EXPECT_EQ(y[64], 17.75f);
  EXPECT_EQ(y[224], -55.0f);
  // Second block, complement 0xa5 = 0b10100101: element 256 (bit 0 set): 0.25*1*16 = 4;
  // element 480 (bit 7 set): 0.25*6*(6 + 16) - 64 = -31.
  EXPECT_EQ(y[256], 4.0f);
  EXPECT_EQ(y[480], -31.0f);
}

TEST(QuantKnownAnswer, Q6_KEveryBitFieldAndAllSixteenScales) {
  // { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d } with d = 0.125 (0x3000) and
  // scales = 1, -2, 3, -4, ..., 15, -16 except scales[14] = 127 and scales[15] = -128.
  // Two super-blocks: qh of the second is the complement of the first (every 2-bit field takes
  // two different values at every position), ql of the second is ql of the first rotated.
  auto ql_byte = [](int blk, int i) { return static_cast<std::uint8_t>((i * 7 + 3 + 64 * blk) & 0xff); };
  auto qh_byte = [](int blk, int i) {
    const auto v = static_cast<std::uint8_t>(0x1b ^ (i * 37));
    return blk == 0 ? v : static_cast<std::uint8_t>(~v);
  };
  std::int8_t sc[16];
  for (int i = 0; i < 16; ++i) sc[i] = static_cast<std::int8_t>((i % 2 == 0 ? 1 : -1) * (i + 1));
  sc[14] = 127;
  sc[15] = -128;
  Bytes b;
  for (int blk = 0; blk < 2; ++blk) {
    for (int i = 0; i < 128; ++i) b.push_back(ql_byte(blk, i));
    for (int i = 0; i < 64; ++i) b.push_back(qh_byte(blk, i));
    for (int i = 0; i < 16; ++i) b.push_back(static_cast<std::uint8_t>(sc[i]));
    b.push_back(0x00);
    b.push_back(0x30);
  }
  ASSERT_EQ(b.size(), 420u);
  const auto y = dequant(DType::kQ6_K, b, 512);
  for (int blk = 0; blk < 2; ++blk) {
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
      const std::uint8_t lq = ql_byte(blk, 64 * h + l + (k % 2 == 1 ? 32 : 0));
      const int low = k < 2 ? (lq & 15) : (lq >> 4);
      const int high = (qh_byte(blk, 32 * h + l) >> (2 * k)) & 3;
      EXPECT_EQ(y[256 * blk + e], 0.125f * sc[e / 16] * ((low | high << 4) - 32)) << blk << ' ' << e;
    }
  }
  // Spot values (block 0). ql[0] = 3, qh[0] = 0x1b = 0b00011011.
  // element 0: low 3, high 0b11 -> q6 51 -> 0.125*1*19 = 2.375.
  EXPECT_EQ(y[0], 2.375f);
  // element 64 (k 2, l 0): low = ql[0] >> 4 = 0, high (bits 4-5) = 0b01 -> 16 -> 0.125*5*-16 = -10.
  EXPECT_EQ(y[64], -10.0f);
  // element 96 (k 3): ql[32] = 227 = 0xe3 -> low 0xe = 14, high (bits 6-7) = 0 -> 14 - 32 = -18,
  // scale[6] = 7 -> 0.125*7*-18 = -15.75.
  EXPECT_EQ(y[96], -15.75f);
  // element 32 (k 1): low ql[32] & 15 = 3, high (bits 2-3) = 0b10 -> 35 -> 0.125*3*3 = 1.125.
  EXPECT_EQ(y[32], 1.125f);
  // element 224 (h 1, k 3, l 0): ql[96] = 675 & 255 = 0xa3 -> low 0xa = 10; qh[32] = 0x1b ^ (32*37
  // & 255 = 0xa0) = 0xbb -> bits 6-7 = 0b10 -> q6 42 -> 10; scale[14] = 127 -> 0.125*127*10.
  EXPECT_EQ(y[224], 158.75f);
  // element 240 (scale[15] = -128), k 3 with l = 16: ql[112] = 787 & 255 = 0x13 -> high
  // nibble 1; qh[48] = 0x1b ^ (48*37 & 255 = 0xf0) = 0xeb -> bits 6-7 = 0b11 -> 49 -> 17
  // -> 0.125 * -128 * 17 = -272.
  EXPECT_EQ(y[240], -272.0f);
}

TEST(QuantKnownAnswer, RowOfSeveralBlocksIsTheirConcatenation) {
  // Three Q4_0 blocks with d = 1, 2, 4 and all nibbles 9 (value d).
  Bytes b;
  for (std::uint8_t dh : {0x3c, 0x40, 0x44}) {
    b.push_back(0x00);
    b.push_back(dh);
    for (int j = 0; j < 16; ++j) b.push_back(0x99);
  }
  const auto y = dequant(DType::kQ4_0, b, 96);
  for (int i = 0; i < 96; ++i) EXPECT_EQ(y[i], static_cast<float>(1 << (i / 32))) << i;
}

// ------------------------- a real Q8_0 file (llama2.c v2) -------------------------

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

template <typename T>
T get(const std::vector<char>& buf, std::size_t off) {
  T v;
  std::memcpy(&v, buf.data() + off, sizeof v);
  return v;
}

// stories260K_q80.bin (llama2.c "version 2") stores each weight matrix as int8 q[n] then float
// scale[n / 32]. Repacked into q8_0f blocks, every matrix must dequantise to within d/2 of the
// fp32 weights of stories260K.bin (the same checkpoint, llama2.c version 0), and our q8_0f
// quantiser (d = absmax / 127, q = round(x / d)) must reproduce the file's bytes.
TEST(QuantRealFile, Llama2cQ8_0MatricesRepackExactly) {
  const std::string q80 = testing::model_path("stories260K_q80.bin");
  const std::string f32 = testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(q80);
  SPECLAB_REQUIRE_MODEL(f32);
  const auto qf = read_all(q80), ff = read_all(f32);
  ASSERT_GE(qf.size(), 256u);
  ASSERT_EQ(get<std::uint32_t>(qf, 0), 0x616b3432u);  // "ak42"
  ASSERT_EQ(get<std::int32_t>(qf, 4), 2);
  // Header: dim, hidden, layers, heads, kv heads, vocab, seq_len (int32), shared (u8), group.
  const std::int64_t dim = get<std::int32_t>(qf, 8), hidden = get<std::int32_t>(qf, 12);
  const std::int64_t L = get<std::int32_t>(qf, 16), heads = get<std::int32_t>(qf, 20);
  const std::int64_t kv = dim / heads * get<std::int32_t>(qf, 24), vocab = get<std::int32_t>(qf, 28);
  ASSERT_EQ(get<std::int32_t>(qf, 37), 32);  // group size
  ASSERT_EQ(get<std::int32_t>(ff, 0), dim);
  // Matrix sizes in the v2 order: token embedding, then wq wk wv wo w1 w2 w3 per layer.
  const std::int64_t sizes[8] = {vocab * dim, dim * dim, kv * dim, kv * dim, dim * dim,
                                 hidden * dim, dim * hidden, hidden * dim};
  // Offsets of the same matrices in the v0 file: header (7 int32), token embedding, attn norms,
  // wq, wk, wv, wo, ffn norms, w1, w2, w3 (each kind contiguous over the layers).
  std::int64_t v0[8];
  v0[0] = 28;
  v0[1] = v0[0] + 4 * (sizes[0] + L * dim);
  for (int k = 2; k <= 4; ++k) v0[k] = v0[k - 1] + 4 * L * sizes[k - 1];
  v0[5] = v0[4] + 4 * L * sizes[4] + 4 * L * dim;
  for (int k = 6; k <= 7; ++k) v0[k] = v0[k - 1] + 4 * L * sizes[k - 1];
  ASSERT_LE(v0[7] + 4 * L * sizes[7], static_cast<std::int64_t>(ff.size()));

  std::size_t off = 256 + static_cast<std::size_t>(2 * L * dim + dim) * 4;  // after the norms
  std::int64_t n_checked = 0;
  for (int k = 0; k < 8; ++k) {
    for (std::int64_t l = 0; l < (k == 0 ? 1 : L); ++l) {
      const std::int64_t n = sizes[k], nb = n / 32;
      ASSERT_LE(off + static_cast<std::size_t>(n + 4 * nb), qf.size());
      Bytes packed(static_cast<std::size_t>(nb) * 36);
      for (std::int64_t i = 0; i < nb; ++i) {
        std::memcpy(&packed[i * 36], qf.data() + off + n + i * 4, 4);
        std::memcpy(&packed[i * 36 + 4], qf.data() + off + i * 32, 32);
      }
      std::vector<float> y(static_cast<std::size_t>(n)), x(static_cast<std::size_t>(n));
      dequantize_row(DType::kQ8_0F, packed.data(), y.data(), n);
      std::memcpy(x.data(), ff.data() + v0[k] + 4 * l * n, static_cast<std::size_t>(n) * 4);
      for (std::int64_t i = 0; i < n; ++i) {
        const float d = get<float>(qf, off + n + static_cast<std::size_t>(i / 32) * 4);
        ASSERT_LE(std::fabs(x[i] - y[i]), 0.5f * d * (1 + 1e-5f)) << "matrix " << k << " layer " << l << " [" << i << "]";
      }
      Bytes ours(packed.size());
      quantize_row(DType::kQ8_0F, x.data(), ours.data(), n);
      EXPECT_EQ(ours, packed) << "matrix " << k << " layer " << l;
      off += static_cast<std::size_t>(n + 4 * nb);
      n_checked += n;
    }
  }
  EXPECT_EQ(n_checked, vocab * dim + L * (2 * dim * dim + 2 * kv * dim + 3 * hidden * dim));
  if (qf[36] == 1) {
    EXPECT_EQ(off, qf.size());  // shared classifier: nothing follows w3
  }
}

// stories260K.gguf is all F32 (checked: no quantised GGUF exists among the shared models); its
// fp32 tensors are covered by the f32 round trip in test_quant_roundtrip.cpp.

}  // namespace
}  // namespace speclab
