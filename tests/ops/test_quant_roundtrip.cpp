// ops/quant: our quantisers, checked by round trips against error bounds derived from each
// method (ops/quant.cpp states them) over data of several distributions, plus exact round trips
// of the float types, idempotence where it holds, finiteness for extreme input and the RMS error
// figures of each type (printed; README "Weight data types").
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/rng.h"
#include "ops/quant.h"

namespace speclab {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr DType kBlockTypes[] = {DType::kQ8_0, DType::kQ8_0F, DType::kQ4_0, DType::kQ4_1,
                                 DType::kQ4_K,  DType::kQ5_K,  DType::kQ6_K};
constexpr DType kAllTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ8_0F,
                               DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

enum class Dist { kNormal, kUniform, kHeavy, kZero, kConstant, kConstRow, kOutlier, kPositive,
                  kNegative, kSmall, kTiny, kDenormal, kLarge };
constexpr Dist kDists[] = {Dist::kNormal,   Dist::kUniform,  Dist::kHeavy,    Dist::kZero,
                           Dist::kConstant, Dist::kConstRow, Dist::kOutlier,  Dist::kPositive,
                           Dist::kNegative, Dist::kSmall,    Dist::kTiny,     Dist::kDenormal,
                           Dist::kLarge};
const char* dist_name(Dist d) {
  switch (d) {
    case Dist::kNormal: return "normal";
    case Dist::kUniform: return "uniform";
    case Dist::kHeavy: return "heavy-tailed";
    case Dist::kZero: return "zero";
    case Dist::kConstant: return "constant blocks";
    case Dist::kConstRow: return "constant row";
    case Dist::kOutlier: return "one outlier";
    case Dist::kPositive: return "positive";
    case Dist::kNegative: return "negative";
    case Dist::kSmall: return "small (1e-3)";
    case Dist::kTiny: return "tiny (1e-6)";
    case Dist::kDenormal: return "fp32 denormal";
    case Dist::kLarge: return "large (1e3)";
  }
  return "?";
}

std::vector<float> make_data(Dist dist, std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n);
  const float c_row = static_cast<float>(rng.normal());
  float c = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = rng.normal(), u = rng.uniform();
    switch (dist) {
      case Dist::kNormal: x[i] = static_cast<float>(g); break;
      case Dist::kUniform: x[i] = static_cast<float>(2 * u - 1); break;
      case Dist::kHeavy:  // Cauchy, clipped to +-1e3
        x[i] = static_cast<float>(std::clamp(std::tan(3.141592653589793 * (rng.uniform_open() - 0.5)), -1e3, 1e3));
        break;
      case Dist::kZero: x[i] = 0; break;
      case Dist::kConstant:  // a new constant every 16 values (constant in every sub-block)
        if (i % 16 == 0) c = static_cast<float>(g);
        x[i] = c;
        break;
      case Dist::kConstRow: x[i] = c_row; break;
      case Dist::kOutlier: x[i] = i % 32 == 7 ? (u < 0.5 ? -50.0f : 50.0f) : static_cast<float>(0.01 * g); break;
      case Dist::kPositive: x[i] = static_cast<float>(1 + u); break;
      case Dist::kNegative: x[i] = static_cast<float>(-1 - u); break;
      case Dist::kSmall: x[i] = static_cast<float>(1e-3 * g); break;  // f16-subnormal scales
      case Dist::kTiny: x[i] = static_cast<float>(1e-6 * g); break;   // scales below 2^-24
      case Dist::kDenormal: x[i] = static_cast<float>(1e-40 * g); break;
      case Dist::kLarge: x[i] = static_cast<float>(1e3 * g); break;
    }
  }
  return x;
}

Bytes quant(DType t, const std::vector<float>& x) {
  Bytes b(dtype_row_bytes(t, static_cast<std::int64_t>(x.size())), 0xcd);
  quantize_row(t, x.data(), b.data(), static_cast<std::int64_t>(x.size()));
  return b;
}
std::vector<float> dequant(DType t, const Bytes& b, std::size_t n) {
  std::vector<float> y(n, NAN);
  dequantize_row(t, b.data(), y.data(), static_cast<std::int64_t>(n));
  return y;
}

float f16_at(const Bytes& b, std::size_t off) {
  return f16_to_f32(static_cast<std::uint16_t>(b[off] | (b[off + 1] << 8)));
}
float f32_at(const Bytes& b, std::size_t off) {
  float f;
  std::memcpy(&f, &b[off], 4);
  return f;
}

