// The `eagle` drafter (drafters/eagle_drafter.h): its EAGLE-2 dynamic trees equal a naive
// reference of the rule written here (each expanded node's feature computed by running its path
// through the head as a chain, from scratch), within every budget and depth cap, with valid
// parents and sibling-prefix closed; chain mode is the greedy chain; the prompt features reach
// the head through decode() (DraftContext::prompt_hidden, StepFeedback::hidden), so that after
// any number of steps the incremental head proposes exactly what a fresh head given every
// feature at once proposes; results are deterministic for a seed; spec errors are clear.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "drafters/eagle_drafter.h"
#include "drafters/medusa_drafter.h"
#include "drafters/registry.h"
#include "experiments/decode.h"
#include "heads/eagle_head.h"
#include "model/llama_model.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/heads_test_util.h"

namespace speclab {
namespace {

using testing::heads_env;
using testing::heads_target_weights;

// Target features of tokens[0 .. n-2] (what the decode loop hands the drafter): [n - 1, dim]
// final-normed states, or for fused heads row i = [h^(l1)_i, h^(l2)_i, ...] of `layers`.
std::vector<float> target_features(const std::shared_ptr<const LlamaWeights>& w, std::span<const Token> tokens,
                                   std::vector<std::int32_t> layers = {kFinalNormedHidden}) {
  LlamaModel m(w, 1);
  std::vector<std::int32_t> pos(tokens.size() - 1);
  std::iota(pos.begin(), pos.end(), 0);
  ForwardBatch b;
  b.tokens = tokens.first(tokens.size() - 1);
  b.positions = pos;
  b.all_logits = false;
  b.hidden_layers = layers;
  ForwardOutput out;
  m.forward(b, out);
  const std::size_t d = static_cast<std::size_t>(w->info.dim);
  std::vector<float> f;
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    for (const auto& h : out.hidden) f.insert(f.end(), h.begin() + i * d, h.begin() + (i + 1) * d);
  }
  return f;
}

// EAGLE-2 by the book, slowly: stage nodes with their rank among their parent's candidates;
// an expanded node's feature comes from running root..node as a chain after the committed rows.
struct RefTree {
  DraftTree tree;
  std::vector<std::int32_t> rank;  // per output node: rank among its parent's candidates
};

RefTree reference_eagle2(const std::shared_ptr<const EagleWeights>& ew, const std::shared_ptr<const LlamaWeights>& w,
                         std::span<const Token> tokens, std::span<const float> features, std::int32_t top_k,
                         std::int32_t depth, DraftBudget budget) {
  EagleHead head(ew, w, 1);
  const std::int32_t dim = ew->config.dim, vocab = ew->config.vocab, n = static_cast<std::int32_t>(tokens.size());
  std::vector<std::int32_t> pos(n - 1);
  std::iota(pos.begin(), pos.end(), 0);
  std::vector<float> out(static_cast<std::size_t>(n - 1) * dim);
  head.append(features, tokens.subspan(1), pos, out);
  const std::int32_t committed = head.n_cached();
  struct Node {
    Token token;
    std::int32_t parent, depth, rank;
    float score;
    std::vector<float> feature;  // predicted feature after the node (expanded nodes only)
  };
  std::vector<Node> nodes = {{tokens.back(), -1, 0, 0, 0.0f, std::vector<float>(out.end() - dim, out.end())}};
  const std::int32_t k = std::min({top_k, budget.max_nodes, vocab});
  std::int32_t cap = std::min(depth, budget.max_nodes);
  if (budget.max_depth > 0) cap = std::min(cap, budget.max_depth);
  std::vector<Candidate> cands(k);
  std::vector<std::int32_t> idx(vocab);
  std::vector<float> logits(vocab);
  auto expand = [&](std::int32_t u) {
    head.logits(nodes[u].feature, 1, logits);
    head_drafter::top_candidates(logits, k, cands, idx, {});
    for (std::int32_t r = 0; r < k; ++r) {
      nodes.push_back({cands[r].token, u, nodes[u].depth + 1, r, nodes[u].score + cands[r].log_prob, {}});
    }
  };
  auto better = [&](std::int32_t a, std::int32_t b) {
    return nodes[a].score > nodes[b].score || (nodes[a].score == nodes[b].score && a < b);
  };
  expand(0);
  for (std::int32_t d = 1; d < cap; ++d) {
    std::vector<std::int32_t> layer;
    for (std::int32_t i = 0; i < static_cast<std::int32_t>(nodes.size()); ++i) {
      if (nodes[i].depth == d) layer.push_back(i);
    }
    std::sort(layer.begin(), layer.end(), better);
    layer.resize(std::min<std::size_t>(layer.size(), k));
    std::sort(layer.begin(), layer.end());
    for (const std::int32_t u : layer) {
      std::vector<std::int32_t> path;
      for (std::int32_t v = u; v != 0; v = nodes[v].parent) path.insert(path.begin(), v);
      head.truncate(committed);
      std::vector<float> f(dim);
      for (const std::int32_t v : path) {
        const Token t = nodes[v].token;
        const std::int32_t p = n - 1 + nodes[v].depth - 1;
        head.append(nodes[nodes[v].parent].feature, std::span<const Token>(&t, 1), std::span<const std::int32_t>(&p, 1), f);
      }
      nodes[u].feature = f;
      expand(u);
    }
  }
  std::vector<std::int32_t> keep(nodes.size() - 1);
  std::iota(keep.begin(), keep.end(), 1);
  std::sort(keep.begin(), keep.end(), better);
  keep.resize(std::min<std::size_t>(keep.size(), budget.max_nodes));
  std::sort(keep.begin(), keep.end(), [&](std::int32_t a, std::int32_t b) {
    return nodes[a].depth != nodes[b].depth ? nodes[a].depth < nodes[b].depth : a < b;
  });
  RefTree r;
  r.tree.reset(tokens.back());
  r.rank.push_back(0);
  std::vector<std::int32_t> of(nodes.size(), -1);
  of[0] = 0;
  for (const std::int32_t s : keep) {
    of[s] = r.tree.add(nodes[s].token, of[nodes[s].parent], nodes[s].score);
    r.rank.push_back(nodes[s].rank);
  }
  return r;
}

// An untied random target: flat next-token laws (a tied random Llama mostly repeats its input).
std::shared_ptr<const LlamaWeights> untied_target() {
  ModelInfo info = synthetic_info(32, 64, 2, 4, 2, 60, 512);
  info.tied_classifier = false;
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, 23));
}

