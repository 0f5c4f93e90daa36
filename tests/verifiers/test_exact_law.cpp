// Exact-law tests (issue 15): for every lossless rule on every tree kind it accepts, the EXACT
// law of the emitted tokens (accepted path + bonus, continued across steps up to n tokens),
// computed by enumerating every random event of the shipped rule code
// (tests/testing/exact_law.h), equals the target's law: total variation <= kTol. No Monte
// Carlo: an error in one cell of 1e-8 is visible. Mutants (deliberately wrong rules, each a
// classic bug) must deviate by more than 1000 * kTol; the first one passes any test that looks
// only at the first two tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ops/sampling.h"
#include "tests/testing/exact_law.h"
#include "verifiers/rule_common.h"
#include "verifiers/rule_multi_iid.h"
#include "verifiers/rule_spectr.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

using testing::Continue;
using testing::emitted_law;
using testing::kseq_spec;
using testing::law_distance;
using testing::LawWorld;
using testing::make_world;
using testing::SpecKind;
using testing::target_law;
using testing::TreeSpec;

// The worlds' rows are exact distributions (make_world: multiples of 2^-24 summing to 1) and the
// rules compute in double, so the only error left is double rounding (measured <= 3e-15 in total
// variation). With float32 residuals (before issue 15) multi-iid, speculative and
// without-replacement were off by up to 5e-8.
constexpr double kTol = 1e-9;

SamplingParams sampling(float t, std::int32_t k = 0, float p = 1.0f) {
  SamplingParams s;
  s.temperature = t;
  s.top_k = k;
  s.top_p = p;
  return s;
}

struct Case {
  std::string rule;
  TreeSpec spec;
  std::int32_t vocab;
  SamplingParams sp, sq;  // target and draft sampling
  std::int32_t n;         // emitted tokens compared
  Continue cont;
};

std::string describe(const Case& c) {
  std::string s = c.rule + " on " + testing::to_string(c.spec.kind) + " {";
  for (std::size_t i = 0; i < c.spec.branching.size(); ++i) s += (i ? "," : "") + std::to_string(c.spec.branching[i]);
  s += "} V=" + std::to_string(c.vocab) + " T=" + std::to_string(c.sp.temperature) +
       " top_k=" + std::to_string(c.sp.top_k) + " top_p=" + std::to_string(c.sp.top_p) + " n=" + std::to_string(c.n) +
       (c.cont == Continue::kSameRule ? " (same rule across steps)" : "");
  return s;
}

testing::LawDistance distance(const Case& c, const AcceptanceRule& rule, std::uint64_t seed = 11) {
  const LawWorld w = make_world(c.vocab, seed, c.sp, c.sq);
  const Token a = 1, b = 2;
  const std::vector<double> got = emitted_law(w, c.spec, rule, a, b, c.n, c.cont);
  const std::vector<double> want = target_law(w, a, b, c.n);
  double total = 0.0;
  for (double v : got) total += v;
  EXPECT_NEAR(total, 1.0, 1e-12) << describe(c);
  return law_distance(got, want);
}

TreeSpec spec(SpecKind k, std::vector<std::int32_t> b) { return TreeSpec{k, std::move(b)}; }
TreeSpec chain(std::int32_t gamma) { return kseq_spec(1, gamma); }

