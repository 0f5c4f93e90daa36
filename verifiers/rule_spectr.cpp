#include "verifiers/rule_spectr.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "ops/sampling.h"
#include "verifiers/rule_common.h"

namespace speclab {

namespace spectr_detail {

double beta(std::span<const float> p, std::span<const float> q, double rho) {
  double b = 0.0;
  for (std::size_t x = 0; x < q.size(); ++x) {
    if (q[x] > 0.0f) b += std::min(static_cast<double>(q[x]), static_cast<double>(p[x]) / rho);
  }
  return b;
}

double acceptance_scale(double b, std::int32_t m) {
  if (!(b > 0.0)) return static_cast<double>(m);
  if (b >= 1.0) return 1.0 / b;
  return -std::expm1(m * std::log1p(-b)) / b;  // (1 - (1 - b)^m) / b without cancellation
}

double optimal_rho(std::span<const float> p, std::span<const float> q, std::int32_t m) {
  if (m <= 1) return 1.0;
  auto valid = [&](double rho) { return acceptance_scale(beta(p, q, rho), m) <= rho; };
  if (valid(1.0)) return 1.0;
  // f(rho) = scale(beta(rho)) - rho: > 0 at lo, <= 0 (valid) at hi. Regula falsi with the
  // Illinois modification (both ends keep moving), keeping the valid end.
  auto f = [&](double rho) { return acceptance_scale(beta(p, q, rho), m) - rho; };
  double lo = 1.0, hi = static_cast<double>(m);
  double f_lo = f(lo), f_hi = f(hi);
  int side = 0;
  for (int it = 0; it < 200 && hi - lo > 1e-12 * hi; ++it) {
    double x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
    if (!(x > lo && x < hi)) x = 0.5 * (lo + hi);
    const double fx = f(x);
    if (fx <= 0.0) {
      hi = x;
      f_hi = fx;
      if (side == -1) f_lo *= 0.5;
      side = -1;
    } else {
      lo = x;
      f_lo = fx;
      if (side == 1) f_hi *= 0.5;
      side = 1;
    }
  }
  return hi;
}

}  // namespace spectr_detail

void SpecTrRule::check_tree(const DraftTree& tree) const {
  tree.validate();
  rule_detail::require_kind(tree, ChildSampling::kIidSampled, name());
  rule_detail::require_q(tree, name());
}

void SpecTrRule::accept(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out) const {
  rule_detail::check_rows(tree, p, true, name());
  rule_detail::start(out);
  const std::int32_t n = tree.size();
  in_group_.assign(n, 0);
  group_.assign(1, 0);
  in_group_[0] = 1;
  std::int32_t rep = 0;  // the accepted node of the deepest level reached so far
  while (true) {
    // Candidates: children of every group node, in index order (group_ is in index order and
    // children follow their parents).
    cands_.clear();
    for (std::int32_t j = group_.front() + 1; j < n; ++j) {
      if (in_group_[tree.parent[j]]) cands_.push_back(j);
    }
    const std::span<const float> p_row = p.row(rep);
    const std::span<const float> q_row = tree.q_row(rep);
    if (cands_.empty()) {
      out.bonus = sample_from(p_row, rng);
      break;
    }
    const std::int32_t m = static_cast<std::int32_t>(cands_.size());
    const double rho = spectr_detail::optimal_rho(p_row, q_row, m);
    std::int32_t accepted = -1;
    for (const std::int32_t c : cands_) {
      const Token x = tree.token[c];
      const float qx = q_row[x];
      if (!(qx > 0.0f)) {
        fail("acceptance rule '{}': node {} token {} has q = {} under its parent's row: it "
             "cannot have been drawn from q",
             name(), c, x, qx);
      }
      if (rng.uniform() < static_cast<double>(p_row[x]) / (rho * qx)) {
        accepted = c;
        break;
      }
    }
    if (accepted < 0) {
      // p_res(x) proportional to p(x) - min(q(x), p(x) / rho) * g (>= 0 since g <= rho).
      const double g = spectr_detail::acceptance_scale(spectr_detail::beta(p_row, q_row, rho), m);
      res_.resize(p_row.size());
      double total = 0.0;
      for (std::size_t x = 0; x < p_row.size(); ++x) {
        const double px = p_row[x];
        const double taken = q_row[x] > 0.0f ? std::min(static_cast<double>(q_row[x]), px / rho) * g : 0.0;
        res_[x] = std::max(px - taken, 0.0);
        total += res_[x];
      }
      if (!(total > 0.0)) {  // rounding only: acceptance was certain
        out.bonus = sample_from(p_row, rng);
        break;
      }
      const double u = rng.uniform() * total;
      double cum = 0.0;
      Token bonus = -1;
      for (std::size_t x = 0; x < res_.size(); ++x) {
        if (res_[x] > 0.0) {
          cum += res_[x];
          bonus = static_cast<Token>(x);
          if (u < cum) break;
        }
      }
      out.bonus = bonus;
      break;
    }
    // Next group: this level's candidates with the accepted token and the same q row.
    for (const std::int32_t g : group_) in_group_[g] = 0;
    group_.clear();
    const Token x = tree.token[accepted];
    const std::span<const float> q_acc = tree.q_row(accepted);
    for (const std::int32_t c : cands_) {
      if (tree.token[c] != x) continue;
      if (c != accepted &&
          std::memcmp(tree.q_row(c).data(), q_acc.data(), q_acc.size() * sizeof(float)) != 0) {
        continue;
      }
      group_.push_back(c);
      in_group_[c] = 1;
    }
    rep = accepted;
  }
  // The accepted path: the root-to-rep chain.
  for (std::int32_t a = rep; a > 0; a = tree.parent[a]) out.path.push_back(a);
  std::reverse(out.path.begin() + 1, out.path.end());
}

}  // namespace speclab
