// `greedy`: the greedy (temperature 0) acceptance rule.
//
// Math: from the root, move to the first child (in index order) whose token equals
// argmax p(. | node) (lowest id on ties), as long as one exists; the bonus token is the argmax of
// the last accepted node's row. The output equals greedy autoregressive decoding token for token.
// It draws no random numbers. Valid for every tree (any shape, any ChildSampling, q unused).
// At temperature > 0 it is not the sampling distribution, so decode() refuses it there
// (requires_greedy; use a sampling rule, or "auto").
#pragma once
#include "verifiers/acceptance_rule.h"

namespace speclab {

class GreedyRule final : public AcceptanceRule {
 public:
  GreedyRule() : AcceptanceRule(RuleTraits{.lossless = true, .requires_greedy = true}) {}
  std::string_view name() const override { return "greedy"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;
};

}  // namespace speclab