std::vector<Case> lossless_cases() {
  const SamplingParams t1 = sampling(1.0f), t07 = sampling(0.7f), tkp = sampling(1.0f, 4, 0.9f);
  const SamplingParams q1 = sampling(1.0f), qk = sampling(1.2f, 3), qk2 = sampling(1.0f, 2);  // zeros where p has mass
  return {
      // speculative: chains, depth 4 (5 tokens), and short chains continued by the same rule.
      {"speculative", chain(4), 5, t1, q1, 5, Continue::kTarget},
      {"speculative", chain(4), 5, t07, qk, 5, Continue::kTarget},
      {"speculative", chain(2), 4, tkp, q1, 5, Continue::kSameRule},
      // multi-iid: branching trees, k sequences, chains.
      {"multi-iid", spec(SpecKind::kIid, {2, 2}), 4, t1, q1, 3, Continue::kTarget},
      {"multi-iid", spec(SpecKind::kIid, {3}), 9, t07, qk, 2, Continue::kTarget},
      {"multi-iid", kseq_spec(2, 3), 4, tkp, q1, 4, Continue::kTarget},
      {"multi-iid", kseq_spec(2, 2), 4, t1, qk, 5, Continue::kSameRule},
      {"multi-iid", chain(4), 5, t07, q1, 5, Continue::kTarget},
      // spectr: k sequences (its trees), i.i.d. branching trees, chains.
      {"spectr", kseq_spec(2, 3), 3, t1, q1, 4, Continue::kTarget},
      {"spectr", kseq_spec(3, 2), 3, t07, q1, 3, Continue::kTarget},
      {"spectr", kseq_spec(2, 2), 3, t1, qk2, 5, Continue::kSameRule},
      {"spectr", kseq_spec(4, 1), 5, tkp, q1, 2, Continue::kTarget},
      {"spectr", spec(SpecKind::kIid, {2, 2}), 3, t1, q1, 3, Continue::kTarget},
      {"spectr", chain(4), 5, t1, q1, 5, Continue::kTarget},
      // deterministic: fixed top-k candidates and random candidates (duplicates).
      {"deterministic", spec(SpecKind::kDetTopK, {3, 2, 1}), 8, t1, q1, 4, Continue::kTarget},
      {"deterministic", spec(SpecKind::kDetTopK, {2, 1, 1, 1}), 6, tkp, q1, 5, Continue::kSameRule},
      {"deterministic", spec(SpecKind::kDetRandom, {2, 2}), 4, t07, q1, 3, Continue::kTarget},
      {"deterministic", spec(SpecKind::kDetRandom, {3}), 12, t1, qk, 2, Continue::kTarget},
      // without-replacement: distinct siblings, several levels.
      {"without-replacement", spec(SpecKind::kWithoutReplacement, {2, 2}), 4, t1, q1, 3, Continue::kTarget},
      {"without-replacement", spec(SpecKind::kWithoutReplacement, {3, 1}), 5, t07, qk, 3, Continue::kTarget},
      {"without-replacement", spec(SpecKind::kWithoutReplacement, {2, 1, 1}), 4, tkp, q1, 4, Continue::kTarget},
  };
}

class ExactLaw : public ::testing::TestWithParam<std::string> {};

TEST_P(ExactLaw, EmittedTokensFollowTheTargetExactly) {
  const auto rule = make_rule(GetParam());
  int n = 0;
  for (const Case& c : lossless_cases()) {
    if (c.rule != GetParam()) continue;
    ++n;
    const auto d = distance(c, *rule);
    std::printf("%-90s TV %.3g max cell %.3g\n", describe(c).c_str(), d.tv, d.max_cell);
    EXPECT_LE(d.tv, kTol) << describe(c);
  }
  EXPECT_GE(n, 3);
}

INSTANTIATE_TEST_SUITE_P(Rules, ExactLaw,
                         ::testing::Values("speculative", "multi-iid", "spectr", "deterministic",
                                           "without-replacement"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s) {
                             if (ch == '-') ch = '_';
                           }
                           return s;
                         });

// Temperature 0: rows are one-hot; greedy (and every lossless rule) emits the argmax path.
TEST(ExactLaw, GreedyAtTemperatureZero) {
  const SamplingParams t0 = sampling(0.0f);
  for (const Case& c : std::vector<Case>{
           {"greedy", spec(SpecKind::kDetTopK, {3, 2, 1}), 8, t0, sampling(1.0f), 4, Continue::kSameRule},
           {"greedy", spec(SpecKind::kIid, {2, 2}), 4, t0, sampling(1.0f), 4, Continue::kSameRule},
           {"greedy", spec(SpecKind::kWithoutReplacement, {2, 1}), 5, t0, sampling(1.0f), 4, Continue::kTarget},
           {"multi-iid", spec(SpecKind::kIid, {2, 2}), 4, t0, t0, 4, Continue::kSameRule},
           {"spectr", kseq_spec(2, 2), 4, t0, sampling(1.0f, 2), 4, Continue::kSameRule},
       }) {
    const auto d = distance(c, *make_rule(c.rule));
    EXPECT_LE(d.tv, kTol) << describe(c);
  }
}

// ---- mutants: each must be caught ---------------------------------------------------------

