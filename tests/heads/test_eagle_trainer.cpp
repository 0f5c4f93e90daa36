// The EAGLE trainer (heads/eagle_grad.h, heads/eagle_trainer.h):
// - the hand-derived backward equals central finite differences of the loss in double
//   precision, for every tensor, with and without the input norm, q/k/v and fc biases, for both
//   RoPE pairings and with the token loss on or off;
// - the training forward computes the inference function: its predicted features equal
//   EagleHead's (ops/ kernels) on the same rows, and the evaluation's depth-1 loss equals the
//   training loss;
// - training lowers the loss and raises the accuracy on learnable data, and is bit-identical for
//   1 and 2 threads (and differs for another seed); the trained head saves and loads.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "heads/distill_data.h"
#include "heads/eagle_grad.h"
#include "heads/eagle_head.h"
#include "heads/eagle_trainer.h"
#include "model/llama_model.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/heads_test_util.h"

namespace speclab {
namespace {

using heads::EagleParams;
using heads::EagleSequence;
using heads::Mat;
using testing::TempDir;

// ---- finite differences --------------------------------------------------------------------

struct Variant {
  bool input_norm, qkv_bias, fc_bias;
  RopeStyle style;
  double w_tok;
};

EagleConfig tiny_config(const Variant& v) {
  EagleConfig c;
  c.dim = 8;
  c.hidden_dim = 12;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.vocab = 11;
  c.norm_eps = 1e-5f;
  c.rope_theta = 50.0f;
  c.rope_style = v.style;
  c.input_norm = v.input_norm;
  c.qkv_bias = v.qkv_bias;
  c.fc_bias = v.fc_bias;
  return c;
}

template <class M>
void fill(M& m, Rng& rng, double scale, double offset = 0.0) {
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = offset + scale * rng.normal();
}

// F > 0: a fused head over F feature layers (fuse [d, F d]; the sequence gets z [L, F d]).
EagleParams<double> random_params(const EagleConfig& c, Rng& rng, int F = 0) {
  const int d = c.dim, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim, h = c.hidden_dim;
  EagleParams<double> p;
  auto mat = [&](Mat<double>& m, int r, int k) {
    m.resize(r, k);
    fill(m, rng, 1.0 / std::sqrt(static_cast<double>(k)));
  };
  auto vec = [&](heads::Vec<double>& v, int n, double off) {
    v.resize(n);
    fill(v, rng, 0.3, off);
  };
  mat(p.fc, d, 2 * d);
  if (c.fc_bias) vec(p.fc_b, d, 0.0);
  if (c.input_norm) vec(p.attn_norm, d, 1.0);
  mat(p.wq, q, d);
  mat(p.wk, kv, d);
  mat(p.wv, kv, d);
  if (c.qkv_bias) {
    vec(p.bq, q, 0.0);
    vec(p.bk, kv, 0.0);
    vec(p.bv, kv, 0.0);
  }
  mat(p.wo, d, q);
  vec(p.ffn_norm, d, 1.0);
  mat(p.w1, h, d);
  mat(p.w3, h, d);
  mat(p.w2, d, h);
  if (F > 0) mat(p.fuse, d, F * d);
  return p;
}

EagleSequence<double> random_sequence(const EagleConfig& c, int L, Rng& rng, int F = 0) {
  EagleSequence<double> s;
  s.u.resize(L, 2 * c.dim);
  fill(s.u, rng, 1.0);
  if (F > 0) {
    s.z.resize(L, F * c.dim);
    fill(s.z, rng, 1.0);
  }
  s.feat_target.resize(L, c.dim);
  fill(s.feat_target, rng, 1.5);  // errors on both sides of SmoothL1's |x| = 1 kink
  const int half = c.head_dim / 2;
  s.cos.resize(L, half);
  s.sin.resize(L, half);
  for (int t = 0; t < L; ++t) {
    for (int p = 0; p < half; ++p) {
      const double a = (t + 3) * std::pow(static_cast<double>(c.rope_theta), -2.0 * p / c.head_dim);
      s.cos(t, p) = std::cos(a);
      s.sin(t, p) = std::sin(a);
    }
  }
  s.per_row = 3;
  for (int t = 0; t < L; ++t) {
    double sum = 0.0;
    std::vector<double> w(3);
    for (int e = 0; e < 3; ++e) {
      s.t_ids.push_back(static_cast<std::int32_t>(rng.below(c.vocab)));
      w[e] = 0.1 + rng.uniform();
      sum += w[e];
    }
    for (int e = 0; e < 3; ++e) s.t_p.push_back(w[e] / sum);
  }
  return s;
}

// The loss over `steps` passes (pass k weighs 0.8^k), feature weight 1, scale 0.7.
double loss_steps(const EagleConfig& c, const EagleParams<double>& p, const Mat<double>& C,
                  const EagleSequence<double>& s, int steps, double w_tok, EagleParams<double>* grad) {
  std::vector<heads::EagleActs<double>> a;
  heads::eagle_forward_steps<double>(c, p, C, s, steps, a);
  std::vector<double> w;
  for (int k = 0; k < steps; ++k) w.push_back(std::pow(0.8, k));
  return heads::eagle_backward_steps<double>(c, p, C, s, a, 1.0, w_tok, 0.7, w, grad);
}

double loss_of(const EagleConfig& c, const EagleParams<double>& p, const Mat<double>& C,
               const EagleSequence<double>& s, double w_tok, EagleParams<double>* grad) {
  return loss_steps(c, p, C, s, 1, w_tok, grad);
}

TEST(EagleGrad, BackwardEqualsFiniteDifferencesForEveryTensor) {
  const Variant variants[] = {
      {false, false, true, RopeStyle::kInterleaved, 0.3},  // EAGLE-1/2 as published
      {true, true, false, RopeStyle::kHalfSplit, 0.3},
      {false, true, true, RopeStyle::kHalfSplit, 0.0},     // feature loss only
      {true, false, true, RopeStyle::kInterleaved, 1.0},
  };
  for (const Variant& v : variants) {
    const EagleConfig c = tiny_config(v);
    Rng rng(7 + static_cast<int>(v.style) + 2 * v.input_norm);
    EagleParams<double> p = random_params(c, rng);
    Mat<double> C(c.vocab, c.dim);
    fill(C, rng, 1.0);
    const EagleSequence<double> s = random_sequence(c, 6, rng);
    EagleParams<double> g = p.zeros_like();
    loss_of(c, p, C, s, v.w_tok, &g);
    auto ps = p.tensors();
    const auto gs = std::as_const(g).tensors();
    ASSERT_EQ(ps.size(), gs.size());
    std::size_t expected_tensors = 9 + v.fc_bias + v.input_norm + 3 * v.qkv_bias;
    EXPECT_EQ(ps.size(), expected_tensors);
    double worst = 0.0;
    for (std::size_t k = 0; k < ps.size(); ++k) {
      for (std::size_t i = 0; i < ps[k].size(); ++i) {
        const double x0 = ps[k][i], eps = 1e-6;
        ps[k][i] = x0 + eps;
        const double up = loss_of(c, p, C, s, v.w_tok, nullptr);
        ps[k][i] = x0 - eps;
        const double down = loss_of(c, p, C, s, v.w_tok, nullptr);
        ps[k][i] = x0;
        const double fd = (up - down) / (2 * eps);
        const double err = std::abs(fd - gs[k][i]) / std::max(1e-3, std::abs(fd) + std::abs(gs[k][i]));
        worst = std::max(worst, err);
        ASSERT_LT(err, 1e-5) << "tensor " << k << " element " << i << ": analytic " << gs[k][i] << ", numeric " << fd
                             << " (input_norm " << v.input_norm << ", qkv_bias " << v.qkv_bias << ")";
      }
    }
    EXPECT_LT(worst, 1e-5);
  }
}

TEST(EagleGrad, TrainingTimeTestBackwardEqualsFiniteDifferences) {
  for (const bool input_norm : {false, true}) {
    const EagleConfig c = tiny_config({input_norm, !input_norm, true, RopeStyle::kHalfSplit, 0.4});
    Rng rng(11 + input_norm);
    EagleParams<double> p = random_params(c, rng);
    Mat<double> C(c.vocab, c.dim);
    fill(C, rng, 1.0);
    const EagleSequence<double> s = random_sequence(c, 6, rng);
    EagleParams<double> g = p.zeros_like();
    const double l3 = loss_steps(c, p, C, s, 3, 0.4, &g);
    EXPECT_GT(l3, loss_steps(c, p, C, s, 1, 0.4, nullptr));  // the extra passes add loss
    auto ps = p.tensors();
    const auto gs = std::as_const(g).tensors();
    for (std::size_t k = 0; k < ps.size(); ++k) {
      for (std::size_t i = 0; i < ps[k].size(); ++i) {
        const double x0 = ps[k][i], eps = 1e-6;
        ps[k][i] = x0 + eps;
        const double up = loss_steps(c, p, C, s, 3, 0.4, nullptr);
        ps[k][i] = x0 - eps;
        const double down = loss_steps(c, p, C, s, 3, 0.4, nullptr);
        ps[k][i] = x0;
        const double fd = (up - down) / (2 * eps);
        const double err = std::abs(fd - gs[k][i]) / std::max(1e-3, std::abs(fd) + std::abs(gs[k][i]));
        ASSERT_LT(err, 1e-5) << "tensor " << k << " element " << i << ": analytic " << gs[k][i] << ", numeric " << fd;
      }
    }
  }
}

// Fused features (EAGLE-3-style input f_i = fuse z_i): the gradient of fuse, and of every other
// tensor, through one pass and through three training-time-test passes (whose row 0 keeps the
// fused true feature).
TEST(EagleGrad, FusedFeatureBackwardEqualsFiniteDifferences) {
  for (const int steps : {1, 3}) {
    const EagleConfig c = tiny_config({steps == 3, false, true, RopeStyle::kInterleaved, 0.5});
    Rng rng(19 + steps);
    const int F = 3;
    EagleParams<double> p = random_params(c, rng, F);
    Mat<double> C(c.vocab, c.dim);
    fill(C, rng, 1.0);
    const EagleSequence<double> s = random_sequence(c, 6, rng, F);
    EagleParams<double> g = p.zeros_like();
    loss_steps(c, p, C, s, steps, 0.5, &g);
    auto ps = p.tensors();
    const auto gs = std::as_const(g).tensors();
    ASSERT_EQ(ps.size(), 11u + c.input_norm);  // 10 + the input norm + fuse
    ASSERT_EQ(ps.back().size(), static_cast<std::size_t>(c.dim) * F * c.dim) << "fuse is the last tensor";
    for (std::size_t k = 0; k < ps.size(); ++k) {
      for (std::size_t i = 0; i < ps[k].size(); ++i) {
        const double x0 = ps[k][i], eps = 1e-6;
        ps[k][i] = x0 + eps;
        const double up = loss_steps(c, p, C, s, steps, 0.5, nullptr);
        ps[k][i] = x0 - eps;
        const double down = loss_steps(c, p, C, s, steps, 0.5, nullptr);
        ps[k][i] = x0;
        const double fd = (up - down) / (2 * eps);
        const double err = std::abs(fd - gs[k][i]) / std::max(1e-3, std::abs(fd) + std::abs(gs[k][i]));
        // 1e-4: an element whose step moves a row across SmoothL1's |x| = 1 kink leaves the
        // central difference off by ~1e-5 relative; a wrong term is off by O(1).
        ASSERT_LT(err, 1e-4) << "steps " << steps << " tensor " << k << " element " << i << ": analytic " << gs[k][i]
                             << ", numeric " << fd;
      }
    }
    // The unfused feature columns of u are not read by a fused head.
    EagleSequence<double> s2 = s;
    s2.u.rightCols(c.dim).array() += 3.0;
    EXPECT_EQ(loss_steps(c, p, C, s, steps, 0.5, nullptr), loss_steps(c, p, C, s2, steps, 0.5, nullptr));
  }
}

TEST(EagleGrad, CausalRowsIgnoreTheFuture) {
  // Changing the last row's inputs leaves the other rows' outputs unchanged.
  const EagleConfig c = tiny_config({false, false, true, RopeStyle::kInterleaved, 0.1});
  Rng rng(3);
  const EagleParams<double> p = random_params(c, rng);
  Mat<double> C(c.vocab, c.dim);
  fill(C, rng, 1.0);
  EagleSequence<double> s = random_sequence(c, 5, rng);
  heads::EagleActs<double> a, b;
  heads::eagle_forward<double>(c, p, C, s, a);
  s.u.row(4).array() += 1.0;
  heads::eagle_forward<double>(c, p, C, s, b);
  EXPECT_EQ(a.out.topRows(4), b.out.topRows(4));
  EXPECT_GT((a.out.row(4) - b.out.row(4)).norm(), 1e-3);
}

// ---- against the inference code ------------------------------------------------------------

std::shared_ptr<const LlamaWeights> tiny_target(std::uint64_t seed = 21) {
  ModelInfo info = synthetic_info(32, 64, 2, 4, 2, 60, 512);
  info.tied_classifier = false;
  info.rope_theta = 500.0f;
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, seed));
}

