// Sampling losslessness with the training-free drafters (DESIGN.md contract 3): their trees are
// fixed candidates (ChildSampling::kDeterministic), verified with the `deterministic` rule under
// temperature sampling. Uses the h/trees statistical harness (tests/testing/stat_harness.h):
// a small-vocab synthetic target, exact first-token and pair laws, chi-square tests. Unlike
// testing::simulate (which takes its TestDrafter), this loop drives any Drafter through
// propose() from the growing context, as the decode loop does (without observe, so each draw
// sees the same drafter state).
#pragma once
#include <gtest/gtest.h>

#include <vector>

#include "drafters/drafter.h"
#include "tests/testing/stat_harness.h"
#include "verifiers/rules.h"

namespace speclab::testing {

struct DrafterStatResult {
  ChiSquareResult first, pair;
  double mean_accepted = 0.0;  // accepted draft tokens in the first step
  double mean_drafted = 0.0;
};

inline DrafterStatResult simulate_drafter(const SyntheticTarget& target, const SamplingParams& sp,
                                          Drafter& drafter, const AcceptanceRule& rule,
                                          const std::vector<Token>& context, DraftBudget budget,
                                          std::int32_t n_draws, std::uint64_t seed) {
  const std::int32_t v = target.vocab();
  std::vector<float> table(static_cast<std::size_t>(v) * v * v);
  for (Token a = 0; a < v; ++a) {
    for (Token b = 0; b < v; ++b) {
      target.probs(a, b, sp, std::span<float>(table).subspan((static_cast<std::size_t>(a) * v + b) * v, v));
    }
  }
  std::vector<std::int64_t> first(v, 0), pair(static_cast<std::size_t>(v) * v, 0);
  Rng rng(seed);
  DraftTree tree;
  Acceptance acc;
  std::vector<float> rows;
  std::vector<Token> seq;
  std::int64_t accepted = 0, drafted = 0;
  for (std::int32_t draw = 0; draw < n_draws; ++draw) {
    seq = context;
    bool first_step = true;
    while (seq.size() < context.size() + 2) {
      drafter.propose(DraftContext{seq, &sp, &rng}, budget, tree);
      rule.check_tree(tree);
      rows.resize(static_cast<std::size_t>(tree.size()) * v);
      for (std::int32_t i = 0; i < tree.size(); ++i) {
        const Token before = i == 0 ? seq[seq.size() - 2] : tree.token[tree.parent[i]];
        std::copy_n(table.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(before) * v + tree.token[i]) * v),
                    v, rows.begin() + static_cast<std::ptrdiff_t>(i) * v);
      }
      rule.accept(tree, TargetRows{v, rows}, rng, acc);
      if (first_step) {
        accepted += acc.n_accepted();
        drafted += tree.size() - 1;
      }
      first_step = false;
      for (std::size_t j = 1; j < acc.path.size(); ++j) seq.push_back(tree.token[acc.path[j]]);
      seq.push_back(acc.bonus);
    }
    const Token t0 = seq[context.size()], t1 = seq[context.size() + 1];
    ++first[t0];
    ++pair[static_cast<std::size_t>(t0) * v + t1];
  }
  std::vector<double> exact_first, exact_pair;
  exact_laws(target, sp, context, exact_first, exact_pair);
  DrafterStatResult r;
  r.first = chi_square_test(first, exact_first);
  r.pair = chi_square_test(pair, exact_pair);
  r.mean_accepted = static_cast<double>(accepted) / n_draws;
  r.mean_drafted = static_cast<double>(drafted) / n_draws;
  return r;
}

// A context of n tokens sampled from the target (so it has the target's n-gram statistics).
inline std::vector<Token> sample_context(const SyntheticTarget& target, const SamplingParams& sp,
                                         std::int32_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Token> seq = {0, 1};
  std::vector<float> p(target.vocab());
  std::vector<std::int32_t> scratch;
  while (static_cast<std::int32_t>(seq.size()) < n) {
    target.probs(seq[seq.size() - 2], seq.back(), sp, p);
    seq.push_back(sample_from(p, rng));
  }
  return seq;
}

// Runs the drafter with `deterministic` (must pass) at temperature 0.8 with top-k 5 and top-p
// 0.95 (plain temperature-1 sampling with the default rule is the drafter contract suite's,
// tests/drafters/test_drafter_contract.cpp), and with `greedy` under sampling (a wrong rule: must
// fail, showing the test has power). The drafter must already hold its state.
inline void expect_sampling_lossless(Drafter& drafter, const SyntheticTarget& target,
                                     const std::vector<Token>& context, const char* what) {
  for (const SamplingParams sp : {SamplingParams{0.8f, 5, 0.95f}}) {
    auto rule = make_rule("deterministic");
    const auto r = simulate_drafter(target, sp, drafter, *rule, context, {12, 0}, 40000, 99);
    EXPECT_GT(r.first.p_value, 1e-4) << what << " first token chi2 " << r.first.statistic;
    EXPECT_GT(r.pair.p_value, 1e-4) << what << " pair chi2 " << r.pair.statistic;
    EXPECT_EQ(r.first.impossible + r.pair.impossible, 0) << what;
    EXPECT_GT(r.mean_drafted, 1.0) << what << ": the drafter should propose something";
    EXPECT_GT(r.mean_accepted, 0.05) << what << ": some drafts should be accepted";
  }
  auto wrong = make_rule("greedy");
  const auto bad = simulate_drafter(target, SamplingParams{1.0f, 0, 1.0f}, drafter, *wrong,
                                    context, {12, 0}, 5000, 5);
  EXPECT_LT(bad.first.p_value, 1e-6) << what << ": the greedy rule under sampling must be caught";
}

// The lookup drafters' case: an order-2 vocab-8 SyntheticTarget and an 80-token context sampled
// from it (so the context has the target's n-gram statistics).
struct LookupStatCase {
  SyntheticTarget target{8, 2, 31};
  std::vector<Token> context = sample_context(target, SamplingParams{1.0f, 0, 1.0f}, 80, 4);
};

// expect_sampling_lossless on a LookupStatCase after drafter.begin(context).
inline void expect_sampling_lossless_after_begin(Drafter& drafter, const char* what) {
  const LookupStatCase c;
  drafter.begin(c.context);
  expect_sampling_lossless(drafter, c.target, c.context, what);
}

}  // namespace speclab::testing
