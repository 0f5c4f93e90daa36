// The counted suffix trie against brute force, and the suffix-decoding drafter's trees against
// their definition (drafters/suffix_drafter.h). Greedy losslessness, limits, allocation,
// reproducibility and the sampling law are proved for `suffix` by the drafter contract suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/registry.h"
#include "drafters/suffix_drafter.h"
#include "drafters/suffix_trie.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_test_util.h"

namespace speclab {
namespace {

using testing::children_of;
using testing::expect_tree_ok;
using testing::paths_of;
using testing::random_text;

int occurrences(const std::vector<std::vector<Token>>& texts, const std::vector<Token>& s) {
  int n = 0;
  for (const auto& t : texts) {
    for (std::size_t b = 0; b + s.size() <= t.size(); ++b) {
      n += std::equal(s.begin(), s.end(), t.begin() + static_cast<std::ptrdiff_t>(b));
    }
  }
  return n;
}

TEST(SuffixTrie, CountsEverySubstringUpToItsDepthAcrossSeparateTexts) {
  Rng rng(4);
  for (int trial = 0; trial < 30; ++trial) {
    const int alphabet = 1 + trial % 3, depth = 1 + trial % 6;
    SuffixTrie trie(depth);
    std::vector<std::vector<Token>> texts;
    for (int k = 0; k < 1 + trial % 3; ++k) {
      texts.push_back(random_text(rng, 1 + (trial * 7 + k) % 25, alphabet));
      trie.start_text();
      for (Token t : texts.back()) trie.append(t);
    }
    // Every string of length <= depth over the alphabet (+1 unseen token): its node exists iff
    // it occurs, with its number of occurrences (no substring spans two texts).
    std::vector<std::vector<Token>> strings = {{}};
    for (int len = 1; len <= std::min(depth, 4); ++len) {
      std::vector<std::vector<Token>> longer;
      for (const auto& s : strings) {
        if (static_cast<int>(s.size()) != len - 1) continue;
        for (Token t = 0; t <= alphabet; ++t) {
          auto x = s;
          x.push_back(t);
          longer.push_back(x);
        }
      }
      strings.insert(strings.end(), longer.begin(), longer.end());
    }
    for (const auto& s : strings) {
      if (s.empty()) continue;
      std::int32_t node = trie.root();
      for (Token t : s) node = node < 0 ? -1 : trie.child(node, t);
      const int n = occurrences(texts, s);
      ASSERT_EQ(node >= 0, n > 0) << "trial " << trial << " " << ::testing::PrintToString(s);
      if (node >= 0) {
        EXPECT_EQ(trie.count(node), n) << "trial " << trial << " " << ::testing::PrintToString(s);
        EXPECT_EQ(trie.depth(node), static_cast<std::int32_t>(s.size()));
      }
    }
  }
}

DraftTree propose(SuffixDrafter& d, const std::vector<Token>& seq, DraftBudget b) {
  DraftTree t;
  Rng rng(1);
  d.begin(seq);
  d.propose(DraftContext{seq, nullptr, &rng}, b, t);
  return t;
}

TEST(SuffixDrafter, GrowsTheMostProbableContinuationsOfTheLongestEarlierMatch) {
  // The longest suffix that also occurs earlier is "0 1 2" (3 occurrences: followed by 4, by 3,
  // and the last one by nothing yet), so p(4) = p(3) = 1/3; "0 1 2 3" continues with 6.
  const std::vector<Token> text = {1, 2, 3, 5, 0, 1, 2, 4, 0, 1, 2, 3, 6, 0, 1, 2};
  SuffixOptions o;
  o.spec_factor = 8;
  o.min_prob = 0.2;
  SuffixDrafter d(o);
  const DraftBudget b{16, 0};
  const DraftTree t = propose(d, text, b);
  expect_tree_ok(t, 2, b);
  auto kids = children_of(t, 0);
  std::sort(kids.begin(), kids.end());
  EXPECT_EQ(kids, (std::vector<Token>{3, 4}));
  ASSERT_GE(t.size(), 3);
  EXPECT_NEAR(std::exp(t.score[1]), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(std::exp(t.score[2]), 1.0 / 3.0, 1e-6);
  EXPECT_TRUE(std::find(t.token.begin(), t.token.end(), 6) != t.token.end()) << "0 1 2 3 -> 6 (p = 1/3)";
  for (std::int32_t i = 1; i < t.size(); ++i) EXPECT_GE(std::exp(t.score[i]), 0.2 - 1e-6) << "min_prob";
  // Scores never increase down a path; every path occurs after the match in the text.
  for (std::int32_t i = 1; i < t.size(); ++i) {
    if (t.parent[i] > 0) EXPECT_LE(t.score[i], t.score[t.parent[i]]);
  }
  // Best-first: no node below a better-scored unexpanded candidate... at least the order of
  // addition is by non-increasing probability.
  for (std::int32_t i = 2; i < t.size(); ++i) EXPECT_LE(t.score[i], t.score[i - 1] + 1e-6);
}

TEST(SuffixDrafter, AdaptiveSizeFollowsTheMatchLength) {
  const std::vector<Token> text = {7, 1, 2, 3, 4, 5, 6, 8, 9, 7, 1};  // match "7 1": L = 2
  SuffixOptions o;
  o.min_prob = 0;
  for (const double factor : {0.5, 1.0, 2.0}) {
    o.spec_factor = factor;
    SuffixDrafter d(o);
    const DraftTree t = propose(d, text, DraftBudget{16, 0});
    EXPECT_EQ(t.size() - 1, static_cast<std::int32_t>(std::ceil(factor * 2))) << factor;
    EXPECT_EQ(paths_of(t).back(), std::vector<Token>(text.begin() + 2, text.begin() + 2 + (t.size() - 1)));
  }
  SuffixDrafter d;
  EXPECT_EQ(propose(d, {1, 2, 3}, DraftBudget{16, 0}).size(), 1) << "no earlier match";
  EXPECT_EQ(propose(d, {1, 2, 1, 2}, DraftBudget{0, 0}).size(), 1) << "no budget";
}

TEST(SuffixDrafter, WarmStateRetrievesEarlierOutputsNotPrompts) {
  SuffixOptions o;
  o.min_prob = 0;
  o.spec_factor = 4;
  for (const bool warm : {false, true}) {
    o.warm = warm;
    SuffixDrafter d(o);
    // Request 1: prompt {1, 9}, output {5, 6, 7, 8} (observed through propose's context).
    std::vector<Token> seq = {1, 9};
    propose(d, seq, DraftBudget{4, 0});
    DraftTree t;
    Rng rng(1);
    seq = {1, 9, 5, 6, 7, 8};
    d.propose(DraftContext{seq, nullptr, &rng}, DraftBudget{4, 0}, t);
    // Request 2 ends with "5 6": the global trie (warm) knows "7 8" followed.
    const DraftTree t2 = propose(d, {1, 3, 5, 6}, DraftBudget{4, 0});
    if (warm) {
      EXPECT_EQ(paths_of(t2).back(), (std::vector<Token>{7, 8}));
    } else {
      EXPECT_EQ(t2.size(), 1);
    }
    // The prompt of request 1 is not in the global trie: "1 9" retrieves nothing in request 3.
    const DraftTree t3 = propose(d, {4, 1, 9}, DraftBudget{4, 0});
    EXPECT_EQ(t3.size(), 1);
  }
}

TEST(SuffixDrafter, RegistryParsesAndValidatesItsKeys) {
  DrafterEnv env;
  EXPECT_NO_THROW(make_drafter("suffix:max_depth=32,spec_factor=2,min_prob=0.05,min_match=2,state=warm", env));
  for (const char* bad : {"suffix:max_depth=3", "suffix:spec_factor=0", "suffix:min_prob=2", "suffix:min_match=0",
                          "suffix:state=hot", "suffix:x=1"}) {
    EXPECT_THROW(make_drafter(bad, env), Error) << bad;
  }
}

TEST(SuffixDrafter, LosslessWithFewerForwardsOnStories) {
  testing::expect_lossless_with_fewer_forwards_on_stories("suffix");
}

}  // namespace
}  // namespace speclab
