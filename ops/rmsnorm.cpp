#include "ops/rmsnorm.h"

#include <cmath>
#include <cstddef>

namespace speclab {

void rms_norm(const float* x, const float* gain, int n, int d, float eps, float* out) {
  for (int t = 0; t < n; ++t) {
    const float* xt = x + static_cast<std::size_t>(t) * d;
    float* ot = out + static_cast<std::size_t>(t) * d;
    double ss = 0.0;
    for (int i = 0; i < d; ++i) ss += static_cast<double>(xt[i]) * xt[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
    for (int i = 0; i < d; ++i) ot[i] = (xt[i] * inv) * gain[i];
  }
}

}  // namespace speclab