// Distillation data of the target itself: sampled continuations of a few prompts.
DistillData target_data(const std::shared_ptr<const LlamaWeights>& w, int n_seq, int len, std::uint64_t seed,
                        std::vector<std::int32_t> layers = {}) {
  LlamaModel m(w, 1, len);
  DistillOptions o;
  o.layers = std::move(layers);
  o.samples_per_prompt = 1;
  o.max_len = len;
  o.teacher_top = 8;
  o.temperature = 0.7f;  // a learnable, not-too-random stream
  o.stop_at_eos = false;
  o.seed = seed;
  std::vector<std::vector<Token>> prompts;
  Rng rng(seed);
  for (int i = 0; i < n_seq; ++i) {
    prompts.push_back({1, static_cast<Token>(2 + rng.below(50))});
  }
  return distill_from_prompts(m, prompts, o, nullptr);
}

// The fused heads of these tests: the tiny target's layer-1 residual, its final-normed state
// and its layer-2 (last) residual, in that order.
const std::vector<std::int32_t> kFusedLayers = {1, kFinalNormedHidden, 2};

// The head's input features of rows 0..rows-1 of data sequence q: the final-normed states, or
// for a fused head fuse z_i with z_i gathered here from the recorded layers (data.layers = {1, 2}).
std::vector<float> true_features(EagleHead& head, const DistillData& data, const DistillSequence& q, int rows) {
  const int d = data.dim;
  if (!head.config().fused()) return std::vector<float>(q.hidden.begin(), q.hidden.begin() + rows * d);
  std::vector<float> z;
  for (int i = 0; i < rows; ++i) {
    for (const std::int32_t h : head.config().feature_layers) {
      const std::vector<float>& src = h == kFinalNormedHidden ? q.hidden : q.layer_hidden[h == 1 ? 0 : 1];
      z.insert(z.end(), src.begin() + i * d, src.begin() + (i + 1) * d);
    }
  }
  std::vector<float> f(static_cast<std::size_t>(rows) * d);
  head.fuse(z, rows, f);
  return f;
}

