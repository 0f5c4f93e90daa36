// Small helpers shared by the acceptance rules (internal to verifiers/).
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "trees/draft_tree.h"
#include "verifiers/acceptance_rule.h"

namespace speclab::rule_detail {

// Next child of `node` after index `after` (pass `node` to get the first), or -1. Children of a
// node all have larger indices (parents precede children), so this scans (after, n).
inline std::int32_t next_child(const DraftTree& tree, std::int32_t node, std::int32_t after) {
  for (std::int32_t j = after + 1; j < tree.size(); ++j) {
    if (tree.parent[j] == node) return j;
  }
  return -1;
}

// Throws Error naming `rule` unless tree.children == want.
void require_kind(const DraftTree& tree, ChildSampling want, std::string_view rule);
// Throws Error naming `rule` unless the tree records dense q rows.
void require_q(const DraftTree& tree, std::string_view rule);
// Throws Error naming `rule` if p has the wrong shape for the tree (and q, when used).
void check_rows(const DraftTree& tree, const TargetRows& p, bool uses_q, std::string_view rule);

// res = normalize(max(res - q, 0)). Returns false (res unchanged) if that has no mass, which
// can only happen through rounding when res == q (the rejection then had probability ~0).
// The rules keep residuals in double: float32 residuals cost ~5e-8 in total variation of the
// emitted law (tests/verifiers/test_exact_law.cpp measures it); double ones ~1e-16.
bool subtract_and_normalize(std::span<float> res, std::span<const float> q);
bool subtract_and_normalize(std::span<double> res, std::span<const float> q);
bool subtract_and_normalize(std::span<double> res, std::span<const double> q);

// Clears `out` and sets path = {0}.
inline void start(Acceptance& out) {
  out.path.clear();
  out.path.push_back(0);
  out.bonus = -1;
}

}  // namespace speclab::rule_detail

namespace speclab::rule_detail {

// Inverse CDF over unnormalized weights w (sum `total` > 0) with one rng.uniform(); zeros are
// never returned (the last positive index absorbs rounding).
Token sample_weights(std::span<const float> w, double total, Rng& rng);
Token sample_weights(std::span<const double> w, double total, Rng& rng);

}  // namespace speclab::rule_detail
