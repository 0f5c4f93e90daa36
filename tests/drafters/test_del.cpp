// del (DEL dynamic exit layer): the TPL chooser equals a brute-force argmax on hand-made alpha
// tables; shadow tokens (hence alpha) equal an independent early-exit forward of the sequence,
// including rows the verifier resumed (whose low-layer residuals come from the draft forwards);
// greedy losslessness through decode with and without KV reuse for more options than the drafter
// contract suite (test_drafter_contract: losslessness, limits, no allocation once warm,
// reproducibility, sampling law); the chosen exit is logged per step; bad params; stories260K.
#include "drafters/del_drafter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "base/error.h"
#include "formats/model_loader.h"
#include "drafters/del_policy.h"
#include "drafters/registry.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/self_spec_util.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

// Brute force, written from the formula: TPL = [(1 - a^(d+1)) / (1 - a)] / (d*l + L).
ExitChoice brute_force(const std::vector<double>& alpha, std::int32_t L, std::int32_t max_d,
                       const std::vector<std::int32_t>& cands, double c = 0.0) {
  ExitChoice best{0, 0, -1.0};
  for (std::int32_t l = 1; l < L; ++l) {
    if (!cands.empty() && std::find(cands.begin(), cands.end(), l) == cands.end()) continue;
    for (std::int32_t d = 1; d <= max_d; ++d) {
      const double a = alpha[l - 1];
      const double expected = a == 1.0 ? d + 1.0 : (1.0 - std::pow(a, d + 1)) / (1.0 - a);
      const double t = expected / (d * (l + c) + L + c);
      if (t > best.tpl + 1e-12) best = {l, d, t};
    }
  }
  return best;
}

TEST(DelPolicy, ChoiceEqualsBruteForceTplArgmax) {
  const std::vector<std::pair<std::vector<double>, std::vector<std::int32_t>>> tables = {
      {{0.2, 0.5, 0.8, 0.95}, {}},
      {{0.9, 0.92, 0.97, 0.99}, {}},
      {{0.1, 0.1, 0.99, 0.999}, {}},
      {{0.6, 0.7, 0.8, 0.9}, {2, 4}},
      {{0.0, 0.0, 0.0, 0.5}, {}},
      {{0.3, 0.95, 0.96, 0.97}, {3}},
      {{0.5, 0.5, 0.5, 0.5}, {}},
      {{0.75, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98}, {}},
  };
  for (const auto& [alpha, cands] : tables) {
    const std::int32_t L = static_cast<std::int32_t>(alpha.size()) + 1;
    for (std::int32_t max_d : {1, 3, 6, 12}) {
      const ExitChoice want = brute_force(alpha, L, max_d, cands);
      const ExitChoice got = choose_exit(alpha, L, max_d, cands);
      EXPECT_EQ(got.exit_layer, want.exit_layer) << "alpha[0]=" << alpha[0] << " max_d=" << max_d;
      EXPECT_EQ(got.draft_len, want.draft_len) << "alpha[0]=" << alpha[0] << " max_d=" << max_d;
      EXPECT_NEAR(got.tpl, want.tpl, 1e-12);
      for (double c : {0.5, 1.0, 3.0}) {
        const ExitChoice wc = brute_force(alpha, L, max_d, cands, c);
        const ExitChoice gc = choose_exit(alpha, L, max_d, cands, c);
        EXPECT_EQ(gc.exit_layer, wc.exit_layer) << "head_cost " << c;
        EXPECT_EQ(gc.draft_len, wc.draft_len) << "head_cost " << c;
      }
    }
  }
}

TEST(DelPolicy, HandCheckedCases) {
  // Nothing agrees: one cheap token at the shallowest exit.
  auto c = choose_exit(std::vector<double>{0, 0, 0, 0}, 5, 6);
  EXPECT_EQ(c.exit_layer, 1);
  EXPECT_EQ(c.draft_len, 1);
  EXPECT_DOUBLE_EQ(c.tpl, 1.0 / 6.0);
  // Layer 1 always right: (d+1)/(d+5) grows with d, so the longest draft.
  c = choose_exit(std::vector<double>{1, 1, 1, 1}, 5, 6);
  EXPECT_EQ(c.exit_layer, 1);
  EXPECT_EQ(c.draft_len, 6);
  EXPECT_DOUBLE_EQ(c.tpl, 7.0 / 11.0);
  // A useless layer 1 and a perfect layer 3: TPL(3, d) = (d+1)/(3d+5) -> d = max.
  c = choose_exit(std::vector<double>{0, 0, 1, 0}, 5, 4);
  EXPECT_EQ(c.exit_layer, 3);
  EXPECT_EQ(c.draft_len, 4);
  EXPECT_DOUBLE_EQ(tokens_per_layer(0.5, 2, 2, 4), 1.75 / 8.0);
  // stories260K-like table: the layer-count cost prefers the useless exit 1; counting the
  // classifier as one layer per forward prefers exit 4.
  const std::vector<double> stories = {0.01, 0.0, 0.24, 0.49};
  EXPECT_EQ(choose_exit(stories, 5, 6).exit_layer, 1);
  EXPECT_EQ(choose_exit(stories, 5, 6, {}, 1.0).exit_layer, 4);
}

