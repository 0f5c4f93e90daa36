// Sampling losslessness of the drafters that read the target itself (DESIGN.md contract 3):
// medusa and hydra (perturbed heads, fixed top-k candidates -> rule `deterministic`), early-exit
// (sampled chains from the exit distribution -> `speculative`), early-exit with exit adapters,
// and del, through the real decode loop on a small random LlamaModel (vocab 10). The first two
// emitted tokens are compared by chi-square with the target's exact laws, computed from the
// model's own forwards (temperature / top-k / top-p applied by logits_to_probs). Fixed seeds.
// The harness can fail: the lossy `typical` rule is rejected.
#include <gtest/gtest.h>

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

struct Laws {
  std::vector<double> first, pair;
};

Laws exact(const std::shared_ptr<const LlamaWeights>& w, const std::vector<Token>& prompt,
           const SamplingParams& sp) {
  LlamaModel m(w, 1);
  Laws l;
  l.first.assign(kVocab, 0.0);
  l.pair.assign(kVocab * kVocab, 0.0);
  std::vector<float> p1(kVocab), p2(kVocab);
  std::vector<std::int32_t> scratch, pos;
  ForwardOutput out;
  auto run = [&](const std::vector<Token>& seq) {
    m.truncate(0);
    pos.resize(seq.size());
    for (std::size_t i = 0; i < seq.size(); ++i) pos[i] = static_cast<std::int32_t>(i);
    ForwardBatch b;
    b.tokens = seq;
    b.positions = pos;
    m.forward(b, out);
    return out.row(out.n_rows - 1);
  };
  logits_to_probs(run(prompt), sp, p1, scratch);
  for (int a = 0; a < kVocab; ++a) {
    l.first[a] = p1[a];
    std::vector<Token> seq = prompt;
    seq.push_back(a);
    logits_to_probs(run(seq), sp, p2, scratch);
    for (int b = 0; b < kVocab; ++b) l.pair[a * kVocab + b] = double(p1[a]) * p2[b];
  }
  return l;
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

TEST_P(HeadsStatistics, FirstTokenAndPairFollowTheTarget) {
  const Case c = GetParam();
  const auto w = small_target();
  TempDir dir;
  save_heads(perturbed_heads(HeadKind::kMedusa, w, 3, 1, 1.0), dir.sub("medusa"));
  save_heads(perturbed_heads(HeadKind::kHydra, w, 3, 2, 1.0), dir.sub("hydra"));
  {
    HeadConfig a;
    a.kind = HeadKind::kExitAdapter;
    a.n_heads = 2;
    a.exit_layers = {1, 2};
    HeadNet net = HeadNet::init(a, w);
    Rng rng(3);
    for (std::int32_t h = 0; h < 2; ++h) {
      for (auto t : net.params(h).tensors()) {
        for (float& v : t) v += static_cast<float>(0.3 * rng.normal());
      }
    }
    save_heads(net, dir.sub("exit"));
  }
  std::string spec = c.spec;
  if (const auto at = spec.find("{dir}"); at != std::string::npos) spec.replace(at, 5, dir.path());
  auto drafter = make_drafter(spec, heads_env(w));
  std::unique_ptr<AcceptanceRule> rule;
  if (!c.rule.empty()) rule = make_rule(c.rule);
  LlamaModel target(w, 1);
  SamplingParams sp;
  sp.temperature = c.temperature;
  sp.top_k = c.top_k;
  sp.top_p = c.top_p;
  const std::vector<Token> prompt = {1, 4, 7};
  DecodeOptions opt;
  opt.sampling = sp;
  opt.max_new_tokens = 2;
  opt.stop_at_bos = opt.stop_at_eos = false;
  opt.budget.max_nodes = 6;
  std::vector<std::int64_t> first(kVocab, 0), pair(kVocab * kVocab, 0);
  std::int64_t accepted = 0;
  for (int i = 0; i < kDraws; ++i) {
    opt.seed = 5000 + static_cast<std::uint64_t>(i);
    const auto r = decode(target, drafter.get(), rule.get(), prompt, opt);
    ASSERT_EQ(r.tokens.size(), 2u);
    ++first[r.tokens[0]];
    ++pair[r.tokens[0] * kVocab + r.tokens[1]];
    for (const auto& s : r.steps) accepted += s.n_accepted;
  }
  const Laws law = exact(w, prompt, sp);
  const auto f = chi_square_test(first, law.first);
  const auto p = chi_square_test(pair, law.pair);
  EXPECT_GT(accepted, kDraws / 20) << "drafts are rarely accepted: the test would be vacuous";
  if (c.rule == "typical") {  // lossy: the harness must notice
    EXPECT_LT(std::min(f.p_value, p.p_value), 1e-6) << "typical acceptance passed the test";
  } else {
    EXPECT_GT(f.p_value, 1e-4) << "first token, chi2 " << f.statistic;
    EXPECT_GT(p.p_value, 1e-4) << "pair, chi2 " << p.statistic;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Drafters, HeadsStatistics,
    ::testing::Values(Case{"Medusa_T10", "medusa:heads={dir}/medusa", "", 1.0f, 0, 1.0f},
                      Case{"Medusa_T07_topp90", "medusa:heads={dir}/medusa", "", 0.7f, 0, 0.9f},
                      Case{"Hydra_T10", "hydra:heads={dir}/hydra", "", 1.0f, 0, 1.0f},
                      Case{"Hydra_T07_topk5", "hydra:heads={dir}/hydra,tree=template", "", 0.7f, 5, 1.0f},
                      Case{"EarlyExit_T10", "early-exit:exit=2,d=3", "", 1.0f, 0, 1.0f},
                      Case{"EarlyExitAdapters_T07_topp90", "early-exit:exit=1,d=3,adapters={dir}/exit", "", 0.7f, 0, 0.9f},
                      Case{"Del_T10", "del:max_d=3", "", 1.0f, 0, 1.0f},
                      Case{"DelAdapters_T10", "del:max_d=3,adapters={dir}/exit", "", 1.0f, 0, 1.0f},
                      Case{"MedusaTypicalIsRejected", "medusa:heads={dir}/medusa", "typical", 1.0f, 0, 1.0f}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace speclab::testing