TEST(EagleTrainer, TrainingForwardEqualsTheInferenceHead) {
  const auto target = tiny_target();
  const DistillData data = target_data(target, 2, 40, 5, {1, 2});
  for (const bool fused : {false, true}) {
    const EagleWeights w = random_eagle_weights(*target, 9, fused ? kFusedLayers : std::vector<std::int32_t>{});
    const auto params = eagle_params_from(w);
    const EagleSequence<float> seq = eagle_sequence(w.config, *target, data, 0, 1.0f, 0.0f, 0);
    const std::int32_t L = seq.rows();
    ASSERT_EQ(L, data.seqs[0].size() - 2);
    ASSERT_EQ(seq.z.cols(), fused ? 96 : 0);
    heads::EagleActs<float> acts;
    const Mat<float> C = Eigen::Map<const Mat<float>>(target->classifier_matrix().to_f32().data(), 60, 32);
    heads::eagle_forward<float>(w.config, params, C, seq, acts);
    EagleHead head(std::make_shared<const EagleWeights>(w), target, 1);
    const DistillSequence& q = data.seqs[0];
    const std::vector<float> feats = true_features(head, data, q, L);
    std::vector<float> out(feats.size());
    std::vector<Token> toks(q.tokens.begin() + 1, q.tokens.begin() + 1 + L);
    std::vector<std::int32_t> pos(L);
    for (int i = 0; i < L; ++i) pos[i] = i;
    head.append(feats, toks, pos, out);
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < L; ++i) {
      for (int j = 0; j < 32; ++j) {
        worst = std::max(worst, static_cast<double>(std::abs(acts.out(i, j) - out[i * 32 + j])));
        scale = std::max(scale, static_cast<double>(std::abs(out[i * 32 + j])));
      }
    }
    EXPECT_LT(worst, 1e-4 * scale) << "fused " << fused << ": max |train - inference| " << worst << " of scale " << scale;
    EXPECT_GT(scale, 0.1);
  }
}

