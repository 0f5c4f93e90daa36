// The gap to the optimum (verifiers/opt_bound.h, issue 15): the exact optimal depth-1 acceptance
// min over token sets A of [p(V \ A) + P(draft set meets A)] by enumeration of all 2^V sets (and,
// without replacement, of all ordered draws), against which
//   - opt_accept_bound() is a certified upper bound (never below the exact optimum) and tight
//     where the nested sets are optimal (k = 1: 1 - TV);
//   - the exact depth-1 acceptance of every shipped rule (tests/testing/exact_law.h) never
//     exceeds the optimum; `deterministic` reaches p(candidates) exactly, and multi-iid reaches
//     the optimum for one draft;
//   - root_accept_bound() picks the right law per tree kind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "base/rng.h"
#include "tests/testing/exact_law.h"
#include "verifiers/opt_bound.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

using testing::LawWorld;
using testing::SpecKind;
using testing::TreeSpec;

// A random distribution over v tokens; `zeros` of them get probability 0.
std::vector<float> random_row(std::int32_t v, Rng& rng, std::int32_t zeros, double spread) {
  std::vector<double> w(v);
  double total = 0.0;
  for (auto& x : w) {
    x = std::exp(spread * rng.normal());
    total += x;
  }
  for (std::int32_t i = 0; i < zeros; ++i) {
    const auto at = rng.below(v);
    total -= w[at];
    w[at] = 0.0;
  }
  // Multiples of 2^-24 summing to exactly 1 (the largest entry takes the difference): every sum
  // in the tests is then exact, so "exact" means exact.
  std::vector<float> out(v);
  std::int64_t units = 0;
  std::int32_t big = 0;
  for (std::int32_t i = 0; i < v; ++i) {
    const auto k = static_cast<std::int64_t>(std::llround(w[i] / total * 16777216.0));
    out[i] = static_cast<float>(k / 16777216.0);
    units += k;
    if (out[i] > out[big]) big = i;
  }
  out[big] = static_cast<float>((std::llround(out[big] * 16777216.0) + (16777216 - units)) / 16777216.0);
  return out;
}

// P(k draws from q meet A) exactly: i.i.d. in closed form; without replacement by summing the
// successive-sampling law over all ordered draws that avoid A.
double meet_exact(const std::vector<float>& q, std::uint32_t a_mask, std::int32_t k, DraftSetLaw law) {
  double a = 0.0;
  for (std::size_t x = 0; x < q.size(); ++x) {
    if (a_mask >> x & 1u) a += q[x];
  }
  if (law == DraftSetLaw::kIid) return 1.0 - std::pow(1.0 - a, k);
  std::int32_t support = 0;
  for (float v : q) support += v > 0.0f;
  k = std::min(k, support);  // as Gumbel-top-k: no more draws than tokens with q > 0
  // avoid(used, j): probability that draws j..k-1 avoid A given the drawn set `used`.
  std::function<double(std::uint32_t, std::int32_t, double)> avoid = [&](std::uint32_t used, std::int32_t j,
                                                                        double rest) -> double {
    if (j == k) return 1.0;
    double s = 0.0;
    for (std::size_t x = 0; x < q.size(); ++x) {
      if ((used >> x & 1u) || (a_mask >> x & 1u) || !(q[x] > 0.0f)) continue;
      s += q[x] / rest * avoid(used | 1u << x, j + 1, rest - q[x]);
    }
    return s;
  };
  return 1.0 - avoid(0, 0, 1.0);
}

double opt_exact(const std::vector<float>& p, const std::vector<float>& q, std::int32_t k, DraftSetLaw law) {
  const std::int32_t v = static_cast<std::int32_t>(p.size());
  double best = 1.0;
  for (std::uint32_t m = 0; m < (1u << v); ++m) {
    double p_out = 0.0;
    for (std::int32_t x = 0; x < v; ++x) {
      if (!(m >> x & 1u)) p_out += p[x];
    }
    best = std::min(best, p_out + meet_exact(q, m, k, law));
  }
  return best;
}

