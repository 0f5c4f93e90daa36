#include "ops/softmax.h"

#include <algorithm>
#include <cmath>

namespace speclab {

void softmax_inplace(float* x, int n) {
  float max_x = -INFINITY;
  for (int i = 0; i < n; ++i) max_x = std::max(max_x, x[i]);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_x);
    sum += x[i];
  }
  const float inv_sum = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv_sum;
}

}  // namespace speclab