// Checks x' = dequant(quant(x)) against the bound of type t's method, block by block. Each
// bound below is derived in the comment above it. `tol` absorbs the fp32 rounding of the
// arithmetic (a few ulps of the block's largest magnitude).
void check_bounds(DType t, const std::vector<float>& x, const Bytes& b, const std::vector<float>& y,
                  const std::string& what) {
  const DTypeTraits& tr = dtype_traits(t);
  const std::size_t be = static_cast<std::size_t>(tr.block_elems), bb = static_cast<std::size_t>(tr.block_bytes);
  for (std::size_t blk = 0; blk < x.size() / be; ++blk) {
    const float* xs = &x[blk * be];
    const float* ys = &y[blk * be];
    const std::size_t o = blk * bb;
    float amax = 0, lo = INFINITY, hi = -INFINITY;
    for (std::size_t i = 0; i < be; ++i) {
      amax = std::max(amax, std::fabs(xs[i]));
      lo = std::min(lo, xs[i]);
      hi = std::max(hi, xs[i]);
    }
    const float tol = 4e-7f * amax + 1e-30f;
    const std::string at = what + " block " + std::to_string(blk);
    switch (t) {
      case DType::kQ8_0: {
        // d is the smallest f16 >= amax/127, so |x / d| <= 127: nothing clamps and rounding to
        // the nearest integer leaves |x - d q| <= d / 2. d is minimal: below the next f16 up.
        const float d = f16_at(b, o);
        ASSERT_GE(d * 127.0f, amax * (1 - 1e-6f)) << at;
        ASSERT_LE(d, amax / 127.0f * (1 + 0x1p-10f) + 0x1p-24f) << at;  // one f16 step up at most
        for (std::size_t i = 0; i < be; ++i) ASSERT_LE(std::fabs(xs[i] - ys[i]), d / 2 + tol) << at << " [" << i << "]";
        break;
      }
      case DType::kQ8_0F: {
        // d = amax / 127 in fp32: |x - d q| <= d / 2 up to fp32 rounding.
        const float d = f32_at(b, o);
        ASSERT_EQ(d, amax / 127.0f) << at;
        for (std::size_t i = 0; i < be; ++i) ASSERT_LE(std::fabs(xs[i] - ys[i]), d / 2 + tol) << at << " [" << i << "]";
        break;
      }
      case DType::kQ4_0: {
        // d = m / -8 rounded away from zero (m the element of largest magnitude), so x / d is
        // in [-8, 8]: values in [-8.5, 7.5] d round to the nearest level (error <= |d| / 2), the
        // rest (up to the +8 end) clamp to level 7: error <= |d|.
        const float d = f16_at(b, o);
        ASSERT_GE(std::fabs(d) * 8, amax * (1 - 1e-6f)) << at;
        for (std::size_t i = 0; i < be; ++i) {
          const float e = std::fabs(xs[i] - ys[i]);
          const float r = d != 0 ? xs[i] / d : 0;
          ASSERT_LE(e, (r <= 7.5f ? 0.5f : 1.0f) * std::fabs(d) + tol) << at << " [" << i << "]";
        }
        break;
      }
      case DType::kQ4_1: {
        // m <= min and m + 15 d >= max: every value lies on the grid's span, error <= d / 2.
        const float d = f16_at(b, o), m = f16_at(b, o + 2);
        ASSERT_LE(m, lo) << at;
        ASSERT_GE(m + 15 * d, hi - tol) << at;
        for (std::size_t i = 0; i < be; ++i) {
          ASSERT_LE(std::fabs(xs[i] - ys[i]), d / 2 + tol + 4e-7f * std::fabs(m)) << at << " [" << i << "]";
        }
        break;
      }
      case DType::kQ4_K:
      case DType::kQ5_K: {
        // Per sub-block of 32 with lo = min(0, min x), hi = max x: the covering pair
        // mn = ceil(-lo / dmin), sc = ceil(need / d), need = (hi + dmin mn) / nmax, is always
        // among the candidates, its step D = d sc <= need + d <= (hi - lo + dmin) / nmax + d
        // covers the sub-block, so its squared error is <= 32 (D / 2)^2; the chosen candidate's
        // is no larger: rms <= ((hi - lo + dmin) / nmax + d) / 2.
        const float nmax = t == DType::kQ4_K ? 15.0f : 31.0f;
        const float d = f16_at(b, o), dmin = f16_at(b, o + 2);
        for (int j = 0; j < 8; ++j) {
          float slo = 0, shi = -INFINITY, sse = 0, samax = 0;
          for (int i = 0; i < 32; ++i) {
            slo = std::min(slo, xs[32 * j + i]);
            shi = std::max(shi, xs[32 * j + i]);
            samax = std::max(samax, std::fabs(xs[32 * j + i]));
            const float e = xs[32 * j + i] - ys[32 * j + i];
            sse += e * e;
          }
          const float bound = ((shi - slo + dmin) / nmax + d) / 2;
          ASSERT_LE(std::sqrt(sse / 32), bound * (1 + 1e-5f) + 1e-6f * samax + 1e-30f) << at << " sub-block " << j;
        }
        break;
      }
      case DType::kQ6_K: {
        // Per sub-block of 16: with m the element of largest magnitude and b the largest
        // magnitude of the opposite sign, cover = max(|m| / 32, b / 31.5) is the step whose grid
        // [-32, 31] spans the sub-block; the covering scale ceil(cover / d) is a candidate, so
        // rms <= (cover + d) / 2.
        const float d = f16_at(b, o + 208);
        for (int j = 0; j < 16; ++j) {
          float am = 0, m = 0, sse = 0;
          for (int i = 0; i < 16; ++i) {
            if (std::fabs(xs[16 * j + i]) > am) {
              am = std::fabs(xs[16 * j + i]);
              m = xs[16 * j + i];
            }
          }
          float opp = 0;
          for (int i = 0; i < 16; ++i) {
            const float v = xs[16 * j + i];
            if ((m > 0 && v < 0) || (m < 0 && v > 0)) opp = std::max(opp, std::fabs(v));
            const float e = v - ys[16 * j + i];
            sse += e * e;
          }
          const float cover = std::max(am / 32, opp / 31.5f);
          ASSERT_LE(std::sqrt(sse / 16), (cover + d) / 2 * (1 + 1e-5f) + 1e-6f * am + 1e-30f) << at << " sub-block " << j;
        }
        break;
      }
      default: FAIL() << "not a block type";
    }
  }
}