struct Fixture {
  explicit Fixture(std::shared_ptr<const LlamaWeights> target = heads_target_weights()) : w(std::move(target)) {}
  std::shared_ptr<const LlamaWeights> w;
  DrafterEnv env = heads_env(w);
  std::vector<Token> prompt = {1, 7, 9, 12, 40, 3, 3, 8};
  std::vector<float> features = target_features(w, prompt);
  SamplingParams greedy;
  Rng rng{1};
  DraftContext ctx() {
    const std::size_t dim = w->info.dim;
    return DraftContext{prompt, &greedy, &rng, std::span<const float>(features).last(dim), nullptr, features};
  }
};

TEST(Eagle, DynamicTreeEqualsTheReferenceWithinEveryBudget) {
  Fixture fx;
  auto ew = std::make_shared<const EagleWeights>(random_eagle_weights(*fx.w, 5));
  for (const auto& [top_k, depth] : std::initializer_list<std::pair<std::int32_t, std::int32_t>>{{10, 6}, {4, 3}, {3, 8}}) {
    for (const std::int32_t budget : {1, 2, 5, 12, 30, 80}) {
      for (const std::int32_t cap : {0, 2}) {
        const std::string spec = fmt::format("eagle:random_seed=5,top_k={},depth={}", top_k, depth);
        const std::string where = fmt::format("{} budget {} cap {}", spec, budget, cap);
        auto d = make_drafter(spec, fx.env);
        d->begin(fx.prompt);
        DraftTree t;
        d->propose(fx.ctx(), DraftBudget{budget, cap}, t);
        ASSERT_NO_THROW(t.validate()) << where;
        EXPECT_EQ(t.token[0], fx.prompt.back());
        EXPECT_EQ(t.children, ChildSampling::kDeterministic);
        EXPECT_GT(t.size(), 1) << where;
        EXPECT_LE(t.size() - 1, budget) << where;
        EXPECT_LE(t.max_depth(), cap > 0 ? std::min(cap, depth) : depth) << where;
        const RefTree ref = reference_eagle2(ew, fx.w, fx.prompt, fx.features, top_k, depth, DraftBudget{budget, cap});
        EXPECT_EQ(t.token, ref.tree.token) << where;
        EXPECT_EQ(t.parent, ref.tree.parent) << where;
        EXPECT_EQ(t.score, ref.tree.score) << where;
        // Path confidence never grows down a path; siblings come best first and form a prefix of
        // their parent's candidates (sibling-prefix closed).
        std::vector<std::vector<std::int32_t>> ranks(t.size());
        for (std::int32_t i = 1; i < t.size(); ++i) {
          EXPECT_LE(t.score[i], t.score[t.parent[i]]) << where;
          ranks[t.parent[i]].push_back(ref.rank[i]);
        }
        for (std::int32_t i = 0; i < t.size(); ++i) {
          for (std::size_t r = 0; r < ranks[i].size(); ++r) {
            EXPECT_EQ(ranks[i][r], static_cast<std::int32_t>(r)) << where << ": children of node " << i;
          }
        }
      }
    }
  }
}

