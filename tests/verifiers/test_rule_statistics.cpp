// Sampling losslessness (DESIGN.md contract 3): for every lossless rule and each tree kind it
// accepts, the emitted tokens follow the target distribution. Chi-square tests over 1e5 decodes
// with fixed seeds on the first token and on (first, second) pairs; p-value threshold 1e-4.
// The harness must be able to fail: a deliberately wrong rule and the lossy `typical` rule are
// asserted to be REJECTED.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "ops/sampling.h"
#include "tests/testing/stat_harness.h"
#include "verifiers/rule_common.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

using testing::chi_square_sf;
using testing::chi_square_test;
using testing::exact_laws;
using testing::simulate;
using testing::SimulationResult;
using testing::SyntheticTarget;
using testing::TestDrafter;
using testing::TreeKind;

constexpr std::int32_t kVocab = 12;
constexpr std::int32_t kDraws = 100000;
constexpr double kAlpha = 1e-4;
const std::vector<Token> kContext = {3, 7};

SamplingParams params(float t, std::int32_t k = 0, float p = 1.0f) {
  SamplingParams sp;
  sp.temperature = t;
  sp.top_k = k;
  sp.top_p = p;
  return sp;
}

struct Fit {
  double p_first, p_pair, mean_accepted;
};

Fit run(const AcceptanceRule& rule, const TestDrafter& drafter, const SamplingParams& sp,
        std::uint64_t seed, std::int32_t order = 2) {
  const SyntheticTarget target(kVocab, order, 1234, 1.5f);
  const SimulationResult sim = simulate(target, sp, drafter, rule, kContext, kDraws, seed);
  std::vector<double> first, pair;
  exact_laws(target, sp, kContext, first, pair);
  return {chi_square_test(sim.first, first).p_value, chi_square_test(sim.pair, pair).p_value,
          sim.mean_accepted};
}

TEST(StatHarness, ChiSquareSurvivalKnownValues) {
  EXPECT_NEAR(chi_square_sf(3.841458820694124, 1), 0.05, 1e-9);
  EXPECT_NEAR(chi_square_sf(18.307038053275146, 10), 0.05, 1e-9);
  EXPECT_NEAR(chi_square_sf(2.0, 2), std::exp(-1.0), 1e-12);  // dof 2: exp(-x/2)
  EXPECT_NEAR(chi_square_sf(124.34211340400407, 100), 0.05, 1e-8);
  EXPECT_NEAR(chi_square_sf(0.0, 5), 1.0, 0.0);
}

TEST(StatHarness, ZeroProbabilityCellFailsOutright) {
  const std::vector<std::int64_t> obs = {500, 499, 1};
  const std::vector<double> exp = {0.5, 0.5, 0.0};
  EXPECT_EQ(chi_square_test(obs, exp).p_value, 0.0);
}

// A wrong rule: accept with min(1, p/q) like multi-iid but, on rejection, draw the bonus from
// the ORIGINAL p instead of the residual (a classic bug). Valid for iid trees.
class ResampleFromPRule final : public AcceptanceRule {
 public:
  ResampleFromPRule() : AcceptanceRule(RuleTraits{.lossless = false}) {}
  std::string_view name() const override { return "wrong-resample-from-p"; }
  void check_tree(const DraftTree& tree) const override { tree.validate(); }
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng,
              Acceptance& out) const override {
    rule_detail::start(out);
    std::int32_t cur = 0;
    while (true) {
      std::int32_t next = -1;
      for (std::int32_t c = rule_detail::next_child(tree, cur, cur); c >= 0;
           c = rule_detail::next_child(tree, cur, c)) {
        const Token x = tree.token[c];
        if (rng.uniform() < p.row(cur)[x] / tree.q_row(cur)[x]) {
          next = c;
          break;
        }
      }
      if (next < 0) {
        out.bonus = sample_from(p.row(cur), rng);
        return;
      }
      out.path.push_back(next);
      cur = next;
    }
  }
};

