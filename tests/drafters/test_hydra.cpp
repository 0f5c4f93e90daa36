// hydra (the drafter contract suite, test_drafter_contract, proves the dynamic and template
// trees: greedy losslessness, budget / depth limits, no allocation once warm or its documented
// exception, reproducibility and the sampling law): greedy losslessness of option variants on a
// synthetic target and on stories260K; children of a node are the head's top-k for that node's
// own path (so they differ between paths); the dynamic tree equals build_dynamic_tree over a
// reference candidate function; the template mode has the choices shape; q rows are the per-path
// head softmax; save -> load -> identical drafts; errors (missing dir, wrong kind, fingerprint
// mismatch, max_depth > n_heads, bad keys); sampled decoding with the typical rule.
#include "drafters/hydra_drafter.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "base/error.h"
#include "tests/testing/heads_test_util.h"
#include "trees/choices.h"

namespace speclab {
namespace {

using testing::TempDir;

constexpr const char* kChoices = "[[0],[1],[2],[0,0],[0,1],[1,0],[0,0,0],[0,0,1],[2,0]]";

// Perturbed Hydra heads (3 heads) on testing::heads_target_weights() in a temporary directory.
struct Fixture : testing::HeadsFixture {
  Fixture() : HeadsFixture(HeadKind::kHydra, 3, 6) {}
};

using testing::error_of;

// Root-to-node tokens of node v (root first).
std::vector<Token> path_to(const DraftTree& t, std::int32_t v) {
  std::vector<Token> p;
  for (std::int32_t u = v; u >= 0; u = t.parent[u]) p.push_back(t.token[u]);
  std::reverse(p.begin(), p.end());
  return p;
}

std::vector<std::int32_t> children(const DraftTree& t, std::int32_t v) {
  std::vector<std::int32_t> c;
  for (std::int32_t i = 1; i < t.size(); ++i) if (t.parent[i] == v) c.push_back(i);
  return c;
}

const std::vector<std::string>& lossless_params() {
  static const std::vector<std::string> p = {
      "", "top_k=3,expand_top=2", "max_depth=2", "top_k=64,expand_top=64", "q=0",
      "tree=template", std::string("tree=template,choices=") + kChoices};
  return p;
}

// The default (dynamic) and template trees are proved by the drafter contract suite
// (test_drafter_contract); here the option variants it does not run.
TEST(Hydra, GreedyLosslessForOptionVariants) {
  Fixture fx;
  LlamaModel target(fx.w, 1);
  std::int64_t accepted = 0;
  for (const std::string& params : lossless_params()) {
    if (params.empty() || params == "tree=template") continue;  // contract suite cases
    accepted += testing::expect_greedy_lossless(target, fx.spec(params), testing::heads_prompts(), 64).accepted;
  }
  EXPECT_GT(accepted, 0) << "no draft token was ever accepted: the test is vacuous";
}

TEST(Hydra, GreedyLosslessOnStories260K) {
  testing::expect_heads_lossless_on_stories(HeadKind::kHydra, std::vector<std::string>{"", "tree=template"});
}

// Every node's children are a prefix of the head's top-k for that node's own path (head = the
// node's depth), the q row of an expanded node is that head's softmax, scores add up, and the
// tree respects budget and depth.
TEST(Hydra, TreesRespectBudgetDepthAndUsePerPathCandidates) {
  Fixture fx;
  const std::vector<Token> ctx_tokens = {1, 7, 9};
  SamplingParams greedy;
  Rng rng(1);
  for (const std::string& params : lossless_params()) {
    auto d = fx.make(params);
    const std::int32_t max_depth = params == "max_depth=2" ? 2 : 3;
    for (std::int32_t budget : {0, 1, 3, 8, 16, 64, 128}) {
      for (std::int32_t depth : {0, 1, 2}) {
        SCOPED_TRACE(params + " budget " + std::to_string(budget) + " depth " + std::to_string(depth));
        const auto hidden = testing::random_hidden(fx.w->info.dim, 100 + budget + depth);
        DraftTree t;
        d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{budget, depth}, t);
        ASSERT_NO_THROW(t.validate());
        EXPECT_EQ(t.token[0], 9);
        EXPECT_EQ(t.children, ChildSampling::kDeterministic);
        EXPECT_LE(t.size() - 1, budget);
        EXPECT_LE(t.max_depth(), max_depth);
        if (depth > 0) {
          EXPECT_LE(t.max_depth(), depth);
        }
        if (params.empty() && budget > 0 && depth == 0) {
          EXPECT_EQ(t.size() - 1, budget);
        }
        const bool q = params != "q=0";
        if (t.size() > 1) {
          EXPECT_EQ(t.q_vocab, q ? fx.w->info.vocab_size : 0);
        }
        for (std::int32_t v = 0; v < t.size(); ++v) {
          const auto c = children(t, v);
          if (c.empty()) continue;
          const auto path = path_to(t, v);
          const auto logits = testing::head_logits(fx.net, t.depth[v], hidden, path);
          const auto top = testing::reference_top_k(logits, static_cast<std::int32_t>(c.size()));
          for (std::size_t j = 0; j < c.size(); ++j) {
            EXPECT_EQ(t.token[c[j]], top[j].token) << "node " << v << " child " << j;
            EXPECT_NEAR(t.score[c[j]], t.score[v] + top[j].log_prob, 1e-4);
            EXPECT_NEAR(t.q_token[c[j]], std::exp(top[j].log_prob), 1e-5);
          }
          if (q) {
            const auto want = testing::reference_softmax(logits);
            const auto row = t.q_row(v);
            for (std::int32_t x = 0; x < t.q_vocab; ++x) ASSERT_NEAR(row[x], want[x], 1e-6);
          }
        }
      }
    }
  }
}

TEST(Hydra, ChildrenDependOnThePath) {
  Fixture fx;
  auto d = fx.make("top_k=4,expand_top=4");
  const auto hidden = testing::random_hidden(fx.w->info.dim, 7);
  const std::vector<Token> ctx_tokens = {1, 7, 9};
  SamplingParams greedy;
  Rng rng(1);
  DraftTree t;
  d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{40, 0}, t);
  std::set<std::vector<Token>> child_lists;
  std::int32_t expanded = 0;
  for (std::int32_t v : children(t, 0)) {
    const auto c = children(t, v);
    if (c.size() < 2) continue;
    std::vector<Token> toks;
    for (std::int32_t i : c) toks.push_back(t.token[i]);
    child_lists.insert(toks);
    ++expanded;
  }
  ASSERT_GE(expanded, 2) << "need two expanded depth-1 nodes";
  EXPECT_GT(child_lists.size(), 1u) << "all depth-1 nodes got the same children: path ignored";
  // Direct check: two different paths give different head-1 candidates.
  const auto a = testing::reference_top_k(testing::head_logits(fx.net, 1, hidden, std::vector<Token>{9, 3}), 4);
  const auto b = testing::reference_top_k(testing::head_logits(fx.net, 1, hidden, std::vector<Token>{9, 40}), 4);
  std::vector<Token> ta, tb;
  for (std::size_t i = 0; i < 4; ++i) {
    ta.push_back(a[i].token);
    tb.push_back(b[i].token);
  }
  EXPECT_NE(ta, tb);
}