// DynamicTreeStage (trees/tree_builders.h), driven depth by depth, is the EAGLE-2 rule of
// build_dynamic_tree with expand_top = top_k: the same candidates give the same tree.
TEST(Eagle, DynamicTreeStageIsTheRuleOfBuildDynamicTree) {
  // Candidates from a hash of the node's path: deterministic, with repeated tokens and ties.
  const CandidateFn fn = [](const DraftTree& t, std::int32_t u, std::int32_t k, std::vector<Candidate>& out) {
    std::uint64_t h = 1469598103934665603ull;
    for (std::int32_t v = u; v >= 0; v = t.parent[v]) h = (h ^ static_cast<std::uint64_t>(t.token[v])) * 1099511628211ull;
    Rng rng(h);
    out.clear();
    float lp = 0.0f;
    for (std::int32_t j = 0; j < k; ++j) {
      if (rng.below(4) != 0) lp -= static_cast<float>(0.05 + rng.uniform());  // sometimes a tie
      out.push_back({static_cast<Token>(rng.below(60)), lp});
    }
  };
  DynamicTreeStage stage;
  std::vector<Candidate> c;
  std::vector<std::int32_t> expand;
  for (const std::int32_t k : {1, 3, 6}) {
    for (const DraftBudget budget : {DraftBudget{1, 0}, DraftBudget{7, 0}, DraftBudget{25, 3}, DraftBudget{90, 0}}) {
      const std::int32_t depth = 5;
      DraftTree want, got;
      build_dynamic_tree(17, budget, DynamicTreeOptions{k, k, depth}, fn, want);
      std::int32_t cap = std::min(depth, budget.max_nodes);
      if (budget.max_depth > 0) cap = std::min(cap, budget.max_depth);
      stage.begin(17);
      fn(stage.tree(), 0, k, c);
      stage.add_children(0, c);
      for (std::int32_t d = 1; d < cap; ++d) {
        const auto best = stage.best_at_depth(d, k);
        expand.assign(best.begin(), best.end());
        for (const std::int32_t u : expand) {
          fn(stage.tree(), u, k, c);
          stage.add_children(u, c);
        }
      }
      stage.finish(budget.max_nodes, got);
      const std::string where = fmt::format("k {} budget {} cap {}", k, budget.max_nodes, budget.max_depth);
      ASSERT_NO_THROW(got.validate()) << where;
      EXPECT_EQ(got.token, want.token) << where;
      EXPECT_EQ(got.parent, want.parent) << where;
      EXPECT_EQ(got.score, want.score) << where;
      EXPECT_EQ(got.q_token, want.q_token) << where;
      EXPECT_EQ(got.children, ChildSampling::kDeterministic);
    }
  }
}

TEST(Eagle, ChainModeIsTheGreedyChain) {
  Fixture fx;
  for (const std::int32_t budget : {1, 3, 10}) {
    auto d = make_drafter("eagle:random_seed=5,tree=chain,depth=5", fx.env);
    d->begin(fx.prompt);
    DraftTree t;
    d->propose(fx.ctx(), DraftBudget{budget, 0}, t);
    EXPECT_EQ(t.size() - 1, std::min(budget, 5));
    for (std::int32_t i = 1; i < t.size(); ++i) EXPECT_EQ(t.parent[i], i - 1);
    auto ew = std::make_shared<const EagleWeights>(random_eagle_weights(*fx.w, 5));
    const RefTree ref = reference_eagle2(ew, fx.w, fx.prompt, fx.features, 1, 5, DraftBudget{budget, 0});
    EXPECT_EQ(t.token, ref.tree.token);
  }
}