TEST(OptBound, MeetProbabilityBoundIsCertifiedWithoutReplacement) {
  Rng rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const std::int32_t v = 6;
    const auto q = random_row(v, rng, trial % 3, 1.2);
    const std::uint32_t a_mask = static_cast<std::uint32_t>(rng.below(1u << v));
    for (std::int32_t k = 1; k <= 4; ++k) {
      double a = 0.0;
      std::vector<double> top;
      for (std::int32_t x = 0; x < v; ++x) {
        if (a_mask >> x & 1u) {
          a += q[x];
        } else if (q[x] > 0.0f) {
          top.push_back(q[x]);
        }
      }
      std::sort(top.begin(), top.end(), std::greater<double>());
      const double exact = meet_exact(q, a_mask, k, DraftSetLaw::kWithoutReplacement);
      const double bound = meet_probability(a, k, DraftSetLaw::kWithoutReplacement, top);
      EXPECT_GE(bound, exact - 1e-12) << "trial " << trial << " k " << k;
      EXPECT_NEAR(meet_probability(a, k, DraftSetLaw::kIid, {}), meet_exact(q, a_mask, k, DraftSetLaw::kIid), 1e-12);
    }
  }
}

TEST(OptBound, BoundIsAtLeastTheExactOptimum) {
  Rng rng(17);
  double gap_sum = 0.0;
  int n = 0;
  for (int trial = 0; trial < 120; ++trial) {
    const std::int32_t v = 4 + trial % 5;  // 4 .. 8 tokens
    const auto p = random_row(v, rng, trial % 2, 1.5);
    const auto q = random_row(v, rng, (trial / 2) % 3, 1.0);
    for (const DraftSetLaw law : {DraftSetLaw::kIid, DraftSetLaw::kWithoutReplacement}) {
      for (std::int32_t k = 1; k <= 3; ++k) {
        OptBoundScratch s;
        const double exact = opt_exact(p, q, k, law);
        const double bound = opt_accept_bound(p, q, k, law, s);
        EXPECT_GE(bound, exact - 1e-9) << "trial " << trial << " k " << k;
        EXPECT_LE(bound, 1.0);
        gap_sum += bound - exact;
        ++n;
        if (k == 1) {  // one draft: the optimum is sum min(p, q) = 1 - TV, a nested set
          double overlap = 0.0;
          for (std::int32_t x = 0; x < v; ++x) overlap += std::min(p[x], q[x]);
          EXPECT_NEAR(exact, overlap, 1e-9);
          EXPECT_NEAR(bound, overlap, 1e-6) << "trial " << trial;
        }
      }
    }
  }
  std::printf("mean gap bound - exact optimum: %.3g over %d cases\n", gap_sum / n, n);
  EXPECT_LT(gap_sum / n, 0.01) << "the nested-set bound should be close to the optimum";
}

TEST(OptBound, FixedSetIsItsProbabilityMass) {
  const std::vector<float> p = {0.5f, 0.25f, 0.125f, 0.125f};
  const std::vector<Token> set = {2, 0, 2};
  EXPECT_DOUBLE_EQ(fixed_set_acceptance(p, set), 0.625);  // duplicates count once
  // The exact optimum over sets for a point-mass "draw" of the candidates is p(S).
}