// The multi-iid walk with two switchable bugs.
class MutantIid final : public AcceptanceRule {
 public:
  enum Bug { kDeepResidualFromP, kBonusFromP };
  explicit MutantIid(Bug bug) : AcceptanceRule(RuleTraits{.lossless = false}), bug_(bug) {}
  std::string_view name() const override { return "mutant-iid"; }
  void check_tree(const DraftTree& tree) const override { tree.validate(); }
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out) const override {
    rule_detail::start(out);
    std::int32_t cur = 0;
    while (true) {
      res_.assign(p.row(cur).begin(), p.row(cur).end());
      bool rejected = false, deep = false;
      std::int32_t next = -1;
      for (std::int32_t c = rule_detail::next_child(tree, cur, cur); c >= 0; c = rule_detail::next_child(tree, cur, c)) {
        const Token x = tree.token[c];
        if (rng.uniform() < static_cast<double>(res_[x]) / tree.q_row(cur)[x]) {
          next = c;
          break;
        }
        rule_detail::subtract_and_normalize(std::span<double>(res_), tree.q_row(cur));
        rejected = true;
        deep = deep || tree.depth[c] >= 3;
      }
      if (next < 0) {
        // kDeepResidualFromP: a rejection at depth >= 3 resamples from p, not the residual.
        // kBonusFromP: every rejection does.
        const bool from_p = rejected && (bug_ == kBonusFromP || deep);
        out.bonus = from_p ? sample_from(p.row(cur), rng) : rule_detail::sample_weights(std::span<const double>(res_), 1.0, rng);
        return;
      }
      out.path.push_back(next);
      cur = next;
    }
  }

 private:
  Bug bug_;
  mutable std::vector<double> res_;
};

// The deterministic walk with two switchable bugs.
class MutantDeterministic final : public AcceptanceRule {
 public:
  enum Bug { kResidualKeepsRejected, kUnnormalised };
  explicit MutantDeterministic(Bug bug) : AcceptanceRule(RuleTraits{.lossless = false}), bug_(bug) {}
  std::string_view name() const override { return "mutant-deterministic"; }
  void check_tree(const DraftTree& tree) const override { tree.validate(); }
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out) const override {
    rule_detail::start(out);
    std::int32_t cur = 0;
    while (true) {
      const auto row = p.row(cur);
      std::vector<Token> rejected;
      double mass = 0.0;
      std::int32_t next = -1;
      for (std::int32_t c = rule_detail::next_child(tree, cur, cur); c >= 0; c = rule_detail::next_child(tree, cur, c)) {
        const Token x = tree.token[c];
        const bool seen = std::find(rejected.begin(), rejected.end(), x) != rejected.end();
        const double px = seen ? 0.0 : row[x];
        // kUnnormalised: accept with p(x) instead of r(x) = p(x) / (1 - rejected mass).
        const double prob = bug_ == kUnnormalised ? px : px / (1.0 - mass);
        if (rng.uniform() < prob) {
          next = c;
          break;
        }
        if (!seen) {
          rejected.push_back(x);
          mass += px;
        }
      }
      if (next < 0) {
        std::vector<float> res(row.begin(), row.end());
        // kResidualKeepsRejected: the first rejected token stays in the residual.
        for (std::size_t i = bug_ == kResidualKeepsRejected ? 1 : 0; i < rejected.size(); ++i) res[rejected[i]] = 0.0f;
        double total = 0.0;
        for (float v : res) total += v;
        out.bonus = rule_detail::sample_weights(res, total, rng);
        return;
      }
      out.path.push_back(next);
      cur = next;
    }
  }

 private:
  Bug bug_;
};

// multi-iid's maths (the shipped walk) applied to siblings drawn WITHOUT replacement.
class IidOnWithoutReplacement final : public AcceptanceRule {
 public:
  IidOnWithoutReplacement() : AcceptanceRule(RuleTraits{.lossless = false}) {}
  std::string_view name() const override { return "iid-on-swor"; }
  void check_tree(const DraftTree& tree) const override { tree.validate(); }
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out) const override {
    rule_detail::accept_iid_tree(tree, p, rng, out, res_, name());
  }

 private:
  mutable std::vector<double> res_;
};

// K-SEQ on one level with rho = 1 (no scaling): invalid for k >= 2, its residual clipped at 0.
class SpecTrRhoOne final : public AcceptanceRule {
 public:
  SpecTrRhoOne() : AcceptanceRule(RuleTraits{.lossless = false}) {}
  std::string_view name() const override { return "spectr-rho-1"; }
  void check_tree(const DraftTree& tree) const override { tree.validate(); }
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out) const override {
    rule_detail::start(out);
    const auto pr = p.row(0), q = tree.q_row(0);
    std::int32_t m = 0;
    for (std::int32_t c = 1; c < tree.size(); ++c) m += tree.parent[c] == 0;
    for (std::int32_t c = 1; c < tree.size(); ++c) {
      if (tree.parent[c] != 0) continue;
      if (rng.uniform() < pr[tree.token[c]] / q[tree.token[c]]) {
        out.path.push_back(c);
        out.bonus = sample_from(p.row(c), rng);
        return;
      }
    }
    const double g = spectr_detail::acceptance_scale(spectr_detail::beta(pr, q, 1.0), m);
    std::vector<float> res(pr.size());
    double total = 0.0;
    for (std::size_t x = 0; x < pr.size(); ++x) {
      res[x] = static_cast<float>(std::max(0.0, pr[x] - std::min<double>(q[x], pr[x]) * g));
      total += res[x];
    }
    out.bonus = total > 0.0 ? rule_detail::sample_weights(res, total, rng) : sample_from(pr, rng);
  }
};