TEST(Eagle, DeterministicForASeed) {
  Fixture fx;
  auto a = make_drafter("eagle:random_seed=5", fx.env), b = make_drafter("eagle:random_seed=5", fx.env),
       c = make_drafter("eagle:random_seed=6", fx.env);
  DraftTree ta, tb, tc;
  for (auto* d : {a.get(), b.get(), c.get()}) d->begin(fx.prompt);
  a->propose(fx.ctx(), DraftBudget{24, 0}, ta);
  b->propose(fx.ctx(), DraftBudget{24, 0}, tb);
  c->propose(fx.ctx(), DraftBudget{24, 0}, tc);
  EXPECT_EQ(ta.token, tb.token);
  EXPECT_EQ(ta.parent, tb.parent);
  EXPECT_EQ(ta.score, tb.score);
  EXPECT_NE(ta.token, tc.token) << "another seed, another head";
  // A second proposal on the same context (drafted rows were truncated) is the same tree.
  DraftTree again;
  a->propose(fx.ctx(), DraftBudget{24, 0}, again);
  EXPECT_EQ(again.token, ta.token);
  EXPECT_EQ(again.score, ta.score);
}

// Records every context and tree, and checks the feature plumbing of decode().
class Probe final : public Drafter {
 public:
  Probe(Drafter& inner, std::int32_t dim) : inner_(inner), dim_(dim) {}
  std::string_view name() const override { return inner_.name(); }
  DrafterNeeds needs() const override { return inner_.needs(); }
  void begin(std::span<const Token> prompt) override {
    prompt_size = static_cast<std::int32_t>(prompt.size());
    inner_.begin(prompt);
  }
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override {
    EXPECT_EQ(ctx.prompt_hidden.size(), static_cast<std::size_t>(prompt_size - 1) * dim_);
    if (prompt_hidden.empty()) prompt_hidden.assign(ctx.prompt_hidden.begin(), ctx.prompt_hidden.end());
    const DraftFacts f = inner_.propose(ctx, budget, out);
    contexts.emplace_back(ctx.tokens.begin(), ctx.tokens.end());
    trees.push_back(out);
    return f;
  }
  void observe(const StepFeedback& fb) override {
    EXPECT_EQ(fb.hidden.size(), static_cast<std::size_t>(fb.tree->size()) * dim_);
    inner_.observe(fb);
    ++n_observed;
  }
  std::int32_t prompt_size = 0, n_observed = 0;
  std::vector<float> prompt_hidden;
  std::vector<std::vector<Token>> contexts;
  std::vector<DraftTree> trees;

 private:
  Drafter& inner_;
  std::int32_t dim_;
};

