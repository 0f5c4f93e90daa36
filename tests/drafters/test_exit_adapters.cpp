// Exit adapters (adapters=DIR) in the self-speculative drafters early-exit and del:
//  - greedy losslessness through the decode loop with perturbed adapters (synthetic target and
//    stories260K, skipped when absent), with and without KV reuse, thresholds, DEL (the drafter
//    contract suite, test_drafter_contract, proves two adapted configurations: losslessness,
//    limits, no allocation once warm, reproducibility and the sampling law);
//  - freshly initialised (zero) adapters are the identity: the drafts (and q rows of sampled
//    drafts, and DEL's exit choices) equal the plain exit's;
//  - with perturbed adapters every drafted token is the argmax of HeadNet::logits on the layer-E
//    residual of an independent forward of the context (and differs from the plain exit's
//    somewhere, so the check is not vacuous); DEL's alpha follows the adapters' shadow tokens;
//  - errors: heads of another kind, an exit layer without an adapter, a fingerprint mismatch,
//    a missing directory, no target weights;
//  - the sweep spec experiments/specs/early_exit_adapters.json builds.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "base/error.h"
#include "formats/model_loader.h"
#include "base/rng.h"
#include "ops/sampling.h"
#include "drafters/del_drafter.h"
#include "drafters/early_exit_drafter.h"
#include "drafters/registry.h"
#include "experiments/spec.h"
#include "heads/head_net.h"
#include "tests/testing/heads_test_util.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/self_spec_util.h"

namespace speclab {
namespace {

using testing::TempDir;

// testing::perturbed_adapters saved in `dir`; returns the adapters directory.
std::string saved_adapters(const TempDir& dir, const std::shared_ptr<const LlamaWeights>& w,
                           const std::vector<std::int32_t>& layers, std::int32_t n_blocks,
                           double scale, std::uint64_t seed = 5) {
  save_heads(testing::perturbed_adapters(w, layers, n_blocks, scale, seed), dir.sub("adapters"));
  return dir.sub("adapters");
}

std::unique_ptr<Drafter> make(const std::string& spec, const std::shared_ptr<const LlamaWeights>& w) {
  return make_drafter(spec, testing::heads_env(w));
}

// Runs `f`, expects an Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<const char*> parts, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no Error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* p : parts) {
      EXPECT_NE(msg.find(p), std::string::npos) << what << ": message '" << msg << "' lacks '" << p << "'";
    }
  }
}

// The prefix a manual_loop step drafted from (seq after the step minus the accepted tokens and
// the bonus), so the tree's root is its last token.
std::vector<Token> step_prefix(const testing::ManualStep& st, const std::vector<Token>& seq_after) {
  return std::vector<Token>(seq_after.begin(), seq_after.end() - st.acc.path.size());
}

// Residual after `e` layers at the last position of `ctx`, from an independent forward.
std::vector<float> residual_at(LlamaModel& ref, const std::vector<Token>& ctx, std::int32_t e) {
  ref.truncate(0);
  std::vector<std::int32_t> pos(ctx.size());
  std::iota(pos.begin(), pos.end(), 0);
  const std::int32_t sel = e;
  ForwardBatch b;
  b.tokens = ctx;
  b.positions = pos;
  b.all_logits = false;
  b.exit_layer = e;
  b.hidden_layers = std::span<const std::int32_t>(&sel, 1);
  ForwardOutput out;
  ref.forward(b, out);
  const std::size_t dim = ref.info().dim;
  return std::vector<float>(out.hidden[0].end() - dim, out.hidden[0].end());
}

