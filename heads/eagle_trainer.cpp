#include "heads/eagle_trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "base/rng.h"
#include "heads/adamw.h"
#include "model/rope_frequencies.h"
#include "ops/rope.h"

namespace speclab {

using heads::EagleParams;
using heads::EagleSequence;
using heads::Mat;
using MatF = Mat<float>;
using VecF = heads::Vec<float>;
using Params = EagleParams<float>;

void EagleTrainOptions::validate() const {
  auto range = [](const char* f, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) fail("train-heads: {} = {}: must be in [{}, {}]", f, v, lo, hi);
  };
  range("steps", steps, 0, 10'000'000);
  range("batch", batch, 1, 65536);
  range("lr", lr, 0, 10);
  range("weight_decay", weight_decay, 0, 10);
  range("warmup_frac", warmup_frac, 0, 1);
  range("feature_weight", feature_weight, 0, 1e6);
  range("token_weight", token_weight, 0, 1e6);
  if (feature_weight == 0.0f && token_weight == 0.0f) {
    fail("train-heads: feature_weight = token_weight = 0: at least one loss must count");
  }
  range("teacher_weight", teacher_weight, 0, 1);
  range("noise", noise, 0, 100);
  range("clip", clip, 0, 1e9);
  if (!(holdout_frac >= 0.0f && holdout_frac < 1.0f)) {
    fail("train-heads: holdout_frac = {}: must be in [0, 1)", holdout_frac);
  }
  range("eval_every", eval_every, 0, 1e9);
  range("eval_max", eval_max, 1, 1e9);
  range("eval_depth", eval_depth, 1, 64);
  range("ttt_steps", ttt_steps, 1, 16);
  range("ttt_decay", ttt_decay, 0, 1);
  if (threads < 1) fail("train-heads: threads = {}: must be >= 1", threads);
}

