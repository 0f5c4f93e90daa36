// early-exit (LayerSkip-style self-speculation; the drafter contract suite, test_drafter_contract,
// proves the losslessness, limits, no allocation once warm, reproducibility and sampling law of
// three configurations): greedy losslessness through the decode loop for more exit layers, draft
// lengths, thresholds and with/without KV reuse; KV reuse gives the same verification logits as
// full recomputation; resume accounting; sampled drafts record their q rows; bad params throw;
// stories260K.
#include "drafters/early_exit_drafter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "base/error.h"
#include "formats/model_loader.h"
#include "drafters/registry.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/self_spec_util.h"

namespace speclab {
namespace {

std::unique_ptr<Drafter> make(const std::string& spec, const ModelInfo& info) {
  DrafterEnv env;
  env.target = &info;
  return make_drafter(spec, env);
}

TEST(EarlyExit, GreedyLosslessOnRandomLlama) {
  const auto w = testing::self_spec_weights();
  LlamaModel target(w, 1);
  std::int64_t accepted = 0;
  for (const char* spec :
       {"early-exit:exit=1,d=1", "early-exit:exit=1,d=4", "early-exit:exit=3,d=6", "early-exit:exit=3,d=2,kv_reuse=0",
        "early-exit:exit=2,d=5,kv_reuse=0", "early-exit:exit=2,d=6,threshold=0.3",
        "early-exit:exit=3,d=6,threshold=0.9,kv_reuse=0", "early-exit:exit=1,d=3,threshold=1"}) {
    accepted += testing::expect_self_spec_lossless(
        target, [&] { return make(spec, w->info); }, spec, testing::self_spec_prompts(), 40);
  }
  EXPECT_GT(accepted, 0) << "exits never agreed with the full model: the test is vacuous";
}

TEST(EarlyExit, ProposeLeavesResumedRowsInTheCache) {
  const auto w = testing::self_spec_weights();
  LlamaModel target(w, 1);
  const std::vector<Token> prompt = {1, 7, 9, 12, 30};
  SamplingParams greedy;
  struct Case {
    const char* spec;
    std::int32_t budget, depth_cap, tree_size, n_resume;
  };
  for (const Case& c : {Case{"early-exit:exit=2,d=4", 8, 0, 5, 4},
                        Case{"early-exit:exit=2,d=4", 3, 0, 4, 3},
                        Case{"early-exit:exit=2,d=4", 8, 2, 3, 2},
                        Case{"early-exit:exit=1,d=4,threshold=1", 8, 0, 2, 2},  // stops at the 2nd
                        Case{"early-exit:exit=3,d=4,kv_reuse=0", 8, 0, 5, 0}}) {
    SCOPED_TRACE(c.spec);
    auto d = make(c.spec, w->info);
    std::int32_t checked = 0;
    testing::manual_loop(target, *d, prompt, greedy, DraftBudget{c.budget, c.depth_cap}, 1,
                         [&](std::int32_t, const testing::ManualStep& st, const auto&, const auto&) {
                           EXPECT_EQ(st.tree.size(), c.tree_size);
                           EXPECT_EQ(st.facts.n_resume, c.n_resume);
                           EXPECT_EQ(st.tree.children, ChildSampling::kDeterministic);
                           EXPECT_GT(st.facts.exit_layer, 0);
                           ++checked;
                         });
    EXPECT_EQ(checked, 1);
  }
  // The cache after propose: n_before + n_resume (the decode loop asserts it too).
  auto d = make("early-exit:exit=2,d=3", w->info);
  target.truncate(0);
  ForwardOutput out;
  prefill(target, std::span<const Token>(prompt).first(4), {}, out);
  DraftTree tree;
  Rng rng(1);
  const DraftFacts facts = d->propose(DraftContext{prompt, &greedy, &rng, {}, &target}, DraftBudget{8, 0}, tree);
  EXPECT_EQ(target.n_cached(), 4 + 3);
  EXPECT_EQ(facts.n_resume, 3);
  EXPECT_EQ(facts.exit_layer, 2);
  // Without the target in the context the drafter cannot work.
  target.truncate(4);
  EXPECT_THROW(d->propose(DraftContext{prompt, &greedy, &rng, {}, nullptr}, DraftBudget{8, 0}, tree),
               Error);
}

// Verification of a resumed chain gives the same target logits, bit for bit, as verifying the
// same chain with full recomputation (kv_reuse=0), step after step, greedy and sampled.
TEST(EarlyExit, KvReuseVerificationEqualsFullRecompute) {
  const auto w = testing::self_spec_weights(33);
  for (float temperature : {0.0f, 1.0f}) {
    for (std::int32_t e : {1, 2, 3}) {
      SCOPED_TRACE(e);
      SamplingParams sp;
      sp.temperature = temperature;
      std::vector<std::vector<float>> logits[2];
      std::vector<std::vector<Token>> trees[2];
      for (int reuse = 0; reuse < 2; ++reuse) {
        LlamaModel target(w, 1);
        auto d = make(fmt::format("early-exit:exit={},d=5,kv_reuse={}", e, reuse), w->info);
        testing::manual_loop(target, *d, {1, 7, 9, 12}, sp, DraftBudget{16, 0}, 25,
                             [&](std::int32_t, const testing::ManualStep& st, const auto&,
                                 const TreeVerifier& v) {
                               EXPECT_EQ(st.facts.n_resume > 0, reuse == 1);
                               logits[reuse].emplace_back(v.logits().begin(), v.logits().end());
                               trees[reuse].push_back(st.tree.token);
                             });
      }
      ASSERT_EQ(trees[0], trees[1]);
      ASSERT_EQ(logits[0].size(), logits[1].size());
      for (std::size_t s = 0; s < logits[0].size(); ++s) {
        EXPECT_TRUE(std::equal(logits[0][s].begin(), logits[0][s].end(), logits[1][s].begin(),
                               logits[1][s].end()))
            << "step " << s;
      }
    }
  }
}

TEST(EarlyExit, SampledDraftsRecordQ) {
  const auto w = testing::self_spec_weights();
  LlamaModel target(w, 1);
  SamplingParams sp;
  sp.temperature = 0.8f;
  sp.top_p = 0.95f;
  auto d = make("early-exit:exit=2,d=4", w->info);
  std::int64_t accepted = 0;
  testing::manual_loop(target, *d, {1, 7, 9, 12}, sp, DraftBudget{8, 0}, 30,
                       [&](std::int32_t, const testing::ManualStep& st, const auto&, const auto&) {
                         ASSERT_EQ(st.tree.children, ChildSampling::kIidSampled);
                         ASSERT_EQ(st.tree.q_vocab, w->info.vocab_size);
                         for (std::int32_t i = 1; i < st.tree.size(); ++i) {
                           const auto q = st.tree.q_row(st.tree.parent[i]);
                           EXPECT_NEAR(std::accumulate(q.begin(), q.end(), 0.0), 1.0, 1e-4);
                           EXPECT_GT(q[st.tree.token[i]], 0.0f);
                           EXPECT_FLOAT_EQ(st.tree.q_token[i], q[st.tree.token[i]]);
                         }
                         accepted += st.acc.n_accepted();
                       });
  EXPECT_GT(accepted, 0);
}

TEST(EarlyExit, BadParamsThrow) {
  const auto w = testing::self_spec_weights();
  for (const char* spec : {"early-exit:exit=0", "early-exit:exit=4", "early-exit:d=0",
                           "early-exit:threshold=1.5", "early-exit:kv_reuse=maybe",
                           "early-exit:gamma=3"}) {
    EXPECT_THROW(make(spec, w->info), Error) << spec;
  }
  EXPECT_THROW(EarlyExitDrafter(w->info, EarlyExitOptions{4, 3, 0.0, true}), Error);
  EXPECT_THROW(EarlyExitDrafter(w->info, EarlyExitOptions{1, 0, 0.0, true}), Error);
  EXPECT_NO_THROW(make("early-exit:exit=3,d=64,threshold=0.5,kv_reuse=off", w->info));
}

TEST(EarlyExit, GreedyLosslessOnStories260K) {
  if (!testing::stories_available()) GTEST_SKIP() << "stories260K not found";
  const auto w = load_weights_shared(testing::model_path("stories260K.bin"));
  LlamaModel target(w, 1);
  auto prompts = testing::stories_prompts();
  prompts.resize(2);
  std::int64_t accepted = 0;
  for (const char* spec : {"early-exit:exit=1,d=4", "early-exit:exit=3,d=6",
                           "early-exit:exit=4,d=3,kv_reuse=0", "early-exit:exit=2,d=6,threshold=0.4"}) {
    accepted += testing::expect_self_spec_lossless(
        target, [&] { return make(spec, w->info); }, spec, prompts, 80, {4, 64});
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace speclab
