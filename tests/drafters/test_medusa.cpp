// medusa (the drafter contract suite, test_drafter_contract, proves the default and a choices
// tree: greedy losslessness, budget / depth limits, no allocation once warm, reproducibility and
// the sampling law): greedy losslessness of option variants on a synthetic target and on
// stories260K; the auto tree fills the budget; the shape equals the choices template and the
// tokens equal instantiate_template over each head's top-k; the auto shape is the optimal
// template of the heads' accuracy profile; q rows; save -> load -> identical drafts; errors
// (missing dir, wrong kind, fingerprint mismatch, bad keys); sampled decoding with the typical
// rule; the loop passes the target's hidden state.
#include "drafters/medusa_drafter.h"

#include <gtest/gtest.h>

#include <numeric>

#include "base/error.h"
#include "tests/testing/heads_test_util.h"
#include "trees/choices.h"

namespace speclab {
namespace {

using testing::TempDir;

constexpr const char* kChoices = "[[0],[1],[2],[0,0],[0,1],[1,0],[0,0,0],[0,0,1],[2,0]]";

// Perturbed Medusa heads (3 heads) on testing::heads_target_weights() in a temporary directory.
struct Fixture : testing::HeadsFixture {
  Fixture() : HeadsFixture(HeadKind::kMedusa, 3, 5) {}
};

// The default tree and a choices template are proved by the drafter contract suite
// (test_drafter_contract); here the option variants it does not run.
TEST(Medusa, GreedyLosslessForOptionVariants) {
  Fixture fx;
  LlamaModel target(fx.w, 1);
  std::int64_t accepted = 0;
  for (const std::string& params : std::vector<std::string>{"top_k=2", "q=0", "top_k=64"}) {
    accepted += testing::expect_greedy_lossless(target, fx.spec(params), testing::heads_prompts(), 64).accepted;
  }
  // Untrained heads rarely agree with the target, but over this many steps some do.
  EXPECT_GT(accepted, 0) << "no draft token was ever accepted: the test is vacuous";
}

TEST(Medusa, GreedyLosslessOnStories260K) {
  testing::expect_heads_lossless_on_stories(HeadKind::kMedusa, std::vector<std::string>{"", std::string("choices=") + kChoices});
}

// Budget and depth limits of every tree are the contract suite's; here the shapes: at most n_heads
// deep, auto fills the budget, top_k bounds the siblings, q rows and scores.
TEST(Medusa, TreesFillTheBudgetAndRecordQ) {
  Fixture fx;
  const auto hidden = testing::random_hidden(fx.w->info.dim, 1);
  const std::vector<Token> ctx_tokens = {1, 7, 9};
  SamplingParams greedy;
  Rng rng(1);
  for (const std::string& params : std::vector<std::string>{"", std::string("choices=") + kChoices, "top_k=3"}) {
    auto d = fx.make(params);
    for (std::int32_t budget : {0, 1, 2, 5, 8, 16, 64, 128}) {
      for (std::int32_t depth : {0, 1, 2, 5}) {
        SCOPED_TRACE(params + " budget " + std::to_string(budget) + " depth " + std::to_string(depth));
        DraftTree t;
        d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{budget, depth}, t);
        ASSERT_NO_THROW(t.validate());
        EXPECT_LE(t.max_depth(), 3);  // n_heads
        if (params.empty()) {  // auto fills the budget up to 10 ranks per node, 3 heads deep
          const std::int32_t levels = depth > 0 ? std::min(depth, 3) : 3;
          std::int32_t capacity = 0;
          for (std::int32_t l = 1, p = 10; l <= levels; ++l, p *= 10) capacity += p;
          EXPECT_EQ(t.size() - 1, std::min(budget, capacity));
        }
        if (params == "top_k=3") {
          for (std::int32_t i = 1; i < t.size(); ++i) {
            std::int32_t siblings = 0;
            for (std::int32_t j = 1; j < t.size(); ++j) siblings += t.parent[j] == t.parent[i];
            EXPECT_LE(siblings, 3);
          }
        }
        if (t.size() == 1) continue;
        ASSERT_EQ(t.q_vocab, fx.w->info.vocab_size);
        for (std::int32_t i = 1; i < t.size(); ++i) {
          const auto q = t.q_row(t.parent[i]);
          EXPECT_NEAR(std::accumulate(q.begin(), q.end(), 0.0), 1.0, 1e-4);
          EXPECT_NEAR(t.q_token[i], q[t.token[i]], 1e-5);
          EXPECT_NEAR(t.score[i], t.score[t.parent[i]] + std::log(q[t.token[i]]), 1e-4);
          EXPECT_LE(t.score[i], 0.0f);
        }
      }
    }
  }
}

// Shape = the choices template (cut to the budget); tokens and scores = instantiate_template with
// head d's top-k for every node at depth d; q row of a depth-d node = softmax(head d).
TEST(Medusa, TreeIsTheChoicesTemplateFilledWithHeadTopK) {
  Fixture fx;
  const auto hidden = testing::random_hidden(fx.w->info.dim, 2);
  const std::vector<Token> ctx_tokens = {1, 7, 9};
  SamplingParams greedy;
  Rng rng(1);
  auto d = fx.make(std::string("choices=") + kChoices);
  const TreeTemplate full = template_from_choices(parse_choices(kChoices));
  std::vector<std::vector<Candidate>> top(3);
  std::vector<std::vector<float>> softmax(3);
  for (std::int32_t h = 0; h < 3; ++h) {
    const auto logits = testing::head_logits(fx.net, h, hidden, {});
    top[h] = testing::reference_top_k(logits, 10);
    softmax[h] = testing::reference_softmax(logits);
  }
  EXPECT_NE(top[0][0].token, top[1][0].token) << "perturbed heads should differ";
  const CandidateFn ref = [&](const DraftTree& t, std::int32_t node, std::int32_t k,
                              std::vector<Candidate>& out) {
    out.assign(top[t.depth[node]].begin(), top[t.depth[node]].begin() + k);
  };
  for (std::int32_t budget : {3, 4, 6, 9, 20}) {
    for (std::int32_t depth : {0, 2}) {
      SCOPED_TRACE("budget " + std::to_string(budget) + " depth " + std::to_string(depth));
      const DraftBudget b{budget, depth};
      DraftTree t, want;
      d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, b, t);
      const TreeTemplate cut = cut_to_budget(full, b);
      ASSERT_EQ(t.size(), cut.size());
      EXPECT_EQ(t.parent, cut.parent);
      EXPECT_EQ(t.depth, cut.depth);
      instantiate_template(9, full, b, ref, want);
      EXPECT_EQ(t.token, want.token);
      ASSERT_EQ(t.score.size(), want.score.size());
      for (std::int32_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t.score[i], want.score[i], 1e-5);
      for (std::int32_t i = 0; i < t.size(); ++i) {
        if (t.depth[i] >= t.max_depth()) continue;
        const auto q = t.q_row(i);
        for (std::int32_t v = 0; v < t.q_vocab; ++v) EXPECT_NEAR(q[v], softmax[t.depth[i]][v], 1e-6);
      }
    }
  }
}

