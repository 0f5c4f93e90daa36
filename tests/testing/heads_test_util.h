// Fixtures for the head drafters' tests (medusa, hydra, exit adapters): perturbed heads on a
// synthetic (or real) Llama target saved to a temporary directory, a drafter wrapper that records
// every proposed tree, and a reference top-k. Losslessness and sampling harnesses: decode_lossless.h.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "base/rng.h"
#include "synthetic/synthetic_weights.h"
#include "tokenizers/tokenizer_loader.h"
#include "experiments/decode.h"
#include "drafters/registry.h"
#include "heads/head_net.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/model_writers.h"
#include "tests/testing/models_dir.h"
#include "trees/tree_builders.h"
#include "verifiers/rules.h"

namespace speclab::testing {

// A fresh directory under the system temp dir, removed (with its contents) on destruction
// (model_writers.h ScopedTempDir): path() is the directory, sub("x") names an entry inside it.
class TempDir : public ScopedTempDir {
 public:
  using ScopedTempDir::path;
  const std::string& path() const { return dir(); }
  std::string sub(const std::string& name) const { return path(name); }
};

// The small synthetic target used by the head tests (dim 32, 2 layers, vocab 60).
inline std::shared_ptr<const LlamaWeights> heads_target_weights(std::uint64_t seed = 21) {
  return std::make_shared<const LlamaWeights>(
      random_llama_weights(synthetic_info(32, 64, 2, 4, 2, 60, 512), seed));
}

// HeadNet::init for `target`, then every trainable tensor perturbed with N(0, scale^2) noise
// (scale = noise / sqrt(dim); Hydra projections get 2x so the path embeddings matter), so heads
// differ from each other and from the target's own next-token prediction. Deterministic in seed.
inline HeadNet perturbed_heads(HeadKind kind, std::shared_ptr<const LlamaWeights> target,
                               std::int32_t n_heads, std::uint64_t seed, double noise = 1.0,
                               std::int32_t n_blocks = 1) {
  HeadConfig cfg;
  cfg.kind = kind;
  cfg.n_heads = n_heads;
  cfg.n_blocks = n_blocks;
  HeadNet net = HeadNet::init(cfg, std::move(target));
  Rng rng(seed);
  const double s = noise / std::sqrt(static_cast<double>(net.config().dim));
  for (std::int32_t h = 0; h < net.n_heads(); ++h) {
    HeadParams& p = net.params(h);
    for (float& v : p.proj_w) v += static_cast<float>(2.0 * s * rng.normal());
    for (float& v : p.proj_b) v += static_cast<float>(0.1 * rng.normal());
    for (auto& w : p.block_w) {
      for (float& v : w) v += static_cast<float>(s * rng.normal());
    }
    for (auto& b : p.block_b) {
      for (float& v : b) v += static_cast<float>(0.1 * rng.normal());
    }
    for (float& v : p.classifier) v += static_cast<float>(s * rng.normal());
  }
  return net;
}

// Exit adapters (kind exit-adapter) for `layers`: HeadNet::init (identity blocks, so a fresh
// adapter drafts exactly the plain exit), then, for scale > 0, every block weight and bias
// replaced by N(0, (scale / sqrt(dim))^2) resp. N(0, scale^2 / 4) noise. Deterministic in seed.
inline HeadNet perturbed_adapters(const std::shared_ptr<const LlamaWeights>& target,
                                  const std::vector<std::int32_t>& layers, std::int32_t n_blocks,
                                  double scale, std::uint64_t seed = 5) {
  HeadConfig c;
  c.kind = HeadKind::kExitAdapter;
  c.n_heads = static_cast<std::int32_t>(layers.size());
  c.n_blocks = n_blocks;
  c.exit_layers = layers;
  HeadNet net = HeadNet::init(c, target);
  if (scale > 0.0) {
    Rng rng(seed);
    const double sw = scale / std::sqrt(static_cast<double>(target->info.dim));
    for (std::int32_t h = 0; h < net.n_heads(); ++h) {
      HeadParams& p = net.params(h);
      for (auto& m : p.block_w) {
        for (float& v : m) v = static_cast<float>(sw * rng.normal());
      }
      for (auto& b : p.block_b) {
        for (float& v : b) v = static_cast<float>(0.5 * scale * rng.normal());
      }
    }
  }
  return net;
}

// Top-k of a logits row by a full stable sort (reference for the drafters' partial sort):
// (token, log_softmax) pairs, ties to the lower id.
inline std::vector<Candidate> reference_top_k(std::span<const float> logits, std::int32_t k) {
  std::vector<std::int32_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b]; });
  double mx = *std::max_element(logits.begin(), logits.end()), z = 0.0;
  for (float v : logits) z += std::exp(v - mx);
  std::vector<Candidate> out;
  for (std::int32_t r = 0; r < k && r < static_cast<std::int32_t>(idx.size()); ++r) {
    out.push_back({idx[r], static_cast<float>(logits[idx[r]] - mx - std::log(z))});
  }
  return out;
}