// The dynamic tree is exactly build_dynamic_tree over a candidate function computing the
// reference top-k of head depth(v) at v's path (top_k and expand_top capped at the budget).
TEST(Hydra, DynamicTreeEqualsReferenceBuild) {
  Fixture fx;
  const std::vector<Token> ctx_tokens = {1, 7, 9};
  SamplingParams greedy;
  Rng rng(1);
  for (const auto& [top_k, expand_top] : std::vector<std::pair<int, int>>{{8, 8}, {3, 5}, {10, 2}}) {
    auto d = fx.make("top_k=" + std::to_string(top_k) + ",expand_top=" + std::to_string(expand_top));
    for (std::int32_t budget : {2, 6, 20, 50}) {
      const auto hidden = testing::random_hidden(fx.w->info.dim, 200 + budget);
      const CandidateFn ref = [&](const DraftTree& t, std::int32_t v, std::int32_t k,
                                  std::vector<Candidate>& out) {
        out = testing::reference_top_k(testing::head_logits(fx.net, t.depth[v], hidden, path_to(t, v)), k);
      };
      DraftTree got, want;
      d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{budget, 0}, got);
      build_dynamic_tree(9, DraftBudget{budget, 0},
                         DynamicTreeOptions{std::min(top_k, budget), std::min(expand_top, budget), 3},
                         ref, want);
      EXPECT_EQ(got.token, want.token) << budget;
      EXPECT_EQ(got.parent, want.parent) << budget;
      // Capping top_k / expand_top at the budget changes no tree.
      DraftTree uncapped;
      build_dynamic_tree(9, DraftBudget{budget, 0}, DynamicTreeOptions{top_k, expand_top, 3}, ref,
                         uncapped);
      EXPECT_EQ(got.token, uncapped.token) << budget;
      EXPECT_EQ(got.parent, uncapped.parent) << budget;
    }
  }
}

