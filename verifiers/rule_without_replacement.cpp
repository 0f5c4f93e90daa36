#include "verifiers/rule_without_replacement.h"

#include "base/error.h"
#include "ops/sampling.h"
#include "verifiers/rule_common.h"

namespace speclab {

void WithoutReplacementRule::check_tree(const DraftTree& tree) const {
  tree.validate();
  rule_detail::require_kind(tree, ChildSampling::kWithoutReplacement, name());
  rule_detail::require_q(tree, name());
  for (std::int32_t i = 1; i < tree.size(); ++i) {
    for (std::int32_t j = i + 1; j < tree.size(); ++j) {
      if (tree.parent[j] == tree.parent[i] && tree.token[j] == tree.token[i]) {
        fail("acceptance rule '{}': nodes {} and {} are siblings with the same token {}: "
             "children drawn without replacement must be distinct",
             name(), i, j, tree.token[i]);
      }
    }
  }
}

void WithoutReplacementRule::accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
                                    Acceptance& out) const {
  rule_detail::check_rows(tree, p, true, name());
  rule_detail::start(out);
  std::int32_t cur = 0;
  while (true) {
    const std::span<const float> p_row = p.row(cur);
    const std::span<const float> q_row = tree.q_row(cur);
    bool residual = false;  // r = p_row and q = q_row until the first rejection, then res_ and q_
    std::int32_t next = -1;
    for (std::int32_t c = rule_detail::next_child(tree, cur, cur); c >= 0;
         c = rule_detail::next_child(tree, cur, c)) {
      const Token x = tree.token[c];
      const double qx = residual ? q_[x] : static_cast<double>(q_row[x]);
      if (!(qx > 0.0)) {
        fail("acceptance rule '{}': node {} token {} has q = {} after removing its earlier "
             "siblings: it cannot have been drawn without replacement from q",
             name(), c, x, qx);
      }
      const double rx = residual ? res_[x] : static_cast<double>(p_row[x]);
      if (rng.uniform() < rx / qx) {
        next = c;
        break;
      }
      if (!residual) {
        res_.assign(p_row.begin(), p_row.end());
        q_.assign(q_row.begin(), q_row.end());
        residual = true;
      }
      rule_detail::subtract_and_normalize(std::span<double>(res_), std::span<const double>(q_));
      // q_{i+1} = q_i without x, renormalized.
      const double rest = 1.0 - q_[x];
      q_[x] = 0.0;
      if (rest > 0.0) {
        const double inv = 1.0 / rest;
        for (double& v : q_) v *= inv;
      }
    }
    if (next < 0) {
      out.bonus = residual ? rule_detail::sample_weights(std::span<const double>(res_), 1.0, rng)
                           : sample_from(p_row, rng);
      return;
    }
    out.path.push_back(next);
    cur = next;
  }
}

}  // namespace speclab