TEST(QuantRoundTrip, ErrorBoundsHoldForEveryDistribution) {
  const std::size_t n = 16 * 256;
  for (Dist dist : kDists) {
    const auto x = make_data(dist, n, 17 + static_cast<int>(dist));
    for (DType t : kBlockTypes) {
      const Bytes b = quant(t, x);
      const auto y = dequant(t, b, n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(std::isfinite(y[i])) << dtype_name(t) << ' ' << dist_name(dist);
      check_bounds(t, x, b, y, std::string(dtype_name(t)) + " " + dist_name(dist));
    }
  }
}

TEST(QuantRoundTrip, ZeroAndConstantBlocksAreExactWhereRepresentable) {
  const std::vector<float> zero(512, 0.0f);
  for (DType t : kAllTypes) {
    EXPECT_EQ(dequant(t, quant(t, zero), zero.size()), zero) << dtype_name(t);
  }
  // A constant 1.5 (an f16 value): every type reproduces it exactly (q8_0: 127 * d with
  // d = f16_ceil(1.5 / 127) is not 1.5 in general, so only the types with an offset or an
  // exact level are listed).
  const std::vector<float> c(512, 1.5f);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_1}) {
    EXPECT_EQ(dequant(t, quant(t, c), c.size()), c) << dtype_name(t);
  }
  // A constant -2 in q4_0: m = -2 -> d = 0.25, level 0 -> -8 * 0.25 = -2 exactly.
  const std::vector<float> neg(64, -2.0f);
  EXPECT_EQ(dequant(DType::kQ4_0, quant(DType::kQ4_0, neg), neg.size()), neg);
}

TEST(QuantRoundTrip, FloatTypesAreExactForRepresentableValues) {
  // Every finite f16 / bf16 bit pattern survives f16 -> f32 -> quantize -> the same bits.
  std::vector<float> hf, bf;
  std::vector<std::uint16_t> hb, bb;
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto u = static_cast<std::uint16_t>(h);
    if ((u & 0x7c00u) != 0x7c00u) {
      hb.push_back(u);
      hf.push_back(f16_to_f32(u));
    }
    if ((u & 0x7f80u) != 0x7f80u) {
      bb.push_back(u);
      bf.push_back(bf16_to_f32(u));
    }
  }
  const Bytes hq = quant(DType::kF16, hf), bq = quant(DType::kBF16, bf);
  ASSERT_EQ(hq.size(), 2 * hb.size());
  EXPECT_EQ(std::memcmp(hq.data(), hb.data(), hq.size()), 0);
  ASSERT_EQ(bq.size(), 2 * bb.size());
  EXPECT_EQ(std::memcmp(bq.data(), bb.data(), bq.size()), 0);
  EXPECT_EQ(dequant(DType::kF16, hq, hf.size()), hf);
  EXPECT_EQ(dequant(DType::kBF16, bq, bf.size()), bf);
  // f32 is a copy, bit for bit (incl. -0, denormals, the largest finite value).
  const std::vector<float> f = {0.0f, -0.0f, 1e-45f, -3.4028235e38f, 0.1f, 123456.789f};
  const auto fy = dequant(DType::kF32, quant(DType::kF32, f), f.size());
  EXPECT_EQ(std::memcmp(fy.data(), f.data(), f.size() * 4), 0);
}

