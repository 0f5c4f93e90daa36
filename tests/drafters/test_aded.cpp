#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/aded_drafter.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_test_util.h"
#include "tests/testing/stat_check.h"

namespace speclab {
namespace {

using testing::children_of;
using testing::expect_tree_ok;
using testing::paths_of;

std::map<Token, float> slots(const TrigramTable& t, Token a, Token b) {
  const Token* tok = nullptr;
  const float* cnt = nullptr;
  std::map<Token, float> m;
  if (!t.find(a, b, &tok, &cnt)) return m;
  for (int j = 0; j < t.top_c(); ++j) if (tok[j] >= 0) m[tok[j]] = cnt[j];
  return m;
}

AdedDrafter make(const std::string& spec) { return AdedDrafter(DrafterParams::parse(spec)); }

DraftTree propose(AdedDrafter& d, const std::vector<Token>& ctx, DraftBudget b) {
  Rng rng(0);
  DraftTree t;
  d.propose(DraftContext{ctx, nullptr, &rng}, b, t);
  return t;
}

TEST(AdedTable, CountsAndSpaceSaving) {
  TrigramTable t(2);
  t.add(1, 2, 3, 1.0f);
  t.add(1, 2, 3, 1.0f);
  t.add(1, 2, 4, 1.0f);
  EXPECT_EQ(slots(t, 1, 2), (std::map<Token, float>{{3, 2.0f}, {4, 1.0f}}));
  // Full context: a new token replaces the least counted and inherits its count + 1.
  t.add(1, 2, 5, 1.0f);
  EXPECT_EQ(slots(t, 1, 2), (std::map<Token, float>{{3, 2.0f}, {5, 2.0f}}));
  EXPECT_TRUE(slots(t, 2, 1).empty());
  t.scale(0.5f);
  EXPECT_EQ(slots(t, 1, 2), (std::map<Token, float>{{3, 1.0f}, {5, 1.0f}}));
  // Growth keeps every context.
  for (Token a = 100; a < 3100; ++a) t.add(a, a + 1, a + 2, 1.0f);
  EXPECT_EQ(t.n_contexts(), 3001);
  for (Token a = 100; a < 3100; a += 97) EXPECT_EQ(slots(t, a, a + 1), (std::map<Token, float>{{a + 2, 1.0f}}));
  EXPECT_EQ(slots(t, 1, 2), (std::map<Token, float>{{3, 1.0f}, {5, 1.0f}}));
  t.clear();
  EXPECT_EQ(t.n_contexts(), 0);
  EXPECT_TRUE(slots(t, 1, 2).empty());
}

TEST(Aded, LearnsPromptAndObservedTokens) {
  auto d = make("aded:backoff=0");
  d.begin(std::vector<Token>{1, 2, 3, 1, 2, 4});
  EXPECT_EQ(slots(d.table(), 1, 2), (std::map<Token, float>{{3, 1.0f}, {4, 1.0f}}));
  EXPECT_EQ(slots(d.table(), -1, 1), (std::map<Token, float>{{2, 1.0f}}));  // stream start
  EXPECT_EQ(d.table().n_contexts(), 4);  // (-1,1) (1,2) (2,3) (3,1)
  // observe learns only the appended tokens.
  DraftTree tree;
  tree.reset(4);
  Acceptance acc;
  acc.path = {0};
  acc.bonus = 1;
  const std::vector<Token> seq = {1, 2, 3, 1, 2, 4, 1, 2};
  StepFeedback fb;
  fb.tree = &tree;
  fb.acceptance = &acc;
  fb.tokens = seq;
  d.observe(fb);
  EXPECT_EQ(slots(d.table(), 2, 4), (std::map<Token, float>{{1, 1.0f}}));
  EXPECT_EQ(slots(d.table(), 4, 1), (std::map<Token, float>{{2, 1.0f}}));
  EXPECT_EQ(slots(d.table(), 1, 2), (std::map<Token, float>{{3, 1.0f}, {4, 1.0f}}));
  d.observe(fb);  // same sequence again: nothing new
  EXPECT_EQ(slots(d.table(), 4, 1), (std::map<Token, float>{{2, 1.0f}}));
}

TEST(Aded, TreeWeightLearnsTop1OfRejectedNodes) {
  auto d = make("aded:backoff=0,tree_weight=0.5");
  d.begin(std::vector<Token>{1, 2});
  DraftTree tree;
  tree.reset(2);
  tree.add(7, 0);  // rejected node: context (2, 7), target's top-1 after it = 3
  tree.add(8, 0);  // accepted node
  Acceptance acc;
  acc.path = {0, 2};
  acc.bonus = 5;
  const int V = 10;
  std::vector<float> logits(3 * V, 0.0f);
  logits[0 * V + 8] = 1;
  logits[1 * V + 3] = 1;
  logits[2 * V + 5] = 1;
  const std::vector<Token> seq = {1, 2, 8, 5};
  StepFeedback fb{&tree, &acc, V, logits, seq};
  d.observe(fb);
  EXPECT_EQ(slots(d.table(), 2, 7), (std::map<Token, float>{{3, 0.5f}}));
  EXPECT_EQ(slots(d.table(), 1, 2), (std::map<Token, float>{{8, 1.0f}}));
  EXPECT_EQ(slots(d.table(), 2, 8), (std::map<Token, float>{{5, 1.0f}}));
  EXPECT_TRUE(slots(d.table(), 8, 8).empty());
}

TEST(Aded, DecayScalesCountsPeriodically) {
  auto d = make("aded:backoff=0,decay=0.5,decay_every=2");
  d.begin(std::vector<Token>{1, 2, 3});
  DraftTree tree;
  tree.reset(3);
  Acceptance acc;
  acc.path = {0};
  std::vector<Token> seq = {1, 2, 3, 4};
  StepFeedback fb{&tree, &acc, 0, {}, seq};
  d.observe(fb);  // 1 new token: no decay yet
  EXPECT_EQ(slots(d.table(), 1, 2), (std::map<Token, float>{{3, 1.0f}}));
  seq.push_back(5);
  fb.tokens = seq;
  d.observe(fb);  // 2 learnt since begin: decay
  EXPECT_EQ(slots(d.table(), 1, 2), (std::map<Token, float>{{3, 0.5f}}));
  EXPECT_EQ(slots(d.table(), 3, 4), (std::map<Token, float>{{5, 0.5f}}));
}

TEST(Aded, MctsFollowsADeterministicCycle) {
  auto d = make("aded:depth=6");
  d.begin(std::vector<Token>{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2});
  const DraftTree t = propose(d, {1, 2, 3, 4, 5, 6, 1, 2}, {6, 0});
  expect_tree_ok(t, 2, {6, 0});
  EXPECT_EQ(std::vector<Token>(t.token.begin(), t.token.end()), (std::vector<Token>{2, 3, 4, 5, 6, 1, 2}));
  // Depth limit of the budget.
  EXPECT_EQ(propose(d, {1, 2}, {6, 3}).max_depth(), 3);
}

TEST(Aded, MctsPrefersTheLikelierBranchAndKeepsTheOther) {
  auto d = make("aded:depth=3,backoff=0");
  // After (0, 1): 2 three times, 5 once; 2 -> 3 -> 4, 5 -> 6 -> 7.
  d.begin(std::vector<Token>{0, 1, 2, 3, 4, 9, 0, 1, 2, 3, 4, 9, 0, 1, 2, 3, 4, 9, 0, 1, 5, 6, 7, 9});
  const DraftTree t = propose(d, {9, 0, 1}, {16, 0});
  expect_tree_ok(t, 1, {16, 0});
  EXPECT_EQ(children_of(t, 0), (std::vector<Token>{2, 5}));
  const auto paths = paths_of(t);
  EXPECT_EQ(paths[0], (std::vector<Token>{2}));
  EXPECT_NE(std::find(paths.begin(), paths.end(), std::vector<Token>{2, 3, 4}), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), std::vector<Token>{5, 6}), paths.end());
  // Scores are log path probabilities: node "2" has P = 3/4.
  EXPECT_NEAR(t.score[1], std::log(0.75f), 1e-5);
  // Budget 1 keeps the most visited child.
  EXPECT_EQ(paths_of(propose(d, {9, 0, 1}, {1, 0})), (std::vector<std::vector<Token>>{{2}}));
}