struct MutantCase {
  std::string what;
  std::shared_ptr<AcceptanceRule> rule;
  Case c;
};

TEST(ExactLaw, EveryMutantIsCaught) {
  const SamplingParams t1 = sampling(1.0f), q1 = sampling(1.0f);
  const std::vector<MutantCase> cases = {
      {"depth >= 3 rejection resamples from p", std::make_shared<MutantIid>(MutantIid::kDeepResidualFromP),
       {"", chain(4), 5, t1, q1, 5, Continue::kTarget}},
      {"bonus from p instead of the residual", std::make_shared<MutantIid>(MutantIid::kBonusFromP),
       {"", spec(SpecKind::kIid, {2, 2}), 4, t1, q1, 3, Continue::kTarget}},
      {"residual keeps a rejected token", std::make_shared<MutantDeterministic>(MutantDeterministic::kResidualKeepsRejected),
       {"", spec(SpecKind::kDetTopK, {3, 2, 1}), 8, t1, q1, 4, Continue::kTarget}},
      {"unnormalised deterministic acceptance", std::make_shared<MutantDeterministic>(MutantDeterministic::kUnnormalised),
       {"", spec(SpecKind::kDetTopK, {3, 2, 1}), 8, t1, q1, 4, Continue::kTarget}},
      {"iid maths on without-replacement siblings", std::make_shared<IidOnWithoutReplacement>(),
       {"", spec(SpecKind::kWithoutReplacement, {2, 2}), 4, t1, q1, 3, Continue::kTarget}},
      {"K-SEQ with rho = 1", std::make_shared<SpecTrRhoOne>(),
       {"", kseq_spec(3, 1), 6, t1, q1, 2, Continue::kTarget}},
      {"typical acceptance (lossy by design)", std::shared_ptr<AcceptanceRule>(make_rule("typical")),
       {"", spec(SpecKind::kDetRandom, {3, 1}), 4, t1, q1, 3, Continue::kTarget}},
  };
  for (const MutantCase& m : cases) {
    const auto d = distance(m.c, *m.rule);
    const LawWorld w = make_world(m.c.vocab, 11, m.c.sp, m.c.sq);
    std::printf("%-45s TV %.3g (depth-1 acceptance %.4f)\n", m.what.c_str(), d.tv,
                testing::depth1_acceptance(w, m.c.spec, *m.rule, 1, 2));
    EXPECT_GT(d.tv, 1000 * kTol) << m.what << ": not caught";
  }
}

// The depth-3 mutant passes a test of the first two tokens and is caught at the third.
TEST(ExactLaw, DeepResidualMutantIsInvisibleToTwoTokenTests) {
  const Case c{"", chain(4), 5, sampling(1.0f), sampling(1.0f), 5, Continue::kTarget};
  const LawWorld w = make_world(c.vocab, 11, c.sp, c.sq);
  const MutantIid bad(MutantIid::kDeepResidualFromP);
  const auto got = emitted_law(w, c.spec, bad, 1, 2, 5, Continue::kTarget);
  const auto want = target_law(w, 1, 2, 5);
  const auto pair_got = testing::pair_marginal(got, w.vocab, 5, 0, 1);
  const auto pair_want = testing::pair_marginal(want, w.vocab, 5, 0, 1);
  EXPECT_LE(law_distance(pair_got, pair_want).tv, kTol) << "tokens 1-2 are unaffected";
  const auto third = law_distance(testing::marginal(got, w.vocab, 5, 2), testing::marginal(want, w.vocab, 5, 2));
  const auto joint = law_distance(got, want);
  std::printf("deep mutant: token-3 marginal TV %.3g, joint TV %.3g\n", third.tv, joint.tv);
  EXPECT_GT(third.tv, 1000 * kTol) << "token 3 catches it";
  EXPECT_GT(joint.tv, 1000 * kTol);
}

}  // namespace
}  // namespace speclab
