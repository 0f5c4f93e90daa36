// Dot product of two fp32 vectors with 8 fixed partial sums: vectorizable, and the same
// sequence of operations for a given n on every call (deterministic). The attention scores of
// LlamaModel use it. Reference twin: ops/reference.h dot_reference.
#pragma once

namespace speclab {

// sum_i a[i] * b[i] for i in [0, n): lanes j = i mod 8 accumulate separately, are combined
// pairwise ((0+4)+(1+5))+((2+6)+(3+7)), then the tail n mod 8 is added in order.
inline float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace speclab

// ---------------------------------------------------------------------------------------------
// fp16 operands (the fp16 KV cache, `--kv-dtype f16`): values widen exactly to fp32, then the
// same arithmetic as the fp32 routines, so results equal those on the widened values.
#include <cstdint>
#if defined(__F16C__)
#include <immintrin.h>
#endif
#include "base/half.h"

namespace speclab {

inline void f16x8_to_f32(const std::uint16_t* h, float* out) {
#if defined(__F16C__)
  _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))));
#else
  for (int j = 0; j < 8; ++j) out[j] = f16_to_f32(h[j]);
#endif
}

// dot(a, widen(b), n) with dot()'s lane structure.
inline float dot_f16(const float* a, const std::uint16_t* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float t[8];
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    f16x8_to_f32(b + i, t);
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * t[j];
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * f16_to_f32(b[i]);
  return s;
}

// o[d] += p * widen(v[d]) for d < n.
inline void axpy_f16(float p, const std::uint16_t* v, float* o, int n) {
  float t[8];
  int d = 0;
  for (; d + 8 <= n; d += 8) {
    f16x8_to_f32(v + d, t);
    for (int j = 0; j < 8; ++j) o[d + j] += p * t[j];
  }
  for (; d < n; ++d) o[d] += p * f16_to_f32(v[d]);
}

// dst[i] = f16(src[i]), round to nearest even (overflow to inf, as IEEE conversion).
inline void store_f16(const float* src, std::uint16_t* dst, int n) {
  int i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
#endif
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace speclab
