// The lookahead drafter (drafters/lookahead_drafter.h) against its definition: the Jacobi update
// of the window (shifted by what each step emitted), the n-grams the pool harvests and keeps,
// the trie of candidates within the budget and depth cap, and SJD's q rows at temperature > 0.
// Greedy losslessness, limits, allocation, reproducibility and the sampling law are proved for
// `lookahead` by the drafter contract suite too.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/lookahead_drafter.h"
#include "drafters/registry.h"
#include "ops/sampling.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/drafter_test_util.h"

namespace speclab {
namespace {

using testing::expect_tree_ok;
using testing::FakeTarget;
using testing::paths_of;

using Gram = std::vector<Token>;

// The pool by its definition: per first token the G most recent distinct n-gram tails.
struct ReferencePool {
  explicit ReferencePool(std::int32_t g_) : g(g_) {}
  std::int32_t g = 0;
  std::map<Token, std::deque<Gram>> by_key;
  void insert(Token key, const Gram& tail) {
    auto& list = by_key[key];
    auto it = std::find(list.begin(), list.end(), tail);
    if (it != list.end()) list.erase(it);
    list.push_front(tail);
    if (static_cast<std::int32_t>(list.size()) > g) list.pop_back();
  }
  std::vector<Gram> entries(Token key) const {
    auto it = by_key.find(key);
    if (it == by_key.end()) return {};
    return {it->second.begin(), it->second.end()};
  }
};

// Logits of every node of `tree` from the fake target (context: the node's parent token, or the
// token before the root for the root).
std::vector<float> fake_logits(const FakeTarget& target, const DraftTree& tree, const std::vector<Token>& seq) {
  std::vector<float> logits(static_cast<std::size_t>(tree.size()) * target.vocab);
  for (std::int32_t i = 0; i < tree.size(); ++i) {
    const Token a = i == 0 ? (seq.size() >= 2 ? seq[seq.size() - 2] : -1) : tree.token[tree.parent[i]];
    target.logits(a, tree.token[i], &logits[static_cast<std::size_t>(i) * target.vocab]);
  }
  return logits;
}

StepFeedback feedback(const DraftTree& tree, const Acceptance& acc, std::int32_t vocab,
                      std::span<const float> logits, std::span<const Token> tokens) {
  StepFeedback fb;
  fb.tree = &tree;
  fb.acceptance = &acc;
  fb.vocab = vocab;
  fb.logits = logits;
  fb.tokens = tokens;
  return fb;
}

Token row_argmax(const std::vector<float>& logits, std::int32_t i, std::int32_t vocab) {
  return argmax(std::span<const float>(logits).subspan(static_cast<std::size_t>(i) * vocab, vocab));
}

// Greedy longest accepted path (as the greedy rule).
Acceptance greedy_accept(const DraftTree& tree, const std::vector<float>& logits, std::int32_t vocab) {
  Acceptance acc;
  acc.path.assign(1, 0);
  std::int32_t v = 0;
  for (;;) {
    const Token want = row_argmax(logits, v, vocab);
    std::int32_t next = -1;
    for (std::int32_t c = 1; c < tree.size() && next < 0; ++c) {
      if (tree.parent[c] == v && tree.token[c] == want) next = c;
    }
    if (next < 0) {
      acc.bonus = want;
      return acc;
    }
    acc.path.push_back(next);
    v = next;
  }
}

struct LoopCase {
  LookaheadOptions options;
  DraftBudget budget;
  std::uint64_t seed;
};

// Decodes greedily with the fake target and checks every step against the definition: the
// chain g_1..g_w (w = min(W, cap, budget)) is a path from the root, cut only by the budget; the first
// n_jacobi guesses are argmax of the previous step's chain row k + j; the others are prompt
// tokens; the pool equals the reference; the candidates are the root's pool entries as trie
// paths, cut only by the budget. Returns the generated tokens.
std::vector<Token> checked_loop(const LoopCase& c, const std::vector<Token>& prompt, std::int32_t n_new,
                                const FakeTarget& target, std::int64_t* n_jacobi_total = nullptr) {
  LookaheadDrafter d(c.options);
  d.begin(prompt);
  const std::int32_t W = c.options.window, N = c.options.ngram, G = c.options.candidates;
  std::int32_t w = std::min(W, c.budget.max_nodes);
  if (c.budget.max_depth > 0) w = std::min(w, c.budget.max_depth);
  ReferencePool pool(G);
  // The prompt's n-grams (prompt_pool), at begin() or, when the vocab is learnt from the
  // feedback, at the first observe() before that step's harvest.
  auto seed_prompt = [&] {
    if (!c.options.prompt_pool || G == 0) return;
    for (std::size_t p = 0; p + N - 1 < prompt.size(); ++p) {
      pool.insert(prompt[p], Gram(prompt.begin() + p + 1, prompt.begin() + p + N));
    }
  };
  if (c.options.vocab > 0) seed_prompt();
  bool first_step = true;
  std::vector<Token> seq = prompt, generated;
  std::vector<Token> expect_jacobi;  // the guesses the last step's rows give
  const std::set<Token> prompt_set(prompt.begin(), prompt.end());
  DraftTree tree;
  SamplingParams greedy;
  Rng rng(c.seed);
  while (static_cast<std::int32_t>(generated.size()) < n_new) {
    EXPECT_EQ(d.n_jacobi(), static_cast<std::int32_t>(expect_jacobi.size()));
    for (std::size_t j = 0; j < expect_jacobi.size(); ++j) EXPECT_EQ(d.guesses()[j], expect_jacobi[j]) << j;
    for (std::int32_t j = d.n_jacobi(); j < W; ++j) EXPECT_TRUE(prompt_set.count(d.guesses()[j])) << "fill " << j;
    const std::vector<Token> guesses(d.guesses().begin(), d.guesses().end());
    DraftContext ctx{seq, &greedy, &rng};
    d.propose(ctx, c.budget, tree);
    expect_tree_ok(tree, seq.back(), c.budget);
    if (::testing::Test::HasFatalFailure()) return generated;
    // (a) the chain: g_1..g_placed from the root; cut short only by a full budget.
    std::vector<std::int32_t> chain_node = {0};
    for (std::int32_t j = 1; j <= w; ++j) {
      std::int32_t next = -1;
      for (std::int32_t n = 1; n < tree.size() && next < 0; ++n) {
        if (tree.parent[n] == chain_node.back() && tree.token[n] == guesses[j - 1]) next = n;
      }
      if (next < 0) break;
      chain_node.push_back(next);
    }
    const auto placed = static_cast<std::int32_t>(chain_node.size()) - 1;
    if (placed < w) {
      EXPECT_EQ(tree.size() - 1, c.budget.max_nodes) << "the window is cut but the budget is not full";
    }
    EXPECT_GE(placed, std::min(w, 1)) << "the window always gets a node";
    if (!c.options.candidates_first) {
      for (std::int32_t j = 1; j <= w; ++j) EXPECT_EQ(chain_node[j], j) << "first=window: the chain is nodes 1..w";
    }
    // (b) the candidates: each root entry (cut to the cap) is a path, or the budget is full
    // (first=candidates: all but the node kept for the window).
    const auto paths = paths_of(tree);
    const std::set<Gram> path_set(paths.begin(), paths.end());
    EXPECT_EQ(d.pool_entries(seq.back()), pool.entries(seq.back()));
    for (Gram e : pool.entries(seq.back())) {
      if (c.budget.max_depth > 0 && static_cast<std::int32_t>(e.size()) > c.budget.max_depth) e.resize(c.budget.max_depth);
      if (!path_set.count(e)) {
        EXPECT_GE(tree.size() - 1, c.budget.max_nodes - (c.options.candidates_first ? 1 : 0))
            << "a candidate is missing but the budget is not full";
      }
    }
    // Every node is on the chain or on a candidate's path.
    std::set<Gram> allowed;
    for (std::int32_t j = 1; j <= w; ++j) allowed.insert(Gram(guesses.begin(), guesses.begin() + j));
    for (const Gram& e : pool.entries(seq.back())) {
      for (std::size_t l = 1; l <= e.size(); ++l) allowed.insert(Gram(e.begin(), e.begin() + l));
    }
    for (const Gram& p : paths) EXPECT_TRUE(allowed.count(p)) << "node not from the chain or the pool";

    const std::vector<float> logits = fake_logits(target, tree, seq);
    const Acceptance acc = greedy_accept(tree, logits, target.vocab);
    const std::size_t old_len = seq.size();
    for (std::size_t j = 1; j < acc.path.size(); ++j) seq.push_back(tree.token[acc.path[j]]);
    seq.push_back(acc.bonus);
    for (std::size_t j = 1; j < acc.path.size(); ++j) generated.push_back(tree.token[acc.path[j]]);
    generated.push_back(acc.bonus);
    // The definition of the next iteration and of the harvest.
    const std::int32_t k = acc.n_accepted();
    expect_jacobi.clear();
    for (std::int32_t j = 1; k + j <= placed; ++j) {
      expect_jacobi.push_back(row_argmax(logits, chain_node[k + j], target.vocab));
    }
    if (n_jacobi_total) *n_jacobi_total += static_cast<std::int64_t>(expect_jacobi.size());
    if (first_step && c.options.vocab == 0) seed_prompt();
    first_step = false;
    if (G > 0) {
      for (std::int32_t i = N - 2; i <= placed; ++i) {
        Gram tail;
        for (std::int32_t t = i - N + 3; t <= i; ++t) tail.push_back(tree.token[chain_node[t]]);
        tail.push_back(row_argmax(logits, chain_node[i], target.vocab));
        pool.insert(tree.token[chain_node[i - N + 2]], tail);
      }
      if (c.options.output_pool) {  // n-grams ending at each emitted token
        for (std::size_t e = std::max<std::size_t>(old_len, N - 1); e < seq.size(); ++e) {
          pool.insert(seq[e - N + 1], Gram(seq.begin() + (e - N + 2), seq.begin() + e + 1));
        }
      }
    }
    StepFeedback fb;
    fb.tree = &tree;
    fb.acceptance = &acc;
    fb.vocab = target.vocab;
    fb.logits = logits;
    fb.tokens = seq;
    d.observe(fb);
  }
  generated.resize(n_new);
  return generated;
}

TEST(Lookahead, JacobiUpdatePoolAndTrieFollowTheDefinition) {
  const std::vector<LoopCase> cases = {
      {{.window = 5, .ngram = 4, .candidates = 5, .vocab = 40}, {64, 0}, 1},
      {{.window = 5, .ngram = 4, .candidates = 5, .prompt_pool = false, .vocab = 40}, {8, 0}, 2},
      {{.window = 5, .ngram = 4, .candidates = 5, .candidates_first = false, .vocab = 40}, {8, 0}, 10},
      {{.window = 5, .ngram = 3, .candidates = 6, .output_pool = true, .candidates_first = false, .vocab = 40},
       {6, 0},
       11},
      {{.window = 5, .ngram = 4, .candidates = 5, .output_pool = true, .vocab = 40}, {16, 3}, 3},
      {{.window = 1, .ngram = 2, .candidates = 3, .vocab = 40}, {4, 0}, 4},
      {{.window = 8, .ngram = 2, .candidates = 12, .output_pool = true, .vocab = 40}, {32, 0}, 5},
      {{.window = 3, .ngram = 6, .candidates = 2, .prompt_pool = false, .candidates_first = false, .vocab = 40},
       {6, 2},
       6},
      {{.window = 4, .ngram = 3, .candidates = 0, .output_pool = true, .vocab = 40}, {4, 0}, 7},
      {{.window = 6, .ngram = 3, .candidates = 4, .output_pool = true, .vocab = 0}, {1, 0}, 8},  // vocab from feedback
      {{.window = 2, .ngram = 3, .candidates = 2, .vocab = 0}, {3, 0}, 9},
  };
  FakeTarget target;
  target.bigram_peak = true;
  const std::vector<Token> prompt = {1, 5, 9, 5, 9, 2};
  for (const LoopCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << "W=" << c.options.window << " N=" << c.options.ngram << " G="
                                      << c.options.candidates << " prompt_pool " << c.options.prompt_pool
                                      << " output_pool " << c.options.output_pool << " candidates_first "
                                      << c.options.candidates_first << " budget "
                                      << c.budget.max_nodes << " cap " << c.budget.max_depth);
    std::int64_t n_jacobi = 0;
    const auto got = checked_loop(c, prompt, 120, target, &n_jacobi);
    const auto ar = testing::run_mini_loop(target, nullptr, prompt, 120, c.budget);
    EXPECT_EQ(got, ar.generated);
    EXPECT_GT(n_jacobi, 0);
  }
}

TEST(Lookahead, FirstStepIsFillsFromThePromptAndBeginResets) {
  LookaheadDrafter d({.window = 4, .ngram = 3, .candidates = 2, .prompt_pool = false, .vocab = 20});
  const std::vector<Token> prompt = {3, 7, 11};
  d.begin(prompt);
  EXPECT_EQ(d.n_jacobi(), 0);
  const std::vector<Token> first(d.guesses().begin(), d.guesses().end());
  for (Token t : first) EXPECT_TRUE(t == 3 || t == 7 || t == 11) << t;
  DraftTree tree;
  Rng rng(1);
  SamplingParams greedy;
  d.propose(DraftContext{prompt, &greedy, &rng}, DraftBudget{16, 0}, tree);
  ASSERT_EQ(tree.size(), 5);  // the chain only: the pool is empty
  for (int j = 1; j <= 4; ++j) EXPECT_EQ(tree.token[j], first[j - 1]);
  // One step: rows with known argmaxes, one accepted token.
  std::vector<float> logits(5 * 20, 0.0f);
  for (int i = 0; i < 5; ++i) logits[i * 20 + 10 + i] = 5.0f;  // argmax row i = 10 + i
  Acceptance acc;
  acc.path = {0, 1};
  acc.bonus = 11;
  std::vector<Token> seq = prompt;
  seq.push_back(first[0]);
  seq.push_back(11);
  const StepFeedback fb = feedback(tree, acc, 20, logits, seq);
  d.observe(fb);
  ASSERT_EQ(d.n_jacobi(), 3);  // k = 1: rows 2, 3, 4 give g'_1..g'_3; g'_4 is a fill
  EXPECT_EQ(d.guesses()[0], 12);
  EXPECT_EQ(d.guesses()[1], 13);
  EXPECT_EQ(d.guesses()[2], 14);
  // n-grams (c_{i-1}, c_i, argmax row i) for i = 1..4, keyed by c_{i-1}.
  // The root of that step was 11 (prompt.back()).
  std::vector<Token> chain = {11, first[0], first[1], first[2], first[3]};
  ReferencePool pool(2);
  for (int i = 1; i <= 4; ++i) pool.insert(chain[i - 1], Gram{chain[i], static_cast<Token>(10 + i)});
  for (Token key : {3, 7, 11}) EXPECT_EQ(d.pool_entries(key), pool.entries(key)) << key;
  // begin() clears the pool and restarts the same fills.
  d.begin(prompt);
  EXPECT_EQ(d.n_jacobi(), 0);
  EXPECT_EQ(std::vector<Token>(d.guesses().begin(), d.guesses().end()), first);
  for (Token key : {3, 7, 11}) EXPECT_TRUE(d.pool_entries(key).empty());
  // prompt_pool: begin() seeds the prompt's n-grams (key 3 -> (7, 11)).
  LookaheadDrafter seeded({.window = 4, .ngram = 3, .candidates = 2, .vocab = 20});
  seeded.begin(prompt);
  EXPECT_EQ(seeded.pool_entries(3), (std::vector<Gram>{{7, 11}}));
  EXPECT_TRUE(seeded.pool_entries(7).empty());
}

TEST(Lookahead, PoolKeepsTheMostRecentDistinctNgramsPerKey) {
  // N = 2 and a budget of 0 (no chain): each step harvests (root, argmax row 0) only.
  LookaheadDrafter d({.window = 1, .ngram = 2, .candidates = 2, .vocab = 10});
  std::vector<Token> seq = {4};
  d.begin(seq);
  DraftTree tree;
  Rng rng(1);
  SamplingParams greedy;
  const Token preds[] = {1, 2, 1, 3};  // predictions after the root 4 at successive steps
  for (Token p : preds) {
    std::vector<Token> ctx_seq = {4};  // a fresh sequence each step: the drafter re-fills the window
    d.propose(DraftContext{ctx_seq, &greedy, &rng}, DraftBudget{0, 0}, tree);
    ASSERT_EQ(tree.size(), 1);
    std::vector<float> logits(10, 0.0f);
    logits[p] = 1.0f;
    Acceptance acc;
    acc.path = {0};
    acc.bonus = p;
    const StepFeedback fb = feedback(tree, acc, 10, logits, ctx_seq);
    d.observe(fb);
  }
  // 4 -> {1}, {2}, {1} again (moves to the front), {3} (drops the oldest, {2}).
  EXPECT_EQ(d.pool_entries(4), (std::vector<Gram>{{3}, {1}}));
}

TEST(Lookahead, SjdChainIsSampledFromThePreviousRowsWithThoseRowsAsQ) {
  constexpr std::int32_t V = 12;
  LookaheadDrafter d({.window = 4, .ngram = 3, .candidates = 3, .vocab = V});
  const std::vector<Token> prompt = {2, 5, 7};
  d.begin(prompt);
  SamplingParams s;
  s.temperature = 0.8f;
  s.top_k = 6;
  Rng rng(3);
  DraftTree tree;
  d.propose(DraftContext{prompt, &s, &rng}, DraftBudget{16, 0}, tree);
  // First step: fills with point-mass q rows, a chain only.
  ASSERT_EQ(tree.size(), 5);
  EXPECT_EQ(tree.children, ChildSampling::kIidSampled);
  ASSERT_EQ(tree.q_vocab, V);
  for (int j = 1; j <= 4; ++j) {
    EXPECT_EQ(tree.parent[j], j - 1);
    for (Token t = 0; t < V; ++t) EXPECT_EQ(tree.q_row(j - 1)[t], t == tree.token[j] ? 1.0f : 0.0f);
    EXPECT_EQ(tree.q_token[j], 1.0f);
  }
  // Feedback with random rows; k = 1 accepted.
  Rng lr(9);
  std::vector<float> logits(5 * V);
  for (float& x : logits) x = static_cast<float>(lr.normal());
  Acceptance acc;
  acc.path = {0, 1};
  acc.bonus = 3;
  std::vector<Token> seq = prompt;
  seq.push_back(tree.token[1]);
  seq.push_back(3);
  const DraftTree old = tree;
  d.observe(feedback(old, acc, V, logits, seq));
  ASSERT_EQ(d.n_jacobi(), 3);
  // Expected q rows: the sampling transform of old rows 2, 3, 4.
  std::vector<std::vector<float>> want(3, std::vector<float>(V));
  std::vector<std::int32_t> scratch;
  for (int j = 1; j <= 3; ++j) {
    logits_to_probs(std::span<const float>(logits).subspan((1 + j) * V, V), s, want[j - 1], scratch);
  }
  std::vector<std::vector<double>> freq(3, std::vector<double>(V, 0.0));
  constexpr int kDraws = 20000;
  for (int draw = 0; draw < kDraws; ++draw) {
    d.propose(DraftContext{seq, &s, &rng}, DraftBudget{16, 0}, tree);  // the state stays: same rows
    ASSERT_EQ(tree.size(), 5);
    for (int j = 1; j <= 3; ++j) {
      const auto q = tree.q_row(j - 1);
      if (draw == 0) {
        for (Token t = 0; t < V; ++t) EXPECT_EQ(q[t], want[j - 1][t]) << "row " << j - 1 << " token " << t;
      }
      EXPECT_GT(q[tree.token[j]], 0.0f);
      EXPECT_EQ(tree.q_token[j], q[tree.token[j]]);
      freq[j - 1][tree.token[j]] += 1.0 / kDraws;
    }
    EXPECT_EQ(tree.q_row(3)[tree.token[4]], 1.0f);  // g'_4 is a fill
  }
  for (int j = 0; j < 3; ++j) {
    double tv = 0.0;
    for (Token t = 0; t < V; ++t) tv += 0.5 * std::abs(freq[j][t] - want[j][t]);
    EXPECT_LT(tv, 0.03) << "chain node " << j + 1 << " is not drawn from its q row";
  }
}

TEST(Lookahead, SamplingNeedsTheVocabAndTheRegistryDeclaresKinds) {
  LookaheadDrafter d(LookaheadOptions{});
  const std::vector<Token> prompt = {1, 2};
  d.begin(prompt);
  SamplingParams s;
  s.temperature = 1.0f;
  Rng rng(1);
  DraftTree tree;
  EXPECT_THROW(d.propose(DraftContext{prompt, &s, &rng}, DraftBudget{8, 0}, tree), Error);
  EXPECT_EQ(d.name(), "lookahead:candidates=5,first=candidates,ngram=4,output_pool=0,prompt_pool=1,window=5");
  ModelInfo info;
  info.vocab_size = 32;
  DrafterEnv env;
  env.target = &info;
  SamplingParams greedy;
  EXPECT_EQ(drafter_child_sampling("lookahead", env, greedy), ChildSampling::kDeterministic);
  EXPECT_EQ(drafter_child_sampling("lookahead", env, s), ChildSampling::kIidSampled);
  EXPECT_THROW(validate_drafter_spec("lookahead:window=0", env), Error);
  EXPECT_THROW(validate_drafter_spec("lookahead:ngram=1", env), Error);
  EXPECT_THROW(validate_drafter_spec("lookahead:candidates=65", env), Error);
  EXPECT_THROW(validate_drafter_spec("lookahead:output_pool=2", env), Error);
  EXPECT_THROW(validate_drafter_spec("lookahead:first=both", env), Error);
  EXPECT_NO_THROW(validate_drafter_spec("lookahead:window=64,ngram=16,candidates=0,prompt_pool=0,output_pool=1", env));
}

TEST(Lookahead, GreedyMiniLoopMatchesAutoregressiveAtManyBudgets) {
  FakeTarget target;
  const std::vector<Token> prompt = {1, 3, 3, 4, 5, 3, 4};
  const auto ar = testing::run_mini_loop(target, nullptr, prompt, 150, {1, 0});
  for (const DraftBudget b : {DraftBudget{1, 0}, DraftBudget{2, 1}, DraftBudget{5, 0}, DraftBudget{7, 2},
                              DraftBudget{20, 0}, DraftBudget{64, 4}, DraftBudget{128, 0}}) {
    for (const bool output_pool : {false, true}) {
      LookaheadDrafter d({.output_pool = output_pool, .candidates_first = !output_pool, .vocab = target.vocab});
      const auto r = testing::run_mini_loop(target, &d, prompt, 150, b);
      EXPECT_EQ(r.generated, ar.generated) << b.max_nodes << " " << b.max_depth << " " << output_pool;
      EXPECT_LE(r.steps, ar.steps);
    }
  }
}

TEST(Lookahead, LosslessWithFewerForwardsOnStories) {
  testing::expect_lossless_with_fewer_forwards_on_stories("lookahead");
  testing::expect_lossless_with_fewer_forwards_on_stories("lookahead:output_pool=1");
}

}  // namespace
}  // namespace speclab
