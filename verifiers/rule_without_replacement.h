// `without-replacement`: recursive rejection sampling for children drawn without replacement
// (Recursive Speculative Decoding, Jeon et al. 2024, "Recursive Speculative Decoding:
// Accelerating LLM Inference via Sampling Without Replacement"; children are typically drawn
// with the Gumbel-top-k trick).
//
// Math, at the current node u with target row p_u and draft row q = q_u (the distribution the
// children were drawn from WITHOUT replacement, before any removal): r_1 = p_u, q_1 = q. For
// child i (index order) with token x_i: accept with probability min(1, r_i(x_i) / q_i(x_i));
// on rejection r_{i+1} = norm(max(r_i - q_i, 0)) and q_{i+1} = q_i with x_i removed,
// renormalized (the law of the next child given the earlier ones). If all are rejected (or u is a
// leaf) the bonus is drawn from the last residual. Lossless: by induction on the number of
// children, step i outputs a token distributed as r_i whatever q_{i+1} is (one speculative
// sampling step with target r_i and proposal q_i, whose residual is realised recursively), and
// r_{i+1}(x_j) = 0 for every rejected x_j (rejection implies r_i(x_i) < q_i(x_i)).
//
// Valid for: ChildSampling::kWithoutReplacement trees (any shape) with q rows, siblings distinct
// (check_tree throws Error on duplicate sibling tokens). A child with q_i(x) = 0 cannot have been
// drawn: accept() throws Error.
// Not thread-safe: keeps residual buffers as mutable scratch (one rule object per thread).
#pragma once
#include <vector>

#include "verifiers/acceptance_rule.h"

namespace speclab {

class WithoutReplacementRule final : public AcceptanceRule {
 public:
  std::string_view name() const override { return "without-replacement"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;

 private:
  mutable std::vector<double> res_;  // [vocab] residual target r_i
  mutable std::vector<double> q_;    // [vocab] q_i (earlier siblings removed)
};

}  // namespace speclab
