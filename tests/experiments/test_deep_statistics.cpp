// Deep sampling losslessness through the real loop (issue 15): every q-based rule (speculative,
// multi-iid, spectr, without-replacement) with every drafter that makes trees of its kind
// (draft-model chain / iid / kseq / swor, early-exit, del, lookahead), through decode() on a
// random LlamaModel target (so the cache compaction of multi-node accepted paths under sampling
// is exercised), 100,000 decodes of 5 tokens per configuration with fixed seeds. Compared with
// the target's exact law (from the model's own forwards): the marginal of each of tokens 1..5 and
// the joint law of tokens (4, 5), chi-square, Bonferroni-corrected over every test of the file
// (family-wise 1e-3). In the same runs the depth-1 acceptance never exceeds the mean
// opt_accept_bound of the steps beyond an Azuma-Hoeffding margin (false alarm 1e-6).
// A mutant rule (a rejection at depth >= 3 resamples from p) must be caught at token 3 (30,000
// decodes), while tokens 1-2 pass. AddressSanitizer builds run 2 of the 12 configurations
// (kSanitized); the Release pass runs all.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include "drafters/registry.h"
#include "experiments/decode.h"
#include "model/llama_model.h"
#include "ops/sampling.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/drafter_files.h"
#include "tests/testing/sanitizer.h"
#include "tests/testing/stat_harness.h"
#include "verifiers/rule_common.h"
#include "verifiers/rules.h"