// After any number of decode steps the incremental head (prompt rows on the first step, accepted
// rows from every verification) proposes exactly what a fresh head given every feature of the
// sequence at once proposes; for a fused (EAGLE-3-style) head too, which asks for its layers
// (DrafterNeeds::feature_layers) and gets their rows side by side for the prompt and every
// verified node.
TEST(Eagle, DecodeFeedsTheHeadEveryFeature) {
  Fixture fx(untied_target());
  struct Case {
    std::string spec;
    std::vector<std::int32_t> layers;  // what the drafter asks for (empty: final-normed alone)
  };
  for (const Case& c : {Case{"eagle:random_seed=5", {}},
                        Case{"eagle:random_seed=5,random_layers=1+final", {1, kFinalNormedHidden}}}) {
    SCOPED_TRACE(c.spec);
    auto inner = make_drafter(c.spec, fx.env);
    auto* eagle = dynamic_cast<EagleDrafter*>(inner.get());
    ASSERT_NE(eagle, nullptr);
    EXPECT_EQ(inner->needs().feature_layers, c.layers);
    EXPECT_TRUE(inner->needs().target_features);
    const std::vector<std::int32_t> rows = c.layers.empty() ? std::vector<std::int32_t>{kFinalNormedHidden} : c.layers;
    Probe probe(*inner, static_cast<std::int32_t>(rows.size()) * fx.w->info.dim);
    LlamaModel target(fx.w, 1);
    DecodeOptions opt;
    opt.max_new_tokens = 40;
    opt.stop_at_bos = opt.stop_at_eos = false;
    opt.budget.max_nodes = 12;
    // Sampled (rule deterministic): a random head's candidates are accepted now and then, so
    // observe() appends accepted paths of several rows too.
    opt.sampling.temperature = 1.0f;
    opt.seed = 3;
    const DecodeResult r = decode(target, &probe, nullptr, fx.prompt, opt);
    ASSERT_GE(probe.contexts.size(), 3u);
    EXPECT_EQ(probe.prompt_hidden, target_features(fx.w, fx.prompt, rows)) << "the prompt's rows are the prefill's";
    EXPECT_EQ(probe.n_observed + 1, static_cast<std::int32_t>(r.steps.size()));
    std::int64_t accepted = 0;
    for (const StepRecord& s : r.steps) accepted += s.n_accepted;
    for (const std::size_t s : {std::size_t{1}, probe.contexts.size() / 2, probe.contexts.size() - 1}) {
      const std::vector<Token>& seq = probe.contexts[s];
      const std::vector<float> all = target_features(fx.w, seq, rows);
      auto fresh = make_drafter(c.spec, fx.env);
      fresh->begin(seq);
      DraftTree t;
      Rng rng(1);
      const auto root_hidden = c.layers.empty() ? std::span<const float>(all).last(fx.w->info.dim) : std::span<const float>();
      fresh->propose(DraftContext{seq, &opt.sampling, &rng, root_hidden, nullptr, all}, opt.budget, t);
      EXPECT_EQ(t.token, probe.trees[s].token) << "step " << s;
      EXPECT_EQ(t.parent, probe.trees[s].parent) << "step " << s;
      EXPECT_EQ(t.score, probe.trees[s].score) << "step " << s;
    }
    // The last step stopped the sequence (no observe): the head holds a row for every position
    // before the last proposal's root.
    EXPECT_EQ(eagle->n_committed(), static_cast<std::int32_t>(probe.contexts.back().size()) - 1);
    EXPECT_GT(accepted, 0) << "no draft token was accepted: the comparison covers rejections only";
  }
}

// A fused head is another head than the unfused one of the same seed, lossless under greedy
// decoding, and does not draft from the final-normed state alone.
TEST(Eagle, FusedHeadIsLosslessAndNeedsItsLayers) {
  Fixture fx(untied_target());
  const std::string spec = "eagle:random_seed=5,random_layers=1+final";
  const std::vector<std::int32_t> layers = {1, kFinalNormedHidden};
  LlamaModel target(fx.w, 1);
  DecodeOptions greedy;
  greedy.max_new_tokens = 40;
  greedy.stop_at_bos = greedy.stop_at_eos = false;
  greedy.budget.max_nodes = 12;
  auto fused = make_drafter(spec, fx.env);
  auto plain = make_drafter("eagle:random_seed=5", fx.env);
  const DecodeResult g = decode(target, fused.get(), nullptr, fx.prompt, greedy);
  EXPECT_EQ(g.tokens, decode(target, nullptr, nullptr, fx.prompt, greedy).tokens);
  DraftTree a, b;
  fused->begin(fx.prompt);
  plain->begin(fx.prompt);
  fused->propose(DraftContext{fx.prompt, &fx.greedy, &fx.rng, {}, nullptr, target_features(fx.w, fx.prompt, layers)},
                 DraftBudget{16, 0}, a);
  plain->propose(fx.ctx(), DraftBudget{16, 0}, b);
  EXPECT_NE(a.score, b.score);
  // Without its layer features (the final-normed state alone) a fused head does not draft.
  fused->begin(fx.prompt);
  fused->propose(DraftContext{fx.prompt, &fx.greedy, &fx.rng, std::span<const float>(fx.features).last(fx.w->info.dim)},
                 DraftBudget{10, 0}, a);
  EXPECT_EQ(a.size(), 1);
}

