// `multi-iid`: multi-step speculative sampling for trees whose children are drawn i.i.d.
// (SpecInfer, Miao et al. 2024, "SpecInfer: Accelerating Large Language Model Serving with
// Tree-based Speculative Inference and Verification", Algorithm "multi-step speculative
// sampling").
//
// Math, at the current node u with target row p_u and draft row q_u (the row u's children were
// drawn from, each child i.i.d. ~ q_u): r = p_u; for each child c in index order with token x:
// accept c with probability min(1, r(x) / q_u(x)); on rejection r <- norm(max(r - q_u, 0)).
// Accepting moves to c and repeats there with a fresh r = p_c. If every child is rejected (or u
// is a leaf), the bonus is drawn from r (a leaf: r = p_u). Each test is one step of speculative
// sampling with target r and proposal q_u, whose output (accepted x or a draw from the residual)
// is distributed as r; the residual is realised recursively by the next sibling, so the emitted
// token is distributed as p_u exactly (lossless), for any number of children.
//
// Valid for: ChildSampling::kIidSampled trees (any shape) with q rows. A child whose token has
// q_u(x) = 0 cannot have been drawn from q_u: accept() throws Error.
// Not thread-safe: keeps a residual buffer as mutable scratch (one rule object per thread).
#pragma once
#include <vector>

#include "verifiers/acceptance_rule.h"

namespace speclab {

class MultiIidRule final : public AcceptanceRule {
 public:
  std::string_view name() const override { return "multi-iid"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;

 private:
  mutable std::vector<double> res_;  // [vocab] residual target
};

namespace rule_detail {
// The multi-iid walk, shared with `speculative` (a chain is the one-child case).
void accept_iid_tree(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out,
                     std::vector<double>& res, std::string_view rule);
}  // namespace rule_detail

}  // namespace speclab
