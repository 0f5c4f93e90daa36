#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/recycling_drafter.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_test_util.h"
#include "tests/testing/stat_check.h"

namespace speclab {
namespace {

using testing::children_of;
using testing::expect_tree_ok;
using testing::paths_of;

// Naive twin of top_k_ids: stable sort of ids by value desc (ties: lower id), drop NaN/-inf.
std::vector<Token> reference_top_k(const std::vector<float>& row, int k) {
  std::vector<Token> ids;
  for (int i = 0; i < static_cast<int>(row.size()); ++i) {
    if (row[i] > -std::numeric_limits<float>::infinity()) ids.push_back(i);
  }
  std::stable_sort(ids.begin(), ids.end(), [&](Token a, Token b) { return row[a] > row[b]; });
  ids.resize(std::min<std::size_t>(ids.size(), k));
  while (static_cast<int>(ids.size()) < k) ids.push_back(-1);
  return ids;
}

TEST(RecyclingTopK, MatchesNaiveReference) {
  Rng rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + static_cast<int>(rng.below(200));
    const int k = 1 + static_cast<int>(rng.below(12));
    std::vector<float> row(n);
    // Few distinct values so ties are common; occasional NaN / -inf.
    for (auto& x : row) {
      x = static_cast<float>(rng.below(9));
      const auto u = rng.below(40);
      if (u == 0) x = std::numeric_limits<float>::quiet_NaN();
      if (u == 1) x = -std::numeric_limits<float>::infinity();
    }
    std::vector<Token> ids(k);
    std::vector<float> vals(k);
    top_k_ids(row, k, ids.data(), vals.data());
    ASSERT_EQ(ids, reference_top_k(row, k)) << "trial " << trial;
  }
}

// A feedback with hand-made logits: row i has `order[i]` as its best tokens (descending).
struct Feedback {
  DraftTree tree;
  Acceptance acc;
  std::vector<float> logits;
  std::vector<Token> tokens;
  StepFeedback fb(std::int32_t vocab) {
    StepFeedback f;
    f.tree = &tree;
    f.acceptance = &acc;
    f.vocab = vocab;
    f.logits = logits;
    f.tokens = tokens;
    return f;
  }
};

Feedback make_feedback(std::int32_t vocab, const std::vector<Token>& node_tokens,
                       const std::vector<std::vector<Token>>& best) {
  Feedback f;
  f.tree.reset(node_tokens[0]);
  for (std::size_t i = 1; i < node_tokens.size(); ++i) f.tree.add(node_tokens[i], 0);
  f.logits.assign(node_tokens.size() * vocab, 0.0f);
  for (std::size_t i = 0; i < node_tokens.size(); ++i) {
    for (std::size_t r = 0; r < best[i].size(); ++r) {
      f.logits[i * vocab + best[i][r]] = 10.0f - static_cast<float>(r);
    }
  }
  f.acc.path = {0};
  f.acc.bonus = best[0][0];
  f.tokens = {node_tokens[0], best[0][0]};
  return f;
}

RecyclingDrafter make(const std::string& spec) {
  return RecyclingDrafter(DrafterParams::parse(spec));
}

TEST(Recycling, ObserveFillsRowsOfEveryNode) {
  auto d = make("recycling:k=3,branching=3x1");
  EXPECT_TRUE(d.row(3).empty());  // vocab unknown yet
  auto f = make_feedback(10, {3, 5, 6}, {{7, 2, 9}, {1, 4, 0}, {8, 8, 8}});
  d.observe(f.fb(10));
  EXPECT_EQ(d.vocab(), 10);
  EXPECT_EQ(std::vector<Token>(d.row(3).begin(), d.row(3).end()), (std::vector<Token>{7, 2, 9}));
  EXPECT_EQ(std::vector<Token>(d.row(5).begin(), d.row(5).end()), (std::vector<Token>{1, 4, 0}));
  // Row 6 has one best token and ties at 0 for the rest: lowest ids follow.
  EXPECT_EQ(std::vector<Token>(d.row(6).begin(), d.row(6).end()), (std::vector<Token>{8, 0, 1}));
  EXPECT_EQ(d.row(0)[0], -1);  // never filled
  EXPECT_EQ(d.matrix_bytes(), 10u * 3 * 4);
}

TEST(Recycling, ProposesExpectedBfsTree) {
  auto d = make("recycling:k=3,branching=2x2x1");
  auto f = make_feedback(10, {3, 7, 2}, {{7, 2, 9}, {4, 5, 6}, {8, 1, 0}});
  d.observe(f.fb(10));
  Rng rng(0);
  const std::vector<Token> ctx = {0, 3};
  DraftTree t;
  d.propose(DraftContext{ctx, nullptr, &rng}, {64, 0}, t);
  expect_tree_ok(t, 3, {64, 0});
  // root 3 -> 7, 2 ; 7 -> 4, 5 ; 2 -> 8, 1 ; then depth 3: 4, 5, 8, 1 rows are cold except none.
  const std::vector<std::vector<Token>> want = {{7}, {2}, {7, 4}, {7, 5}, {2, 8}, {2, 1}};
  EXPECT_EQ(paths_of(t), want);
  // Budget cuts in BFS order; depth limit drops deeper template nodes.
  d.propose(DraftContext{ctx, nullptr, &rng}, {3, 0}, t);
  EXPECT_EQ(paths_of(t), (std::vector<std::vector<Token>>{{7}, {2}, {7, 4}}));
  d.propose(DraftContext{ctx, nullptr, &rng}, {64, 1}, t);
  EXPECT_EQ(paths_of(t), (std::vector<std::vector<Token>>{{7}, {2}}));
  // Cold root row: root only.
  const std::vector<Token> cold = {0, 4};
  d.propose(DraftContext{cold, nullptr, &rng}, {64, 0}, t);
  EXPECT_EQ(t.size(), 1);
}

TEST(Recycling, CyclesExpandThroughTheMatrix) {
  // Row 1 -> 2 ; row 2 -> 1: a chain template alternates.
  auto d = make("recycling:k=1,branching=1x1x1x1");
  auto f = make_feedback(4, {1, 2}, {{2}, {1}});
  d.observe(f.fb(4));
  Rng rng(0);
  const std::vector<Token> ctx = {1};
  DraftTree t;
  d.propose(DraftContext{ctx, nullptr, &rng}, {10, 0}, t);
  EXPECT_EQ(std::vector<Token>(t.token.begin(), t.token.end()), (std::vector<Token>{1, 2, 1, 2, 1}));
}

void write_state(const std::string& path, std::int32_t vocab, std::int32_t k,
                 const std::vector<Token>& ids, const char* magic = "SPLTRCY1",
                 std::uint32_t version = 1) {
  std::ofstream f(path, std::ios::binary);
  f.write(magic, 8);
  f.write(reinterpret_cast<const char*>(&version), 4);
  f.write(reinterpret_cast<const char*>(&vocab), 4);
  f.write(reinterpret_cast<const char*>(&k), 4);
  f.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("speclab_recycling_" + name)).string();
}