TEST(Aded, BackoffUsesBigramForUnknownContexts) {
  auto d = make("aded:depth=2");
  d.begin(std::vector<Token>{4, 1, 2, 3});
  // Context (7, 1) is unknown; the bigram (*, 1) -> 2 is used.
  EXPECT_EQ(paths_of(propose(d, {7, 1}, {4, 0})), (std::vector<std::vector<Token>>{{2}, {2, 3}}));
  auto no = make("aded:depth=2,backoff=0");
  no.begin(std::vector<Token>{4, 1, 2, 3});
  EXPECT_EQ(propose(no, {7, 1}, {4, 0}).size(), 1);
  EXPECT_EQ(propose(no, {99}, {4, 0}).size(), 1);
}

TEST(Aded, DeterministicAndWithinBudget) {
  Rng rng(17);
  std::vector<Token> seq;
  for (int i = 0; i < 400; ++i) seq.push_back(static_cast<Token>(rng.below(6)));
  auto a = make("aded:top_c=4");
  auto b = make("aded:top_c=4");
  a.begin(seq);
  b.begin(seq);
  for (int nodes = 1; nodes <= 128; ++nodes) {
    for (int depth : {0, 1, 3, 8}) {
      const DraftTree ta = propose(a, seq, {nodes, depth});
      const DraftTree tb = propose(b, seq, {nodes, depth});
      expect_tree_ok(ta, seq.back(), {nodes, depth});
      ASSERT_EQ(ta.token, tb.token);
      ASSERT_EQ(ta.parent, tb.parent);
      EXPECT_GT(ta.size(), 1);
      EXPECT_LE(ta.max_depth(), depth == 0 ? 6 : std::min(depth, 6));
    }
  }
}

