// Sampling losslessness through the real decoding loop (DESIGN.md contract 3): a TableModel
// target with exactly known next-token laws, the draft-model drafter (another TableModel) in
// every tree mode with its default lossless rule, and the first two emitted tokens compared
// with the target's laws by chi-square over 100,000 decodes with fixed seeds. The same harness
// rejects a decode whose rule is lossy (typical acceptance), so it can fail.
#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

#include "ops/sampling.h"
#include "synthetic/table_model.h"
#include "drafters/draft_model_drafter.h"
#include "experiments/decode.h"
#include "tests/testing/stat_harness.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

constexpr int kVocab = 10;
constexpr int kDraws = 100000;

struct Laws {
  std::vector<double> first, pair;
};

Laws exact(const TableModel& m, const std::vector<Token>& prompt, const SamplingParams& sp) {
  Laws l;
  l.first.assign(kVocab, 0.0);
  l.pair.assign(kVocab * kVocab, 0.0);
  std::vector<float> p1(kVocab), p2(kVocab);
  std::vector<std::int32_t> scratch;
  logits_to_probs(m.row_for(prompt[prompt.size() - 2], prompt.back()), sp, p1, scratch);
  for (int a = 0; a < kVocab; ++a) {
    l.first[a] = p1[a];
    logits_to_probs(m.row_for(prompt.back(), a), sp, p2, scratch);
    for (int b = 0; b < kVocab; ++b) l.pair[a * kVocab + b] = double(p1[a]) * p2[b];
  }
  return l;
}

struct Counts {
  std::vector<std::int64_t> first = std::vector<std::int64_t>(kVocab, 0);
  std::vector<std::int64_t> pair = std::vector<std::int64_t>(kVocab * kVocab, 0);
};

Counts sample(TableModel& target, Drafter* drafter, const AcceptanceRule* rule,
              const std::vector<Token>& prompt, const SamplingParams& sp, int budget,
              std::uint64_t seed0) {
  Counts c;
  DecodeOptions opt;
  opt.sampling = sp;
  opt.max_new_tokens = 2;
  opt.budget.max_nodes = budget;
  for (int i = 0; i < kDraws; ++i) {
    opt.seed = seed0 + static_cast<std::uint64_t>(i);
    const auto r = decode(target, drafter, rule, prompt, opt);
    ++c.first[r.tokens[0]];
    ++c.pair[r.tokens[0] * kVocab + r.tokens[1]];
  }
  return c;
}

struct Case {
  DraftModelMode mode;
  std::uint64_t draft_seed;  // 7 = the target's table (q = p: everything accepted), else another
  float temperature;
  int top_k;
  float top_p;
};

std::string case_name(const Case& c) {
  return std::string(to_string(c.mode)) + (c.draft_seed == 7 ? "_SameTable" : "_OtherTable") + "_T" +
         std::to_string(int(c.temperature * 10)) + "_topk" + std::to_string(c.top_k) + "_topp" +
         std::to_string(int(c.top_p * 100));
}
// gtest prints the parameter in test listings (and ctest shows it).
void PrintTo(const Case& c, std::ostream* os) {
  *os << "mode " << to_string(c.mode) << ", draft " << (c.draft_seed == 7 ? "= target table" : "other table")
      << ", T " << c.temperature << ", top-k " << c.top_k << ", top-p " << c.top_p;
}

class DecodeStatistics : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeStatistics, FirstTokenAndPairFollowTheTarget) {
  const Case c = GetParam();
  TableModel target(kVocab, 2, 64, 1.5f, 7);
  DraftModelOptions dopt;
  dopt.mode = c.mode;
  dopt.gamma = 3;
  dopt.branching = {3, 2, 1};
  DraftModelDrafter drafter(std::make_unique<TableModel>(kVocab, 2, 64, 1.5f, c.draft_seed),
                            kVocab, dopt);
  SamplingParams sp;
  sp.temperature = c.temperature;
  sp.top_k = c.top_k;
  sp.top_p = c.top_p;
  const std::vector<Token> prompt = {4, 2};
  const Counts got = sample(target, &drafter, nullptr, prompt, sp, 6, 1000);
  const Laws law = exact(target, prompt, sp);
  const auto f = testing::chi_square_test(got.first, law.first);
  const auto p = testing::chi_square_test(got.pair, law.pair);
  EXPECT_GT(f.p_value, 1e-4) << "first token, chi2 " << f.statistic;
  EXPECT_GT(p.p_value, 1e-4) << "pair, chi2 " << p.statistic;
}

INSTANTIATE_TEST_SUITE_P(
    Modes, DecodeStatistics,
    ::testing::Values(Case{DraftModelMode::kChain, 8, 1.0f, 0, 1.0f},
                      Case{DraftModelMode::kChain, 7, 0.7f, 0, 1.0f},
                      Case{DraftModelMode::kIid, 8, 1.0f, 0, 0.9f},
                      Case{DraftModelMode::kIid, 7, 0.7f, 5, 1.0f},
                      Case{DraftModelMode::kSwor, 8, 1.0f, 5, 1.0f},
                      Case{DraftModelMode::kSwor, 7, 0.7f, 0, 0.9f},
                      Case{DraftModelMode::kTopK, 8, 1.0f, 0, 1.0f},
                      Case{DraftModelMode::kTopK, 7, 0.7f, 0, 0.9f},
                      Case{DraftModelMode::kDynamic, 8, 1.0f, 0, 1.0f}),
    [](const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); });

TEST(DecodeStatisticsHarness, RejectsTheLossyTypicalRule) {
  TableModel target(kVocab, 2, 64, 1.5f, 7);
  DraftModelOptions dopt;
  dopt.mode = DraftModelMode::kTopK;
  dopt.branching = {3, 2, 1};
  DraftModelDrafter drafter(std::make_unique<TableModel>(kVocab, 2, 64, 1.5f, 8), kVocab, dopt);
  SamplingParams sp;
  sp.temperature = 1.0f;
  auto rule = make_rule("typical");
  const std::vector<Token> prompt = {4, 2};
  const Counts got = sample(target, &drafter, rule.get(), prompt, sp, 6, 1000);
  const Laws law = exact(target, prompt, sp);
  const auto p = testing::chi_square_test(got.pair, law.pair);
  EXPECT_LT(p.p_value, 1e-6) << "typical acceptance should be detectably biased";
}

}  // namespace
}  // namespace speclab
