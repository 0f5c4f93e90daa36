#include "verifiers/rule_speculative.h"

#include "base/error.h"
#include "verifiers/rule_common.h"
#include "verifiers/rule_multi_iid.h"

namespace speclab {

void SpeculativeRule::check_tree(const DraftTree& tree) const {
  tree.validate();
  rule_detail::require_kind(tree, ChildSampling::kIidSampled, name());
  rule_detail::require_q(tree, name());
  for (std::int32_t i = 1; i < tree.size(); ++i) {
    if (tree.parent[i] != i - 1) {
      fail("acceptance rule '{}': node {} has parent {}: this rule requires a chain (each node "
           "at most one child; use multi-iid for trees)",
           name(), i, tree.parent[i]);
    }
  }
}

void SpeculativeRule::accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
                             Acceptance& out) const {
  // A chain is the one-child case of the multi-step walk: identical math.
  rule_detail::accept_iid_tree(tree, p, rng, out, res_, name());
}

}  // namespace speclab