namespace speclab::testing {
namespace {

constexpr std::int32_t kVocab = 8;
constexpr std::int32_t kTokens = 5;
constexpr std::int32_t kDraws = 100000;
constexpr std::int32_t kTestsPerConfig = kTokens + 1;  // 5 marginals + one pair
constexpr std::int32_t kConfigs = 12;                   // deep_cases().size(), for Bonferroni
constexpr double kAlpha = 1e-3 / (kTestsPerConfig * kConfigs);

// A random 3-layer target (vocab 8) and the files every drafter kind needs (the draft model is
// its first layer).
struct World {
  std::shared_ptr<const LlamaWeights> weights;
  DrafterFiles files;
  DrafterEnv env;
  explicit World(std::shared_ptr<const LlamaWeights> w) : weights(w), files(w, 1), env(files.env()) {}
};

const World& world() {
  static const World w([] {
    ModelInfo info = synthetic_info(8, 16, 3, 2, 1, kVocab, 32);
    info.source = "synthetic:deep";
    info.tied_classifier = false;
    return std::make_shared<const LlamaWeights>(random_llama_weights(info, 5));
  }());
  return w;
}

const std::vector<Token> kPrompt = {1, 5, 3};

// Exact joint law of the next kTokens tokens (index t1 * V^4 + ... + t5) from full forwards.
std::vector<double> exact_joint(LanguageModel& model, const SamplingParams& sp) {
  std::vector<double> law(static_cast<std::size_t>(std::pow(kVocab, kTokens)), 0.0);
  std::vector<Token> seq = kPrompt;
  std::vector<std::int32_t> pos, scratch;
  std::vector<float> p(kVocab);
  ForwardOutput out;
  std::function<void(double, std::int64_t, std::int32_t)> walk = [&](double prob, std::int64_t index, std::int32_t n) {
    if (n == kTokens) {
      law[index] += prob;
      return;
    }
    model.truncate(0);
    pos.resize(seq.size());
    std::iota(pos.begin(), pos.end(), 0);
    ForwardBatch b;
    b.tokens = seq;
    b.positions = pos;
    model.forward(b, out);
    logits_to_probs(out.row(out.n_rows - 1), sp, p, scratch);
    const std::vector<float> row = p;
    for (Token x = 0; x < kVocab; ++x) {
      if (!(row[x] > 0.0f)) continue;
      seq.push_back(x);
      walk(prob * row[x], index * kVocab + x, n + 1);
      seq.pop_back();
    }
  };
  walk(1.0, 0, 0);
  model.truncate(0);
  return law;
}

struct Case {
  std::string name;
  std::string spec;  // drafter spec (registry)
  std::string rule;  // "" = the default rule for the drafter's trees
  float temperature;
  std::int32_t top_k;
  float top_p;
  std::int32_t budget;
  bool in_sanitized_run;  // one of the subset AddressSanitizer builds run
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.spec << " rule " << (c.rule.empty() ? "auto" : c.rule) << " T " << c.temperature << " top-k " << c.top_k
      << " top-p " << c.top_p << " budget " << c.budget;
}

const std::vector<Case>& deep_cases() {
  static const std::vector<Case> cases = {
      // Each drafter of q-sampled trees at least once, each rule with at least two drafters.
      {"Chain_Speculative_T1", "draft-model:mode=chain,gamma=4", "speculative", 1.0f, 0, 1.0f, 4, true},
      {"Chain_Spectr_T07", "draft-model:mode=chain,gamma=4", "spectr", 0.7f, 0, 1.0f, 4, false},
      {"Iid_MultiIid_T1TopK5", "draft-model:mode=iid,branching=3x2x1", "multi-iid", 1.0f, 5, 1.0f, 15, false},
      {"KSeq_MultiIid_T07", "draft-model:mode=kseq,k=3,gamma=3", "multi-iid", 0.7f, 0, 1.0f, 9, false},
      {"KSeq_Spectr_T1", "draft-model:mode=kseq,k=3,gamma=3", "spectr", 1.0f, 0, 1.0f, 9, true},
      {"KSeq_Spectr_T1TopP09", "draft-model:mode=kseq,k=2,gamma=4", "spectr", 1.0f, 0, 0.9f, 8, false},
      {"Swor_WithoutReplacement_T1", "draft-model:mode=swor,branching=2x2x1", "without-replacement", 1.0f, 0, 1.0f,
       10, false},
      {"Swor_WithoutReplacement_T07TopP09", "draft-model:mode=swor,branching=2x2x1", "", 0.7f, 0, 0.9f, 10, false},
      {"EarlyExit_Spectr_T07TopK5", "early-exit:exit=1,d=3", "spectr", 0.7f, 5, 1.0f, 8, false},
      {"Del_MultiIid_T1", "del", "multi-iid", 1.0f, 0, 1.0f, 8, false},
      {"Lookahead_MultiIid_T1", "lookahead", "", 1.0f, 0, 1.0f, 8, false},
      {"Lookahead_Spectr_T08TopP09", "lookahead", "spectr", 0.8f, 0, 0.9f, 8, false},
  };
  return cases;
}

struct DeepResult {
  std::vector<ChiSquareResult> marginals;  // tokens 1..5
  ChiSquareResult pair;                     // tokens (4, 5)
  std::int64_t depth1_trials = 0, depth1_accepted = 0;
  double bound_sum = 0.0;
};

DeepResult run_deep(const Case& c, const AcceptanceRule* rule, std::int32_t draws) {
  const World& w = world();
  LlamaModel target(w.weights, 1);
  auto drafter = make_drafter(w.files.expand(c.spec), w.env);
  DecodeOptions opt;
  opt.sampling.temperature = c.temperature;
  opt.sampling.top_k = c.top_k;
  opt.sampling.top_p = c.top_p;
  opt.max_new_tokens = kTokens;
  opt.stop_at_bos = opt.stop_at_eos = false;
  opt.budget = DraftBudget{c.budget, 0};
  std::vector<std::vector<std::int64_t>> counts(kTokens, std::vector<std::int64_t>(kVocab, 0));
  std::vector<std::int64_t> pair(kVocab * kVocab, 0);
  DeepResult r;
  for (std::int32_t i = 0; i < draws; ++i) {
    opt.seed = 7000 + static_cast<std::uint64_t>(i);
    const DecodeResult d = decode(target, drafter.get(), rule, kPrompt, opt);
    if (d.tokens.size() != kTokens) ADD_FAILURE() << "draw " << i << " emitted " << d.tokens.size() << " tokens";
    for (std::int32_t t = 0; t < kTokens; ++t) ++counts[t][d.tokens[t]];
    ++pair[d.tokens[3] * kVocab + d.tokens[4]];
    for (const StepRecord& s : d.steps) {
      if (s.tree_depth < 1 || std::isnan(s.opt_accept_bound)) continue;
      ++r.depth1_trials;
      r.depth1_accepted += s.n_accepted >= 1;
      r.bound_sum += s.opt_accept_bound;
    }
  }
  const std::vector<double> joint = exact_joint(target, opt.sampling);
  for (std::int32_t t = 0; t < kTokens; ++t) {
    std::vector<double> m(kVocab, 0.0);
    const std::int64_t stride = static_cast<std::int64_t>(std::pow(kVocab, kTokens - 1 - t));
    for (std::size_t k = 0; k < joint.size(); ++k) m[(static_cast<std::int64_t>(k) / stride) % kVocab] += joint[k];
    r.marginals.push_back(chi_square_test(counts[t], m));
  }
  std::vector<double> pm(kVocab * kVocab, 0.0);
  for (std::size_t k = 0; k < joint.size(); ++k) pm[(k / kVocab) % kVocab * kVocab + k % kVocab] += joint[k];
  r.pair = chi_square_test(pair, pm);
  return r;
}

class DeepStatistics : public ::testing::TestWithParam<Case> {};

TEST_P(DeepStatistics, TokensOneToFiveFollowTheTarget) {
  const Case& c = GetParam();
  if (kSanitized && !c.in_sanitized_run) GTEST_SKIP() << "AddressSanitizer build: runs only the subset";
  std::unique_ptr<AcceptanceRule> rule = c.rule.empty() ? nullptr : make_rule(c.rule);
  const DeepResult r = run_deep(c, rule.get(), kDraws);
  for (std::int32_t t = 0; t < kTokens; ++t) {
    EXPECT_GT(r.marginals[t].p_value, kAlpha) << "token " << t + 1 << ": chi2 " << r.marginals[t].statistic << " on "
                                              << r.marginals[t].dof << " dof";
    EXPECT_EQ(r.marginals[t].impossible, 0) << "token " << t + 1;
  }
  EXPECT_GT(r.pair.p_value, kAlpha) << "tokens (4, 5): chi2 " << r.pair.statistic << " on " << r.pair.dof << " dof";
  // Achieved depth-1 acceptance vs the optimum bound: sum(accepted - bound) is a sum of
  // increments in [-1, 1] with conditional mean <= 0 (Azuma-Hoeffding).
  ASSERT_GT(r.depth1_trials, kDraws / 2) << "the drafter rarely drafted: the test would be vacuous";
  const double n = static_cast<double>(r.depth1_trials);
  const double margin = std::sqrt(2.0 * n * std::log(1e6));
  std::printf("%s: depth-1 acceptance %.4f, mean opt_accept_bound %.4f over %lld trees\n", c.name.c_str(),
              r.depth1_accepted / n, r.bound_sum / n, static_cast<long long>(r.depth1_trials));
  EXPECT_LE(static_cast<double>(r.depth1_accepted), r.bound_sum + margin);
  EXPECT_GT(r.depth1_accepted, r.depth1_trials / 20) << "drafts are rarely accepted: deep paths untested";
}

INSTANTIATE_TEST_SUITE_P(Rules, DeepStatistics, ::testing::ValuesIn(deep_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(DeepStatisticsCases, BonferroniCountMatches) {
  EXPECT_EQ(static_cast<std::int32_t>(deep_cases().size()), kConfigs);
}

// The speculative chain walk with a classic bug: when the rejected child is at depth >= 3, the
// bonus is drawn from p instead of the residual. Tokens 1 and 2 keep the target's law.
class DeepResidualFromP final : public AcceptanceRule {
 public:
  DeepResidualFromP() : AcceptanceRule(RuleTraits{.lossless = false}) {}
  std::string_view name() const override { return "mutant-deep-residual"; }
  void check_tree(const DraftTree& tree) const override { tree.validate(); }
  void accept(const DraftTree& tree, const TargetRows& p, Rng& rng, Acceptance& out) const override {
    rule_detail::start(out);
    std::int32_t cur = 0;
    while (true) {
      const std::int32_t c = rule_detail::next_child(tree, cur, cur);
      if (c < 0) {
        out.bonus = sample_from(p.row(cur), rng);
        return;
      }
      const Token x = tree.token[c];
      if (rng.uniform() < static_cast<double>(p.row(cur)[x]) / tree.q_row(cur)[x]) {
        out.path.push_back(c);
        cur = c;
        continue;
      }
      res_.assign(p.row(cur).begin(), p.row(cur).end());
      rule_detail::subtract_and_normalize(res_, tree.q_row(cur));
      out.bonus = sample_from(tree.depth[c] >= 3 ? p.row(cur) : std::span<const float>(res_), rng);
      return;
    }
  }

 private:
  mutable std::vector<float> res_;
};

TEST(DeepStatisticsHarness, CatchesARuleWrongOnlyAtDepthThree) {
  if (kSanitized) GTEST_SKIP() << "AddressSanitizer build: the Release pass runs it";
  const DeepResidualFromP bad;
  const Case c{"mutant", "draft-model:mode=chain,gamma=4", "", 1.0f, 0, 1.0f, 4, true};
  const DeepResult r = run_deep(c, &bad, 30000);
  std::printf("mutant: p-values tokens 1-3: %.3g %.3g %.3g\n", r.marginals[0].p_value, r.marginals[1].p_value,
              r.marginals[2].p_value);
  EXPECT_GT(r.marginals[0].p_value, kAlpha) << "token 1 is unaffected";
  EXPECT_GT(r.marginals[1].p_value, kAlpha) << "token 2 is unaffected";
  EXPECT_LT(r.marginals[2].p_value, 1e-9) << "token 3 must catch it: chi2 " << r.marginals[2].statistic;
}

}  // namespace
}  // namespace speclab::testing