// tree=auto is the optimal template of the recorded top-k accuracy profile; without accuracies
// (untrained heads) it is the optimal template of the fallback profile.
TEST(Medusa, AutoTreeIsOptimalForTheAccuracyProfile) {
  Fixture fx;
  HeadNet net = fx.net;
  net.mutable_config().topk_accuracy = {
      {0.6, 0.7, 0.75, 0.78, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85},
      {0.3, 0.45, 0.5, 0.55, 0.58, 0.6, 0.61, 0.62, 0.63, 0.64},
      {0.2, 0.3, 0.35, 0.38, 0.4, 0.42, 0.43, 0.44, 0.45, 0.46}};
  TempDir dir;
  save_heads(net, dir.sub("acc"));
  auto d = make_drafter("medusa:heads=" + dir.sub("acc"), testing::heads_env(fx.w));
  auto* m = dynamic_cast<MedusaDrafter*>(d.get());
  ASSERT_NE(m, nullptr);
  AcceptanceProfile prof;
  for (const auto& acc : net.config().topk_accuracy) {
    std::vector<double> row;
    for (int r = 0; r < kTopKTracked; ++r) row.push_back(r == 0 ? acc[0] : acc[r] - acc[r - 1]);
    prof.by_depth.push_back(row);
  }
  const auto hidden = testing::random_hidden(fx.w->info.dim, 3);
  const std::vector<Token> ctx_tokens = {1, 9};
  SamplingParams greedy;
  Rng rng(1);
  for (std::int32_t budget : {4, 16, 60}) {
    const TreeTemplate want = optimal_template(prof, DraftBudget{budget, 3});
    const TreeTemplate& got = m->template_for(DraftBudget{budget, 0});
    EXPECT_EQ(got.parent, want.parent) << budget;
    EXPECT_EQ(got.rank, want.rank) << budget;
    DraftTree t;
    d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{budget, 0}, t);
    EXPECT_EQ(t.parent, want.parent);
    EXPECT_EQ(&m->template_for(DraftBudget{budget, 0}), &got) << "cached per budget";
  }
  // Untrained heads (no accuracies): the fallback profile's optimal template fills the budget.
  auto fallback = fx.make();
  const TreeTemplate& f = dynamic_cast<MedusaDrafter&>(*fallback).template_for(DraftBudget{16, 0});
  EXPECT_EQ(f.size(), 17);
  EXPECT_LE(f.max_depth(), 3);
}

