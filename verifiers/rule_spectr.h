// `spectr`: k-sequential draft selection (SpecTr, Sun et al. 2023, "SpecTr: Fast Speculative
// Decoding via Optimal Transport", the K-SEQ algorithm) for trees of k i.i.d. draft sequences
// (draft-model mode=kseq) and, more generally, any tree whose children are drawn i.i.d.
//
// One level, target row p, draft row q, m candidates X_1..X_m i.i.d. ~ q, and a scale
// rho in [1, m]: beta(rho) = sum_x min(q(x), p(x) / rho). Test the candidates in order: accept
// X_i with probability min(1, p(X_i) / (rho q(X_i))); if all are rejected, draw the bonus from
//   p_res(x) = [p(x) - min(q(x), p(x) / rho) * g] / (1 - beta)^m,  g = (1 - (1 - beta)^m) / beta.
// P(output x by acceptance) = min(q(x), p(x)/rho) * g, so the output is distributed as p iff
// g <= rho (then p_res >= 0); the acceptance 1 - (1 - beta(rho))^m falls as rho grows, so the
// paper's choice is the rho* with g(beta(rho*)) = rho*, found here on [1, m] (g >= 1 at
// rho = 1, g <= m at rho = m) to 1e-12 by regula falsi (Illinois), keeping the valid end
// (g <= rho) so that rounding can only cost acceptance, never exactness. m = 1 gives rho = 1: plain speculative
// sampling.
//
// Draft sequences that share the accepted prefix all continue (SpecTr's selection over a set of
// sequences): after accepting token x at a level, the next level's candidates are the children
// of EVERY candidate of this level with token x (and the same q row): given the accepted prefix
// and the decisions so far, their tokens are i.i.d. draws from q(. | prefix), so the next level
// is again one K-SEQ step, with m = their number. The accepted path is the root-to-node chain of
// the last accepted node (its ancestors carry the accepted tokens). The next level's target row
// is the accepted node's row (nodes with equal prefixes have equal target rows).
//
// Valid for: ChildSampling::kIidSampled trees with q rows; a candidate whose token has q = 0
// under its row cannot have been drawn from it: accept() throws Error.
// Not thread-safe: keeps scratch buffers as mutable members (one rule object per thread).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "verifiers/acceptance_rule.h"

namespace speclab {

class SpecTrRule final : public AcceptanceRule {
 public:
  std::string_view name() const override { return "spectr"; }
  void check_tree(const DraftTree& tree) const override;
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override;

 private:
  mutable std::vector<std::int32_t> group_, cands_;  // nodes of the accepted prefix; their children
  mutable std::vector<std::uint8_t> in_group_;       // [tree size] 1 for group members
  mutable std::vector<double> res_;                  // [vocab] residual weights
};

namespace spectr_detail {
// beta(rho) = sum_x min(q(x), p(x) / rho).
double beta(std::span<const float> p, std::span<const float> q, double rho);
// The paper's scale for m candidates: a rho in [1, m] with acceptance_scale(beta(rho), m) <= rho,
// within 1e-12 of a root of acceptance_scale(beta(rho), m) = rho (1 when m = 1).
double optimal_rho(std::span<const float> p, std::span<const float> q, std::int32_t m);
// (1 - (1 - beta)^m) / beta (its limit m at beta = 0).
double acceptance_scale(double beta, std::int32_t m);
}  // namespace spectr_detail

}  // namespace speclab
