#include "ops/rope.h"

#include <cmath>
#include <cstddef>

namespace speclab {

void rope_tables(std::span<const std::int32_t> positions, std::span<const float> inv_freq, float* cos,
                 float* sin) {
  const std::size_t half = inv_freq.size();
  for (std::size_t t = 0; t < positions.size(); ++t) {
    const float pos = static_cast<float>(positions[t]);
    for (std::size_t p = 0; p < half; ++p) {
      const float angle = pos * inv_freq[p];
      cos[t * half + p] = std::cos(angle);
      sin[t * half + p] = std::sin(angle);
    }
  }
}

void apply_rope(float* row, int n_heads, int head_dim, bool interleaved, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = row + static_cast<std::size_t>(h) * head_dim;
    for (int p = 0; p < half; ++p) {
      const int a = interleaved ? 2 * p : p;
      const int b = interleaved ? 2 * p + 1 : p + half;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cos[p] - x1 * sin[p];
      v[b] = x0 * sin[p] + x1 * cos[p];
    }
  }
}

}  // namespace speclab
