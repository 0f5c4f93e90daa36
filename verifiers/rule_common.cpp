#include "verifiers/rule_common.h"

#include "base/error.h"

namespace speclab::rule_detail {

void require_kind(const DraftTree& tree, ChildSampling want, std::string_view rule) {
  if (tree.children != want) {
    fail("acceptance rule '{}': tree children = {}: this rule requires {} children", rule,
         to_string(tree.children), to_string(want));
  }
}

void require_q(const DraftTree& tree, std::string_view rule) {
  if (!tree.has_q()) {
    fail("acceptance rule '{}': tree has no q rows (q_vocab = 0): this rule needs the draft "
         "distribution of every node",
         rule);
  }
  if (tree.q.size() != static_cast<std::size_t>(tree.size()) * tree.q_vocab) {
    fail("acceptance rule '{}': tree q has {} values for {} nodes x {} vocab", rule, tree.q.size(),
         tree.size(), tree.q_vocab);
  }
}

void check_rows(const DraftTree& tree, const TargetRows& p, bool uses_q, std::string_view rule) {
  if (p.vocab <= 0 || p.p.size() != static_cast<std::size_t>(tree.size()) * p.vocab) {
    fail("acceptance rule '{}': target rows have {} values for {} nodes x vocab {}", rule,
         p.p.size(), tree.size(), p.vocab);
  }
  if (uses_q && tree.q_vocab != p.vocab) {
    fail("acceptance rule '{}': q_vocab = {} differs from the target vocab {}", rule, tree.q_vocab,
         p.vocab);
  }
  for (std::int32_t i = 1; i < tree.size(); ++i) {
    if (tree.token[i] < 0 || tree.token[i] >= p.vocab) {
      fail("acceptance rule '{}': node {} has token {} outside the vocab [0, {})", rule, i,
           tree.token[i], p.vocab);
    }
  }
}

namespace {

template <typename R, typename Q>
bool subtract_and_normalize_impl(std::span<R> res, std::span<const Q> q) {
  double sum = 0.0;
  for (std::size_t i = 0; i < res.size(); ++i) {
    const R d = res[i] - static_cast<R>(q[i]);
    if (d > R(0)) sum += d;
  }
  if (!(sum > 0.0)) return false;
  const R inv = static_cast<R>(1.0 / sum);
  for (std::size_t i = 0; i < res.size(); ++i) {
    const R d = res[i] - static_cast<R>(q[i]);
    res[i] = d > R(0) ? d * inv : R(0);
  }
  return true;
}

template <typename W>
Token sample_weights_impl(std::span<const W> w, double total, Rng& rng) {
  const double u = rng.uniform() * total;
  double cum = 0.0;
  std::size_t last_positive = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] > W(0)) {
      cum += w[i];
      last_positive = i;
      if (u < cum) return static_cast<Token>(i);
    }
  }
  return static_cast<Token>(last_positive);
}

}  // namespace

bool subtract_and_normalize(std::span<float> res, std::span<const float> q) { return subtract_and_normalize_impl(res, q); }
bool subtract_and_normalize(std::span<double> res, std::span<const float> q) { return subtract_and_normalize_impl(res, q); }
bool subtract_and_normalize(std::span<double> res, std::span<const double> q) { return subtract_and_normalize_impl(res, q); }

}  // namespace speclab::rule_detail

namespace speclab::rule_detail {

Token sample_weights(std::span<const float> w, double total, Rng& rng) { return sample_weights_impl(w, total, rng); }
Token sample_weights(std::span<const double> w, double total, Rng& rng) { return sample_weights_impl(w, total, rng); }

}  // namespace speclab::rule_detail
