#include "verifiers/rules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "verifiers/rule_deterministic.h"
#include "verifiers/rule_greedy.h"
#include "verifiers/rule_multi_iid.h"
#include "verifiers/rule_speculative.h"
#include "verifiers/rule_spectr.h"
#include "verifiers/rule_without_replacement.h"

namespace speclab {

std::vector<std::string> rule_names() {
  return {"greedy", "speculative", "multi-iid", "deterministic", "without-replacement", "typical", "spectr"};
}

std::unique_ptr<AcceptanceRule> make_rule(std::string_view name, const RuleParams& params) {
  if (name == "greedy") return std::make_unique<GreedyRule>();
  if (name == "speculative") return std::make_unique<SpeculativeRule>();
  if (name == "multi-iid") return std::make_unique<MultiIidRule>();
  if (name == "deterministic") return std::make_unique<DeterministicRule>();
  if (name == "without-replacement") return std::make_unique<WithoutReplacementRule>();
  if (name == "typical") return std::make_unique<TypicalRule>(params.typical);
  if (name == "spectr") return std::make_unique<SpecTrRule>();
  fail("acceptance rule = '{}': unknown; known rules: {}", name, fmt::join(rule_names(), ", "));
}

std::string default_rule_for(ChildSampling children, bool greedy) {
  if (greedy) return "greedy";
  switch (children) {
    case ChildSampling::kDeterministic: return "deterministic";
    case ChildSampling::kIidSampled: return "multi-iid";
    case ChildSampling::kWithoutReplacement: return "without-replacement";
  }
  return "deterministic";
}

void check_rule_sampling(const AcceptanceRule& rule, const SamplingParams& sampling) {
  if (rule.requires_greedy() && !sampling.greedy()) {
    fail("rule {}: temperature = {}: {} accepts only the target's argmax, so with a sampled target its output does "
         "not follow the target distribution; use temperature 0 or a sampling rule (auto)",
         rule.name(), sampling.temperature, rule.name());
  }
}

DefaultRules::DefaultRules(bool greedy) {
  for (ChildSampling c :
       {ChildSampling::kDeterministic, ChildSampling::kIidSampled, ChildSampling::kWithoutReplacement}) {
    rules_[static_cast<int>(c)] = make_rule(default_rule_for(c, greedy));
  }
}

}  // namespace speclab