// Plain early-exit logits at layer e for the last position of `ctx`.
std::vector<float> plain_exit_logits(LlamaModel& ref, const std::vector<Token>& ctx, std::int32_t e) {
  ref.truncate(0);
  std::vector<std::int32_t> pos(ctx.size());
  std::iota(pos.begin(), pos.end(), 0);
  const std::int32_t last = static_cast<std::int32_t>(ctx.size()) - 1;
  ForwardBatch b;
  b.tokens = ctx;
  b.positions = pos;
  b.all_logits = false;
  b.logit_rows = std::span<const std::int32_t>(&last, 1);
  b.exit_layer = e;
  ForwardOutput out;
  ref.forward(b, out);
  return std::vector<float>(out.logits.begin(), out.logits.end());
}

Token adapter_argmax(const HeadNet& net, std::int32_t layer, std::span<const float> h) {
  std::vector<float> logits(net.config().vocab);
  HeadScratch s;
  net.logits(net.adapter_index(layer), h, {}, 1, logits, s);
  return argmax(logits);
}

TEST(ExitAdapters, GreedyLosslessOnRandomLlama) {
  const auto w = testing::self_spec_weights();
  LlamaModel target(w, 1);
  TempDir dir;
  const std::string a = saved_adapters(dir, w, {1, 2, 3}, 2, 1.0);
  std::int64_t accepted = 0;
  for (const std::string spec :
       {"early-exit:exit=1,d=4,adapters=" + a,
        "early-exit:exit=3,d=6,adapters=" + a, "early-exit:exit=2,d=5,kv_reuse=0,adapters=" + a,
        "early-exit:exit=2,d=6,threshold=0.3,adapters=" + a, "del:adapters=" + a,
        "del:kv_reuse=0,threshold=0,adapters=" + a, "del:layers=2-3,decay=0.5,adapters=" + a,
        "del:head_cost=1,max_d=4,adapters=" + a}) {
    accepted += testing::expect_self_spec_lossless(
        target, [&] { return make(spec, w); }, spec, testing::self_spec_prompts(), 40);
  }
  EXPECT_GT(accepted, 0) << "adapted exits never agreed with the full model: the test is vacuous";
}

// Zero adapters are the identity: same drafted tokens as the plain exit, greedy and sampled
// (q rows equal up to float rounding of the norm), with and without KV reuse.
TEST(ExitAdapters, ZeroAdaptersDraftLikeThePlainExit) {
  const auto w = testing::self_spec_weights(37);
  TempDir dir;
  const std::string a = saved_adapters(dir, w, {1, 2, 3}, 2, 0.0);
  for (float temperature : {0.0f, 0.8f}) {
    SamplingParams sp;
    sp.temperature = temperature;
    for (const char* base : {"early-exit:exit=1,d=4", "early-exit:exit=2,d=5,threshold=0.2",
                             "early-exit:exit=3,d=3,kv_reuse=0"}) {
      SCOPED_TRACE(fmt::format("{} T={}", base, temperature));
      std::vector<DraftTree> trees[2];
      std::vector<DraftFacts> facts[2];
      for (int adapted = 0; adapted < 2; ++adapted) {
        LlamaModel target(w, 1);
        auto d = make(adapted ? fmt::format("{},adapters={}", base, a) : std::string(base), w);
        testing::manual_loop(target, *d, {1, 7, 9, 12}, sp, DraftBudget{8, 0}, 20,
                             [&](std::int32_t, const testing::ManualStep& st, const auto&,
                                 const auto&) {
                               trees[adapted].push_back(st.tree);
                               facts[adapted].push_back(st.facts);
                             });
      }
      ASSERT_EQ(trees[0].size(), trees[1].size());
      for (std::size_t s = 0; s < trees[0].size(); ++s) {
        const DraftTree& p = trees[0][s];
        const DraftTree& q = trees[1][s];
        ASSERT_EQ(p.token, q.token) << "step " << s;
        EXPECT_EQ(facts[0][s].n_resume, facts[1][s].n_resume);
        EXPECT_EQ(facts[0][s].exit_layer, facts[1][s].exit_layer);
        ASSERT_EQ(p.q.size(), q.q.size());
        for (std::size_t i = 0; i < p.q.size(); ++i) EXPECT_NEAR(p.q[i], q.q[i], 1e-5);
      }
    }
  }
  // DEL: same shadow tokens, hence the same exit choices and tokens per step.
  for (const char* base : {"del", "del:kv_reuse=0,decay=0.5"}) {
    SCOPED_TRACE(base);
    DecodeOptions opt;
    opt.max_new_tokens = 50;
    opt.budget.max_nodes = 8;
    opt.stop_at_bos = opt.stop_at_eos = false;
    std::vector<std::int32_t> exits[2];
    std::vector<Token> tokens[2];
    for (int adapted = 0; adapted < 2; ++adapted) {
      LlamaModel target(w, 1);
      const std::string spec = adapted ? fmt::format("{}{}adapters={}", base,
                                                     std::string(base) == "del" ? ":" : ",", a)
                                       : std::string(base);
      auto d = make(spec, w);
      const auto r = decode(target, d.get(), nullptr, std::vector<Token>{1, 7, 9}, opt);
      for (const auto& s : r.steps) exits[adapted].push_back(s.exit_layer);
      tokens[adapted] = r.tokens;
    }
    EXPECT_EQ(exits[0], exits[1]);
    EXPECT_EQ(tokens[0], tokens[1]);
  }
}