TEST(DelPolicy, BadInputsThrow) {
  const std::vector<double> a = {0.5, 0.5, 0.5};
  EXPECT_THROW(choose_exit(a, 5, 3), Error);                                   // wrong size
  EXPECT_THROW(choose_exit(a, 4, 0), Error);                                   // max_d
  EXPECT_THROW(choose_exit(std::vector<double>{}, 1, 3), Error);               // one layer
  EXPECT_THROW(choose_exit(std::vector<double>{0.5, NAN, 0.5}, 4, 3), Error);  // NaN
  EXPECT_THROW(choose_exit(a, 4, 3, std::vector<std::int32_t>{4}), Error);     // layer = L
  EXPECT_THROW(choose_exit(a, 4, 3, std::vector<std::int32_t>{0}), Error);
  EXPECT_THROW(choose_exit(a, 4, 3, {}, -1.0), Error);
}

std::unique_ptr<DelDrafter> make_del(const std::shared_ptr<const LlamaWeights>& w,
                                     const std::string& params) {
  DrafterEnv env;
  env.target = &w->info;
  env.target_weights = w;
  auto d = make_drafter(params.empty() ? "del" : "del:" + params, env);
  return std::unique_ptr<DelDrafter>(static_cast<DelDrafter*>(d.release()));
}

// With decay 0, alpha_l after a step is 1 iff layer l's shadow token at the last accepted
// position equals the bonus (the emitted token, sampled here). Reference: an independent exit-l forward of the whole sequence.
TEST(Del, ShadowTokensMatchAnIndependentEarlyExitForward) {
  const auto w = testing::self_spec_weights(41);
  const std::int32_t L = w->info.n_layers;
  for (const char* params : {"decay=0,layers=3,max_d=4", "decay=0,layers=1,max_d=3",
                             "decay=0,max_d=5", "decay=0,layers=2,max_d=4,kv_reuse=0"}) {
    SCOPED_TRACE(params);
    LlamaModel target(w, 1);
    LlamaModel ref(w, 1);
    auto d = make_del(w, params);
    std::int32_t n_resumed_steps = 0, n_matches = 0, n_checks = 0;
    SamplingParams sampled;  // sampled text varies more than greedy text on random models
    sampled.temperature = 1.0f;
    testing::manual_loop(
        target, *d, {1, 7, 9, 12}, sampled, DraftBudget{8, 0}, 20,
        [&](std::int32_t, const testing::ManualStep& st, const std::vector<Token>& seq,
            const TreeVerifier&) {
          n_resumed_steps += st.facts.n_resume > 0;
          const std::int32_t n = static_cast<std::int32_t>(seq.size()) - 1;  // bonus excluded
          std::vector<std::int32_t> pos(n);
          for (std::int32_t i = 0; i < n; ++i) pos[i] = i;
          const std::int32_t last_row = n - 1;
          for (std::int32_t l = 1; l < L; ++l) {
            ref.truncate(0);
            ForwardBatch b;
            b.tokens = std::span<const Token>(seq).first(n);
            b.positions = pos;
            b.all_logits = false;
            b.logit_rows = std::span<const std::int32_t>(&last_row, 1);
            b.exit_layer = l;
            ForwardOutput out;
            ref.forward(b, out);
            const double want = argmax(out.row(0)) == seq.back() ? 1.0 : 0.0;
            EXPECT_EQ(d->alpha()[l - 1], want) << "layer " << l << " E " << st.facts.exit_layer;
            n_matches += want == 1.0;
            ++n_checks;
          }
        });
    if (std::string(params).find("kv_reuse=0") == std::string::npos) EXPECT_GT(n_resumed_steps, 0);
    EXPECT_GT(n_matches, 0);
    EXPECT_LT(n_matches, n_checks);
  }
}