// Softmax of a logits row (double accumulation).
inline std::vector<float> reference_softmax(std::span<const float> logits) {
  double mx = *std::max_element(logits.begin(), logits.end()), z = 0.0;
  for (float v : logits) z += std::exp(v - mx);
  std::vector<float> p(logits.size());
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(std::exp(logits[i] - mx) / z);
  return p;
}

// Head h's logits for one hidden row and path (path ignored by Medusa heads).
inline std::vector<float> head_logits(const HeadNet& net, std::int32_t h,
                                      std::span<const float> hidden, std::span<const Token> path) {
  std::vector<float> out(net.config().vocab);
  HeadScratch scratch;
  net.logits(h, hidden, path, 1, out, scratch);
  return out;
}

// A random "hidden state" [dim] (structure tests that call propose() directly).
inline std::vector<float> random_hidden(std::int32_t dim, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> h(dim);
  for (float& v : h) v = static_cast<float>(rng.normal());
  return h;
}

inline DrafterEnv heads_env(const std::shared_ptr<const LlamaWeights>& w) {
  DrafterEnv env;
  env.target = &w->info;
  env.target_weights = w;
  return env;
}

// Perturbed heads of one kind (medusa or hydra) for heads_target_weights(), saved to a
// temporary directory; make() builds the registry drafter "NAME:heads=DIR[,params]".
struct HeadsFixture {
  std::shared_ptr<const LlamaWeights> w = heads_target_weights();
  TempDir dir;
  std::string drafter;  // "medusa" | "hydra"
  std::string heads;    // the heads directory
  HeadNet net;
  HeadsFixture(HeadKind kind, std::int32_t n_heads, std::uint64_t seed)
      : drafter(to_string(kind)), heads(dir.sub(std::string(to_string(kind)))) {
    net = perturbed_heads(kind, w, n_heads, seed);
    save_heads(net, heads);
  }
  std::string spec(const std::string& params = "") const {
    return drafter + ":heads=" + heads + (params.empty() ? "" : "," + params);
  }
  std::unique_ptr<Drafter> make(const std::string& params = "") const {
    return make_drafter(spec(params), heads_env(w));
  }
};

// The message of the Error `f` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Heads built in memory and loaded from disk draft the same: a HeadDrafter (MedusaDrafter,
// HydraDrafter) made from fx.net with default Options and two registry loads of fx's directory
// propose identical trees for five random hidden states.
template <class HeadDrafter, class Options>
void expect_loaded_drafts_equal(const HeadsFixture& fx) {
  Options o;
  o.heads_dir = fx.heads;
  HeadDrafter direct(fx.net, o);
  auto loaded = fx.make();
  auto loaded2 = fx.make();
  SamplingParams greedy;
  Rng rng(1);
  const std::vector<Token> ctx_tokens = {1, 4, 5};
  for (std::uint64_t s = 0; s < 5; ++s) {
    const auto hidden = random_hidden(fx.w->info.dim, 10 + s);
    DraftTree a, b, c;
    direct.propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{24, 0}, a);
    loaded->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{24, 0}, b);
    loaded2->propose(DraftContext{ctx_tokens, &greedy, &rng, hidden}, DraftBudget{24, 0}, c);
    EXPECT_EQ(a.token, b.token);
    EXPECT_EQ(a.parent, b.parent);
    EXPECT_EQ(a.score, b.score);
    EXPECT_EQ(a.q, b.q);
    EXPECT_EQ(b.token, c.token);
    EXPECT_EQ(b.q, c.q);
  }
}