namespace {

// Eigen parallelises a product when the calling OpenMP team has one thread (see
// head_trainer.cpp): pinning this thread's team size to 1 keeps every product sequential.
void single_threaded_eigen() { omp_set_num_threads(1); }

MatF matrix_f32(const WeightMatrix& m) {
  const std::vector<float> v = m.to_f32();
  return Eigen::Map<const MatF>(v.data(), m.rows(), m.cols());
}

VecF vector_f32(const std::vector<float>& v) {
  return Eigen::Map<const VecF>(v.data(), static_cast<Eigen::Index>(v.size()));
}

WeightMatrix to_matrix(const MatF& m) {
  return WeightMatrix::from_f32(m.rows(), m.cols(), std::vector<float>(m.data(), m.data() + m.size()));
}

std::vector<float> to_vector(const VecF& v) { return std::vector<float>(v.data(), v.data() + v.size()); }

void check_fits(const EagleConfig& c, const LlamaWeights& target, const DistillData& data) {
  if (c.dim != target.info.dim || c.vocab != target.info.vocab_size) {
    fail("train-heads: eagle head dim {} / vocab {}: the target {} has dim {} / vocab {}", c.dim, c.vocab,
         target.info.source, target.info.dim, target.info.vocab_size);
  }
  if (data.dim != c.dim || data.vocab != c.vocab) {
    fail("train-heads: distillation data has dim {} / vocab {}: the eagle head has dim {} / vocab {}", data.dim,
         data.vocab, c.dim, c.vocab);
  }
  c.check_feature_layers("train-heads: eagle head", target.info.n_layers);
  for (const std::int32_t h : c.feature_layers) {
    if (h != kFinalNormedHidden && std::find(data.layers.begin(), data.layers.end(), h) == data.layers.end()) {
      fail("train-heads: eagle head feature layer {}: the distillation data records layers [{}] only", h,
           fmt::join(data.layers, ", "));
    }
  }
}

// Where each of c.feature_layers is in a sequence: its hidden (final-normed) or layer_hidden[k].
std::vector<const std::vector<float>*> feature_sources(const EagleConfig& c, const DistillData& data,
                                                       const DistillSequence& q) {
  std::vector<const std::vector<float>*> src;
  for (const std::int32_t h : c.feature_layers) {
    if (h == kFinalNormedHidden) {
      src.push_back(&q.hidden);
    } else {
      const auto k = std::find(data.layers.begin(), data.layers.end(), h) - data.layers.begin();
      src.push_back(&q.layer_hidden[static_cast<std::size_t>(k)]);
    }
  }
  return src;
}

// z_i = token i's rows of the feature layers, concatenated ([F dim] at out).
void gather_features(const std::vector<const std::vector<float>*>& src, std::int32_t d, std::int32_t i, float* out) {
  for (std::size_t l = 0; l < src.size(); ++l) {
    std::copy_n(src[l]->data() + static_cast<std::size_t>(i) * d, d, out + l * d);
  }
}

// The loss of one sequence; its gradient (scaled) goes to `grad` when non-null.
double sequence_loss(const EagleConfig& c, const Params& p, const MatF& C, const LlamaWeights& target,
                     const DistillData& data, std::int32_t s, const EagleTrainOptions& o, float noise,
                     std::uint64_t noise_seed, float scale, Params* grad) {
  const EagleSequence<float> seq = eagle_sequence(c, target, data, s, o.teacher_weight, noise, noise_seed);
  std::vector<heads::EagleActs<float>> acts;
  heads::eagle_forward_steps<float>(c, p, C, seq, o.ttt_steps, acts);
  std::vector<float> step_w(o.ttt_steps);
  for (int k = 0; k < o.ttt_steps; ++k) step_w[k] = static_cast<float>(std::pow(o.ttt_decay, k));
  return heads::eagle_backward_steps<float>(c, p, C, seq, acts, o.feature_weight, o.token_weight, scale, step_w,
                                            grad);
}

std::int32_t rows_of(const DistillData& data, std::int32_t s) { return std::max(0, data.seqs[s].size() - 2); }

// Loss (and gradient) of a batch of sequences, deterministic for any thread count: sequences
// run `threads` at a time, each into its own gradient slot, and the slots are added in batch
// order. `seeds` (one per sequence, or empty for no noise).
double batch_loss(const EagleConfig& c, const Params& p, const MatF& C, const LlamaWeights& target,
                  const DistillData& data, std::span<const std::int32_t> ids, std::span<const std::uint64_t> seeds,
                  const EagleTrainOptions& o, Params* grad, std::vector<Params>& slots) {
  std::int64_t rows = 0;
  for (const auto s : ids) rows += rows_of(data, s);
  if (rows == 0) return 0.0;
  const float scale = 1.0f / static_cast<float>(rows);
  const float noise = seeds.empty() ? 0.0f : o.noise;
  const int P = std::max(1, std::min<int>(o.threads, static_cast<int>(ids.size())));
  if (grad && static_cast<int>(slots.size()) < P) slots.resize(P, grad->zeros_like());
  std::vector<double> losses(ids.size(), 0.0);
  for (std::size_t r0 = 0; r0 < ids.size(); r0 += P) {
    const int m = static_cast<int>(std::min<std::size_t>(P, ids.size() - r0));
    std::vector<Error> errors;
    bool failed = false;
#pragma omp parallel for schedule(static, 1) num_threads(P)
    for (int j = 0; j < m; ++j) {
      single_threaded_eigen();
      try {
        Params* g = nullptr;
        if (grad) {
          for (auto t : slots[j].tensors()) std::fill(t.begin(), t.end(), 0.0f);
          g = &slots[j];
        }
        losses[r0 + j] = sequence_loss(c, p, C, target, data, ids[r0 + j], o, noise,
                                       seeds.empty() ? 0 : seeds[r0 + j], scale, g);
      } catch (const Error& e) {
#pragma omp critical
        {
          failed = true;
          errors.push_back(e);
        }
      }
    }
    if (failed) throw errors.front();
    if (grad) {
      for (int j = 0; j < m; ++j) {
        auto dst = grad->tensors();
        const auto src = std::as_const(slots[j]).tensors();
        for (std::size_t k = 0; k < dst.size(); ++k) {
          for (std::size_t i = 0; i < dst[k].size(); ++i) dst[k][i] += src[k][i];
        }
      }
    }
  }
  double loss = 0.0;
  for (const double l : losses) loss += l;
  return loss;
}

}  // namespace