TEST(Del, AlphaIsADecayedAverageAndChoiceFollowsIt) {
  const auto w = testing::self_spec_weights(43);
  LlamaModel target(w, 1);
  auto d = make_del(w, "decay=0.8,max_d=6");
  // Prior before observations: alpha0 * l / L.
  d->begin(std::vector<Token>{1});
  for (std::int32_t l = 1; l < 4; ++l) EXPECT_DOUBLE_EQ(d->alpha()[l - 1], 0.9 * l / 4);
  testing::manual_loop(target, *d, {1, 7, 9, 12}, SamplingParams{}, DraftBudget{8, 0}, 15,
                       [&](std::int32_t, const testing::ManualStep& st, const auto&, const auto&) {
                         for (double a : d->alpha()) {
                           EXPECT_GE(a, 0.0);
                           EXPECT_LE(a, 1.0);
                         }
                         const auto& c = d->last_choice();
                         EXPECT_EQ(st.facts.exit_layer, c.exit_layer);
                         EXPECT_LE(st.tree.size() - 1, c.draft_len);
                       });
  // The next choice is the TPL argmax of the current table.
  DraftTree tree;
  std::vector<Token> seq = {1, 7, 9, 12};
  const std::vector<double> alpha(d->alpha().begin(), d->alpha().end());
  const ExitChoice want = choose_exit(alpha, 4, 6);
  target.truncate(0);
  ForwardOutput out;
  prefill(target, std::span<const Token>(seq).first(3), {}, out);
  SamplingParams greedy;
  Rng rng(0);
  const DraftFacts facts = d->propose(DraftContext{seq, &greedy, &rng, {}, &target}, DraftBudget{16, 0}, tree);
  EXPECT_EQ(d->last_choice().exit_layer, want.exit_layer);
  EXPECT_EQ(d->last_choice().draft_len, want.draft_len);
  EXPECT_EQ(facts.exit_layer, want.exit_layer);
}

TEST(Del, GreedyLosslessOnRandomLlama) {
  const auto w = testing::self_spec_weights();
  LlamaModel target(w, 1);
  std::int64_t accepted = 0;
  for (const char* params : {"threshold=0", "threshold=0.6,max_d=3", "kv_reuse=0",
                             "layers=2-3,decay=0.5", "layers=1,max_d=6,threshold=0",
                             "alpha0=0,max_d=2", "head_cost=1"}) {
    accepted += testing::expect_self_spec_lossless(
        target, [&] { return std::unique_ptr<Drafter>(make_del(w, params)); },
        std::string("del:") + params, testing::self_spec_prompts(), 40);
  }
  EXPECT_GT(accepted, 0);
}

TEST(Del, ExitLayerIsLoggedPerStep) {
  const auto w = testing::self_spec_weights();
  LlamaModel target(w, 1);
  auto d = make_del(w, "layers=2-3");
  DecodeOptions opt;
  opt.max_new_tokens = 50;
  opt.budget.max_nodes = 8;
  opt.stop_at_bos = opt.stop_at_eos = false;
  const auto r = decode(target, d.get(), nullptr, std::vector<Token>{1, 7, 9}, opt);
  std::set<std::int32_t> seen;
  for (const auto& s : r.steps) {
    EXPECT_TRUE(s.exit_layer == 2 || s.exit_layer == 3) << s.exit_layer;
    seen.insert(s.exit_layer);
  }
  EXPECT_FALSE(seen.empty());
  // Autoregressive steps log no exit layer.
  const auto ar = decode(target, nullptr, nullptr, std::vector<Token>{1, 7, 9}, opt);
  for (const auto& s : ar.steps) EXPECT_EQ(s.exit_layer, 0);
}

TEST(Del, BadParamsThrow) {
  const auto w = testing::self_spec_weights();
  for (const char* p : {"layers=0", "layers=4", "layers=1-9", "decay=1", "max_d=0",
                        "threshold=-0.1", "alpha0=2", "exit=2", "head_cost=-1"}) {
    EXPECT_THROW(make_del(w, p), Error) << p;
  }
  DrafterEnv env;
  env.target = &w->info;  // no weights: DEL cannot compute shadow tokens
  EXPECT_THROW(make_drafter("del", env), Error);
  EXPECT_THROW(DelDrafter(nullptr, DelOptions{}), Error);
}

TEST(Del, GreedyLosslessOnStories260K) {
  if (!testing::stories_available()) GTEST_SKIP() << "stories260K not found";
  const auto w = load_weights_shared(testing::model_path("stories260K.bin"));
  LlamaModel target(w, 1);
  const auto all = testing::stories_prompts();
  const std::vector<std::vector<Token>> prompts = {all[0], all[2]};
  std::int64_t accepted = 0;
  for (const char* params : {"", "kv_reuse=0", "threshold=0.5,max_d=4"}) {
    accepted += testing::expect_self_spec_lossless(
        target, [&] { return std::unique_ptr<Drafter>(make_del(w, params)); },
        std::string("del:") + params, prompts, 80, {4, 64});
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace speclab
