#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>

#include "base/error.h"
#include "base/half.h"
#include "base/rng.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::HfTensor;
using testing::safetensors_bytes;
using testing::write_text_file;
using testing::write_safetensors;

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Runs f, expects speclab::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected speclab::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) {
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
    }
  }
}

// --- half-precision conversions (base/half.h, which the reader uses) ----------------------------------------------------------------

// Independent reference: binary16 value from its fields with ldexp.
double f16_reference(std::uint16_t h) {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else {
    v = std::ldexp(1024 + mant, exp - 25);
  }
  return sign ? -v : v;
}

TEST(Half, F16ToF32MatchesReferenceForAllBitPatterns) {
  for (std::uint32_t u = 0; u < 65536; ++u) {
    const auto h = static_cast<std::uint16_t>(u);
    const float f = f16_to_f32(h);
    const double ref = f16_reference(h);
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(f)) << u;
    } else {
      ASSERT_EQ(static_cast<double>(f), ref) << u;
      ASSERT_EQ(std::signbit(f), (u & 0x8000) != 0) << u;  // -0 stays -0
    }
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
}

TEST(Half, F16RoundTripsEveryNonNanValueAndKeepsNan) {
  for (std::uint32_t u = 0; u < 65536; ++u) {
    const auto h = static_cast<std::uint16_t>(u);
    const float f = f16_to_f32(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f)))) << u;
    } else {
      ASSERT_EQ(f32_to_f16(f), h) << u;
    }
  }
}

TEST(Half, F32ToF16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even (down)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.2f, -11)), 0x3c01);      // above the tie
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(f32_to_f16(-1e30f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);       // tie between 0 and 2^-24
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -26)), 0x0001);       // 0.75 ulp -> 1
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);       // 1.5 ulp -> 2 (even)
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);    // rounds up into the normals
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1e-10f), 0x0000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
}

TEST(Half, Bf16RoundTripAndRounding) {
  for (std::uint32_t u = 0; u < 65536; ++u) {
    const auto b = static_cast<std::uint16_t>(u);
    const float f = bf16_to_f32(b);
    ASSERT_EQ(bits(f), u << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    } else {
      ASSERT_EQ(f32_to_bf16(f), b) << u;
    }
  }
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even (down)
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // overflow -> inf
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  // A NaN whose payload lives only in the low 16 bits must not collapse to inf.
  std::uint32_t low_nan = 0x7f800001u;
  float f;
  std::memcpy(&f, &low_nan, 4);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
}

// --- round trips -------------------------------------------------------------------------------

class SafetensorsFileTest : public ::testing::Test {
 protected:
  testing::ScopedTempDir tmp_;
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes hand-made bytes and returns the path.
  std::string raw(const std::string& name, const std::string& header, const std::string& data,
                  std::int64_t len_override = -1) {
    write_text_file(path(name), safetensors_bytes(header, data, len_override));
    return path(name);
  }

  const std::string dir_ = tmp_.dir();
};

std::vector<HfTensor> sample_tensors(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<HfTensor> ts = {{"b.weight", {3, 5}, {}}, {"a.bias", {7}, {}},
                                 {"c.scalar", {}, {}}, {"d.empty", {0, 4}, {}}};
  for (auto& t : ts) {
    std::int64_t n = 1;
    for (auto s : t.shape) n *= s;
    for (std::int64_t i = 0; i < n; ++i) t.data.push_back(static_cast<float>(3.0 * rng.normal()));
  }
  return ts;
}

TEST_F(SafetensorsFileTest, F32RoundTripIsExact) {
  const auto ts = sample_tensors(1);
  write_safetensors(path("m.safetensors"), ts, SafetensorsDtype::kF32);
  SafetensorsFile f(path("m.safetensors"));
  ASSERT_EQ(f.tensors().size(), ts.size());
  EXPECT_EQ(f.tensors()[0].name, "a.bias");  // sorted by name
  EXPECT_EQ(f.metadata().at("format"), "pt");
  for (const auto& t : ts) {
    const SafetensorsTensor* st = f.find(t.name);
    ASSERT_NE(st, nullptr) << t.name;
    EXPECT_EQ(st->dtype, SafetensorsDtype::kF32);
    EXPECT_EQ(st->shape, t.shape);
    EXPECT_EQ(f.read_f32(*st), t.data) << t.name;
  }
  EXPECT_EQ(f.find("nope"), nullptr);
}

TEST_F(SafetensorsFileTest, HalfRoundTripsWithinDtypeTolerance) {
  const auto ts = sample_tensors(2);
  for (auto dtype : {SafetensorsDtype::kF16, SafetensorsDtype::kBF16}) {
    const bool bf = dtype == SafetensorsDtype::kBF16;
    const double rel = bf ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);  // half an ulp
    write_safetensors(path("h.safetensors"), ts, dtype);
    SafetensorsFile f(path("h.safetensors"));
    for (const auto& t : ts) {
      const auto* st = f.find(t.name);
      ASSERT_NE(st, nullptr);
      EXPECT_EQ(st->dtype, dtype);
      const auto got = f.read_f32(*st);
      ASSERT_EQ(got.size(), t.data.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_LE(std::abs(got[i] - t.data[i]), rel * std::abs(t.data[i]) + 1e-7)
            << t.name << "[" << i << "]";
        const float expect = bf ? bf16_to_f32(f32_to_bf16(t.data[i]))
                                : f16_to_f32(f32_to_f16(t.data[i]));
        EXPECT_EQ(got[i], expect);
      }
    }
  }
}

