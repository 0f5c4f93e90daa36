// HeadNet (heads/head_net.h) and its trainer (heads/head_trainer.h): initial heads reproduce the
// target's own predictions, full-head gradients match finite differences for every kind,
// save -> load is exact, bad or foreign head files are clear errors, training is deterministic
// across thread counts and memorises a sequence.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "base/error.h"
#include "model/llama_model.h"
#include "base/rng.h"
#include "synthetic/synthetic_weights.h"
#include "heads/distill_data.h"
#include "heads/head_net.h"
#include "heads/head_trainer.h"

namespace speclab {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const LlamaWeights> tiny_target(std::uint64_t seed = 7) {
  const ModelInfo info = synthetic_info(16, 32, 3, 4, 2, 40, 128);
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, seed));
}

HeadConfig config(HeadKind kind, std::int32_t n_heads, std::int32_t blocks) {
  HeadConfig c;
  c.kind = kind;
  c.n_heads = n_heads;
  c.n_blocks = blocks;
  if (kind == HeadKind::kExitAdapter) {
    for (std::int32_t l = 1; l <= n_heads; ++l) c.exit_layers.push_back(l);
  }
  return c;
}

void perturb(HeadNet& net, std::uint64_t seed, float scale) {
  Rng rng(seed);
  for (std::int32_t h = 0; h < net.n_heads(); ++h) {
    for (auto t : net.params(h).tensors()) {
      for (float& v : t) v += scale * static_cast<float>(rng.normal());
    }
  }
}

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("speclab_heads_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

DistillData sampled_data(const std::shared_ptr<const LlamaWeights>& w, std::int32_t n_seq,
                         std::int32_t len, std::vector<std::int32_t> layers = {}) {
  LlamaModel m(w, 1);
  DistillOptions o;
  o.samples_per_prompt = n_seq;
  o.max_len = len;
  o.stop_at_eos = false;
  o.teacher_top = 8;
  o.layers = std::move(layers);
  return distill_from_prompts(m, {{1, 5, 9}}, o, nullptr);
}

TEST(HeadNet, FreshMedusaAndHydraHeadsPredictLikeTheTarget) {
  auto w = tiny_target();
  LlamaModel m(w, 1);
  const std::vector<Token> toks = {1, 3, 17, 22, 5};
  const std::vector<std::int32_t> pos = {0, 1, 2, 3, 4};
  const std::vector<std::int32_t> sel = {kFinalNormedHidden};
  ForwardBatch b;
  b.tokens = toks;
  b.positions = pos;
  b.hidden_layers = sel;
  ForwardOutput out;
  m.forward(b, out);
  for (const HeadKind kind : {HeadKind::kMedusa, HeadKind::kHydra}) {
    const HeadNet net = HeadNet::init(config(kind, 3, 2), w);
    HeadScratch s;
    std::vector<float> logits(5 * 40);
    for (std::int32_t h = 0; h < 3; ++h) {
      std::vector<Token> path(5 * (h + 1), 7);
      net.logits(h, out.hidden[0], path, 5, logits, s);
      for (std::size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], out.logits[i], 1e-4) << i;
    }
  }
}

TEST(HeadNet, FreshExitAdapterEqualsPlainEarlyExit) {
  auto w = tiny_target();
  const HeadNet net = HeadNet::init(config(HeadKind::kExitAdapter, 2, 1), w);
  const std::vector<Token> toks = {1, 3, 17, 22};
  const std::vector<std::int32_t> pos = {0, 1, 2, 3};
  for (const std::int32_t l : {1, 2}) {
    LlamaModel m(w, 1);
    const std::vector<std::int32_t> sel = {l};
    ForwardBatch b;
    b.tokens = toks;
    b.positions = pos;
    b.hidden_layers = sel;
    b.exit_layer = l;
    ForwardOutput out;
    m.forward(b, out);
    HeadScratch s;
    std::vector<float> logits(4 * 40);
    net.logits(net.adapter_index(l), out.hidden[0], {}, 4, logits, s);
    for (std::size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], out.logits[i], 1e-4) << "layer " << l;
  }
}