// The file errors of a head drafter (fx.drafter), from validate_drafter_spec and make_drafter
// alike: a missing heads directory, no heads key, heads of `other` kind, heads trained for another
// target (fingerprint), a target without Llama weights. Each message names the problem.
inline void expect_head_file_errors(const HeadsFixture& fx, HeadKind other) {
  const DrafterEnv env = heads_env(fx.w);
  using Fn = void (*)(const std::string&, const DrafterEnv&);
  const Fn both[] = {&validate_drafter_spec,
                     +[](const std::string& s, const DrafterEnv& e) { make_drafter(s, e); }};
  const std::string missing = fx.dir.sub("nope"), other_name(to_string(other));
  for (Fn f : both) {
    const std::string msg = error_of([&] { f(fx.drafter + ":heads=" + missing, env); });
    EXPECT_NE(msg.find("heads = " + missing), std::string::npos) << msg;
    EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
  }
  EXPECT_NE(error_of([&] { make_drafter(fx.drafter, env); }).find("heads"), std::string::npos);
  TempDir dir;
  save_heads(perturbed_heads(other, fx.w, 2, 1), dir.sub("other"));
  for (Fn f : both) {
    const std::string msg = error_of([&] { f(fx.drafter + ":heads=" + dir.sub("other"), env); });
    EXPECT_NE(msg.find("kind = " + other_name), std::string::npos) << msg;
    EXPECT_NE(msg.find(other_name + " drafter"), std::string::npos) << msg;
  }
  save_heads(perturbed_heads(fx.net.config().kind, heads_target_weights(99), 2, 1), dir.sub("foreign"));
  const std::string foreign = error_of([&] { make_drafter(fx.drafter + ":heads=" + dir.sub("foreign"), env); });
  EXPECT_NE(foreign.find("trained for"), std::string::npos) << foreign;
  DrafterEnv no_weights;
  no_weights.target = &fx.w->info;
  for (Fn f : both) {
    const std::string msg = error_of([&] { f(fx.spec(), no_weights); });
    EXPECT_NE(msg.find("needs a Llama target"), std::string::npos) << msg;
  }
}

// Forwards everything to `inner` and keeps a copy of every proposed tree and context hidden.
class RecordingDrafter final : public Drafter {
 public:
  explicit RecordingDrafter(Drafter& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  DrafterNeeds needs() const override { return inner_.needs(); }
  void begin(std::span<const Token> prompt) override { inner_.begin(prompt); }
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override {
    const DraftFacts facts = inner_.propose(ctx, budget, out);
    trees.push_back(out);
    hiddens.emplace_back(ctx.hidden.begin(), ctx.hidden.end());
    contexts.emplace_back(ctx.tokens.begin(), ctx.tokens.end());
    return facts;
  }
  void observe(const StepFeedback& fb) override { inner_.observe(fb); }

  std::vector<DraftTree> trees;
  std::vector<std::vector<float>> hiddens;
  std::vector<std::vector<Token>> contexts;

 private:
  Drafter& inner_;
};

// Greedy losslessness on stories260K (the test is skipped when it is absent) of the head drafter
// of `kind` with perturbed heads (4 heads, noise 0.3), for each parameter variant ("" = default);
// some draft token must be accepted.
inline void expect_heads_lossless_on_stories(HeadKind kind, const std::vector<std::string>& variants) {
  if (!stories_available()) GTEST_SKIP() << "stories260K.bin / tok512.bin not found";
  auto w = load_weights_shared(model_path("stories260K.bin"));
  TempDir dir;
  save_heads(perturbed_heads(kind, w, 4, 3, 0.3), dir.sub("h"));
  LlamaModel target(w, 1);
  std::int64_t accepted = 0;
  for (const std::string& params : variants) {
    const std::string spec = std::string(to_string(kind)) + ":heads=" + dir.sub("h") + (params.empty() ? "" : "," + params);
    accepted += expect_greedy_lossless(target, spec, stories_prompts(), 80).accepted;
  }
  EXPECT_GT(accepted, 0) << "no draft token was ever accepted: the test is vacuous";
}

// Every tree fx's default drafter proposes while decoding 20 tokens from {1, 7, 9, 12} (budget 12)
// and the hidden state the loop passed with it; each hidden has the target's dim and each tree
// drafts something (checked).
struct RecordedLoop {
  std::vector<DraftTree> trees;
  std::vector<std::vector<float>> hiddens;
};
inline RecordedLoop record_default_loop(const HeadsFixture& fx) {
  LlamaModel target(fx.w, 1);
  auto inner = fx.make();
  RecordingDrafter rec(*inner);
  DecodeOptions opt;
  opt.max_new_tokens = 20;
  opt.stop_at_bos = opt.stop_at_eos = false;
  opt.budget.max_nodes = 12;
  decode(target, &rec, nullptr, std::vector<Token>{1, 7, 9, 12}, opt);
  EXPECT_FALSE(rec.trees.empty());
  for (std::size_t s = 0; s < rec.trees.size(); ++s) {
    EXPECT_EQ(rec.hiddens[s].size(), static_cast<std::size_t>(fx.w->info.dim));
    EXPECT_GT(rec.trees[s].size(), 1);
  }
  return RecordedLoop{std::move(rec.trees), std::move(rec.hiddens)};
}

// Small prompts for the synthetic head target (vocab 60), including a one-token prompt (no
// hidden state: the head drafters propose a root-only tree).
inline const std::vector<std::vector<Token>>& heads_prompts() {
  static const std::vector<std::vector<Token>> p = {
      {1}, {1, 7, 9, 12}, {1, 3, 3, 3, 4, 5, 6, 3, 4}, {1, 40, 2, 59, 17, 17, 8}};
  return p;
}

}  // namespace speclab::testing
