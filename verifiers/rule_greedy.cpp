#include "verifiers/rule_greedy.h"

#include "ops/sampling.h"
#include "verifiers/rule_common.h"

namespace speclab {

void GreedyRule::check_tree(const DraftTree& tree) const { tree.validate(); }

void GreedyRule::accept(const DraftTree& tree, const TargetRows& p, Rng& /*rng*/,
                        Acceptance& out) const {
  rule_detail::check_rows(tree, p, false, name());
  rule_detail::start(out);
  std::int32_t cur = 0;
  while (true) {
    const Token best = argmax(p.row(cur));
    std::int32_t next = -1;
    for (std::int32_t c = rule_detail::next_child(tree, cur, cur); c >= 0;
         c = rule_detail::next_child(tree, cur, c)) {
      if (tree.token[c] == best) {
        next = c;
        break;
      }
    }
    if (next < 0) {
      out.bonus = best;
      return;
    }
    out.path.push_back(next);
    cur = next;
  }
}

}  // namespace speclab
