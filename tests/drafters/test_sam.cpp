// The suffix automaton against brute force on random texts, and the SAM-Decoding drafter's trees
// against their definition (drafters/sam_drafter.h). Greedy losslessness, limits, allocation,
// reproducibility and the sampling law are proved for `sam` by the drafter contract suite.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/registry.h"
#include "drafters/sam_drafter.h"
#include "drafters/suffix_automaton.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_test_util.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::children_of;
using testing::expect_tree_ok;
using testing::paths_of;
using testing::random_text;

// End position of the first occurrence of `s` in `text`, or -1.
int first_end(const std::vector<Token>& text, const std::vector<Token>& s) {
  if (s.empty()) return -1;
  for (std::size_t e = s.size() - 1; e < text.size(); ++e) {
    if (std::equal(s.begin(), s.end(), text.begin() + static_cast<std::ptrdiff_t>(e + 1 - s.size()))) {
      return static_cast<int>(e);
    }
  }
  return -1;
}

// Length of the longest suffix of text that also ends at an earlier position.
int longest_repeated_suffix(const std::vector<Token>& text) {
  const int n = static_cast<int>(text.size());
  for (int len = n - 1; len >= 1; --len) {
    const std::vector<Token> suf(text.end() - len, text.end());
    const int e = first_end(text, suf);
    if (e >= 0 && e < n - 1) return len;
  }
  return 0;
}

TEST(SuffixAutomaton, MatchesBruteForceOnRandomTexts) {
  Rng rng(3);
  for (int trial = 0; trial < 60; ++trial) {
    const int alphabet = 1 + trial % 4;
    const std::vector<Token> text = random_text(rng, 1 + trial * 2, alphabet);
    SuffixAutomaton a;
    for (std::size_t i = 0; i < text.size(); ++i) {
      a.extend(text[i]);
      const std::vector<Token> prefix(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(i + 1));
      const std::int32_t s = a.longest_repeated_suffix();
      ASSERT_EQ(s == 0 ? 0 : a.len(s), longest_repeated_suffix(prefix)) << "trial " << trial << " at " << i;
    }
    ASSERT_LE(a.n_states(), std::max<std::int32_t>(2 * static_cast<std::int32_t>(text.size()) - 1, 2));
    // Every substring is a path and its state's firstpos is its first occurrence's end; strings
    // that are not substrings have no path.
    for (std::size_t b = 0; b < text.size(); ++b) {
      std::int32_t st = 0;
      std::vector<Token> s;
      for (std::size_t e = b; e < text.size() && e < b + 8; ++e) {
        s.push_back(text[e]);
        st = a.go(st, text[e]);
        ASSERT_GE(st, 0);
        EXPECT_EQ(a.firstpos(st), first_end(text, s));
        EXPECT_GE(a.len(st), static_cast<std::int32_t>(s.size()));
      }
    }
    for (int k = 0; k < 50; ++k) {
      const std::vector<Token> s = random_text(rng, 1 + k % 5, alphabet + 1);
      std::int32_t st = 0;
      for (Token t : s) st = st < 0 ? -1 : a.go(st, t);
      EXPECT_EQ(st >= 0, first_end(text, s) >= 0);
    }
  }
}

TEST(SuffixAutomaton, ClearKeepsCapacitySoARebuildDoesNotAllocateMore) {
  SuffixAutomaton a;
  Rng rng(5);
  const std::vector<Token> text = random_text(rng, 3000, 50);
  a.extend(text);
  const std::int32_t states = a.n_states();
  a.clear();
  EXPECT_EQ(a.n_states(), 1);
  a.extend(text);
  EXPECT_EQ(a.n_states(), states);
}

DraftTree propose(SamDrafter& d, const std::vector<Token>& seq, DraftBudget b) {
  DraftTree t;
  Rng rng(1);
  d.begin(seq);
  d.propose(DraftContext{seq, nullptr, &rng}, b, t);
  return t;
}

// The main chain by definition: after the first occurrence of the longest repeated suffix u,
// then after the first occurrence of u + that token, and so on.
std::vector<Token> reference_chain(const std::vector<Token>& text, int max_len) {
  const int len = longest_repeated_suffix(text);
  std::vector<Token> chain;
  if (len == 0) return chain;
  std::vector<Token> u(text.end() - len, text.end());
  while (static_cast<int>(chain.size()) < max_len) {
    const int e = first_end(text, u);
    if (e + 1 >= static_cast<int>(text.size())) break;
    chain.push_back(text[e + 1]);
    u.push_back(text[e + 1]);
  }
  return chain;
}

TEST(SamDrafter, MainChainFollowsTheFirstOccurrenceOfTheLongestMatch) {
  Rng rng(9);
  for (int trial = 0; trial < 40; ++trial) {
    const std::vector<Token> text = random_text(rng, 10 + trial, 2 + trial % 3);
    SamOptions o;
    o.branches = 0;
    SamDrafter d(o);
    const DraftBudget b{12, 0};
    const DraftTree t = propose(d, text, b);
    expect_tree_ok(t, text.back(), b);
    std::vector<Token> chain;
    for (std::int32_t i = 1; i < t.size(); ++i) {
      ASSERT_EQ(t.parent[i], i - 1) << "branches=0 gives a chain";
      chain.push_back(t.token[i]);
    }
    EXPECT_EQ(chain, reference_chain(text, 12)) << "trial " << trial;
  }
}