TEST(QuantRoundTrip, FloatTypesRoundToNearestEvenAndSaturate) {
  const std::vector<float> x = {1.0f + 0x1p-11f,  // halfway between 1 and 1 + 2^-10 -> even (1)
                                1.0f + 3 * 0x1p-11f, 65519.0f, 65520.0f, 1e6f, -1e30f, FLT_MAX};
  const auto h = dequant(DType::kF16, quant(DType::kF16, x), x.size());
  EXPECT_EQ(h, (std::vector<float>{1.0f, 1.0f + 0x1p-9f, 65504.0f, 65504.0f, 65504.0f, -65504.0f, 65504.0f}));
  // bf16: ties to even; FLT_MAX and the halfway point 0x1.ffp127 would round to inf: saturate.
  const std::vector<float> xb = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, FLT_MAX, -FLT_MAX, 0x1.ffp127f, 0x1.fdp127f};
  const auto b = dequant(DType::kBF16, quant(DType::kBF16, xb), xb.size());
  EXPECT_EQ(b, (std::vector<float>{1.0f, 1.0f + 0x1p-6f, 0x1.fep127f, -0x1.fep127f, 0x1.fep127f, 0x1.fcp127f}));
}

TEST(QuantRoundTrip, ExtremeFiniteInputGivesFiniteOutput) {
  Rng rng(5);
  std::vector<float> x(1024);
  const float extremes[] = {FLT_MAX, -FLT_MAX, 1e30f, -1e30f, 1e10f, 65504.0f, 1e-45f, -1e-38f, 0.0f};
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = i % 3 == 0 ? extremes[rng.below(9)] : static_cast<float>(rng.normal());
  }
  for (DType t : kAllTypes) {
    const auto y = dequant(t, quant(t, x), x.size());
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << dtype_name(t) << " [" << i << "] x = " << x[i];
  }
  // A row of nothing but FLT_MAX, and one of alternating +-FLT_MAX.
  std::vector<float> big(512, FLT_MAX), alt(512);
  for (std::size_t i = 0; i < alt.size(); ++i) alt[i] = i % 2 ? FLT_MAX : -FLT_MAX;
  for (DType t : kAllTypes) {
    for (const auto* v : {&big, &alt}) {
      const auto y = dequant(t, quant(t, *v), v->size());
      for (float f : y) ASSERT_TRUE(std::isfinite(f)) << dtype_name(t);
    }
  }
}

// quantize(dequantize(quantize(x))): for q8_0, q4_0 and q4_1 the dequantised values lie on a
// grid the method picks again, so the bytes repeat exactly, as long as the f16 scale is a
// normal number: a subnormal d (values ~1e-6) is rounded up by a large relative amount, the
// extreme element no longer lands on the end level, and the second pass picks a finer d (the
// "tiny" data shows it for q4_0 / q4_1; q8_0's 127 levels absorb it). For q8_0f the levels
// repeat and d may move by an ulp (d * 127 rounds in fp32). The K-quants' search need not land
// on the same grid: there the second pass is only checked against its own bound.
TEST(QuantRoundTrip, IdempotentWhereTheGridIsReproduced) {
  for (Dist dist : {Dist::kNormal, Dist::kUniform, Dist::kHeavy, Dist::kOutlier, Dist::kTiny, Dist::kLarge}) {
    const auto x = make_data(dist, 4096, 99 + static_cast<int>(dist));
    for (DType t : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1}) {
      if (dist == Dist::kTiny && (t == DType::kQ4_0 || t == DType::kQ4_1)) continue;
      const Bytes b1 = quant(t, x);
      const Bytes b2 = quant(t, dequant(t, b1, x.size()));
      EXPECT_EQ(b1, b2) << dtype_name(t) << ' ' << dist_name(dist);
    }
    {
      const Bytes b1 = quant(DType::kQ8_0F, x);
      const Bytes b2 = quant(DType::kQ8_0F, dequant(DType::kQ8_0F, b1, x.size()));
      for (std::size_t blk = 0; blk < x.size() / 32; ++blk) {
        EXPECT_EQ(std::memcmp(&b1[blk * 36 + 4], &b2[blk * 36 + 4], 32), 0) << dist_name(dist) << ' ' << blk;
        EXPECT_NEAR(f32_at(b2, blk * 36), f32_at(b1, blk * 36), 2e-7f * f32_at(b1, blk * 36));
      }
    }
    for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
      const Bytes b1 = quant(t, x);
      const auto y1 = dequant(t, b1, x.size());
      const Bytes b2 = quant(t, y1);
      const auto y2 = dequant(t, b2, x.size());
      check_bounds(t, y1, b2, y2, std::string(dtype_name(t)) + " requantised " + dist_name(dist));
    }
  }
}

