// One AdamW step on a tensor (decoupled weight decay; bc1 / bc2 the bias corrections 1 - b^t),
// shared by the head trainers (heads/head_trainer.h, heads/eagle_trainer.h).
// Not auto-vectorised: a vector body with a scalar remainder whose split depends on the
// tensor's address would round differently from run to run (FMA contraction), and training
// must be bit-reproducible for a seed.
#pragma once
#include <cmath>
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

}  // namespace speclab::heads
