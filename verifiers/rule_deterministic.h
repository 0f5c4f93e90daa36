// `deterministic`: lossless sampling verification of fixed candidates (top-k heads, lookup /
// n-gram / recycled tokens): the draft distribution of each candidate is a point mass, so the
// speculative test min(1, r(x) / q(x)) with q = delta_x becomes "accept with probability r(x)" and
// the residual norm(max(r - delta_x, 0)) is r with x removed and renormalized.
//
// Math, at the current node u with target row p_u: r = p_u; for each child c in index order with
// token x: accept c with probability r(x); on rejection r(x) <- 0 and renormalize. Accepting
// moves to c and repeats with r = p_c. If every child is rejected (or u is a leaf), the bonus is
// drawn from r. The emitted token is distributed as p_u exactly (lossless): P(emit y) =
// sum over the children before y's first copy of the rejection chain, which telescopes to p_u(y).
// A second copy of an already rejected token has r = 0 and is rejected (correct, no double count).
// This is the same recursion as SpecInfer's multi-step speculative sampling with q = point masses.
//
// Valid for: ChildSampling::kDeterministic trees of any shape; q rows are not used.
// Implementation: the residual is kept implicitly (rejected tokens + their mass), so a node costs
// O(children) unless the bonus must be drawn from a residual (one O(vocab) pass).
// Not thread-safe: keeps scratch buffers as mutable members (one rule object per thread).
#pragma once
#include <vector>

#include "verifiers/acceptance_rule.h"

namespace speclab {

class DeterministicRule final : public AcceptanceRule {
 public:
  std::string_view name() const override { return "deterministic"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;

 private:
  mutable std::vector<Token> rejected_;  // tokens rejected at the current node (distinct)
  mutable std::vector<float> res_;       // [vocab] residual for the bonus draw
};

}  // namespace speclab