TEST(QuantRoundTrip, BlocksAreIndependentAndDeterministic) {
  // Quantising a row equals quantising each block on its own (readers and the loader may split
  // rows anywhere on block boundaries), and repeats bit for bit.
  const auto x = make_data(Dist::kNormal, 1024, 3);
  for (DType t : kAllTypes) {
    const Bytes whole = quant(t, x);
    EXPECT_EQ(whole, quant(t, x)) << dtype_name(t);
    const std::size_t be = static_cast<std::size_t>(dtype_traits(t).block_elems);
    Bytes parts;
    for (std::size_t i = 0; i < x.size(); i += std::max<std::size_t>(be, 256)) {
      const std::vector<float> part(x.begin() + static_cast<std::ptrdiff_t>(i),
                                    x.begin() + static_cast<std::ptrdiff_t>(std::min(x.size(), i + std::max<std::size_t>(be, 256))));
      const Bytes pb = quant(t, part);
      parts.insert(parts.end(), pb.begin(), pb.end());
    }
    EXPECT_EQ(whole, parts) << dtype_name(t);
  }
}

double rms_rel(DType t, const std::vector<float>& x) {
  const auto y = dequant(t, quant(t, x), x.size());
  double se = 0, sx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    se += double(x[i] - y[i]) * (x[i] - y[i]);
    sx += double(x[i]) * x[i];
  }
  return sx > 0 ? std::sqrt(se / sx) : 0.0;
}

// RMS error relative to the RMS of the data, over 64 K values per distribution. The upper limits
// are regression guards set ~15% above the values measured when the quantisers were written
// (printed below and copied to the README).
TEST(QuantRoundTrip, RmsErrorPerType) {
  const std::size_t n = 256 * 256;
  struct Limit { DType t; double normal, uniform; };
  const Limit limits[] = {
      // measured: normal 2.08e-4 / uniform 1.85e-4 (f16), 1.67e-3 / 1.47e-3 (bf16),
      // 5.36e-3 / 3.76e-3 (q8_0), 5.35e-3 / 3.76e-3 (q8_0f), 8.60e-2 / 6.49e-2 (q4_0),
      // 7.81e-2 / 6.07e-2 (q4_1), 7.15e-2 / 5.54e-2 (q4_k), 3.55e-2 / 2.73e-2 (q5_k),
      // 1.78e-2 / 1.34e-2 (q6_k).
      {DType::kF16, 2.4e-4, 2.1e-4},    {DType::kBF16, 1.9e-3, 1.7e-3}, {DType::kQ8_0, 6.2e-3, 4.3e-3},
      {DType::kQ8_0F, 6.2e-3, 4.3e-3},  {DType::kQ4_0, 9.9e-2, 7.5e-2}, {DType::kQ4_1, 9.0e-2, 7.0e-2},
      {DType::kQ4_K, 8.2e-2, 6.4e-2},   {DType::kQ5_K, 4.1e-2, 3.1e-2}, {DType::kQ6_K, 2.0e-2, 1.5e-2},
  };
  const auto xn = make_data(Dist::kNormal, n, 1), xu = make_data(Dist::kUniform, n, 2);
  const auto xh = make_data(Dist::kHeavy, n, 3), xo = make_data(Dist::kOutlier, n, 4);
  std::printf("rms(x - x') / rms(x)      normal   uniform   cauchy  outlier\n");
  for (const Limit& l : limits) {
    const double en = rms_rel(l.t, xn), eu = rms_rel(l.t, xu);
    std::printf("  %-6s                %8.2e  %8.2e  %8.2e  %8.2e\n", dtype_traits(l.t).name, en, eu,
                rms_rel(l.t, xh), rms_rel(l.t, xo));
    EXPECT_LE(en, l.normal) << dtype_name(l.t);
    EXPECT_LE(eu, l.uniform) << dtype_name(l.t);
  }
}

}  // namespace
}  // namespace speclab