// Pass s of the training-time test computes what the inference head computes at depth s + 1:
// for a chain leaving the true rows at c, append rows 0..c with true features, then feed the
// head its own predictions along the data tokens.
TEST(EagleTrainer, TrainingTimeTestPassesEqualTheInferenceHeadsSelfFedChains) {
  const auto target = tiny_target();
  const DistillData data = target_data(target, 1, 30, 7, {1, 2});
  for (const bool fused : {false, true}) {
    const EagleWeights w = random_eagle_weights(*target, 12, fused ? kFusedLayers : std::vector<std::int32_t>{});
    const auto params = eagle_params_from(w);
    const EagleSequence<float> seq = eagle_sequence(w.config, *target, data, 0, 1.0f, 0.0f, 0);
    const int L = seq.rows(), S = 3;
    const Mat<float> C = Eigen::Map<const Mat<float>>(target->classifier_matrix().to_f32().data(), 60, 32);
    std::vector<heads::EagleActs<float>> acts;
    heads::eagle_forward_steps<float>(w.config, params, C, seq, S, acts);
    EagleHead head(std::make_shared<const EagleWeights>(w), target, 1);
    const DistillSequence& q = data.seqs[0];
    const std::vector<float> all = true_features(head, data, q, L);
    double worst = 0.0, scale = 0.0;
    for (int chain = 0; chain + S - 1 < L; ++chain) {
      head.truncate(0);
      std::vector<float> feat(all.begin(), all.begin() + static_cast<std::size_t>(chain + 1) * 32);
      std::vector<Token> toks(q.tokens.begin() + 1, q.tokens.begin() + 2 + chain);
      std::vector<std::int32_t> pos(chain + 1);
      for (int i = 0; i <= chain; ++i) pos[i] = i;
      std::vector<float> out(feat.size());
      head.append(feat, toks, pos, out);
      std::vector<float> cur(out.end() - 32, out.end()), next(32);
      for (int s = 1; s < S; ++s) {
        const int r = chain + s;
        const Token t = q.tokens[r + 1];
        const std::int32_t ps = r;
        head.append(cur, std::span<const Token>(&t, 1), std::span<const std::int32_t>(&ps, 1), next);
        for (int j = 0; j < 32; ++j) {
          worst = std::max(worst, static_cast<double>(std::abs(acts[s].out(r, j) - next[j])));
          scale = std::max(scale, static_cast<double>(std::abs(next[j])));
        }
        cur = next;
      }
    }
    EXPECT_LT(worst, 1e-4 * scale) << "fused " << fused << ": max |pass - self-fed head| " << worst << " of scale "
                                   << scale;
    EXPECT_GT(scale, 0.1);
  }
}