// Perturbed adapters: each drafted token is the argmax of HeadNet::logits on the residual after
// E layers of an independent full-context forward (not the drafter's incremental cache).
TEST(ExitAdapters, DraftsAreTheAdapterArgmaxOnAnIndependentResidual) {
  const auto w = testing::self_spec_weights(39);
  TempDir dir;
  const std::string a = saved_adapters(dir, w, {1, 2, 3}, 2, 1.5);
  const HeadNet net = load_heads(a, w);
  LlamaModel ref(w, 1);
  std::int32_t checked = 0, differs_from_plain = 0;
  for (std::int32_t e : {1, 2, 3}) {
    for (int reuse : {1, 0}) {
      SCOPED_TRACE(fmt::format("exit {} kv_reuse {}", e, reuse));
      LlamaModel target(w, 1);
      auto d = make(fmt::format("early-exit:exit={},d=4,kv_reuse={},adapters={}", e, reuse, a), w);
      testing::manual_loop(
          target, *d, {1, 40, 2, 59, 17}, SamplingParams{}, DraftBudget{8, 0}, 12,
          [&](std::int32_t, const testing::ManualStep& st, const std::vector<Token>& seq,
              const auto&) {
            std::vector<Token> ctx = step_prefix(st, seq);
            ASSERT_EQ(ctx.back(), st.tree.token[0]);
            for (std::int32_t k = 1; k < st.tree.size(); ++k) {
              ASSERT_EQ(st.tree.parent[k], k - 1);
              const auto h = residual_at(ref, ctx, e);
              EXPECT_EQ(st.tree.token[k], adapter_argmax(net, e, h)) << "node " << k;
              differs_from_plain += argmax(plain_exit_logits(ref, ctx, e)) != st.tree.token[k];
              ++checked;
              ctx.push_back(st.tree.token[k]);
            }
          });
    }
  }
  EXPECT_GT(checked, 50);
  EXPECT_GT(differs_from_plain, 0) << "the perturbed adapters never changed a draft: vacuous";
}

