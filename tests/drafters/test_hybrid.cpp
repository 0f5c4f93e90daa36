// The hybrid drafter (drafters/hybrid_drafter.h): parts= syntax, the merge (every part's paths,
// shared prefixes merged), the budget taken by value, the online calibration, and its errors.
// Greedy losslessness, limits, allocation, reproducibility and the sampling law are proved by the
// drafter contract suite (cases Hybrid*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/hybrid_drafter.h"
#include "drafters/registry.h"
#include "experiments/decode.h"
#include "model/llama_model.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_files.h"
#include "tests/testing/drafter_test_util.h"
#include "tests/testing/heads_test_util.h"
#include "tests/testing/self_spec_util.h"

namespace speclab {
namespace {

using testing::expect_tree_ok;
using testing::paths_of;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(HybridParts, SplitsPlusBracketsAndJsonLists) {
  EXPECT_EQ(split_hybrid_parts("ngram+sam"), (std::vector<std::string>{"ngram", "sam"}));
  EXPECT_EQ(split_hybrid_parts("[ngram:max_n=4,min_n=2+sam:branches=0]"),
            (std::vector<std::string>{"ngram:max_n=4,min_n=2", "sam:branches=0"}));
  EXPECT_EQ(split_hybrid_parts(R"(["ngram:max_n=4,min_n=2", "suffix"])"),
            (std::vector<std::string>{"ngram:max_n=4,min_n=2", "suffix"}));
  EXPECT_EQ(split_hybrid_parts("[recycling:choices=[[0],[1]]+ngram]"),
            (std::vector<std::string>{"recycling:choices=[[0],[1]]", "ngram"}));
  // The object form of spec files ({"name": "hybrid", "params": {"parts": [...]}}) gives a JSON list.
  EXPECT_NO_THROW(make_drafter(R"(hybrid:parts=["ngram:max_n=4,min_n=2","sam"],state=warm)", DrafterEnv{}));
  EXPECT_THROW(split_hybrid_parts("ngram++sam"), Error);
  EXPECT_THROW(split_hybrid_parts("[ngram+sam"), Error);
}

TEST(HybridParts, BadSpecsAreErrorsNamingThePart) {
  const DrafterEnv env;
  for (const auto& [spec, part] : std::vector<std::pair<std::string, std::string>>{
           {"hybrid", "parts"},
           {"hybrid:parts=ngram", "1 parts"},
           {"hybrid:parts=ngram+sam+suffix+aded+recycling", "5 parts"},
           {"hybrid:parts=ngram+hybrid", "other than none and hybrid"},
           {"hybrid:parts=ngram+none", "other than none and hybrid"},
           {"hybrid:parts=ngram+early-exit", "self-speculative"},
           {"hybrid:parts=ngram+bogus", "bogus"},
           {"hybrid:parts=[ngram:max_n=99+sam]", "max_n"},
           {"hybrid:parts=[ngram+sam:state=warm]", "set state= on the hybrid"}}) {
    const std::string msg = error_of([&] { make_drafter(spec, env); });
    EXPECT_NE(msg.find(part), std::string::npos) << spec << ": " << msg;
  }
}

// Feature-level parts must read the same target features: the verification forward gives one set.
TEST(HybridParts, FeatureLevelPartsMustReadTheSameLayers) {
  const DrafterEnv env = testing::heads_env(testing::heads_target_weights());
  const std::string msg = error_of(
      [&] { make_drafter(R"(hybrid:parts=["eagle:random_seed=1","eagle:random_seed=2,random_layers=1+final"])", env); });
  EXPECT_NE(msg.find("parts must read the same features"), std::string::npos) << msg;
  const auto h =
      make_drafter(R"(hybrid:parts=["eagle:random_seed=1,random_layers=1+final","ngram","eagle:random_seed=2,random_layers=1+final"])",
                   env);
  EXPECT_TRUE(h->needs().target_features);
  EXPECT_EQ(h->needs().feature_layers, (std::vector<std::int32_t>{1, kFinalNormedHidden}));
}

DraftTree propose_with(Drafter& d, const std::vector<Token>& seq, DraftBudget b) {
  DraftTree t;
  Rng rng(1);
  SamplingParams greedy;
  d.begin(seq);
  d.propose(DraftContext{seq, &greedy, &rng}, b, t);
  return t;
}

const std::vector<Token>& text() {
  static const std::vector<Token> t = {1, 5, 6, 7, 2, 5, 6, 8, 3, 9, 5, 6, 7, 9, 4, 5, 6};
  return t;
}

TEST(HybridDrafter, MergesEveryPartsPathsWithSharedPrefixes) {
  const DrafterEnv env;
  const DraftBudget big{64, 0};
  std::set<std::vector<Token>> want;
  std::int32_t sum = 0;
  for (const char* part : {"ngram:max_matches=8", "sam", "suffix:min_prob=0,spec_factor=8"}) {
    const auto d = make_drafter(part, env);
    const DraftTree t = propose_with(*d, text(), big);
    sum += t.size() - 1;
    for (const auto& p : paths_of(t)) want.insert(p);
  }
  const auto h = make_drafter("hybrid:parts=[ngram:max_matches=8+sam+suffix:min_prob=0,spec_factor=8]", env);
  const DraftTree t = propose_with(*h, text(), big);
  expect_tree_ok(t, text().back(), big);
  const auto got = paths_of(t);
  EXPECT_EQ(std::set<std::vector<Token>>(got.begin(), got.end()), want) << "the union of the parts' paths";
  EXPECT_EQ(got.size(), want.size()) << "each path once (shared prefixes merged)";
  EXPECT_LT(t.size() - 1, sum) << "the parts share prefixes here";
}

TEST(HybridDrafter, TakesTheBudgetByValueShallowestFirstBeforeCalibration) {
  // Before any feedback every rate is 1/2: a node's value is 2^-depth, so a small budget takes
  // the shallowest nodes of the union.
  const DrafterEnv env;
  const auto h = make_drafter("hybrid:parts=[ngram:max_matches=8+sam+suffix:min_prob=0,spec_factor=8]", env);
  const DraftTree full = propose_with(*h, text(), DraftBudget{64, 0});
  for (const std::int32_t b : {1, 2, 3, 5}) {
    const DraftTree t = propose_with(*h, text(), DraftBudget{b, 0});
    ASSERT_EQ(t.size() - 1, std::min(b, full.size() - 1));
    // No node of t is deeper than a node of the full tree left out.
    std::multiset<std::int32_t> depths_full(full.depth.begin() + 1, full.depth.end());
    std::vector<std::int32_t> depths(t.depth.begin() + 1, t.depth.end());
    std::sort(depths.begin(), depths.end());
    std::vector<std::int32_t> shallowest(depths_full.begin(), depths_full.end());
    shallowest.resize(depths.size());
    EXPECT_EQ(depths, shallowest) << "budget " << b;
    for (std::int32_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t.score[i], -t.depth[i] * std::log(2.0f), 1e-5);
  }
}

TEST(HybridDrafter, CalibratesEachPartsRatePerDepthAndRank) {
  const DrafterEnv env;
  HybridOptions o;
  o.parts = {"ngram", "sam:branches=0"};
  o.env = env;
  HybridDrafter h(o);
  const std::vector<Token> seq = {1, 2, 3, 1, 2};  // both parts propose 3 1 2 (ngram) / 3 1 2 (sam)
  DraftTree t;
  Rng rng(1);
  SamplingParams greedy;
  h.begin(seq);
  h.propose(DraftContext{seq, &greedy, &rng}, DraftBudget{8, 0}, t);
  ASSERT_GE(t.size(), 3);
  ASSERT_EQ(t.token[1], 3);
  ASSERT_EQ(t.parent[2], 1);
  // The target accepts node 1 (token 3) and rejects node 2.
  Acceptance acc;
  acc.path = {0, 1};
  acc.bonus = 9;
  std::vector<Token> after = seq;
  after.push_back(3);
  after.push_back(9);
  StepFeedback fb{&t, &acc, 0, {}, after, {}};
  h.observe(fb);
  for (int p = 0; p < 2; ++p) {
    EXPECT_DOUBLE_EQ(h.rate(p, 1, 0), 2.0 / 3.0) << "part " << p << ": 1 hit in 1 try";
    EXPECT_DOUBLE_EQ(h.rate(p, 2, 0), 1.0 / 3.0) << "part " << p << ": 0 hits in 1 try";
    EXPECT_DOUBLE_EQ(h.rate(p, 3, 0), 0.5) << "part " << p << ": never tried (its parent was rejected)";
  }
  // Cold state forgets the calibration at begin(); warm keeps it.
  h.begin(seq);
  EXPECT_DOUBLE_EQ(h.rate(0, 1, 0), 0.5);
  o.warm = true;
  HybridDrafter w(o);
  w.begin(seq);
  w.propose(DraftContext{seq, &greedy, &rng}, DraftBudget{8, 0}, t);
  w.observe(fb);
  w.begin(seq);
  EXPECT_DOUBLE_EQ(w.rate(0, 1, 0), 2.0 / 3.0);
}

TEST(HybridDrafter, SampledPartsAreRefusedAtTemperatureAboveZero) {
  const auto weights = testing::self_spec_weights(31, 2);
  testing::DrafterFiles files(weights, 1);
  const DrafterEnv env = files.env();
  const auto h = make_drafter("hybrid:parts=draft-model+ngram", env);
  LlamaModel target(weights, 1);
  DecodeOptions opt;
  opt.max_new_tokens = 8;
  opt.budget = DraftBudget{8, 0};
  opt.sampling.temperature = 1.0f;
  const std::vector<Token> prompt = {1, 7, 9};
  const std::string msg = error_of([&] { decode(target, h.get(), nullptr, prompt, opt); });
  EXPECT_NE(msg.find("samples its children at temperature 1"), std::string::npos) << msg;
  opt.sampling.temperature = 0.0f;
  EXPECT_EQ(decode(target, h.get(), nullptr, prompt, opt).tokens, decode(target, nullptr, nullptr, prompt, opt).tokens);
}

TEST(HybridDrafter, LosslessWithFewerForwardsOnStories) {
  testing::expect_lossless_with_fewer_forwards_on_stories("hybrid:parts=ngram+sam+suffix");
}

}  // namespace
}  // namespace speclab
