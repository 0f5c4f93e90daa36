// IEEE 754 binary16 (f16) and bfloat16 (bf16) <-> fp32 conversions, round to nearest even.
// Header-only and branch-light: used by the GGUF reader (F16/BF16 tensors, Q8_0 block scales)
// and by the test fixture writers.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace speclab {

// Exact: every f16 value (incl. subnormals, inf, NaN) is representable in fp32.
inline float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Round to nearest even; values >= 65520 in magnitude become inf, NaN stays NaN.
inline std::uint16_t f32_to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  std::uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u);
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds past the largest finite f16 (65504)
  if (a < 0x38800000u) {                         // below 2^-14: f16 subnormal (or zero)
    const float r = std::nearbyint(std::bit_cast<float>(a) * 16777216.0f);  // units of 2^-24
    return sign | static_cast<std::uint16_t>(r);  // r == 1024 encodes the smallest normal
  }
  a += 0xfffu + ((a >> 13) & 1u);  // round the 13 dropped bits to nearest even
  return sign | static_cast<std::uint16_t>((a - (112u << 23)) >> 13);
}

inline float bf16_to_f32(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

inline std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace speclab