TEST(StatHarness, CatchesAWrongRule) {
  const ResampleFromPRule bad;
  const TestDrafter drafter(kVocab, 99, TreeKind::kChainIid, {1, 1, 1});
  const Fit fit = run(bad, drafter, params(1.0f), 5);
  EXPECT_LT(fit.p_first, kAlpha);
  EXPECT_LT(fit.p_pair, kAlpha);
}

TEST(StatHarness, DetectsTypicalAcceptanceBias) {
  const auto typical = make_rule("typical", {});
  EXPECT_FALSE(typical->lossless());
  // Deterministic top-3 candidates: typical acceptance takes any candidate above the entropy
  // threshold, so the drafter's favourites are over-represented.
  const TestDrafter drafter(kVocab, 99, TreeKind::kDeterministicTopK, {3, 2});
  const Fit fit = run(*typical, drafter, params(1.0f), 6);
  EXPECT_LT(fit.p_first, kAlpha);
  EXPECT_LT(fit.p_pair, kAlpha);
}

TEST(StatHarness, RootOnlyTreeIsAutoregressiveSampling) {
  // A tree of only the root: every rule must reduce to sample_from(p row 0) with one draw.
  const TestDrafter drafter(kVocab, 99, TreeKind::kIidTree, {});
  for (const std::string name : {"multi-iid", "speculative"}) {
    const Fit fit = run(*make_rule(name, {}), drafter, params(0.9f), 7);
    EXPECT_GT(fit.p_first, kAlpha) << name;
    EXPECT_GT(fit.p_pair, kAlpha) << name;
  }
  // Same first token as plain sample_from with the same seed, for every rule.
  const SyntheticTarget target(kVocab, 2, 1234, 1.5f);
  std::vector<float> row(kVocab);
  target.probs(kContext[0], kContext[1], params(0.9f), row);
  for (const std::string& name : rule_names()) {
    const auto rule = make_rule(name, {});
    DraftTree tree;
    const ChildSampling kind = name == "deterministic" || name == "greedy" || name == "typical"
                                   ? ChildSampling::kDeterministic
                               : name == "without-replacement" ? ChildSampling::kWithoutReplacement
                                                                : ChildSampling::kIidSampled;
    tree.reset(kContext[1], kind, kVocab);
    if (name == "greedy") continue;  // greedy takes the argmax instead
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
      Rng a(seed), b(seed);
      Acceptance acc;
      rule->accept(tree, TargetRows{kVocab, row}, a, acc);
      EXPECT_EQ(acc.bonus, sample_from(row, b)) << name;
      EXPECT_EQ(a.next_u64(), b.next_u64()) << name << ": one rng draw";
    }
  }
}

struct Case {
  std::string rule;
  TreeKind kind;
  std::vector<std::int32_t> branching;
  SamplingParams q_params;
};

std::string case_name(const Case& c) {
  return c.rule + "/" + testing::to_string(c.kind) + "/" + std::to_string(c.branching.size()) +
         "lvl" + (c.q_params.top_k > 0 ? "/q-topk" : "");
}

std::vector<Case> lossless_cases() {
  const SamplingParams q_plain = params(1.0f);
  const SamplingParams q_topk = params(1.2f, 6);  // q has zeros where p has mass
  return {
      {"speculative", TreeKind::kChainIid, {1, 1, 1, 1}, q_plain},
      {"speculative", TreeKind::kChainIid, {1, 1, 1}, q_topk},
      {"multi-iid", TreeKind::kIidTree, {3, 2}, q_plain},
      {"multi-iid", TreeKind::kIidTree, {4, 2}, q_topk},
      {"deterministic", TreeKind::kDeterministicTopK, {3, 2}, q_plain},
      {"deterministic", TreeKind::kDeterministicRandom, {4, 2}, q_plain},
      {"deterministic", TreeKind::kDeterministicRandom, {3, 3}, q_topk},
      {"without-replacement", TreeKind::kWithoutReplacement, {3, 2}, q_plain},
      {"without-replacement", TreeKind::kWithoutReplacement, {4, 2}, q_topk},
  };
}