TEST(Medusa, EmptyHiddenGivesRootOnly) {
  Fixture fx;
  auto d = fx.make();
  SamplingParams greedy;
  Rng rng(1);
  DraftTree t;
  const std::vector<Token> one = {1};
  d->propose(DraftContext{one, &greedy, &rng}, DraftBudget{16, 0}, t);
  EXPECT_EQ(t.size(), 1);
  EXPECT_EQ(t.token[0], 1);
  EXPECT_TRUE(d->needs().target_hidden);
}

// Heads built in memory, saved, and loaded by the registry propose identical trees; so do two
// loads of the same directory.
TEST(Medusa, SaveLoadGivesIdenticalDrafts) { testing::expect_loaded_drafts_equal<MedusaDrafter, MedusaOptions>(Fixture()); }

TEST(Medusa, ErrorsNameTheProblem) {
  Fixture fx;
  const DrafterEnv env = testing::heads_env(fx.w);
  testing::expect_head_file_errors(fx, HeadKind::kHydra);
  // Bad keys and values.
  for (const std::string& params : std::vector<std::string>
       {"top_k=0", "top_k=65", "tree=dynamic", "choices=[[0,0]]", "choices=[[0],[0]]",
        "choices=[[0]", "tree=auto,choices=[[0]]", "q=maybe", "topk=3", "gamma=2"}) {
    EXPECT_THROW(fx.make(params), Error) << params;
    EXPECT_THROW(validate_drafter_spec("medusa:heads=" + fx.heads + "," + params, env), Error)
        << params;
  }
  EXPECT_NO_THROW(validate_drafter_spec("medusa:heads=" + fx.heads + ",choices=[[0],[0,0]]", env));
  EXPECT_NO_THROW(fx.make("choices=[]"));  // root only
}

TEST(Medusa, RootOnlyChoices) {
  Fixture fx;
  auto d = fx.make("choices=[]");
  const auto hidden = testing::random_hidden(fx.w->info.dim, 4);
  SamplingParams greedy;
  Rng rng(1);
  DraftTree t;
  const std::vector<Token> ctx_tokens = {1, 2};
  d->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{8, 0}, t);
  EXPECT_EQ(t.size(), 1);
}

// With the default rule (deterministic) the contract suite proves reproducibility and the law.
TEST(Medusa, SampledDecodingWithTheTypicalRule) {
  Fixture fx;
  testing::expect_sampling_reproducible_on(fx.w, fx.spec(), "typical");
  testing::expect_sampling_reproducible_on(fx.w, fx.spec(std::string("choices=") + kChoices), "typical");
}

// Decoding through the loop: every step's tree has head d's top-k at depth d + 1 for the hidden
// state the loop passed (the target's final-normed hidden of the token before the root).
TEST(Medusa, LoopPassesHiddenAndTreesUseIt) {
  Fixture fx;
  const testing::RecordedLoop rec = testing::record_default_loop(fx);
  for (std::size_t s = 0; s < rec.trees.size(); ++s) {
    const DraftTree& t = rec.trees[s];
    const auto top = testing::reference_top_k(testing::head_logits(fx.net, 0, rec.hiddens[s], {}), 10);
    std::int32_t rank = 0;
    for (std::int32_t i = 1; i < t.size(); ++i) {
      if (t.parent[i] == 0) {
        EXPECT_EQ(t.token[i], top[rank++].token);
      }
    }
  }
}

}  // namespace
}  // namespace speclab