Params eagle_params_from(const EagleWeights& w) {
  w.validate("eagle head");
  Params p;
  const LlamaLayerWeights& L = w.layer;
  p.fc = matrix_f32(w.fc);
  p.fc_b = vector_f32(w.fc_bias);
  p.attn_norm = vector_f32(L.attn_norm);
  p.wq = matrix_f32(L.wq);
  p.wk = matrix_f32(L.wk);
  p.wv = matrix_f32(L.wv);
  p.bq = vector_f32(L.bq);
  p.bk = vector_f32(L.bk);
  p.bv = vector_f32(L.bv);
  p.wo = matrix_f32(L.wo);
  p.ffn_norm = vector_f32(L.ffn_norm);
  p.w1 = matrix_f32(L.w1);
  p.w3 = matrix_f32(L.w3);
  p.w2 = matrix_f32(L.w2);
  if (w.config.fused()) p.fuse = matrix_f32(w.fuse);
  return p;
}

EagleWeights eagle_weights_from(const EagleConfig& c, const Params& p) {
  EagleWeights w;
  w.config = c;
  LlamaLayerWeights& L = w.layer;
  w.fc = to_matrix(p.fc);
  w.fc_bias = to_vector(p.fc_b);
  L.attn_norm = to_vector(p.attn_norm);
  L.wq = to_matrix(p.wq);
  L.wk = to_matrix(p.wk);
  L.wv = to_matrix(p.wv);
  L.bq = to_vector(p.bq);
  L.bk = to_vector(p.bk);
  L.bv = to_vector(p.bv);
  L.wo = to_matrix(p.wo);
  L.ffn_norm = to_vector(p.ffn_norm);
  L.w1 = to_matrix(p.w1);
  L.w3 = to_matrix(p.w3);
  L.w2 = to_matrix(p.w2);
  if (c.fused()) w.fuse = to_matrix(p.fuse);
  w.validate("eagle head");
  return w;
}

EagleSequence<float> eagle_sequence(const EagleConfig& c, const LlamaWeights& target, const DistillData& data,
                                    std::int32_t s, float teacher_weight, float noise, std::uint64_t noise_seed) {
  check_fits(c, target, data);
  if (s < 0 || s >= static_cast<std::int32_t>(data.seqs.size())) {
    fail("train-heads: sequence {}: the data has {}", s, data.seqs.size());
  }
  const DistillSequence& q = data.seqs[s];
  const std::int32_t n = q.size(), d = c.dim, T = data.teacher_top;
  if (n < 3) fail("train-heads: sequence {} has {} token(s): an EAGLE training row needs 3", s, n);
  if (q.hidden.size() != static_cast<std::size_t>(n) * d ||
      q.teacher_ids.size() != static_cast<std::size_t>(n) * T || q.teacher_p.size() != q.teacher_ids.size()) {
    fail("train-heads: sequence {}: hidden / teacher arrays do not match its {} tokens", s, n);
  }
  const std::int32_t L = n - 2;
  EagleSequence<float> seq;
  seq.u.resize(L, 2 * d);
  seq.feat_target.resize(L, d);
  const auto src = feature_sources(c, data, q);
  for (const auto* v : src) {
    if (v->size() != static_cast<std::size_t>(n) * d) fail("train-heads: sequence {}: layer rows do not match its {} tokens", s, n);
  }
  const std::int32_t fw = c.feature_width();
  // Row-major [L, F d] staging for z (Eigen's Mat is row-major as well: heads/head_layers.h).
  if (c.fused()) seq.z.resize(L, fw);
  Rng rng(noise_seed);
  for (std::int32_t i = 0; i < L; ++i) {
    float* u = seq.u.data() + static_cast<std::size_t>(i) * 2 * d;
    target.token_embedding.dequantize_row(q.tokens[i + 1], u);
    const float* f = q.hidden.data() + static_cast<std::size_t>(i) * d;
    // The noise (EAGLE's augmentation) goes on the true input: f_i, or z_i of a fused head.
    float* in = u + d;
    if (c.fused()) {
      in = seq.z.data() + static_cast<std::size_t>(i) * fw;
      gather_features(src, d, i, in);
      std::fill_n(u + d, d, 0.0f);  // replaced by fuse z_i in the forward
    } else {
      std::copy_n(f, d, in);
    }
    if (noise > 0.0f) {
      for (std::int32_t j = 0; j < fw; ++j) in[j] += static_cast<float>((rng.uniform() - 0.5) * noise);
    }
    std::copy_n(f + d, d, seq.feat_target.data() + static_cast<std::size_t>(i) * d);
  }
  // RoPE tables exactly as EagleHead computes them (the target's scaling, the head's theta).
  ModelInfo rope = target.info;
  rope.rope_theta = c.rope_theta;
  rope.head_dim = c.head_dim;
  const std::vector<float> inv_freq = rope_inv_frequencies(rope);
  std::vector<std::int32_t> pos(L);
  for (std::int32_t i = 0; i < L; ++i) pos[i] = i;
  const std::int32_t half = c.head_dim / 2;
  seq.cos.resize(L, half);
  seq.sin.resize(L, half);
  rope_tables(pos, inv_freq, seq.cos.data(), seq.sin.data());
  // Token targets: (1 - w) onehot(x_{i+2}) + w teacher(i+1).
  seq.per_row = T + 1;
  seq.t_ids.resize(static_cast<std::size_t>(L) * seq.per_row);
  seq.t_p.resize(seq.t_ids.size());
  for (std::int32_t i = 0; i < L; ++i) {
    const std::size_t at = static_cast<std::size_t>(i) * seq.per_row;
    seq.t_ids[at] = q.tokens[i + 2];
    seq.t_p[at] = 1.0f - teacher_weight;
    for (std::int32_t k = 0; k < T; ++k) {
      const std::size_t src = static_cast<std::size_t>(i + 1) * T + k;
      seq.t_ids[at + 1 + k] = q.teacher_ids[src];
      seq.t_p[at + 1 + k] = teacher_weight * q.teacher_p[src];
    }
  }
  return seq;
}

