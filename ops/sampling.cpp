#include "ops/sampling.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace speclab {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    fail("sampling: temperature = {}: must be a finite number >= 0", temperature);
  }
  if (top_k < 0) fail("sampling: top_k = {}: must be >= 0 (0 = off)", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    fail("sampling: top_p = {}: must be in (0, 1] (1 = off)", top_p);
  }
}

Token argmax(std::span<const float> row) {
  SPECLAB_ASSERT(!row.empty());
  std::size_t best = 0;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] > row[best]) best = i;  // strict: the lowest id wins ties
  }
  return static_cast<Token>(best);
}

namespace {

// Writes softmax(logits / temperature) into probs (max-subtracted, double accumulation).
void softmax_with_temperature(std::span<const float> logits, float temperature,
                              std::span<float> probs) {
  const float mx = logits[static_cast<std::size_t>(argmax(logits))];
  const float inv_t = 1.0f / temperature;
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const float e = std::exp((logits[i] - mx) * inv_t);
    probs[i] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (float& v : probs) v *= inv;
}

// Keeps only probs[idx] for idx in keep[0, n_keep) (reorders that prefix), renormalized.
void keep_only(std::span<float> probs, std::span<std::int32_t> keep) {
  std::sort(keep.begin(), keep.end());
  double sum = 0.0;
  for (const std::int32_t i : keep) sum += probs[static_cast<std::size_t>(i)];
  const float inv = static_cast<float>(1.0 / sum);
  std::size_t k = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (k < keep.size() && static_cast<std::size_t>(keep[k]) == i) {
      probs[i] *= inv;
      ++k;
    } else {
      probs[i] = 0.0f;
    }
  }
}

}  // namespace

void logits_to_probs(std::span<const float> logits, const SamplingParams& params,
                     std::span<float> probs, std::vector<std::int32_t>& scratch) {
  SPECLAB_ASSERT(!logits.empty() && probs.size() == logits.size());
  const std::size_t n = logits.size();
  if (params.greedy()) {
    std::fill(probs.begin(), probs.end(), 0.0f);
    probs[static_cast<std::size_t>(argmax(logits))] = 1.0f;
    return;
  }
  softmax_with_temperature(logits, params.temperature, probs);
  const bool use_k = params.top_k > 0 && static_cast<std::size_t>(params.top_k) < n;
  const bool use_p = params.top_p < 1.0f;
  if (!use_k && !use_p) return;

  // Order: descending probability, lower id first on ties (deterministic boundaries).
  auto before = [&probs](std::int32_t a, std::int32_t b) {
    const float pa = probs[static_cast<std::size_t>(a)], pb = probs[static_cast<std::size_t>(b)];
    return pa > pb || (pa == pb && a < b);
  };
  scratch.resize(n);  // no allocation once the capacity is there
  for (std::size_t i = 0; i < n; ++i) scratch[i] = static_cast<std::int32_t>(i);
  auto first = scratch.begin();
  std::size_t n_kept = n;
  std::size_t n_sorted = 0;  // scratch[0, n_sorted) is sorted by `before` and precedes the rest
  if (use_k) {
    n_kept = static_cast<std::size_t>(params.top_k);
    std::partial_sort(first, first + n_kept, scratch.end(), before);
    n_sorted = n_kept;
  }
  if (use_p) {
    double kept_mass = 0.0;
    if (use_k) {
      for (std::size_t i = 0; i < n_kept; ++i) kept_mass += probs[static_cast<std::size_t>(scratch[i])];
    } else {
      kept_mass = 1.0;
    }
    const double target = static_cast<double>(params.top_p) * kept_mass;
    // Sort in growing chunks until the prefix reaches the mass (usually a handful of tokens).
    double cum = 0.0;
    std::size_t i = 0;
    std::size_t chunk = 64;
    while (true) {
      if (i == n_sorted) {
        const std::size_t end = std::min(n_kept, n_sorted + chunk);
        std::nth_element(first + n_sorted, first + (end - 1), first + n_kept, before);
        std::sort(first + n_sorted, first + end, before);
        n_sorted = end;
        chunk *= 4;
      }
      cum += probs[static_cast<std::size_t>(scratch[i])];
      ++i;
      if (cum >= target || i == n_kept) break;
    }
    n_kept = i;
  }
  keep_only(probs, std::span<std::int32_t>(scratch.data(), n_kept));
}

Token sample_from(std::span<const float> probs, Rng& rng) {
  SPECLAB_ASSERT(!probs.empty());
  const double u = rng.uniform();
  double cum = 0.0;
  std::size_t last_positive = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] > 0.0f) {
      cum += probs[i];
      last_positive = i;
      if (u < cum) return static_cast<Token>(i);
    }
  }
  return static_cast<Token>(last_positive);  // rounding: the row summed to slightly below u
}

}  // namespace speclab
