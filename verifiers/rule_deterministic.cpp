#include "verifiers/rule_deterministic.h"

#include <algorithm>

#include "ops/sampling.h"
#include "verifiers/rule_common.h"

namespace speclab {

void DeterministicRule::check_tree(const DraftTree& tree) const {
  tree.validate();
  rule_detail::require_kind(tree, ChildSampling::kDeterministic, name());
}

void DeterministicRule::accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
                               Acceptance& out) const {
  rule_detail::check_rows(tree, p, false, name());
  rule_detail::start(out);
  std::int32_t cur = 0;
  while (true) {
    const std::span<const float> p_row = p.row(cur);
    rejected_.clear();
    double rejected_mass = 0.0;
    std::int32_t next = -1;
    for (std::int32_t c = rule_detail::next_child(tree, cur, cur); c >= 0;
         c = rule_detail::next_child(tree, cur, c)) {
      const Token x = tree.token[c];
      const bool seen = std::find(rejected_.begin(), rejected_.end(), x) != rejected_.end();
      const double px = seen ? 0.0 : static_cast<double>(p_row[x]);
      const double mass = 1.0 - rejected_mass;  // r(x) = p(x) / mass for x not yet rejected
      const double accept_prob = mass > 0.0 ? px / mass : (px > 0.0 ? 1.0 : 0.0);
      if (rng.uniform() < accept_prob) {
        next = c;
        break;
      }
      if (!seen) {
        rejected_.push_back(x);
        rejected_mass += px;
      }
    }
    if (next >= 0) {
      out.path.push_back(next);
      cur = next;
      continue;
    }
    if (rejected_.empty()) {
      out.bonus = sample_from(p_row, rng);  // a leaf: plain sampling, as autoregressive
      return;
    }
    res_.assign(p_row.begin(), p_row.end());
    for (const Token x : rejected_) res_[x] = 0.0f;
    double total = 0.0;
    for (const float v : res_) total += v;
    if (!(total > 0.0)) {  // rounding only: every token with mass was rejected
      out.bonus = sample_from(p_row, rng);
      return;
    }
    out.bonus = rule_detail::sample_weights(res_, total, rng);
    return;
  }
}

}  // namespace speclab
