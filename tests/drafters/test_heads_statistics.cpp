// Sampling losslessness of the drafters that read the target itself under truncated sampling
// (DESIGN.md contract 3): medusa and hydra (perturbed heads, fixed top-k candidates -> rule
// `deterministic`), early-exit with exit adapters (sampled chains -> `multi-iid`), through the
// real decode loop on a small random LlamaModel (vocab 10), at temperature 0.7 with top-p 0.9 or
// top-k 5. Plain temperature-1 sampling with every drafter's default rule is the drafter contract
// suite's (test_drafter_contract). The first two emitted tokens are compared by chi-square with
// the target's exact laws, computed from the model's own forwards (temperature / top-k / top-p
// applied by logits_to_probs). Fixed seeds, 40,000 decodes per case. The harness can fail: the
// lossy `typical` rule is rejected.
#include <gtest/gtest.h>

#include <ostream>

#include "model/llama_model.h"
#include "ops/sampling.h"
#include "experiments/decode.h"
#include "drafters/registry.h"
#include "tests/testing/heads_test_util.h"
#include "tests/testing/stat_harness.h"
#include "verifiers/rules.h"

namespace speclab::testing {
namespace {

constexpr int kVocab = 10;
constexpr int kDraws = 40000;

std::shared_ptr<const LlamaWeights> small_target() {
  return std::make_shared<const LlamaWeights>(
      random_llama_weights(synthetic_info(16, 32, 3, 2, 2, kVocab, 64), 5));
}

struct Case {
  std::string name;
  std::string spec;   // "{dir}" = the temporary heads directory
  std::string rule;   // "" = automatic
  float temperature;
  int top_k;
  float top_p;
};

class HeadsStatistics : public ::testing::TestWithParam<Case> {};

// gtest prints the parameter in test listings (and ctest shows it).
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.spec << " rule " << (c.rule.empty() ? "auto" : c.rule) << " T " << c.temperature << " top-k "
      << c.top_k << " top-p " << c.top_p;
}

TEST_P(HeadsStatistics, FirstTokenAndPairFollowTheTarget) {
  const Case c = GetParam();
  const auto w = small_target();
  TempDir dir;
  save_heads(perturbed_heads(HeadKind::kMedusa, w, 3, 1, 1.0), dir.sub("medusa"));
  save_heads(perturbed_heads(HeadKind::kHydra, w, 3, 2, 1.0), dir.sub("hydra"));
  save_heads(perturbed_adapters(w, {1, 2}, 1, 0.6, 3), dir.sub("exit"));
  std::string spec = c.spec;
  if (const auto at = spec.find("{dir}"); at != std::string::npos) spec.replace(at, 5, dir.path());
  auto drafter = make_drafter(spec, heads_env(w));
  std::unique_ptr<AcceptanceRule> rule;
  if (!c.rule.empty()) rule = make_rule(c.rule);
  LlamaModel target(w, 1);
  DecodeOptions opt;
  opt.sampling.temperature = c.temperature;
  opt.sampling.top_k = c.top_k;
  opt.sampling.top_p = c.top_p;
  opt.budget.max_nodes = 6;
  const std::vector<Token> prompt = {1, 4, 7};
  const DecodeDraws got = decode_draws(target, drafter.get(), rule.get(), prompt, opt, kDraws, 5000);
  std::vector<double> first, pair;
  exact_laws(target, opt.sampling, prompt, first, pair);
  const auto f = chi_square_test(got.first, first);
  const auto p = chi_square_test(got.pair, pair);
  EXPECT_GT(got.accepted, kDraws / 20) << "drafts are rarely accepted: the test would be vacuous";
  if (c.rule == "typical") {  // lossy: the harness must notice
    EXPECT_LT(std::min(f.p_value, p.p_value), 1e-6) << "typical acceptance passed the test";
  } else {
    EXPECT_GT(f.p_value, 1e-4) << "first token, chi2 " << f.statistic;
    EXPECT_GT(p.p_value, 1e-4) << "pair, chi2 " << p.statistic;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Drafters, HeadsStatistics,
    ::testing::Values(Case{"Medusa_T07_topp90", "medusa:heads={dir}/medusa", "", 0.7f, 0, 0.9f},
                      Case{"Hydra_T07_topk5", "hydra:heads={dir}/hydra,tree=template", "", 0.7f, 5, 1.0f},
                      Case{"EarlyExitAdapters_T07_topp90", "early-exit:exit=1,d=3,adapters={dir}/exit", "", 0.7f, 0, 0.9f},
                      Case{"MedusaTypicalIsRejected", "medusa:heads={dir}/medusa", "typical", 1.0f, 0, 1.0f}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace speclab::testing