TEST(EagleTrainer, EvaluationLossEqualsTheTrainingLossAndGradientsMatch) {
  const auto target = tiny_target();
  const DistillData data = target_data(target, 3, 24, 6, {1, 2});
  for (const bool fused : {false, true}) {
  SCOPED_TRACE(fused ? "fused" : "unfused");
  const EagleWeights w = random_eagle_weights(*target, 4, fused ? kFusedLayers : std::vector<std::int32_t>{});
  EagleTrainOptions o;
  o.teacher_weight = 0.6f;
  o.token_weight = 0.3f;
  o.eval_depth = 1;
  const std::vector<std::int32_t> ids = {0, 1, 2};
  const double train = eagle_loss(w.config, eagle_params_from(w), *target, data, ids, o, nullptr);
  const EagleEval e = evaluate_eagle(w, target, data, ids, o);
  EXPECT_NEAR(e.loss, train, 1e-4 * std::abs(train));
  EXPECT_GT(train, 0.1);
  // The float gradient of the mean loss against a float finite difference on a few entries.
  auto p = eagle_params_from(w);
  auto g = p.zeros_like();
  eagle_loss(w.config, p, *target, data, ids, o, &g);
  auto ps = p.tensors();
  const auto gs = std::as_const(g).tensors();
  for (std::size_t k = 0; k < ps.size(); ++k) {
    std::size_t best = 0;  // the entry with the largest gradient: well above float noise
    for (std::size_t i = 0; i < gs[k].size(); ++i) {
      if (std::abs(gs[k][i]) > std::abs(gs[k][best])) best = i;
    }
    const float x0 = ps[k][best], eps = 1e-2f;
    ps[k][best] = x0 + eps;
    const double up = eagle_loss(w.config, p, *target, data, ids, o, nullptr);
    ps[k][best] = x0 - eps;
    const double down = eagle_loss(w.config, p, *target, data, ids, o, nullptr);
    ps[k][best] = x0;
    const double fd = (up - down) / (2.0 * eps);
    EXPECT_NEAR(fd, gs[k][best], 0.05 * std::abs(gs[k][best]) + 1e-5) << "tensor " << k;
  }
  }
}