// Directional finite-difference check of head_loss's gradient, per tensor, in float.
void check_head_gradient(HeadKind kind, std::int32_t blocks, float teacher_weight) {
  auto w = tiny_target();
  HeadNet net = HeadNet::init(config(kind, 2, blocks), w);
  perturb(net, 11, 0.2f);
  const DistillData data = sampled_data(w, 2, 24, kind == HeadKind::kExitAdapter ? std::vector<std::int32_t>{1, 2}
                                                                                : std::vector<std::int32_t>{});
  const std::vector<std::int32_t> ids = {0, 1};
  Rng rng(3);
  for (std::int32_t h = 0; h < 2; ++h) {
    const auto ex = head_examples(net, h, data, ids);
    ASSERT_FALSE(ex.empty());
    HeadParams grad = net.params(h);
    for (auto t : grad.tensors()) std::fill(t.begin(), t.end(), 0.0f);
    head_loss(net, h, data, ex, teacher_weight, &grad);
    auto ps = net.params(h).tensors();
    auto gs = grad.tensors();
    ASSERT_EQ(ps.size(), gs.size());
    for (std::size_t k = 0; k < ps.size(); ++k) {
      std::vector<float> u(ps[k].size());
      double gu = 0.0, norm = 0.0;
      for (float& x : u) {
        x = static_cast<float>(rng.normal());
        norm += double(x) * x;
      }
      norm = std::sqrt(norm);
      for (std::size_t i = 0; i < u.size(); ++i) {
        u[i] = static_cast<float>(u[i] / norm);
        gu += double(gs[k][i]) * u[i];
      }
      const std::vector<float> keep(ps[k].begin(), ps[k].end());
      const float eps = 1e-2f;
      for (std::size_t i = 0; i < u.size(); ++i) ps[k][i] = keep[i] + eps * u[i];
      const double lp = head_loss(net, h, data, ex, teacher_weight, nullptr);
      for (std::size_t i = 0; i < u.size(); ++i) ps[k][i] = keep[i] - eps * u[i];
      const double lm = head_loss(net, h, data, ex, teacher_weight, nullptr);
      std::copy(keep.begin(), keep.end(), ps[k].begin());
      const double num = (lp - lm) / (2 * eps);
      EXPECT_NEAR(gu, num, 2e-3 + 2e-2 * std::abs(num))
          << to_string(kind) << " head " << h << " tensor " << k << " of " << ps.size();
    }
  }
}

TEST(HeadNet, MedusaGradientMatchesFiniteDifferences) { check_head_gradient(HeadKind::kMedusa, 2, 0.0f); }
TEST(HeadNet, HydraGradientMatchesFiniteDifferences) { check_head_gradient(HeadKind::kHydra, 2, 0.5f); }
TEST(HeadNet, ExitAdapterGradientMatchesFiniteDifferences) {
  check_head_gradient(HeadKind::kExitAdapter, 2, 1.0f);
}

TEST(HeadNet, SaveLoadRoundTripIsExact) {
  auto w = tiny_target();
  for (const HeadKind kind : {HeadKind::kMedusa, HeadKind::kHydra, HeadKind::kExitAdapter}) {
    HeadNet net = HeadNet::init(config(kind, 2, 2), w);
    perturb(net, 5, 0.1f);
    net.mutable_config().topk_accuracy.assign(2, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95});
    net.mutable_config().training["note"] = "x";
    const std::string dir = temp_dir(std::string(to_string(kind)));
    save_heads(net, dir);
    const HeadNet back = load_heads(dir, w);
    EXPECT_EQ(to_json(back.config()), to_json(net.config()));
    for (std::int32_t h = 0; h < 2; ++h) {
      auto a = net.params(h).tensors();
      auto b = back.params(h).tensors();
      ASSERT_EQ(a.size(), b.size());
      for (std::size_t k = 0; k < a.size(); ++k) {
        EXPECT_TRUE(std::equal(a[k].begin(), a[k].end(), b[k].begin(), b[k].end()));
      }
    }
    fs::remove_all(dir);
  }
}