// DEL with adapters for layers 1 and 3 (not 2): candidates are {1, 3}; with decay 0, alpha_l is
// 1 iff layer l's shadow token at the last accepted position equals the bonus, where the shadow
// token is the adapter's argmax for l = 1, 3 and the plain exit's for l = 2.
TEST(ExitAdapters, DelShadowTokensUseTheAdapters) {
  const auto w = testing::self_spec_weights(41);
  const std::int32_t L = w->info.n_layers;
  TempDir dir;
  const std::string a = saved_adapters(dir, w, {1, 3}, 1, 1.5);
  const HeadNet net = load_heads(a, w);
  for (const char* params : {"decay=0,max_d=4", "decay=0,max_d=3,kv_reuse=0", "decay=0,layers=3"}) {
    SCOPED_TRACE(params);
    LlamaModel target(w, 1);
    LlamaModel ref(w, 1);
    auto base = make(fmt::format("del:{},adapters={}", params, a), w);
    auto* d = static_cast<DelDrafter*>(base.get());
    if (std::string(params).find("layers") == std::string::npos) {
      EXPECT_EQ(std::vector<std::int32_t>(d->candidates().begin(), d->candidates().end()),
                (std::vector<std::int32_t>{1, 3}));
    }
    std::int32_t matches = 0, checks = 0, resumed = 0;
    SamplingParams sampled;
    sampled.temperature = 1.0f;
    testing::manual_loop(
        target, *d, {1, 7, 9, 12}, sampled, DraftBudget{8, 0}, 20,
        [&](std::int32_t, const testing::ManualStep& st, const std::vector<Token>& seq,
            const auto&) {
          EXPECT_TRUE(st.facts.exit_layer == 1 || st.facts.exit_layer == 3) << st.facts.exit_layer;
          resumed += st.facts.n_resume > 0;
          const std::vector<Token> ctx(seq.begin(), seq.end() - 1);  // bonus excluded
          for (std::int32_t l = 1; l < L; ++l) {
            const Token shadow = net.adapter_index(l) >= 0
                                     ? adapter_argmax(net, l, residual_at(ref, ctx, l))
                                     : argmax(plain_exit_logits(ref, ctx, l));
            const double want = shadow == seq.back() ? 1.0 : 0.0;
            EXPECT_EQ(d->alpha()[l - 1], want) << "layer " << l;
            matches += want == 1.0;
            ++checks;
          }
        });
    EXPECT_GT(matches, 0);
    EXPECT_LT(matches, checks);
    if (std::string(params).find("kv_reuse=0") == std::string::npos) EXPECT_GT(resumed, 0);
  }
}

TEST(ExitAdapters, Errors) {
  const auto w = testing::self_spec_weights();
  // Heads of another kind.
  TempDir medusa;
  {
    HeadConfig c;
    c.kind = HeadKind::kMedusa;
    c.n_heads = 2;
    save_heads(HeadNet::init(c, w), medusa.sub("medusa"));
  }
  for (const char* name : {"early-exit:exit=1", "del"}) {
    expect_error([&] { make(fmt::format("{}{}adapters={}", name, std::string(name) == "del" ? ":" : ",",
                                        medusa.sub("medusa")), w); },
                 {"adapters = ", "kind medusa", "exit-adapter"}, name);
  }
  // An exit layer without an adapter.
  TempDir partial;
  const std::string a = saved_adapters(partial, w, {1, 3}, 1, 0.5);
  expect_error([&] { make("early-exit:exit=2,adapters=" + a, w); },
               {"exit = 2", "no adapter for layer 2", "adapted layers: 1, 3"}, "early-exit exit=2");
  expect_error([&] { make("del:layers=1-2,adapters=" + a, w); },
               {"layer 2 has no exit adapter", "adapted layers: 1, 3"}, "del layers=1-2");
  EXPECT_NO_THROW(make("early-exit:exit=3,adapters=" + a, w));
  EXPECT_NO_THROW(make("del:layers=3,adapters=" + a, w));
  // Adapters trained for another target (same shapes, other weights).
  const auto other = testing::self_spec_weights(32);
  expect_error([&] { make("early-exit:exit=1,adapters=" + a, other); },
               {"drafter early-exit: adapters = ", "trained for target"}, "fingerprint");
  expect_error([&] { make("del:adapters=" + a, other); }, {"drafter del: adapters = ", "trained for target"},
               "fingerprint (del)");
  // Missing directory; no target weights.
  expect_error([&] { make("early-exit:exit=1,adapters=" + a + "/nope", w); }, {"not found"}, "missing dir");
  DrafterEnv env;
  env.target = &w->info;
  expect_error([&] { make_drafter("early-exit:exit=1,adapters=" + a, env); }, {"target's weights"},
               "no weights");
  expect_error([&] { make_drafter("del:adapters=" + a, env); }, {"no target weights"}, "no weights (del)");
  // Options naming adapters that were not loaded.
  EarlyExitOptions o;
  o.adapters = a;
  EXPECT_THROW(EarlyExitDrafter(w->info, o), Error);
  DelOptions dopt;
  dopt.adapters = a;
  EXPECT_THROW(DelDrafter(w, dopt), Error);
}