// A one-token prompt has no feature: the first tree is the root alone, the next ones draft.
TEST(Eagle, OneTokenPromptStartsDraftingAfterTheFirstStep) {
  Fixture fx;
  auto inner = make_drafter("eagle:random_seed=5", fx.env);
  Probe probe(*inner, fx.w->info.dim);
  LlamaModel target(fx.w, 1);
  DecodeOptions opt;
  opt.max_new_tokens = 10;
  opt.stop_at_bos = opt.stop_at_eos = false;
  opt.budget.max_nodes = 8;
  const DecodeResult r = decode(target, &probe, nullptr, std::vector<Token>{1}, opt);
  ASSERT_GE(probe.trees.size(), 2u);
  EXPECT_EQ(probe.trees[0].size(), 1);
  EXPECT_EQ(probe.trees[1].size(), 9);
  EXPECT_EQ(r.tokens, decode(target, nullptr, nullptr, std::vector<Token>{1}, opt).tokens);
}

// Without prompt_hidden (a context built by hand with the hidden state only), the head starts
// from that one feature and still drafts.
TEST(Eagle, DraftsFromTheHiddenStateAlone) {
  Fixture fx;
  auto d = make_drafter("eagle:random_seed=5", fx.env);
  d->begin(fx.prompt);
  DraftTree t;
  d->propose(DraftContext{fx.prompt, &fx.greedy, &fx.rng, std::span<const float>(fx.features).last(fx.w->info.dim)},
             DraftBudget{10, 0}, t);
  EXPECT_EQ(t.size(), 11);
  DraftTree none;
  d->begin(fx.prompt);
  d->propose(DraftContext{fx.prompt, &fx.greedy, &fx.rng}, DraftBudget{10, 0}, none);
  EXPECT_EQ(none.size(), 1) << "no feature at all: the root alone";
}

TEST(Eagle, SpecErrorsAreClear) {
  Fixture fx;
  const auto msg = [&](const std::string& spec) { return testing::error_of([&] { make_drafter(spec, fx.env); }); };
  EXPECT_NE(msg("eagle").find("heads: required"), std::string::npos) << msg("eagle");
  EXPECT_NE(msg("eagle:heads=/x,random_seed=1").find("not both"), std::string::npos);
  EXPECT_NE(msg("eagle:random_seed=1,tree=template").find("tree = template"), std::string::npos);
  EXPECT_NE(msg("eagle:random_seed=1,top_k=0").find("top_k = 0"), std::string::npos);
  EXPECT_NE(msg("eagle:random_seed=1,random_layers=1+x").find("entry x: must be a layer number"), std::string::npos)
      << msg("eagle:random_seed=1,random_layers=1+x");
  EXPECT_NE(msg("eagle:random_seed=1,random_layers=1+1").find("repeats"), std::string::npos)
      << msg("eagle:random_seed=1,random_layers=1+1");
  EXPECT_NE(msg("eagle:random_seed=1,random_layers=99").find("the target has"), std::string::npos)
      << msg("eagle:random_seed=1,random_layers=99");
  EXPECT_NE(msg("eagle:heads=/x,random_layers=1").find("only with random_seed"), std::string::npos);
  testing::TempDir dir;
  EXPECT_NE(msg("eagle:heads=" + dir.sub("nope")).find("not found"), std::string::npos);
  // A head made for another target: the fingerprint.
  save_eagle_head(random_eagle_weights(*heads_target_weights(99), 1), dir.sub("foreign"));
  const std::string foreign = msg("eagle:heads=" + dir.sub("foreign"));
  EXPECT_NE(foreign.find("model_fingerprint"), std::string::npos) << foreign;
  // A saved head loads and drafts like the random head it was saved from.
  save_eagle_head(random_eagle_weights(*fx.w, 5), dir.sub("mine"));
  auto loaded = make_drafter("eagle:heads=" + dir.sub("mine"), fx.env);
  auto random = make_drafter("eagle:random_seed=5", fx.env);
  DraftTree a, b;
  loaded->begin(fx.prompt);
  random->begin(fx.prompt);
  loaded->propose(fx.ctx(), DraftBudget{16, 0}, a);
  random->propose(fx.ctx(), DraftBudget{16, 0}, b);
  EXPECT_EQ(a.token, b.token);
  EXPECT_EQ(a.score, b.score);
  DrafterEnv no_weights;
  no_weights.target = &fx.w->info;
  EXPECT_NE(testing::error_of([&] { make_drafter("eagle:random_seed=1", no_weights); }).find("needs a Llama target"),
            std::string::npos);
}

}  // namespace
}  // namespace speclab
