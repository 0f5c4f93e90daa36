// The target distribution p: temperature, top-k and top-p applied to a logits row, producing a
// probability row. Autoregressive sampling and every acceptance rule use this one function, so
// "the target distribution" means the same thing everywhere.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "base/rng.h"
#include "base/types.h"

namespace speclab {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy (p is one-hot at the argmax, lowest id on ties)
  std::int32_t top_k = 0;    // 0 = off; else keep the k most probable tokens
  float top_p = 1.0f;        // 1 = off; else the smallest set with mass >= top_p (nucleus)
  bool greedy() const { return temperature <= 0.0f; }
  void validate() const;     // throws Error naming the field (temperature < 0, top_p not in (0,1], top_k < 0)
};

// Index of the largest logit; the lowest index wins ties.
Token argmax(std::span<const float> row);

// probs = p(logits; params), same length as logits, sums to 1. `scratch` avoids allocation.
void logits_to_probs(std::span<const float> logits, const SamplingParams& params,
                     std::span<float> probs, std::vector<std::int32_t>& scratch);

// Draws an index from a probability row (sums to ~1) using one rng.uniform().
Token sample_from(std::span<const float> probs, Rng& rng);

}  // namespace speclab
