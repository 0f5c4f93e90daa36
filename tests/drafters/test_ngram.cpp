#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/ngram_drafter.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_test_util.h"
#include "tests/testing/stat_check.h"

namespace speclab {
namespace {

using testing::children_of;
using testing::expect_tree_ok;
using testing::paths_of;

DraftTree propose(NgramDrafter& d, const std::vector<Token>& seq, DraftBudget b) {
  DraftTree t;
  Rng rng(1);
  d.begin(seq);
  d.propose(DraftContext{seq, nullptr, &rng}, b, t);
  return t;
}

// Naive prompt lookup: the most recent earlier occurrence of the longest suffix n-gram.
std::vector<Token> reference_continuation(const std::vector<Token>& s, int min_n, int max_n,
                                          int max_len) {
  const int L = static_cast<int>(s.size());
  for (int n = max_n; n >= min_n; --n) {
    if (L - 1 < n) continue;
    for (int e = L - 2; e >= n - 1; --e) {
      bool eq = true;
      for (int j = 0; j < n && eq; ++j) eq = s[e - j] == s[L - 1 - j];
      if (!eq) continue;
      std::vector<Token> c;
      for (int p = e + 1; p < L && p - e <= max_len; ++p) c.push_back(s[p]);
      return c;
    }
  }
  return {};
}

TEST(Ngram, FindsLongestSuffixContinuation) {
  NgramDrafter d(NgramOptions{1, 3, 1, NgramOrder::kRecent});
  // suffix "1 2 3" occurs at the start; "2 3" also occurs later followed by 8 (more recent), but
  // the longer n-gram wins.
  const std::vector<Token> seq = {1, 2, 3, 4, 5, 2, 3, 8, 9, 1, 2, 3};
  const DraftTree t = propose(d, seq, {4, 0});
  expect_tree_ok(t, 3, {4, 0});
  ASSERT_EQ(t.size(), 5);
  EXPECT_EQ(std::vector<Token>(t.token.begin() + 1, t.token.end()), (std::vector<Token>{4, 5, 2, 3}));
  for (int i = 1; i < t.size(); ++i) EXPECT_EQ(t.parent[i], i - 1);
  // Depth limit cuts the chain.
  const DraftTree t2 = propose(d, seq, {8, 2});
  EXPECT_EQ(t2.size(), 3);
  EXPECT_EQ(t2.token[2], 5);
}

TEST(Ngram, NoMatchGivesRootOnly) {
  NgramDrafter d(NgramOptions{2, 3, 4, NgramOrder::kRecent});
  const DraftTree t = propose(d, {1, 2, 3, 4, 5}, {16, 0});
  EXPECT_EQ(t.size(), 1);
  EXPECT_EQ(t.token[0], 5);
  EXPECT_EQ(propose(d, {7}, {16, 0}).size(), 1);
  EXPECT_EQ(propose(d, {1, 2, 1, 2}, {0, 0}).size(), 1);  // zero budget
}

TEST(Ngram, MergesContinuationsRecentFirst) {
  NgramDrafter d(NgramOptions{2, 2, 8, NgramOrder::kRecent});
  // "1 2" occurs three times before the suffix: followed by 5 6 ..., 5 8 ..., 9 ... (latest).
  const std::vector<Token> seq = {1, 2, 5, 6, 0, 1, 2, 5, 8, 0, 1, 2, 9, 0, 1, 2};
  const DraftTree t = propose(d, seq, {64, 3});
  expect_tree_ok(t, 2, {64, 3});
  EXPECT_EQ(children_of(t, 0), (std::vector<Token>{9, 5}));
  const auto paths = paths_of(t);
  const std::vector<std::vector<Token>> want = {
      {9}, {9, 0}, {9, 0, 1}, {5}, {5, 8}, {5, 8, 0}, {5, 6}, {5, 6, 0}};
  EXPECT_EQ(paths, want);
  // Budget 4 keeps the most recent continuation whole first.
  const auto p4 = paths_of(propose(d, seq, {4, 3}));
  EXPECT_EQ(p4, (std::vector<std::vector<Token>>{{9}, {9, 0}, {9, 0, 1}, {5}}));
}

TEST(Ngram, FrequentOrderPutsSharedPrefixFirst) {
  NgramDrafter d(NgramOptions{2, 2, 8, NgramOrder::kFrequent});
  const std::vector<Token> seq = {1, 2, 5, 6, 0, 1, 2, 5, 8, 0, 1, 2, 9, 0, 1, 2};
  const DraftTree t = propose(d, seq, {64, 3});
  expect_tree_ok(t, 2, {64, 3});
  EXPECT_EQ(children_of(t, 0), (std::vector<Token>{5, 9}));
  EXPECT_EQ(paths_of(t)[0], (std::vector<Token>{5}));
  // Budget 2: the two-continuation prefix "5" then the next most frequent node.
  const auto p2 = paths_of(propose(d, seq, {2, 0}));
  EXPECT_EQ(p2, (std::vector<std::vector<Token>>{{5}, {9}}));
}

TEST(Ngram, LongerNgramMatchesComeFirstThenShorter) {
  NgramDrafter d(NgramOptions{1, 2, 2, NgramOrder::kRecent});
  // suffix "4 7": bigram at the start (-> 1); unigram "7" most recently (-> 3).
  const std::vector<Token> seq = {4, 7, 1, 9, 7, 3, 4, 7};
  const auto paths = paths_of(propose(d, seq, {2, 1}));
  EXPECT_EQ(paths, (std::vector<std::vector<Token>>{{1}, {3}}));
}

TEST(Ngram, IndexMatchesBruteForce) {
  Rng rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    const int vocab = 2 + static_cast<int>(rng.below(6));
    const int len = 1 + static_cast<int>(rng.below(80));
    std::vector<Token> seq(len);
    for (auto& t : seq) t = static_cast<Token>(rng.below(vocab));
    const int min_n = 1 + static_cast<int>(rng.below(3));
    const int max_n = min_n + static_cast<int>(rng.below(3));
    NgramDrafter d(NgramOptions{min_n, max_n, 1, NgramOrder::kRecent});
    const int max_len = 1 + static_cast<int>(rng.below(8));
    const DraftTree t = propose(d, seq, {max_len, 0});
    const auto want = reference_continuation(seq, min_n, max_n, max_len);
    std::vector<Token> got(t.token.begin() + 1, t.token.end());
    ASSERT_EQ(got, want) << "trial " << trial;
  }
}

TEST(Ngram, IncrementalIndexEqualsFreshIndex) {
  Rng rng(3);
  std::vector<Token> seq;
  for (int i = 0; i < 30; ++i) seq.push_back(static_cast<Token>(rng.below(5)));
  NgramDrafter inc(NgramOptions{1, 3, 4, NgramOrder::kRecent});
  inc.begin(std::vector<Token>(seq.begin(), seq.begin() + 5));
  Rng r2(0);
  for (int L = 5; L <= 30; ++L) {
    const std::vector<Token> prefix(seq.begin(), seq.begin() + L);
    DraftTree a, b;
    inc.propose(DraftContext{prefix, nullptr, &r2}, {12, 4}, a);
    NgramDrafter fresh(NgramOptions{1, 3, 4, NgramOrder::kRecent});
    b = propose(fresh, prefix, {12, 4});
    ASSERT_EQ(a.token, b.token) << "L = " << L;
    ASSERT_EQ(a.parent, b.parent);
  }
  // A sequence that does not extend the indexed one is re-indexed.
  DraftTree c;
  const std::vector<Token> other = {9, 9, 8, 9, 9};
  inc.propose(DraftContext{other, nullptr, &r2}, {4, 0}, c);
  // "9 9" -> 8 9 9; then unigram "9" at position 3 -> 9 (budget 4).
  EXPECT_EQ(paths_of(c), (std::vector<std::vector<Token>>{{8}, {8, 9}, {8, 9, 9}, {9}}));
}

TEST(Ngram, BudgetAndDepthRespected) {
  Rng rng(5);
  std::vector<Token> seq;
  for (int i = 0; i < 300; ++i) seq.push_back(static_cast<Token>(rng.below(4)));
  for (const auto order : {NgramOrder::kRecent, NgramOrder::kFrequent}) {
    NgramDrafter d(NgramOptions{1, 3, 16, order});
    d.begin(seq);
    DraftTree t;
    for (int nodes = 1; nodes <= 128; ++nodes) {
      for (int depth : {0, 1, 3, 7}) {
        d.propose(DraftContext{seq, nullptr, &rng}, {nodes, depth}, t);
        expect_tree_ok(t, seq.back(), {nodes, depth});
        EXPECT_GT(t.size(), 1);
      }
    }
  }
}

TEST(Ngram, ParamsAndErrors) {
  NgramDrafter d(DrafterParams::parse("ngram:min_n=2,max_n=4,max_matches=3,order=frequent"));
  EXPECT_EQ(d.options().min_n, 2);
  EXPECT_EQ(d.options().max_n, 4);
  EXPECT_EQ(d.options().order, NgramOrder::kFrequent);
  EXPECT_NE(std::string(d.name()).find("order=frequent"), std::string::npos);
  EXPECT_THROW(NgramDrafter(DrafterParams::parse("ngram:min_n=0")), Error);
  EXPECT_THROW(NgramDrafter(DrafterParams::parse("ngram:min_n=3,max_n=2")), Error);
  EXPECT_THROW(NgramDrafter(DrafterParams::parse("ngram:max_matches=0")), Error);
  EXPECT_THROW(NgramDrafter(DrafterParams::parse("ngram:order=random")), Error);
  EXPECT_THROW(NgramDrafter(DrafterParams::parse("ngram:k=3")), Error);
  EXPECT_THROW(NgramDrafter(NgramOptions{0, 3, 1, NgramOrder::kRecent}), Error);
}

TEST(Ngram, MiniLoopIsLosslessAndAccepts) {
  testing::FakeTarget target;
  const std::vector<Token> prompt = {1, 5, 9, 2};
  const auto ar = testing::run_mini_loop(target, nullptr, prompt, 200, {});
  for (int budget : {1, 4, 16, 64}) {
    NgramDrafter d;
    const auto sd = testing::run_mini_loop(target, &d, prompt, 200, {budget, 0});
    EXPECT_EQ(sd.generated, ar.generated) << "budget " << budget;
    EXPECT_LT(sd.steps, ar.steps * 3 / 4) << "the cyclic text should be found by lookup";
  }
}

TEST(Ngram, GreedyLosslessThroughDecodeOnStories260K) {
  testing::expect_lossless_with_fewer_forwards_on_stories("ngram");
}

TEST(Ngram, SamplingLosslessWithDeterministicRule) {
  NgramDrafter d;
  testing::expect_sampling_lossless_after_begin(d, "ngram");
}

}  // namespace
}  // namespace speclab