double eagle_loss(const EagleConfig& c, const Params& p, const LlamaWeights& target, const DistillData& data,
                  std::span<const std::int32_t> seq_ids, const EagleTrainOptions& opts, Params* grad) {
  const MatF C = matrix_f32(target.classifier_matrix());
  std::vector<Params> slots;
  return batch_loss(c, p, C, target, data, seq_ids, {}, opts, grad, slots);
}

namespace {

// Evaluation counts of one sequence (added in sequence order).
struct EvalSums {
  std::vector<std::int64_t> top1, top5, agree1, n;
  double l1 = 0.0, cos = 0.0, loss = 0.0;
  std::int64_t rows = 0;
  explicit EvalSums(int depth) : top1(depth), top5(depth), agree1(depth), n(depth) {}
};

std::int32_t rank_of(std::span<const float> z, Token y) {
  const float ly = z[y];
  std::int32_t rank = 0;
  for (std::size_t j = 0; j < z.size() && rank < 5; ++j) {
    if (z[j] > ly || (z[j] == ly && static_cast<Token>(j) < y)) ++rank;
  }
  return rank;
}

Token argmax_of(std::span<const float> z) {
  return static_cast<Token>(std::max_element(z.begin(), z.end()) - z.begin());
}

void eval_sequence(EagleHead& head, const DistillData& data, std::int32_t s, const EagleTrainOptions& o,
                   EvalSums& e) {
  const DistillSequence& q = data.seqs[s];
  const std::int32_t n = q.size(), d = data.dim, V = data.vocab, T = data.teacher_top, D = o.eval_depth;
  if (n < 3) return;
  const EagleConfig& c = head.config();
  std::vector<float> cur(d), next(d), z(V), fused(d), layers(c.feature_width());
  const auto src = feature_sources(c, data, q);
  head.truncate(0);
  for (std::int32_t i = 0; i + 2 < n; ++i) {
    head.truncate(i);
    const float* f = q.hidden.data() + static_cast<std::size_t>(i) * d;
    if (c.fused()) {
      gather_features(src, d, i, layers.data());
      head.fuse(layers, 1, fused);
      f = fused.data();
    }
    const Token tok = q.tokens[i + 1];
    const std::int32_t pos = i;
    head.append(std::span<const float>(f, d), std::span<const Token>(&tok, 1), std::span<const std::int32_t>(&pos, 1),
                next);
    for (std::int32_t k = 1; k <= D && i + k + 1 < n; ++k) {
      // `next` predicts feature f_{i+k} and token x_{i+k+1}.
      head.logits(next, 1, z);
      const Token y = q.tokens[i + k + 1];
      const std::int32_t r = rank_of(z, y);
      e.top1[k - 1] += r == 0;
      e.top5[k - 1] += r < 5;
      const Token am = argmax_of(z);
      e.agree1[k - 1] += am == q.teacher_ids[static_cast<std::size_t>(i + k) * T];
      ++e.n[k - 1];
      if (k == 1) {
        const float* ft = q.hidden.data() + static_cast<std::size_t>(i + 1) * d;
        double l1 = 0.0, dot = 0.0, na = 0.0, nb = 0.0;
        for (std::int32_t j = 0; j < d; ++j) {
          const double err = static_cast<double>(next[j]) - ft[j], ae = std::abs(err);
          l1 += ae < 1.0 ? 0.5 * err * err : ae - 0.5;
          dot += static_cast<double>(next[j]) * ft[j];
          na += static_cast<double>(next[j]) * next[j];
          nb += static_cast<double>(ft[j]) * ft[j];
        }
        l1 /= d;
        const double cs = na > 0.0 && nb > 0.0 ? dot / std::sqrt(na * nb) : 0.0;
        // The training loss of this row (noise-free).
        const double mx = *std::max_element(z.begin(), z.end());
        double se = 0.0;
        for (const float v : z) se += std::exp(static_cast<double>(v) - mx);
        const double lse = mx + std::log(se);
        double ce = (1.0 - o.teacher_weight) * (lse - z[y]);
        for (std::int32_t t = 0; t < T; ++t) {
          const std::size_t at = static_cast<std::size_t>(i + 1) * T + t;
          ce += o.teacher_weight * q.teacher_p[at] * (lse - z[q.teacher_ids[at]]);
        }
        e.l1 += l1;
        e.cos += cs;
        e.loss += o.feature_weight * l1 + o.token_weight * ce;
        ++e.rows;
      }
      if (k == D || i + k + 2 >= n) break;
      // Feed the prediction back: row (f̂_{i+k}, x_{i+k+1}) at position i+k.
      cur = next;
      const Token t2 = q.tokens[i + k + 1];
      const std::int32_t p2 = i + k;
      head.append(cur, std::span<const Token>(&t2, 1), std::span<const std::int32_t>(&p2, 1), next);
    }
  }
}

}  // namespace

