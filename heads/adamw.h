// One AdamW step on a tensor (decoupled weight decay; bc1 / bc2 the bias corrections 1 - b^t)
// and the learning-rate schedule, shared by the head trainers (heads/head_trainer.h, heads/eagle_trainer.h).
// Not auto-vectorised: a vector body with a scalar remainder whose split depends on the
// tensor's address would round differently from run to run (FMA contraction), and training
// must be bit-reproducible for a seed.
#pragma once
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace speclab::heads {

struct AdamBetas {
  float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
};

__attribute__((optimize("no-tree-vectorize"))) inline void adam_update(
    std::span<float> p, std::span<const float> g, std::vector<float>& m, std::vector<float>& v, float lr, float bc1,
    float bc2, float wd, AdamBetas b = {}) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    m[i] = b.b1 * m[i] + (1.0f - b.b1) * g[i];
    v[i] = b.b2 * v[i] + (1.0f - b.b2) * g[i] * g[i];
    const float upd = (m[i] / bc1) / (std::sqrt(v[i] / bc2) + b.eps);
    p[i] -= lr * (upd + wd * p[i]);
  }
}

// Linear warm-up over the first int(warmup_frac * steps) steps, then cosine decay to 0 (step is
// 0-based): the schedule both trainers use.
inline float warmup_cosine_lr(float peak, std::int32_t step, std::int32_t steps, float warmup_frac) {
  const std::int32_t warmup = static_cast<std::int32_t>(warmup_frac * steps);
  if (step < warmup) return peak * static_cast<float>(step + 1) / static_cast<float>(warmup);
  const double prog = steps > warmup ? static_cast<double>(step - warmup) / (steps - warmup) : 1.0;
  return static_cast<float>(peak * 0.5 * (1.0 + std::cos(3.141592653589793 * prog)));
}

}  // namespace speclab::heads