TEST(HeadNet, FingerprintFollowsTheWeightsNotTheFile) {
  auto w = tiny_target();
  LlamaWeights untied = *w;
  untied.info.tied_classifier = false;
  untied.classifier = untied.token_embedding;
  untied.info.source = "elsewhere.gguf";
  EXPECT_EQ(model_fingerprint(*w), model_fingerprint(untied));
  LlamaWeights changed = *w;
  changed.final_norm[3] += 1e-3f;
  EXPECT_NE(model_fingerprint(*w), model_fingerprint(changed));
  LlamaWeights changed2 = *w;
  {
    std::vector<float> e = changed2.token_embedding.to_f32();
    e[1] *= 1.5f;  // first classifier row (tied)
    changed2.token_embedding = WeightMatrix::from_f32(changed2.token_embedding.rows(),
                                                      changed2.token_embedding.cols(), std::move(e));
  }
  EXPECT_NE(model_fingerprint(*w), model_fingerprint(changed2));
  EXPECT_NE(model_fingerprint(*w), model_fingerprint(*tiny_target(8)));
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(HeadNet, BadHeadFilesAreClearErrors) {
  auto w = tiny_target();
  HeadNet net = HeadNet::init(config(HeadKind::kHydra, 2, 1), w);
  const std::string dir = temp_dir("bad");
  save_heads(net, dir);
  const std::string json = dir + "/heads.json";
  const std::string st = dir + "/heads.safetensors";
  expect_error([&] { load_heads(dir, tiny_target(8)); }, "trained for target");
  expect_error([&] { load_heads(dir + "/nope", w); }, "not found");
  auto rewrite = [&](const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  };
  std::ifstream f(json);
  const std::string good((std::istreambuf_iterator<char>(f)), {});
  rewrite(json, "{not json");
  expect_error([&] { load_heads(dir, w); }, "not valid JSON");
  nlohmann::json j = nlohmann::json::parse(good);
  j["kind"] = "eagle";
  rewrite(json, j.dump());
  expect_error([&] { load_heads(dir, w); }, "eagle");
  j = nlohmann::json::parse(good);
  j.erase("n_heads");
  rewrite(json, j.dump());
  expect_error([&] { load_heads(dir, w); }, "n_heads");
  j = nlohmann::json::parse(good);
  j["n_heads"] = 3;  // the file has tensors for 2
  rewrite(json, j.dump());
  expect_error([&] { load_heads(dir, w); }, "head.2.proj.weight missing");
  j = nlohmann::json::parse(good);
  j["n_blocks"] = 0;
  rewrite(json, j.dump());
  expect_error([&] { load_heads(dir, w); }, "n_blocks = 0");
  rewrite(json, good);
  // Truncated tensor file.
  std::ifstream sf(st, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(sf)), {});
  sf.close();
  rewrite(st, bytes.substr(0, bytes.size() - 10));
  expect_error([&] { load_heads(dir, w); }, "heads.safetensors");
  // Adapter layers outside the model.
  HeadConfig c = config(HeadKind::kExitAdapter, 1, 1);
  c.exit_layers = {3};
  expect_error([&] { HeadNet::init(c, w); }, "exit_layers entry 3");
  fs::remove_all(dir);
}

TEST(HeadNet, BatchedRowsAreBitIdenticalToSingleRows) {
  // Drafters batch the nodes of a tree level into one call; that must not change any logit.
  auto w = tiny_target();
  Rng rng(12);
  for (const HeadKind kind : {HeadKind::kMedusa, HeadKind::kHydra, HeadKind::kExitAdapter}) {
    HeadNet net = HeadNet::init(config(kind, 2, 2), w);
    perturb(net, 4, 0.3f);
    const std::int32_t n = 7, h = 1, plen = kind == HeadKind::kHydra ? h + 1 : 0;
    std::vector<float> hidden(n * 16), batch(n * 40), single(40);
    for (float& x : hidden) x = static_cast<float>(rng.normal());
    std::vector<Token> path(n * plen);
    for (Token& t : path) t = static_cast<Token>(rng.below(40));
    HeadScratch s;
    s.n_threads = 2;
    net.logits(h, hidden, path, n, batch, s);
    HeadScratch s1;
    for (std::int32_t i = 0; i < n; ++i) {
      net.logits(h, std::span<const float>(hidden).subspan(i * 16, 16),
                 std::span<const Token>(path).subspan(i * plen, plen), 1, single, s1);
      for (std::int32_t j = 0; j < 40; ++j) {
        ASSERT_EQ(single[j], batch[i * 40 + j]) << to_string(kind) << " row " << i << " col " << j;
      }
    }
  }
}

TEST(HeadNet, LogitsRejectBadInputs) {
  auto w = tiny_target();
  const HeadNet net = HeadNet::init(config(HeadKind::kHydra, 2, 1), w);
  HeadScratch s;
  std::vector<float> hidden(16), out(40);
  std::vector<Token> path = {1, 2};
  expect_error([&] { net.logits(2, hidden, path, 1, out, s); }, "head index 2");
  expect_error([&] { net.logits(1, hidden, {}, 1, out, s); }, "path of 2 tokens");
  path[1] = 40;
  expect_error([&] { net.logits(1, hidden, path, 1, out, s); }, "path token 40");
}

