#include "verifiers/rule_typical.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "ops/sampling.h"
#include "verifiers/rule_common.h"

namespace speclab {

void TypicalParams::validate() const {
  if (!(epsilon > 0.0f && epsilon <= 1.0f)) {
    fail("typical rule: epsilon = {}: must be in (0, 1]", epsilon);
  }
  if (!(delta > 0.0f && delta <= 1.0f)) fail("typical rule: delta = {}: must be in (0, 1]", delta);
}

TypicalRule::TypicalRule(TypicalParams params) : AcceptanceRule(RuleTraits{.lossless = false}), params_(params) {
  params_.validate();
}

void TypicalRule::check_tree(const DraftTree& tree) const { tree.validate(); }

void TypicalRule::accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
                         Acceptance& out) const {
  rule_detail::check_rows(tree, p, false, name());
  rule_detail::start(out);
  std::int32_t cur = 0;
  while (true) {
    const std::span<const float> p_row = p.row(cur);
    std::int32_t next = -1;
    std::int32_t c = rule_detail::next_child(tree, cur, cur);
    if (c >= 0) {
      double entropy = 0.0;
      for (const float v : p_row) {
        if (v > 0.0f) entropy -= static_cast<double>(v) * std::log(static_cast<double>(v));
      }
      const double threshold =
          std::min(static_cast<double>(params_.epsilon), params_.delta * std::exp(-entropy));
      for (; c >= 0; c = rule_detail::next_child(tree, cur, c)) {
        if (p_row[tree.token[c]] > threshold) {
          next = c;
          break;
        }
      }
    }
    if (next < 0) {
      out.bonus = sample_from(p_row, rng);
      return;
    }
    out.path.push_back(next);
    cur = next;
  }
}

}  // namespace speclab