TEST_F(SafetensorsFileTest, UnpaddedHeaderAndNullMetadataAccepted) {
  float x[2] = {1.5f, -2.0f};
  const std::string p = raw("ok.safetensors",
                            R"({"__metadata__":null,"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                            std::string(reinterpret_cast<const char*>(x), 8));
  SafetensorsFile f(p);
  EXPECT_EQ(f.read_f32(*f.find("x")), (std::vector<float>{1.5f, -2.0f}));
}

// --- bad input ---------------------------------------------------------------------------------

TEST_F(SafetensorsFileTest, MissingAndTinyFiles) {
  expect_error([&] { SafetensorsFile f(path("absent.safetensors")); },
               {"absent.safetensors", "cannot open"});
  write_text_file(path("empty.safetensors"), "");
  expect_error([&] { SafetensorsFile f(path("empty.safetensors")); },
               {"empty.safetensors", "0 bytes"});
  write_text_file(path("short.safetensors"), "abc");
  expect_error([&] { SafetensorsFile f(path("short.safetensors")); },
               {"short.safetensors", "3 bytes"});
  expect_error([&] { SafetensorsFile f(dir_); }, {dir_, "is a directory"});
}

TEST_F(SafetensorsFileTest, HeaderLengthBeyondFile) {
  const std::string p = raw("long.safetensors", "{}", "", 1000);
  expect_error([&] { SafetensorsFile f(p); }, {p, "header length = 1000", "beyond the end"});
  const std::string q = raw("huge.safetensors", "{}", "", std::int64_t(1) << 62);
  expect_error([&] { SafetensorsFile f(q); }, {q, "beyond the end"});
}

TEST_F(SafetensorsFileTest, MalformedJsonNamesFileAndBytePosition) {
  const std::string header = R"({"x": {"dtype": "F32",, "shape": [1]}})";
  const std::string p = raw("bad.safetensors", header, "");
  const std::size_t at = 8 + header.find(",,") + 1;  // absolute offset of the second comma
  expect_error([&] { SafetensorsFile f(p); },
               {p, "not valid JSON", "at byte " + std::to_string(at)});
  const std::string q = raw("arr.safetensors", "[1, 2]", "");
  expect_error([&] { SafetensorsFile f(q); }, {q, "must be an object"});
}

TEST_F(SafetensorsFileTest, UnknownDtypeIsNamed) {
  const std::string p =
      raw("dt.safetensors", R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})",
          std::string(4, '\0'));
  expect_error([&] { SafetensorsFile f(p); }, {p, "tensor w", "dtype = F99", "unknown"});
  const std::string q =
      raw("dt2.safetensors", R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})",
          std::string(4, '\0'));
  expect_error([&] { SafetensorsFile f(q); }, {q, "tensor w", "dtype", "must be a string"});
}

TEST_F(SafetensorsFileTest, ShapeTimesDtypeSizeMustMatchOffsets) {
  const std::string p =
      raw("sz.safetensors", R"({"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,8]}})",
          std::string(8, '\0'));
  expect_error([&] { SafetensorsFile f(p); }, {p, "tensor w", "[2,3]", "needs 12 bytes", "8 bytes"});
  const std::string q =
      raw("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
          std::string(4, '\0'));
  expect_error([&] { SafetensorsFile f(q); }, {q, "tensor w", "shape", "non-negative"});
  const std::string r = raw(
      "ovf.safetensors",
      R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}})",
      std::string(4, '\0'));
  expect_error([&] { SafetensorsFile f(r); }, {r, "tensor w", "overflows"});
}

TEST_F(SafetensorsFileTest, OffsetsOutOfRangeOrReversed) {
  const std::string p =
      raw("oob.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          std::string(8, '\0'));
  expect_error([&] { SafetensorsFile f(p); }, {p, "tensor w", "beyond the data section"});
  const std::string q =
      raw("rev.safetensors", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})",
          std::string(8, '\0'));
  expect_error([&] { SafetensorsFile f(q); }, {q, "tensor w", "begin must not exceed end"});
  const std::string r =
      raw("miss.safetensors", R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, '\0'));
  expect_error([&] { SafetensorsFile f(r); }, {r, "tensor w", "data_offsets is missing"});
  const std::string s =
      raw("one.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})",
          std::string(8, '\0'));
  expect_error([&] { SafetensorsFile f(s); }, {s, "tensor w", "data_offsets"});
}

TEST_F(SafetensorsFileTest, OverlapsAndHolesAreRejected) {
  const std::string p = raw("ov.safetensors",
                            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            std::string(12, '\0'));
  expect_error([&] { SafetensorsFile f(p); }, {p, "tensor b", "overlaps tensor a"});
  const std::string q = raw("hole.safetensors",
                            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            std::string(12, '\0'));
  expect_error([&] { SafetensorsFile f(q); }, {q, "hole", "[4, 8)", "tensor b"});
  const std::string r = raw("tail.safetensors",
                            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                            std::string(10, '\0'));
  expect_error([&] { SafetensorsFile f(r); }, {r, "trailing bytes [4, 10)"});
}

TEST_F(SafetensorsFileTest, MetadataMustBeStrings) {
  const std::string p = raw("md.safetensors", R"({"__metadata__":{"format":3}})", "");
  expect_error([&] { SafetensorsFile f(p); }, {p, "__metadata__.format", "must be a string"});
}

TEST_F(SafetensorsFileTest, NonFloatDtypeParsesButCannotBeReadAsFloat) {
  const std::string p =
      raw("int.safetensors", R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
          std::string(16, '\0'));
  SafetensorsFile f(p);
  ASSERT_NE(f.find("ids"), nullptr);
  EXPECT_EQ(f.raw(*f.find("ids")).size(), 16u);
  expect_error([&] { f.read_f32(*f.find("ids")); }, {p, "tensor ids", "I64"});
}

}  // namespace
}  // namespace speclab
