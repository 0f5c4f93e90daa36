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