TEST(Aded, StatePolicyAndCorpus) {
  const auto path = (std::filesystem::temp_directory_path() / "speclab_aded_corpus.bin").string();
  {
    const std::vector<Token> corpus = {10, 11, 12, 10, 11, 12};
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(corpus.data()), corpus.size() * 4);
  }
  auto d = make("aded:backoff=0,corpus=" + path);
  EXPECT_EQ(slots(d.table(), 10, 11), (std::map<Token, float>{{12, 2.0f}}));
  d.begin(std::vector<Token>{1, 2, 3});
  EXPECT_EQ(slots(d.table(), 1, 2), (std::map<Token, float>{{3, 1.0f}}));
  d.begin(std::vector<Token>{5, 6});  // cold: back to the corpus table + this prompt
  EXPECT_TRUE(slots(d.table(), 1, 2).empty());
  EXPECT_EQ(slots(d.table(), 10, 11), (std::map<Token, float>{{12, 2.0f}}));
  auto w = make("aded:backoff=0,state=warm");
  w.begin(std::vector<Token>{1, 2, 3});
  w.begin(std::vector<Token>{1, 2, 3});
  EXPECT_EQ(slots(w.table(), 1, 2), (std::map<Token, float>{{3, 2.0f}}));
  EXPECT_NE(std::string(w.name()).find("state=warm"), std::string::npos);
  // Bad corpus files.
  EXPECT_THROW(make("aded:corpus=/nonexistent/c.bin"), Error);
  { std::ofstream(path, std::ios::binary) << "abcde"; }
  EXPECT_THROW(make("aded:corpus=" + path), Error);  // not a multiple of 4 bytes
  {
    const std::int32_t neg = -5;
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(&neg), 4);
  }
  EXPECT_THROW(make("aded:corpus=" + path), Error);
  { std::ofstream f(path, std::ios::binary); }
  EXPECT_THROW(make("aded:corpus=" + path), Error);  // empty
  std::filesystem::remove(path);
}

TEST(Aded, BadParamsThrow) {
  for (const char* spec : {"aded:iterations=-1", "aded:c_puct=-1", "aded:c_puct=nan", "aded:depth=0",
                           "aded:top_c=0", "aded:decay=0", "aded:decay=1.5", "aded:decay_every=0",
                           "aded:backoff=maybe", "aded:tree_weight=-1", "aded:state=hot",
                           "aded:mcts=1"}) {
    EXPECT_THROW(make(spec), Error) << spec;
  }
  AdedOptions o;
  o.top_c = 0;
  EXPECT_THROW(AdedDrafter{o}, Error);
}

TEST(Aded, MiniLoopIsLosslessAndAccepts) {
  testing::FakeTarget target;
  const std::vector<Token> prompt = {1, 5, 9, 2};
  const auto ar = testing::run_mini_loop(target, nullptr, prompt, 200, {});
  for (int budget : {1, 4, 16, 64}) {
    for (const char* spec : {"aded", "aded:tree_weight=1"}) {
      auto d = make(spec);
      const auto sd = testing::run_mini_loop(target, &d, prompt, 200, {budget, 0});
      EXPECT_EQ(sd.generated, ar.generated) << spec << " budget " << budget;
      EXPECT_LT(sd.steps, ar.steps * 3 / 4) << spec << " budget " << budget;
    }
  }
}

TEST(Aded, GreedyLosslessThroughDecodeOnStories260K) {
  testing::expect_lossless_with_fewer_forwards_on_stories("aded");
}

TEST(Aded, SamplingLosslessWithDeterministicRule) {
  AdedDrafter d;
  testing::expect_sampling_lossless_after_begin(d, "aded");
}

}  // namespace
}  // namespace speclab