TEST(HeadTrainer, DeterministicAcrossThreadCounts) {
  auto w = tiny_target();
  const DistillData data = sampled_data(w, 4, 32);
  TrainOptions o;
  o.steps = 40;
  o.batch = 16;
  o.eval_every = 0;
  HeadNet a = HeadNet::init(config(HeadKind::kHydra, 3, 1), w);
  HeadNet b = a;
  o.threads = 1;
  train_heads(a, data, o, nullptr);
  o.threads = 2;
  train_heads(b, data, o, nullptr);
  for (std::int32_t h = 0; h < 3; ++h) {
    auto pa = a.params(h).tensors();
    auto pb = b.params(h).tensors();
    for (std::size_t k = 0; k < pa.size(); ++k) {
      EXPECT_TRUE(std::equal(pa[k].begin(), pa[k].end(), pb[k].begin())) << "head " << h << " tensor " << k;
    }
  }
  EXPECT_EQ(a.config().topk_accuracy, b.config().topk_accuracy);
}

// Heads memorise one fixed sequence: near-100% top-1 on it after a short training.
TEST(HeadTrainer, OverfitsAMemorisedSequence) {
  auto w = tiny_target();
  for (const HeadKind kind : {HeadKind::kMedusa, HeadKind::kHydra, HeadKind::kExitAdapter}) {
    DistillData data = sampled_data(w, 1, 20, kind == HeadKind::kExitAdapter ? std::vector<std::int32_t>{1, 2}
                                                                           : std::vector<std::int32_t>{});
    // Labels the heads must memorise (the inputs stay the recorded hiddens). Medusa / Hydra:
    // a fixed pseudo-random sequence the model did not produce. Exit adapters keep the
    // target's frozen norm + classifier, which cannot make every token an argmax in 16
    // dimensions: their labels are the full model's argmax at each position (reachable).
    Rng rng(9);
    auto& seq = data.seqs[0];
    for (std::int32_t t = 1; t < seq.size(); ++t) {
      seq.tokens[t] = kind == HeadKind::kExitAdapter ? seq.teacher_ids[(t - 1) * data.teacher_top]
                                                     : static_cast<Token>(rng.below(40));
    }
    HeadNet net = HeadNet::init(config(kind, 2, 2), w);
    TrainOptions o;
    o.steps = 600;
    o.batch = 32;
    o.lr = 2e-2f;
    o.weight_decay = 0.0f;
    o.teacher_weight = 0.0f;
    o.holdout_frac = 0.0f;
    o.eval_every = 0;
    const TrainReport r = train_heads(net, data, o, nullptr);
    for (std::int32_t h = 0; h < 2; ++h) {
      EXPECT_GE(r.heldout.topk[h][0], 0.95) << to_string(kind) << " head " << h;
      EXPECT_DOUBLE_EQ(net.config().topk_accuracy[h][0], r.heldout.topk[h][0]);
    }
  }
}

TEST(HeadTrainer, TeacherLossPullsTowardsTheTargetDistribution) {
  // With w = 1 the loss is KL to the teacher (+ its entropy): training an adapter on the last
  // layer lowers it below the untrained adapter's.
  auto w = tiny_target();
  const DistillData data = sampled_data(w, 6, 32, {2});
  HeadConfig c = config(HeadKind::kExitAdapter, 1, 1);
  c.exit_layers = {2};
  HeadNet net = HeadNet::init(c, w);
  const std::vector<std::int32_t> ids = {5};
  const double before = evaluate_heads(net, data, ids, 1.0f, 1000, 1).loss[0];
  TrainOptions o;
  o.steps = 200;
  o.batch = 32;
  o.lr = 5e-3f;
  o.teacher_weight = 1.0f;
  o.eval_every = 0;
  o.holdout_frac = 0.2f;
  train_heads(net, data, o, nullptr);
  const double after = evaluate_heads(net, data, ids, 1.0f, 1000, 1).loss[0];
  EXPECT_LT(after, before);
}

TEST(HeadTrainer, RejectsDataThatDoesNotFit) {
  auto w = tiny_target();
  const DistillData data = sampled_data(w, 2, 16);  // no layers recorded
  HeadNet net = HeadNet::init(config(HeadKind::kExitAdapter, 1, 1), w);
  TrainOptions o;
  o.steps = 1;
  expect_error([&] { train_heads(net, data, o, nullptr); }, "exit layer 1 was not recorded");
  o.lr = 0.0f;
  expect_error([&] { train_heads(net, data, o, nullptr); }, "lr = 0");
}

}  // namespace
}  // namespace speclab