std::vector<std::pair<std::string, SamplingParams>> sampling_cases() {
  return {{"t0.7", params(0.7f)},
          {"t1.0", params(1.0f)},
          {"t1.0-topk4", params(1.0f, 4)},
          {"t0.8-topp0.8", params(0.8f, 0, 0.8f)}};
}

void check_rule(const std::string& name, std::uint64_t seed) {
  const auto rule = make_rule(name, {});
  ASSERT_TRUE(rule->lossless());
  int n_cases = 0;
  for (const Case& c : lossless_cases()) {
    if (c.rule != name) continue;
    ++n_cases;
    const TestDrafter drafter(kVocab, 77, c.kind, c.branching, c.q_params);
    for (const auto& [sname, sp] : sampling_cases()) {
      const Fit fit = run(*rule, drafter, sp, ++seed);
      EXPECT_GT(fit.p_first, kAlpha) << case_name(c) << " " << sname;
      EXPECT_GT(fit.p_pair, kAlpha) << case_name(c) << " " << sname;
      EXPECT_GT(fit.mean_accepted, 0.1) << case_name(c) << " " << sname << ": drafts never accepted";
    }
  }
  EXPECT_GT(n_cases, 0);
}

TEST(RuleStatistics, SpeculativeMatchesTarget) { check_rule("speculative", 100); }
TEST(RuleStatistics, MultiIidMatchesTarget) { check_rule("multi-iid", 200); }
TEST(RuleStatistics, DeterministicMatchesTarget) { check_rule("deterministic", 300); }
TEST(RuleStatistics, WithoutReplacementMatchesTarget) { check_rule("without-replacement", 400); }

// An order-1 target, top-k and top-p together, and a few more tree shapes.
TEST(RuleStatistics, OrderOneTargetWithTopKAndTopP) {
  std::uint64_t seed = 900;
  std::vector<Case> cases = lossless_cases();
  cases.push_back({"multi-iid", TreeKind::kChainIid, {1, 1, 1}, params(1.0f)});
  cases.push_back({"without-replacement", TreeKind::kWithoutReplacement, {1, 1, 1}, params(1.0f)});
  cases.push_back({"deterministic", TreeKind::kDeterministicTopK, {2, 2, 2}, params(1.0f)});
  for (const Case& c : cases) {
    const TestDrafter drafter(kVocab, 78, c.kind, c.branching, c.q_params);
    const Fit fit = run(*make_rule(c.rule, {}), drafter, params(1.0f, 6, 0.9f), ++seed, 1);
    EXPECT_GT(fit.p_first, kAlpha) << case_name(c);
    EXPECT_GT(fit.p_pair, kAlpha) << case_name(c);
  }
}

// Temperature 0: p is one-hot, so every lossless rule (and greedy on every tree) must emit the
// greedy continuation every time.
TEST(RuleStatistics, TemperatureZeroIsGreedyForEveryRule) {
  const SyntheticTarget target(kVocab, 2, 1234, 1.5f);
  std::vector<double> first, pair;
  exact_laws(target, params(0.0f), kContext, first, pair);
  const auto expected_pair = std::max_element(pair.begin(), pair.end()) - pair.begin();
  ASSERT_EQ(pair[expected_pair], 1.0);
  std::vector<Case> cases = lossless_cases();
  for (TreeKind k : {TreeKind::kChainIid, TreeKind::kIidTree, TreeKind::kDeterministicTopK,
                     TreeKind::kDeterministicRandom, TreeKind::kWithoutReplacement}) {
    cases.push_back({"greedy", k, {3, 2, 1}, params(1.0f)});
  }
  for (const Case& c : cases) {
    const TestDrafter drafter(kVocab, 77, c.kind, c.branching, c.q_params);
    const SimulationResult sim =
        simulate(target, params(0.0f), drafter, *make_rule(c.rule, {}), kContext, 2000, 3);
    EXPECT_EQ(sim.pair[expected_pair], 2000) << case_name(c);
  }
}

}  // namespace
}  // namespace speclab