TEST(Recycling, DuplicateSiblingsAreMerged) {
  // vocab 4, k 2. Row 0 = {1, 1} (duplicate), row 1 = {2, 3}.
  const std::string path = temp_path("dup.bin");
  write_state(path, 4, 2, {1, 1, 2, 3, -1, -1, -1, -1});
  auto d = make("recycling:k=2,branching=2x2,load=" + path);
  Rng rng(0);
  const std::vector<Token> ctx = {0};
  DraftTree t;
  d.propose(DraftContext{ctx, nullptr, &rng}, {64, 0}, t);
  expect_tree_ok(t, 0, {64, 0});
  // Both template children of the root map to token 1; their children expand under one node.
  EXPECT_EQ(paths_of(t), (std::vector<std::vector<Token>>{{1}, {1, 2}, {1, 3}}));
  std::filesystem::remove(path);
}

TEST(Recycling, BudgetAndDepthRespectedForAllBudgets) {
  testing::FakeTarget target{50, 3, 2.0f};
  RecyclingDrafter d;
  // Warm the matrix with one pass of random trees over the fake target.
  Rng rng(9);
  std::vector<Token> seq = {1, 2};
  for (int step = 0; step < 60; ++step) {
    Feedback f;
    f.tree.reset(seq.back());
    // Every token appears (so every row is warm), under random parents.
    for (int i = 0; i < 50; ++i) f.tree.add((i + step) % 50, static_cast<int>(rng.below(f.tree.size())));
    f.logits.resize(static_cast<std::size_t>(f.tree.size()) * 50);
    for (int i = 0; i < f.tree.size(); ++i) target.logits(i, f.tree.token[i], &f.logits[i * 50]);
    f.acc.path = {0};
    seq.push_back(static_cast<Token>(rng.below(50)));
    f.tokens = seq;
    d.observe(f.fb(50));
  }
  DraftTree t;
  const auto& tpl = d.tree_template();
  for (int nodes = 1; nodes <= 128; ++nodes) {
    for (int depth : {0, 1, 2, 4, 6}) {
      d.propose(DraftContext{seq, nullptr, &rng}, {nodes, depth}, t);
      expect_tree_ok(t, seq.back(), {nodes, depth});
      // All rows warm, siblings distinct: every template node within the depth limit is used.
      const int usable = static_cast<int>(std::count_if(
          tpl.depth.begin() + 1, tpl.depth.end(), [&](int x) { return depth == 0 || x <= depth; }));
      EXPECT_EQ(t.size() - 1, std::min(nodes, usable)) << nodes << " " << depth;
    }
  }
}