TEST(EagleTrainer, LearnsDeterministicallyForAnyThreadCount) {
  const auto target = tiny_target(31);
  const DistillData data = target_data(target, 24, 48, 8);
  EagleTrainOptions o;
  o.steps = 150;
  o.batch = 4;
  o.lr = 1e-2f;
  o.eval_every = 0;
  o.eval_depth = 2;
  o.holdout_frac = 0.25f;
  std::vector<EagleWeights> heads;
  std::vector<EagleTrainReport> reps;
  for (const int threads : {1, 2}) {
    o.threads = threads;
    EagleWeights w = random_eagle_weights(*target, 3);
    reps.push_back(train_eagle(w, target, data, o, nullptr));
    heads.push_back(std::move(w));
  }
  const EagleTrainReport& r = reps[0];
  // Learns: lower held-out loss, features much closer to the target's, more tokens right.
  EXPECT_LT(r.heldout.loss, 0.6 * r.initial.loss);
  EXPECT_GT(r.heldout.feature_cos, r.initial.feature_cos + 0.2);
  EXPECT_GT(r.heldout.top1[0], r.initial.top1[0] + 0.1);
  EXPECT_GT(r.heldout.agree1[0], 0.3);
  EXPECT_EQ(r.heldout.top1.size(), 2u);
  EXPECT_GT(r.heldout.n[1], 0);
  // Bit-identical for 1 and 2 threads.
  const auto a = eagle_params_from(heads[0]), b = eagle_params_from(heads[1]);
  const auto ta = a.tensors(), tb = b.tensors();
  for (std::size_t k = 0; k < ta.size(); ++k) {
    ASSERT_TRUE(std::equal(ta[k].begin(), ta[k].end(), tb[k].begin())) << "tensor " << k;
  }
  EXPECT_EQ(reps[0].heldout.top1, reps[1].heldout.top1);
  // Another seed trains another head.
  o.seed = 2;
  EagleWeights other = random_eagle_weights(*target, 3);
  train_eagle(other, target, data, o, nullptr);
  const auto c = eagle_params_from(other);
  EXPECT_FALSE(std::equal(ta[0].begin(), ta[0].end(), c.tensors()[0].begin()));
  // The settings and figures are recorded; the head saves and loads for the target.
  EXPECT_EQ(heads[0].config.training["steps"], 150);
  EXPECT_EQ(heads[0].config.training["heldout_top1_by_depth"].size(), 2u);
  TempDir dir;
  save_eagle_head(heads[0], dir.sub("eagle"));
  const EagleWeights back = load_eagle_head(dir.sub("eagle"), *target);
  EXPECT_EQ(back.config.training["heldout_agree1_by_depth"], heads[0].config.training["heldout_agree1_by_depth"]);
  o.seed = 1;
  o.threads = 1;
  EXPECT_EQ(evaluate_eagle(back, target, data, {std::vector<std::int32_t>{20, 21}}, o).top1,
            evaluate_eagle(heads[0], target, data, {std::vector<std::int32_t>{20, 21}}, o).top1);
}