TEST(Hydra, TemplateModeHasTheChoicesShape) {
  Fixture fx;
  auto d = fx.make(std::string("tree=template,choices=") + kChoices);
  const TreeTemplate full = template_from_choices(parse_choices(kChoices));
  const std::vector<Token> ctx_tokens = {1, 7, 9};
  SamplingParams greedy;
  Rng rng(1);
  for (std::int32_t budget : {3, 5, 9, 30}) {
    for (std::int32_t depth : {0, 2}) {
      const auto hidden = testing::random_hidden(fx.w->info.dim, 300 + budget);
      DraftTree t;
      d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{budget, depth}, t);
      const TreeTemplate cut = cut_to_budget(full, DraftBudget{budget, depth});
      EXPECT_EQ(t.parent, cut.parent);
      EXPECT_EQ(t.depth, cut.depth);
      for (std::int32_t i = 1; i < t.size(); ++i) {
        const auto top = testing::reference_top_k(
            testing::head_logits(fx.net, t.depth[t.parent[i]], hidden, path_to(t, t.parent[i])), 10);
        EXPECT_EQ(t.token[i], top[cut.rank[i]].token);
      }
    }
  }
}

TEST(Hydra, EmptyHiddenGivesRootOnly) {
  Fixture fx;
  for (const char* params : {"", "tree=template"}) {
    auto d = fx.make(params);
    SamplingParams greedy;
    Rng rng(1);
    DraftTree t;
    const std::vector<Token> one = {1};
    d->propose(DraftContext{one, &greedy, &rng}, DraftBudget{16, 0}, t);
    EXPECT_EQ(t.size(), 1);
    EXPECT_TRUE(d->needs().target_hidden);
  }
}

TEST(Hydra, SaveLoadGivesIdenticalDrafts) { testing::expect_loaded_drafts_equal<HydraDrafter, HydraOptions>(Fixture()); }

TEST(Hydra, ErrorsNameTheProblem) {
  Fixture fx;
  const DrafterEnv env = testing::heads_env(fx.w);
  testing::expect_head_file_errors(fx, HeadKind::kMedusa);
  using Fn = void (*)(const std::string&, const DrafterEnv&);
  const Fn both[] = {&validate_drafter_spec,
                     +[](const std::string& s, const DrafterEnv& e) { make_drafter(s, e); }};
  // max_depth beyond the heads.
  for (Fn f : both) {
    const std::string msg = error_of([&] { f("hydra:heads=" + fx.heads + ",max_depth=4", env); });
    EXPECT_NE(msg.find("max_depth = 4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("n_heads = 3"), std::string::npos) << msg;
  }
  for (const std::string& params : std::vector<std::string>{
           "top_k=0", "expand_top=0", "top_k=65", "max_depth=0", "tree=auto", "choices=[[0]]",
           "tree=template,choices=[[0,0]]", "q=2", "topk=3", "gamma=1"}) {
    EXPECT_THROW(fx.make(params), Error) << params;
    EXPECT_THROW(validate_drafter_spec("hydra:heads=" + fx.heads + "," + params, env), Error)
        << params;
  }
  EXPECT_NO_THROW(fx.make("max_depth=3,top_k=1,expand_top=1"));
}

// With the default rule (deterministic) the contract suite proves reproducibility and the law.
TEST(Hydra, SampledDecodingWithTheTypicalRule) {
  Fixture fx;
  testing::expect_sampling_reproducible_on(fx.w, fx.spec(), "typical");
  testing::expect_sampling_reproducible_on(fx.w, fx.spec("tree=template"), "typical");
}

// The loop passes the target's hidden state: the root's children are head 0's top-k at the
// path [root] for the recorded hidden.
TEST(Hydra, LoopPassesHiddenAndTreesUseIt) {
  Fixture fx;
  const testing::RecordedLoop rec = testing::record_default_loop(fx);
  for (std::size_t s = 0; s < rec.trees.size(); ++s) {
    const DraftTree& t = rec.trees[s];
    const auto top = testing::reference_top_k(
        testing::head_logits(fx.net, 0, rec.hiddens[s], std::vector<Token>{t.token[0]}), 10);
    const auto c = children(t, 0);
    for (std::size_t j = 0; j < c.size(); ++j) EXPECT_EQ(t.token[c[j]], top[j].token);
  }
}

}  // namespace
}  // namespace speclab