TEST(OptBound, RootBoundPerTreeKind) {
  const std::int32_t v = 4;
  const std::vector<float> p = {0.5f, 0.25f, 0.125f, 0.125f};
  const std::vector<float> q = {0.25f, 0.25f, 0.25f, 0.25f};
  OptBoundScratch s;
  std::vector<Token> tokens;
  DraftTree t;
  t.reset(0, ChildSampling::kIidSampled, v);
  EXPECT_TRUE(std::isnan(root_accept_bound(t, p, s, tokens))) << "no children";
  std::copy(q.begin(), q.end(), t.q_row_mut(0).begin());
  t.add(1, 0);
  t.add(1, 0);
  EXPECT_DOUBLE_EQ(root_accept_bound(t, p, s, tokens), opt_accept_bound(p, q, 2, DraftSetLaw::kIid, s));
  EXPECT_NEAR(root_accept_bound(t, p, s, tokens), opt_exact(p, q, 2, DraftSetLaw::kIid), 1e-9);
  t.children = ChildSampling::kWithoutReplacement;
  t.token[2] = 3;
  EXPECT_DOUBLE_EQ(root_accept_bound(t, p, s, tokens), opt_accept_bound(p, q, 2, DraftSetLaw::kWithoutReplacement, s));
  t.children = ChildSampling::kDeterministic;
  EXPECT_DOUBLE_EQ(root_accept_bound(t, p, s, tokens), 0.375);  // p(1) + p(3)
  DraftTree no_q;
  no_q.reset(0, ChildSampling::kIidSampled);
  no_q.add(1, 0);
  EXPECT_TRUE(std::isnan(root_accept_bound(no_q, p, s, tokens)));
}

// No lossless rule beats the optimum: the exact depth-1 acceptance of each rule (every random
// event of the shipped code enumerated) against the exact optimum of its root draft set.
TEST(OptBound, NoRuleExceedsTheOptimum) {
  SamplingParams t1;
  t1.temperature = 1.0f;
  SamplingParams t07 = t1;
  t07.temperature = 0.7f;
  struct RuleCase {
    const char* rule;
    TreeSpec spec;
    DraftSetLaw law;
  };
  const std::vector<RuleCase> cases = {
      {"multi-iid", {SpecKind::kIid, {1}}, DraftSetLaw::kIid},
      {"multi-iid", {SpecKind::kIid, {2}}, DraftSetLaw::kIid},
      {"multi-iid", {SpecKind::kIid, {3}}, DraftSetLaw::kIid},
      {"spectr", {SpecKind::kIid, {2}}, DraftSetLaw::kIid},
      {"spectr", {SpecKind::kIid, {3}}, DraftSetLaw::kIid},
      {"without-replacement", {SpecKind::kWithoutReplacement, {2}}, DraftSetLaw::kWithoutReplacement},
      {"without-replacement", {SpecKind::kWithoutReplacement, {3}}, DraftSetLaw::kWithoutReplacement},
  };
  for (const SamplingParams& sp : {t1, t07}) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      const LawWorld w = testing::make_world(6, seed, sp, t1);
      const Token a = 1, b = 2;
      const std::vector<float> p(w.p_row(a, b).begin(), w.p_row(a, b).end());
      const std::vector<float> q(w.q_row(b).begin(), w.q_row(b).end());
      for (const RuleCase& c : cases) {
        const std::int32_t k = c.spec.branching[0];
        const double achieved = testing::depth1_acceptance(w, c.spec, *make_rule(c.rule), a, b);
        const double opt = opt_exact(p, q, k, c.law);
        OptBoundScratch s;
        const double bound = opt_accept_bound(p, q, k, c.law, s);
        std::printf("%-20s k=%d T=%.1f seed %d: achieved %.6f optimum %.6f bound %.6f\n", c.rule, k,
                    sp.temperature, int(seed), achieved, opt, bound);
        EXPECT_LE(achieved, opt + 1e-9) << c.rule << " k " << k;
        EXPECT_LE(achieved, bound + 1e-9) << c.rule << " k " << k;
        if (k == 1) {
          EXPECT_NEAR(achieved, opt, 1e-9) << "one draft: speculative sampling is optimal";
        }
      }
      // Fixed candidates: `deterministic` accepts exactly p(candidates), the optimum.
      const TreeSpec topk{SpecKind::kDetTopK, {3}};
      const auto trees = testing::tree_law(w, topk, b);
      ASSERT_EQ(trees.size(), 1u);
      std::vector<Token> cand(trees[0].tree.token.begin() + 1, trees[0].tree.token.end());
      EXPECT_NEAR(testing::depth1_acceptance(w, topk, *make_rule("deterministic"), a, b),
                  fixed_set_acceptance(p, cand), 1e-9);
    }
  }
}

}  // namespace
}  // namespace speclab
