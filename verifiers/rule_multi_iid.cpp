#include "verifiers/rule_multi_iid.h"

#include "base/error.h"
#include "ops/sampling.h"
#include "verifiers/rule_common.h"

namespace speclab {

namespace rule_detail {

void accept_iid_tree(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out,
                     std::vector<double>& res, std::string_view rule) {
  check_rows(tree, p, true, rule);
  start(out);
  std::int32_t cur = 0;
  while (true) {
    const std::span<const float> p_row = p.row(cur);
    const std::span<const float> q_row = tree.q_row(cur);
    bool residual = false;  // the target r is p_row until the first rejection, then `res`
    std::int32_t next = -1;
    for (std::int32_t c = next_child(tree, cur, cur); c >= 0; c = next_child(tree, cur, c)) {
      const Token x = tree.token[c];
      const float qx = q_row[x];
      if (!(qx > 0.0f)) {
        fail("acceptance rule '{}': node {} token {} has q = {} under its parent's row: it "
             "cannot have been drawn from q",
             rule, c, x, qx);
      }
      const double rx = residual ? res[x] : static_cast<double>(p_row[x]);
      if (rng.uniform() < rx / qx) {
        next = c;
        break;
      }
      if (!residual) {
        res.assign(p_row.begin(), p_row.end());
        residual = true;
      }
      subtract_and_normalize(std::span<double>(res), q_row);
    }
    if (next < 0) {
      out.bonus = residual ? sample_weights(std::span<const double>(res), 1.0, rng) : sample_from(p_row, rng);
      return;
    }
    out.path.push_back(next);
    cur = next;
  }
}

}  // namespace rule_detail

void MultiIidRule::check_tree(const DraftTree& tree) const {
  tree.validate();
  rule_detail::require_kind(tree, ChildSampling::kIidSampled, name());
  rule_detail::require_q(tree, name());
}

void MultiIidRule::accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
                          Acceptance& out) const {
  rule_detail::accept_iid_tree(tree, p, rng, out, res_, name());
}

}  // namespace speclab
