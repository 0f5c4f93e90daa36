// Registry of acceptance rules by name (what specs and the CLI use).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ops/sampling.h"
#include "trees/draft_tree.h"
#include "verifiers/acceptance_rule.h"
#include "verifiers/rule_typical.h"

namespace speclab {

struct RuleParams {
  TypicalParams typical;  // used by "typical" only
};

// Makes the rule called `name` (one of rule_names()). Throws Error listing the known names for
// an unknown name, or naming the field for bad params.
std::unique_ptr<AcceptanceRule> make_rule(std::string_view name, const RuleParams& params = {});

// "greedy", "speculative", "multi-iid", "deterministic", "without-replacement", "typical",
// "spectr".
std::vector<std::string> rule_names();

// The lossless rule to use for trees whose children were made as `children`: "greedy" when
// sampling is greedy, else "deterministic", "multi-iid" or "without-replacement".
std::string default_rule_for(ChildSampling children, bool greedy);

// Throws Error naming the rule and the temperature when `rule` is valid only for greedy targets
// (requires_greedy) and `sampling` samples.
void check_rule_sampling(const AcceptanceRule& rule, const SamplingParams& sampling);

// The default rules of one decode (greedy or not), one per ChildSampling kind: for_tree()
// returns default_rule_for(kind, greedy). All are made up front (no allocation per step).
class DefaultRules {
 public:
  explicit DefaultRules(bool greedy);
  const AcceptanceRule& for_tree(ChildSampling children) const { return *rules_[static_cast<int>(children)]; }

 private:
  std::unique_ptr<AcceptanceRule> rules_[3];
};

}  // namespace speclab
