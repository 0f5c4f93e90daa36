// Acceptance rules: pure math deciding which path of a verified tree is accepted and what the
// bonus token is. Target rows p are probabilities after temperature/top-k/top-p
// (ops/sampling.h); at temperature 0 they are one-hot at the argmax.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "base/rng.h"
#include "trees/draft_tree.h"

namespace speclab {

struct TargetRows {
  std::int32_t vocab = 0;
  std::span<const float> p;  // [tree.size(), vocab] row i = target distribution of the token after node i
  std::span<const float> row(std::int32_t i) const {
    return p.subspan(static_cast<std::size_t>(i) * vocab, vocab);
  }
};

// What a rule guarantees: reports carry `lossless`, decode() checks `requires_greedy`.
struct RuleTraits {
  bool lossless = true;          // false only for lossy rules (typical acceptance)
  bool requires_greedy = false;  // the output is the target's only at temperature 0 (`greedy`):
                                 // refused with a sampled target (verifiers/rules.h check_rule_sampling)
};

class AcceptanceRule {
 public:
  virtual ~AcceptanceRule() = default;
  virtual std::string_view name() const = 0;
  bool lossless() const { return traits_.lossless; }
  bool requires_greedy() const { return traits_.requires_greedy; }
  // Throws Error naming the rule and the tree property if the rule is not valid for this tree
  // (e.g. `speculative` on a tree with branching, or without q rows).
  virtual void check_tree(const DraftTree& tree) const = 0;
  // Decides the accepted path and bonus. Allocation-free when `out` has capacity.
  virtual void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
                      Acceptance& out) const = 0;

 protected:
  explicit AcceptanceRule(RuleTraits traits = {}) : traits_(traits) {}

 private:
  RuleTraits traits_;
};

}  // namespace speclab
