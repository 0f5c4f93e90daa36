// `typical`: Medusa's typical acceptance (Cai et al. 2024, "Medusa: Simple LLM Inference
// Acceleration Framework with Multiple Decoding Heads", section 2.3.1). LOSSY: lossless() is
// false; the emitted text does not follow p exactly (tests measure the bias).
//
// Math, at the current node u with target row p_u and entropy H(p_u) = -sum p log p:
// a child with token x is acceptable iff p_u(x) > min(epsilon, delta * exp(-H(p_u))).
// The walk moves to the FIRST acceptable child in index order (the drafter's preference order;
// Medusa instead keeps the longest acceptable candidate path, which differs only on trees where
// an earlier acceptable sibling has a shorter acceptable continuation). The bonus token after the
// last accepted node is drawn from that node's p row with sample_from (one uniform), so a tree of
// only the root is exactly autoregressive sampling. (The Medusa reference code samples it from
// the typical-filtered row; vLLM's TypicalAcceptanceSampler takes the argmax.)
// Defaults follow the Medusa reference implementation: epsilon = posterior_threshold = 0.09,
// delta = posterior_alpha = 0.3.
//
// Valid for: every tree (q rows unused). At temperature 0 (one-hot p) it equals `greedy`.
#pragma once
#include "verifiers/acceptance_rule.h"

namespace speclab {

struct TypicalParams {
  float epsilon = 0.09f;  // hard probability threshold (Medusa posterior_threshold)
  float delta = 0.3f;     // entropy-dependent threshold scale (Medusa posterior_alpha)
  void validate() const;  // throws Error: both must be in (0, 1]
};

class TypicalRule final : public AcceptanceRule {
 public:
  explicit TypicalRule(TypicalParams params = {});
  std::string_view name() const override { return "typical"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;

 private:
  TypicalParams params_;
};

}  // namespace speclab