// A fused head (EAGLE-3-style input, with the training-time test) learns, is bit-identical for
// 1 and 2 threads, and saves and loads with its feature layers and fuse matrix.
TEST(EagleTrainer, FusedHeadLearnsDeterministicallyAndRoundTrips) {
  const auto target = tiny_target(31);
  const DistillData data = target_data(target, 24, 48, 8, {1, 2});
  EagleTrainOptions o;
  o.steps = 150;
  o.batch = 4;
  o.eval_every = 0;
  o.eval_depth = 2;
  o.holdout_frac = 0.25f;
  o.ttt_steps = 2;
  std::vector<EagleWeights> heads;
  std::vector<EagleTrainReport> reps;
  for (const int threads : {1, 2}) {
    o.threads = threads;
    EagleWeights w = random_eagle_weights(*target, 3, kFusedLayers);
    reps.push_back(train_eagle(w, target, data, o, nullptr));
    heads.push_back(std::move(w));
  }
  const EagleTrainReport& r = reps[0];
  EXPECT_LT(r.heldout.loss, 0.6 * r.initial.loss);
  EXPECT_GT(r.heldout.top1[0], r.initial.top1[0] + 0.1);
  EXPECT_GT(r.heldout.top1[1], r.initial.top1[1] + 0.1);
  const auto a = eagle_params_from(heads[0]), b = eagle_params_from(heads[1]);
  const auto ta = a.tensors(), tb = b.tensors();
  ASSERT_EQ(ta.size(), 11u);  // + fuse
  for (std::size_t k = 0; k < ta.size(); ++k) {
    ASSERT_TRUE(std::equal(ta[k].begin(), ta[k].end(), tb[k].begin())) << "tensor " << k;
  }
  // Training moved the fuse matrix.
  const EagleWeights init = random_eagle_weights(*target, 3, kFusedLayers);
  EXPECT_NE(init.fuse.to_f32(), heads[0].fuse.to_f32());
  EXPECT_EQ(heads[0].config.training["feature_layers"], nlohmann::json(kFusedLayers));
  TempDir dir;
  save_eagle_head(heads[0], dir.sub("eagle3"));
  const EagleWeights back = load_eagle_head(dir.sub("eagle3"), *target);
  EXPECT_EQ(back.config.feature_layers, kFusedLayers);
  EXPECT_EQ(back.fuse.to_f32(), heads[0].fuse.to_f32());
  o.threads = 1;
  EXPECT_EQ(evaluate_eagle(back, target, data, {std::vector<std::int32_t>{20, 21}}, o).top1,
            evaluate_eagle(heads[0], target, data, {std::vector<std::int32_t>{20, 21}}, o).top1);
}

TEST(EagleTrainer, ErrorsNameTheProblem) {
  const auto target = tiny_target();
  DistillData data = target_data(target, 2, 16, 5);
  EagleWeights w = random_eagle_weights(*target, 1);
  EagleTrainOptions o;
  o.steps = 1;
  auto expect_error = [&](const std::string& needle) {
    try {
      EagleWeights copy = w;
      train_eagle(copy, target, data, o, nullptr);
      ADD_FAILURE() << "no error, expected one naming " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  o.batch = 0;
  expect_error("batch = 0");
  o.batch = 2;
  o.feature_weight = 0.0f;
  o.token_weight = 0.0f;
  expect_error("at least one loss");
  o.feature_weight = 1.0f;
  o.token_weight = 0.1f;
  DistillData wrong = data;
  wrong.dim = 16;
  std::swap(wrong, data);
  expect_error("dim 16");
  std::swap(wrong, data);
  // A fused head over layers the data did not record, or beyond the target's.
  w = random_eagle_weights(*target, 1, {1, kFinalNormedHidden});
  expect_error("feature layer 1: the distillation data records layers [] only");
  w.config.feature_layers = {1, 3};
  expect_error("feature_layers[1] = 3: the target has 2 layers");
  w = random_eagle_weights(*target, 1);
  for (auto& s : data.seqs) s.tokens.resize(2);
  o.holdout_frac = 0.0f;
  expect_error("at least 3 tokens");
}

}  // namespace
}  // namespace speclab
