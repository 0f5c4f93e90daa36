// `speculative`: standard speculative sampling on a chain (Leviathan, Kalman & Matias 2023,
// "Fast Inference from Transformers via Speculative Decoding"; Chen et al. 2023, "Accelerating
// Large Language Model Decoding with Speculative Sampling").
//
// Math: draft tokens x_1..x_k were drawn x_i ~ q(. | x_<i). For i = 1..k: accept x_i with
// probability min(1, p_i(x_i) / q_i(x_i)); at the first rejection stop and draw the bonus from
// norm(max(p_i - q_i, 0)); if all k are accepted, draw the bonus from p_{k+1} (the row of the
// last node). The emitted tokens are distributed exactly as sampling from p (lossless).
//
// Valid for: ChildSampling::kIidSampled chains (every node has at most one child) with q rows.
// Not thread-safe: keeps a residual buffer as mutable scratch (one rule object per thread).
#pragma once
#include <vector>

#include "verifiers/acceptance_rule.h"

namespace speclab {

class SpeculativeRule final : public AcceptanceRule {
 public:
  std::string_view name() const override { return "speculative"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;

 private:
  mutable std::vector<double> res_;  // [vocab] residual target
};

}  // namespace speclab