TEST(Recycling, DefaultTemplateShape) {
  const RecyclingDrafter d;
  const auto& tpl = d.tree_template();
  EXPECT_EQ(tpl.size(), 81);
  EXPECT_EQ(tpl.max_depth(), 6);
  EXPECT_EQ(tpl.level_sizes(), (std::vector<std::int32_t>{8, 21, 25, 13, 11, 2}));
  for (int i = 1; i < tpl.size(); ++i) {
    EXPECT_LT(tpl.parent[i], i);
    EXPECT_LT(tpl.rank[i], 8);
  }
  // Smaller budgets take a prefix of the same order: the first 4 nodes are the best paths.
  const auto small = recycling_auto_template(4, 6, 8);
  EXPECT_EQ(small.parent, std::vector<std::int32_t>(tpl.parent.begin(), tpl.parent.begin() + 5));
  EXPECT_EQ(small.rank, std::vector<std::int32_t>(tpl.rank.begin(), tpl.rank.begin() + 5));
  // k < 8 never uses ranks >= k.
  const auto k2 = recycling_auto_template(40, 6, 2);
  for (int i = 1; i < k2.size(); ++i) EXPECT_LT(k2.rank[i], 2);
}

TEST(Recycling, TemplatesFromParams) {
  const auto b = make("recycling:branching=3x2x1");
  EXPECT_EQ(b.tree_template().level_sizes(), (std::vector<std::int32_t>{3, 6, 6}));
  const auto b2 = make("recycling:branching=2-1");
  EXPECT_EQ(b2.tree_template().level_sizes(), (std::vector<std::int32_t>{2, 2}));
  const auto c = make("recycling:choices=[[1],[0],[0,0],[0,1],[0,0,0]]");
  const auto& t = c.tree_template();
  ASSERT_EQ(t.size(), 6);
  EXPECT_EQ(t.rank, (std::vector<std::int32_t>{0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(t.parent, (std::vector<std::int32_t>{-1, 0, 0, 1, 1, 3}));
  const auto a = make("recycling:nodes=20,depth=3,k=4,state=warm");
  EXPECT_EQ(a.tree_template().size(), 21);
  EXPECT_LE(a.tree_template().max_depth(), 3);
  EXPECT_NE(std::string(a.name()).find("state=warm"), std::string::npos);
  EXPECT_NE(std::string(make("recycling").name()).find("state=cold"), std::string::npos);
}

TEST(Recycling, BadParamsThrow) {
  for (const char* spec : {"recycling:k=0", "recycling:k=-3", "recycling:k=300", "recycling:branching=",
                           "recycling:branching=8x", "recycling:branching=0x1",
                           "recycling:branching=8,2", "recycling:branching=axb",
                           "recycling:choices=[]", "recycling:choices=[[0],[0,0,0]]",
                           "recycling:choices=[[0],[0]]", "recycling:choices=[[0],[-1]]",
                           "recycling:choices=[[0],[1]]x", "recycling:choices=[[0],]",
                           "recycling:choices=[[0],[0,]]",
                           "recycling:branching=2x2,choices=[[0]]", "recycling:nodes=0",
                           "recycling:state=hot", "recycling:colour=1",
                           "recycling:load=/nonexistent/state.bin"}) {
    EXPECT_THROW(
        {
          try {
            make(spec);
          } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("recycling"), std::string::npos) << e.what();
            throw;
          }
        },
        Error)
        << spec;
  }
}

TEST(Recycling, StatePolicyColdAndWarm) {
  auto f = make_feedback(10, {3}, {{7, 2, 9}});
  for (const char* state : {"cold", "warm"}) {
    auto d = make(std::string("recycling:k=3,state=") + state);
    d.begin(std::vector<Token>{1, 3});
    d.observe(f.fb(10));
    EXPECT_EQ(d.row(3)[0], 7);
    d.begin(std::vector<Token>{1, 3});
    EXPECT_EQ(d.row(3)[0], std::string(state) == "warm" ? 7 : -1) << state;
  }
}

TEST(Recycling, SaveLoadRoundTripAndColdRestoresLoadedState) {
  auto f = make_feedback(10, {3, 5}, {{7, 2, 9}, {1, 4, 0}});
  auto d = make("recycling:k=3");
  EXPECT_THROW(d.save_state(temp_path("empty.bin")), Error);
  d.observe(f.fb(10));
  const std::string path = temp_path("rt.bin");
  d.save_state(path);
  auto e = make("recycling:k=3,load=" + path);
  EXPECT_EQ(e.vocab(), 10);
  for (Token t = 0; t < 10; ++t) {
    EXPECT_TRUE(std::equal(d.row(t).begin(), d.row(t).end(), e.row(t).begin()));
  }
  // state=cold with load: begin() restores the loaded matrix after changes.
  auto g = make_feedback(10, {3}, {{0, 1, 2}});
  e.observe(g.fb(10));
  EXPECT_EQ(e.row(3)[0], 0);
  e.begin(std::vector<Token>{3});
  EXPECT_EQ(e.row(3)[0], 7);
  EXPECT_NE(std::string(e.name()).find("load="), std::string::npos);
  // Vocab mismatch with the model is an error.
  auto h = make_feedback(12, {3}, {{0, 1, 2}});
  EXPECT_THROW(e.observe(h.fb(12)), Error);
  std::filesystem::remove(path);
}

TEST(Recycling, BadStateFilesThrow) {
  RecyclingDrafter d(DrafterParams::parse("recycling:k=2"));
  const std::string p = temp_path("bad.bin");
  EXPECT_THROW(d.load_state("/nonexistent/x.bin"), Error);
  { std::ofstream(p, std::ios::binary) << "SPL"; }
  EXPECT_THROW(d.load_state(p), Error);  // shorter than the header
  write_state(p, 2, 2, {0, 1, 1, 0}, "NOTSTATE");
  EXPECT_THROW(d.load_state(p), Error);  // magic
  write_state(p, 2, 2, {0, 1, 1, 0}, "SPLTRCY1", 9);
  EXPECT_THROW(d.load_state(p), Error);  // version
  write_state(p, 2, 3, {0, 1, 1, 0, 0, 1});
  EXPECT_THROW(d.load_state(p), Error);  // k differs
  write_state(p, 0, 2, {});
  EXPECT_THROW(d.load_state(p), Error);  // vocab
  write_state(p, 2, 2, {0, 1, 1});
  EXPECT_THROW(d.load_state(p), Error);  // truncated
  write_state(p, 2, 2, {0, 1, 1, 0, 5});
  EXPECT_THROW(d.load_state(p), Error);  // trailing bytes
  write_state(p, 2, 2, {0, 1, 2, 0});
  EXPECT_THROW(d.load_state(p), Error);  // id out of range
  write_state(p, 2, 2, {0, 1, -1, -1});
  EXPECT_NO_THROW(d.load_state(p));
  EXPECT_EQ(d.vocab(), 2);
  std::filesystem::remove(p);
}

TEST(Recycling, MatrixBytesForLlamaVocab) {
  RecyclingDrafter d;
  Feedback f;
  f.tree.reset(0);
  f.logits.assign(32000, 0.0f);
  f.acc.path = {0};
  f.tokens = {0, 0};
  d.observe(f.fb(32000));
  EXPECT_EQ(d.matrix_bytes(), 1024000u);
}

TEST(Recycling, MiniLoopIsLosslessAndAccepts) {
  // Token Recycling guesses the next token from the current token only, so it needs a target
  // whose predictions depend mostly on the last token (as real LMs' often do); on the purely
  // tri-gram fake target large trees pollute rows with predictions from wrong contexts.
  testing::FakeTarget target;
  target.bigram_peak = true;
  const std::vector<Token> prompt = {1, 5, 9, 2};
  const auto ar = testing::run_mini_loop(target, nullptr, prompt, 200, {});
  for (int budget : {1, 4, 16, 64, 128}) {
    RecyclingDrafter d;
    const auto sd = testing::run_mini_loop(target, &d, prompt, 200, {budget, 0});
    EXPECT_EQ(sd.generated, ar.generated) << "budget " << budget;
    EXPECT_LT(sd.steps, budget >= 4 ? ar.steps * 3 / 4 : ar.steps) << "budget " << budget;
    std::printf("recycling budget %d: %d steps for %d tokens (autoregressive %d)\n", budget,
                sd.steps, 200, ar.steps);
  }
}

TEST(Recycling, GreedyLosslessThroughDecodeOnStories260K) {
  testing::expect_lossless_with_fewer_forwards_on_stories("recycling");
}

TEST(Recycling, SamplingLosslessWithDeterministicRule) {
  const testing::LookupStatCase c;
  const testing::SyntheticTarget& target = c.target;
  const std::vector<Token>& context = c.context;
  RecyclingDrafter d(DrafterParams::parse("recycling:k=4"));
  d.begin(context);
  // Fill every row with the target's top-4 after (context token 0, t): one feedback whose tree
  // holds every token.
  DraftTree tree;
  tree.reset(0);
  for (Token t = 1; t < target.vocab(); ++t) tree.add(t, 0);
  std::vector<float> logits;
  for (Token t = 0; t < target.vocab(); ++t) {
    const auto row = target.logits(0, t);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  Acceptance acc;
  acc.path = {0};
  StepFeedback fb{&tree, &acc, target.vocab(), logits, context};
  d.observe(fb);
  testing::expect_sampling_lossless(d, target, context, "recycling");
}

}  // namespace
}  // namespace speclab