TEST(ExitAdapters, GreedyLosslessOnStories260K) {
  if (!testing::stories_available()) GTEST_SKIP() << "stories260K not found";
  const auto w = load_weights_shared(testing::model_path("stories260K.bin"));
  LlamaModel target(w, 1);
  auto prompts = testing::stories_prompts();
  prompts.resize(2);
  TempDir dir;
  const std::string a = saved_adapters(dir, w, {1, 2, 3, 4}, 1, 0.5);
  std::int64_t accepted = 0;
  for (const std::string spec :
       {"early-exit:exit=1,d=4,adapters=" + a, "early-exit:exit=3,d=6,adapters=" + a,
        "early-exit:exit=4,d=3,kv_reuse=0,adapters=" + a, "del:adapters=" + a,
        "del:head_cost=1,kv_reuse=0,adapters=" + a}) {
    accepted += testing::expect_self_spec_lossless(
        target, [&] { return make(spec, w); }, spec, prompts, 80, {4, 64});
  }
  EXPECT_GT(accepted, 0);
  // Zero adapters on the real model draft like the plain exit.
  TempDir zero;
  const std::string z = saved_adapters(zero, w, {2, 4}, 1, 0.0);
  for (std::int32_t e : {2, 4}) {
    std::vector<Token> drafted[2];
    for (int adapted = 0; adapted < 2; ++adapted) {
      auto d = make(fmt::format("early-exit:exit={},d=5{}", e, adapted ? ",adapters=" + z : ""), w);
      testing::manual_loop(target, *d, prompts[0], SamplingParams{}, DraftBudget{8, 0}, 15,
                           [&](std::int32_t, const testing::ManualStep& st, const auto&,
                               const auto&) {
                             drafted[adapted].insert(drafted[adapted].end(), st.tree.token.begin(),
                                                     st.tree.token.end());
                           });
    }
    EXPECT_EQ(drafted[0], drafted[1]) << "exit " << e;
  }
}

// experiments/specs/early_exit_adapters.json parses, and every drafter in it builds on
// stories260K once its adapters directory (results/heads/{model_stem}-exit) is replaced by real
// adapters.
TEST(ExitAdapters, SweepSpecDraftersAreValid) {
  const ExperimentSpec spec =
      load_spec(std::string(SPECLAB_SOURCE_DIR) + "/experiments/specs/early_exit_adapters.json");
  if (!testing::stories_available()) GTEST_SKIP() << "stories260K not found";
  const auto w = load_weights_shared(testing::model_path("stories260K.bin"));
  TempDir dir;
  const std::string a = saved_adapters(dir, w, {1, 2, 3, 4}, 1, 0.0);
  const std::string fixed = "results/heads/{model_stem}-exit";
  DrafterEnv env;
  env.target = &w->info;
  env.target_weights = w;
  std::int32_t adapted = 0;
  for (const auto& d : spec.drafters) {
    std::string s = d.spec;
    if (const auto at = s.find(fixed); at != std::string::npos) {
      s.replace(at, fixed.size(), a);
      ++adapted;
    }
    EXPECT_NO_THROW(validate_drafter_spec(s, env)) << d.spec;
  }
  EXPECT_GE(adapted, 24 + 1);
}

}  // namespace
}  // namespace speclab
