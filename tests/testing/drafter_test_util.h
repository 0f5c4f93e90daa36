// Shared fixtures for the drafter tests: structural checks of a proposed tree and a miniature
// greedy speculative loop over a fake tri-gram "target" (logits are a hash of the last two
// tokens), so drafters can be exercised end to end without a model.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "drafters/drafter.h"
#include "trees/draft_tree.h"

namespace speclab::testing {

// Valid tree, root = `root`, deterministic children, within budget, no duplicate siblings.
inline void expect_tree_ok(const DraftTree& t, Token root, const DraftBudget& b) {
  ASSERT_NO_THROW(t.validate());
  ASSERT_GE(t.size(), 1);
  EXPECT_EQ(t.token[0], root);
  EXPECT_EQ(t.children, ChildSampling::kDeterministic);
  EXPECT_FALSE(t.has_q());
  EXPECT_LE(t.size() - 1, std::max(b.max_nodes, 0));
  if (b.max_depth > 0) {
    EXPECT_LE(t.max_depth(), b.max_depth);
  }
  std::set<std::pair<std::int32_t, Token>> seen;
  for (std::int32_t i = 1; i < t.size(); ++i) {
    EXPECT_TRUE(seen.insert({t.parent[i], t.token[i]}).second)
        << "duplicate sibling token " << t.token[i] << " under node " << t.parent[i];
  }
}

// n tokens drawn uniformly from [0, alphabet) (texts for the lookup drafters' brute-force checks).
inline std::vector<Token> random_text(Rng& rng, int n, int alphabet) {
  std::vector<Token> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = static_cast<Token>(rng.next_u64() % static_cast<std::uint64_t>(alphabet));
  return t;
}

// Children of node v in index (preference) order.
inline std::vector<Token> children_of(const DraftTree& t, std::int32_t v) {
  std::vector<Token> c;
  for (std::int32_t i = 1; i < t.size(); ++i) if (t.parent[i] == v) c.push_back(t.token[i]);
  return c;
}

// Root-to-node token paths of every node (root excluded), in node order.
inline std::vector<std::vector<Token>> paths_of(const DraftTree& t) {
  std::vector<std::vector<Token>> out;
  for (std::int32_t i = 1; i < t.size(); ++i) {
    std::vector<Token> p;
    for (std::int32_t v = i; v > 0; v = t.parent[v]) p.push_back(t.token[v]);
    std::reverse(p.begin(), p.end());
    out.push_back(p);
  }
  return out;
}

// A deterministic fake target: logits after context (a, b) are pseudo-random N(0,1)-ish values
// from a hash of (seed, a, b) plus a boost of `peak` on one token, so its greedy text is a
// tri-gram chain that eventually cycles (repetitive text: drafters should find matches). With
// bigram_peak the boosted token depends on b only (a smoother, more LM-like target whose
// predictions in hypothetical contexts are still informative).
struct FakeTarget {
  std::int32_t vocab = 40;
  std::uint64_t seed = 1;
  float peak = 3.0f;
  bool bigram_peak = false;
  void logits(Token a, Token b, float* out) const {
    Rng rng(seed * 1000003ull + static_cast<std::uint64_t>(a + 7) * 4099ull +
            static_cast<std::uint64_t>(b + 3) * 131ull);
    for (std::int32_t v = 0; v < vocab; ++v) out[v] = static_cast<float>(rng.normal());
    if (bigram_peak) {
      Rng r2(seed * 7919ull + static_cast<std::uint64_t>(b + 3) * 104729ull);
      out[r2.below(vocab)] += peak;
    } else {
      out[rng.below(vocab)] += peak;
    }
  }
};

inline Token argmax_row(const float* row, std::int32_t n) {
  return static_cast<Token>(std::max_element(row, row + n) - row);
}

struct MiniLoopResult {
  std::vector<Token> generated;
  std::int32_t steps = 0;
  std::int32_t drafted = 0;
};

// Greedy speculative decoding with the fake target: propose, validate, "verify" every node
// (logits from the node's own context), accept the longest greedy path, observe. drafter may be
// null (autoregressive).
inline MiniLoopResult run_mini_loop(const FakeTarget& target, Drafter* drafter,
                                    const std::vector<Token>& prompt, std::int32_t n_new,
                                    DraftBudget budget) {
  MiniLoopResult res;
  std::vector<Token> seq = prompt;
  if (drafter) drafter->begin(prompt);
  DraftTree tree;
  Acceptance acc;
  std::vector<float> logits;
  Rng rng(7);
  while (static_cast<std::int32_t>(res.generated.size()) < n_new) {
    DraftContext ctx{seq, nullptr, &rng};
    if (drafter) {
      drafter->propose(ctx, budget, tree);
      expect_tree_ok(tree, seq.back(), budget);
    } else {
      tree.reset(seq.back());
    }
    res.drafted += tree.size() - 1;
    const std::int32_t n = tree.size();
    logits.assign(static_cast<std::size_t>(n) * target.vocab, 0.0f);
    for (std::int32_t i = 0; i < n; ++i) {
      const Token a = i == 0 ? (seq.size() >= 2 ? seq[seq.size() - 2] : -1) : tree.token[tree.parent[i]];
      target.logits(a, tree.token[i], &logits[static_cast<std::size_t>(i) * target.vocab]);
    }
    acc.path.assign(1, 0);
    std::int32_t v = 0;
    for (;;) {
      const Token want = argmax_row(&logits[static_cast<std::size_t>(v) * target.vocab], target.vocab);
      std::int32_t next = -1;
      for (std::int32_t c = 1; c < n && next < 0; ++c) {
        if (tree.parent[c] == v && tree.token[c] == want) next = c;
      }
      if (next < 0) {
        acc.bonus = want;
        break;
      }
      acc.path.push_back(next);
      v = next;
    }
    for (std::size_t j = 1; j < acc.path.size(); ++j) seq.push_back(tree.token[acc.path[j]]);
    seq.push_back(acc.bonus);
    for (std::size_t j = 1; j < acc.path.size(); ++j) res.generated.push_back(tree.token[acc.path[j]]);
    res.generated.push_back(acc.bonus);
    ++res.steps;
    if (drafter) {
      StepFeedback fb;
      fb.tree = &tree;
      fb.acceptance = &acc;
      fb.vocab = target.vocab;
      fb.logits = logits;
      fb.tokens = seq;
      drafter->observe(fb);
    }
  }
  res.generated.resize(n_new);
  return res;
}

}  // namespace speclab::testing