EagleEval evaluate_eagle(const EagleWeights& w, std::shared_ptr<const LlamaWeights> target, const DistillData& data,
                         std::span<const std::int32_t> seq_ids, const EagleTrainOptions& opts) {
  check_fits(w.config, *target, data);
  // A prefix of the sequences holding at most eval_max positions (at least one sequence).
  std::vector<std::int32_t> use;
  std::int64_t positions = 0;
  for (const auto s : seq_ids) {
    if (!use.empty() && positions + rows_of(data, s) > opts.eval_max) break;
    use.push_back(s);
    positions += rows_of(data, s);
  }
  auto shared = std::make_shared<const EagleWeights>(w);
  const int D = opts.eval_depth;
  std::vector<EvalSums> sums(use.size(), EvalSums(D));
  const int threads = std::max(1, std::min<int>(opts.threads, static_cast<int>(use.size())));
  std::vector<Error> errors;
  bool failed = false;
#pragma omp parallel num_threads(threads)
  {
    single_threaded_eigen();
    EagleHead head(shared, target, 1);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t j = 0; j < use.size(); ++j) {
      try {
        eval_sequence(head, data, use[j], opts, sums[j]);
      } catch (const Error& e) {
#pragma omp critical
        {
          failed = true;
          errors.push_back(e);
        }
      }
    }
  }
  if (failed) throw errors.front();
  EvalSums all(D);
  for (const EvalSums& s : sums) {
    for (int k = 0; k < D; ++k) {
      all.top1[k] += s.top1[k];
      all.top5[k] += s.top5[k];
      all.agree1[k] += s.agree1[k];
      all.n[k] += s.n[k];
    }
    all.l1 += s.l1;
    all.cos += s.cos;
    all.loss += s.loss;
    all.rows += s.rows;
  }
  EagleEval e;
  for (int k = 0; k < D; ++k) {
    const double n = static_cast<double>(std::max<std::int64_t>(all.n[k], 1));
    e.top1.push_back(all.top1[k] / n);
    e.top5.push_back(all.top5[k] / n);
    e.agree1.push_back(all.agree1[k] / n);
    e.n.push_back(all.n[k]);
  }
  const double rows = static_cast<double>(std::max<std::int64_t>(all.rows, 1));
  e.feature_l1 = all.l1 / rows;
  e.feature_cos = all.cos / rows;
  e.loss = all.loss / rows;
  return e;
}