TEST(SamDrafter, AlternativesAreTokensThatFollowedTheMatchedString) {
  // "1 2 3 7 1 2 4 8 1 2 5 6 1 2": the match "1 2" was followed by 3 (first), 4 and 5.
  const std::vector<Token> text = {1, 2, 3, 7, 1, 2, 4, 8, 1, 2, 5, 6, 1, 2};
  SamDrafter d;  // branches=3, branch_len=4
  const DraftBudget b{20, 0};  // main chain 12 nodes (to the end of the text), then alternatives
  const DraftTree t = propose(d, text, b);
  expect_tree_ok(t, 2, b);
  EXPECT_EQ(children_of(t, 0), (std::vector<Token>{3, 4, 5}));
  // Main chain: 3 7 1 2 4 ... (the first occurrence's continuation, re-matched each token).
  const auto paths = paths_of(t);
  EXPECT_EQ(paths[0], (std::vector<Token>{3}));
  EXPECT_EQ(paths[1], (std::vector<Token>{3, 7}));
  // Every root-to-node path is a continuation that occurs in the text after "1 2".
  for (const auto& p : paths) {
    std::vector<Token> s = {1, 2};
    s.insert(s.end(), p.begin(), p.end());
    EXPECT_GE(first_end(text, s), 0) << ::testing::PrintToString(p);
  }
  // Depth cap and budget hold.
  const DraftTree capped = propose(d, text, DraftBudget{5, 2});
  expect_tree_ok(capped, 2, DraftBudget{5, 2});
  EXPECT_EQ(capped.size() - 1, 5);
}

TEST(SamDrafter, MinMatchAndNoMatchGiveTheRootAlone) {
  SamDrafter d;
  EXPECT_EQ(propose(d, {1, 2, 3, 4}, DraftBudget{8, 0}).size(), 1);
  SamOptions o;
  o.min_match = 3;
  SamDrafter d3(o);
  EXPECT_EQ(propose(d3, {5, 1, 2, 7, 1, 2}, DraftBudget{8, 0}).size(), 1) << "match of 2 < min_match 3";
  EXPECT_GT(propose(d3, {1, 2, 3, 7, 1, 2, 3}, DraftBudget{8, 0}).size(), 1);
  EXPECT_EQ(propose(d, {1, 2, 1, 2}, DraftBudget{0, 0}).size(), 1);
}

TEST(SamDrafter, WarmStateRetrievesFromEarlierSequencesColdDoesNot) {
  const std::vector<Token> first = {1, 5, 6, 7, 8, 9};
  const std::vector<Token> second = {1, 3, 5, 6};
  for (const bool warm : {false, true}) {
    SamOptions o;
    o.warm = warm;
    SamDrafter d(o);
    propose(d, first, DraftBudget{8, 0});
    const DraftTree t = propose(d, second, DraftBudget{8, 0});
    if (warm) {
      ASSERT_GE(t.size(), 4);
      EXPECT_EQ(paths_of(t)[2], (std::vector<Token>{7, 8, 9})) << "continues the earlier sequence";
      EXPECT_EQ(t.size(), 4) << "stops at the sequence separator";
    } else {
      EXPECT_EQ(t.size(), 1);
    }
  }
}

TEST(SamDrafter, CorpusDraftsWhenItsMatchIsLonger) {
  testing::ScopedTempDir tmp;
  const std::vector<Token> corpus = {4, 4, 1, 2, 3, 10, 11, 12, 4};
  std::vector<std::uint8_t> bytes(corpus.size() * 4);
  std::memcpy(bytes.data(), corpus.data(), bytes.size());
  testing::write_bytes(tmp.path("c.bin"), bytes);
  SamOptions o;
  o.corpus_path = tmp.path("c.bin");
  o.vocab = 20;
  SamDrafter d(o);
  const DraftTree t = propose(d, {7, 1, 2, 3}, DraftBudget{3, 0});
  EXPECT_EQ(paths_of(t).back(), (std::vector<Token>{10, 11, 12}));
  // The sequence's own longer match wins over the corpus.
  const DraftTree own = propose(d, {1, 2, 3, 15, 1, 2, 3}, DraftBudget{1, 0});
  EXPECT_EQ(children_of(own, 0), (std::vector<Token>{15}));

  // Bad corpora are errors naming the file, the value and the rule.
  std::vector<std::uint8_t> bad(8, 0);
  const Token big = 25;
  std::memcpy(bad.data() + 4, &big, 4);
  testing::write_bytes(tmp.path("bad.bin"), bad);
  o.corpus_path = tmp.path("bad.bin");
  try {
    SamDrafter x(o);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token 1 = 25: ids must be in [0, 20)"), std::string::npos) << e.what();
  }
  testing::write_bytes(tmp.path("odd.bin"), std::vector<std::uint8_t>(5, 0));
  o.corpus_path = tmp.path("odd.bin");
  EXPECT_THROW(SamDrafter{o}, Error);
  o.corpus_path = tmp.path("missing.bin");
  EXPECT_THROW(SamDrafter{o}, Error);
}

TEST(SamDrafter, RegistryParsesAndValidatesItsKeys) {
  DrafterEnv env;
  EXPECT_NO_THROW(make_drafter("sam:min_match=2,branches=0,branch_len=8,state=warm", env));
  for (const char* bad : {"sam:min_match=0", "sam:branches=65", "sam:branch_len=0", "sam:state=hot", "sam:bogus=1"}) {
    EXPECT_THROW(make_drafter(bad, env), Error) << bad;
  }
}

TEST(SamDrafter, LosslessWithFewerForwardsOnStories) {
  testing::expect_lossless_with_fewer_forwards_on_stories("sam");
}

}  // namespace
}  // namespace speclab