namespace {

std::string fmt_row(const std::vector<double>& v) {
  std::string s;
  for (const double x : v) s += fmt::format(" {:.3f}", x);
  return s;
}

}  // namespace

EagleTrainReport train_eagle(EagleWeights& w, std::shared_ptr<const LlamaWeights> target, const DistillData& data,
                             const EagleTrainOptions& opts, std::ostream* log) {
  opts.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const EagleConfig cfg = w.config;
  check_fits(cfg, *target, data);
  const DistillSplit split = split_holdout(data, opts.holdout_frac, 3);  // an EAGLE row needs 3 tokens
  const std::vector<std::int32_t>& train_ids = split.train;
  const std::vector<std::int32_t>& hold_ids = split.heldout;
  if (train_ids.empty()) fail("train-heads: no training sequence of at least 3 tokens (an EAGLE row needs 3)");
  EagleTrainReport rep;
  rep.train_sequences = static_cast<std::int32_t>(train_ids.size());
  rep.heldout_sequences = split.n_heldout;
  rep.train_positions = split.train_positions;
  rep.heldout_positions = split.heldout_positions;

  Params p = eagle_params_from(w);
  Params grad = p.zeros_like();
  std::vector<Params> slots;
  std::vector<std::vector<float>> m, v;
  for (auto t : p.tensors()) {
    m.emplace_back(t.size(), 0.0f);
    v.emplace_back(t.size(), 0.0f);
  }
  const MatF C = matrix_f32(target->classifier_matrix());
  const std::size_t vec_max = static_cast<std::size_t>(std::max(cfg.dim, cfg.n_heads * cfg.head_dim));
  rep.initial = evaluate_eagle(w, target, data, hold_ids, opts);
  const heads::AdamBetas betas{0.9f, 0.95f, 1e-8f};
  if (log) {
    *log << fmt::format("train-heads: eagle head, {} train sequences ({} positions), {} held out ({} positions), "
                        "{} steps x {} sequences\n",
                        rep.train_sequences, rep.train_positions, rep.heldout_sequences, rep.heldout_positions,
                        opts.steps, opts.batch);
  }
  Rng rng(opts.seed * 0x9E3779B97F4A7C15ull + 0xEA61E);
  std::vector<std::int32_t> batch(opts.batch);
  std::vector<std::uint64_t> seeds(opts.batch);
  double run_loss = 0.0;
  std::int32_t run_n = 0;
  for (std::int32_t step = 0; step < opts.steps; ++step) {
    for (std::int32_t b = 0; b < opts.batch; ++b) {
      batch[b] = train_ids[rng.below(train_ids.size())];
      seeds[b] = rng.next_u64();
    }
    for (auto t : grad.tensors()) std::fill(t.begin(), t.end(), 0.0f);
    run_loss += batch_loss(cfg, p, C, *target, data, batch, opts.noise > 0.0f ? std::span<const std::uint64_t>(seeds)
                                                                               : std::span<const std::uint64_t>(),
                           opts, &grad, slots);
    ++run_n;
    if (opts.clip > 0.0f) {
      double sq = 0.0;
      for (const auto t : std::as_const(grad).tensors()) {
        for (const float x : t) sq += static_cast<double>(x) * x;
      }
      const double norm = std::sqrt(sq);
      if (norm > opts.clip) {
        const float f = static_cast<float>(opts.clip / norm);
        for (auto t : grad.tensors()) {
          for (float& x : t) x *= f;
        }
      }
    }
    const float lr = heads::warmup_cosine_lr(opts.lr, step, opts.steps, opts.warmup_frac);
    const float bc1 = 1.0f - std::pow(betas.b1, static_cast<float>(step + 1));
    const float bc2 = 1.0f - std::pow(betas.b2, static_cast<float>(step + 1));
    auto ps = p.tensors();
    const auto gs = std::as_const(grad).tensors();
    for (std::size_t k = 0; k < ps.size(); ++k) {
      const bool decay = ps[k].size() > vec_max;  // matrices, not norms or biases
      heads::adam_update(ps[k], gs[k], m[k], v[k], lr, bc1, bc2, decay ? opts.weight_decay : 0.0f, betas);
    }
    const bool last = step + 1 == opts.steps;
    if (log && (last || (opts.eval_every > 0 && (step + 1) % opts.eval_every == 0))) {
      EagleTrainOptions quick = opts;
      quick.eval_max = std::min(opts.eval_max, 4000);
      const EagleEval e = evaluate_eagle(eagle_weights_from(cfg, p), target, data, hold_ids, quick);
      *log << fmt::format("step {}/{} lr {:.2e} train loss {:.4f} held-out loss {:.4f} feature cos {:.3f} "
                          "top-1 by depth [{}] agree-1 [{}]\n",
                          step + 1, opts.steps, lr, run_loss / run_n, e.loss, e.feature_cos, fmt_row(e.top1),
                          fmt_row(e.agree1));
      run_loss = 0.0;
      run_n = 0;
    }
  }
  w = eagle_weights_from(cfg, p);
  rep.heldout = evaluate_eagle(w, target, data, hold_ids, opts);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.target_top1 = target_top1(data, hold_ids);
  nlohmann::json& tr = w.config.training;
  tr["objective"] = "eagle-1: feature smooth-L1 + token cross-entropy";
  tr["feature_layers"] = cfg.feature_layers;
  tr["steps"] = opts.steps;
  tr["batch"] = opts.batch;
  tr["lr"] = opts.lr;
  tr["weight_decay"] = opts.weight_decay;
  tr["feature_weight"] = opts.feature_weight;
  tr["token_weight"] = opts.token_weight;
  tr["teacher_weight"] = opts.teacher_weight;
  tr["noise"] = opts.noise;
  tr["clip"] = opts.clip;
  tr["ttt_steps"] = opts.ttt_steps;
  tr["ttt_decay"] = opts.ttt_decay;
  tr["seed"] = opts.seed;
  tr["train_sequences"] = rep.train_sequences;
  tr["train_positions"] = rep.train_positions;
  tr["heldout_sequences"] = rep.heldout_sequences;
  tr["heldout_positions"] = rep.heldout_positions;
  tr["heldout_top1_by_depth"] = rep.heldout.top1;
  tr["heldout_top5_by_depth"] = rep.heldout.top5;
  tr["heldout_agree1_by_depth"] = rep.heldout.agree1;
  tr["heldout_feature_cos"] = rep.heldout.feature_cos;
  tr["heldout_feature_l1"] = rep.heldout.feature_l1;
  tr["heldout_loss"] = rep.heldout.loss;
  tr["initial_heldout_loss"] = rep.initial.loss;
  tr["initial_heldout_top1_by_depth"] = rep.initial.top1;
  tr["target_top1"] = rep.target_top1;
  tr["seconds"] = rep.seconds;
  if (log) {
    *log << fmt::format("train-heads: held-out top-1 by depth [{}] (initial [{}]), agree-1 [{}], feature cos {:.3f}, "
                        "target's own top-1 {:.3f}, {:.1f} s\n",
                        fmt_row(rep.heldout.top1), fmt_row(rep.initial.top1), fmt_row(rep.heldout.agree1),
                        rep.heldout.feature_cos, rep.target_top1, rep.seconds);
  }
  return rep;
}

}  // namespace speclab
