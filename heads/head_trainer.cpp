#include "heads/head_trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "base/rng.h"
#include "heads/adamw.h"
#include "heads/head_layers.h"

namespace speclab {

using heads::Mat;
using MatF = Mat<float>;
using VecF = heads::Vec<float>;
using ColF = Eigen::Matrix<float, Eigen::Dynamic, 1>;
using CMap = Eigen::Map<const MatF>;
using CMapV = Eigen::Map<const VecF>;
using MapM = Eigen::Map<MatF>;
using MapV = Eigen::Map<VecF>;

void TrainOptions::validate() const {
  if (steps < 0 || steps > 10'000'000) fail("train-heads: steps = {}: must be in [0, 10000000]", steps);
  if (batch < 1 || batch > 65536) fail("train-heads: batch = {}: must be in [1, 65536]", batch);
  if (!(lr > 0.0f) || lr > 1.0f) fail("train-heads: lr = {}: must be in (0, 1]", lr);
  if (!(weight_decay >= 0.0f) || weight_decay > 1.0f) {
    fail("train-heads: weight_decay = {}: must be in [0, 1]", weight_decay);
  }
  if (!(warmup_frac >= 0.0f) || warmup_frac >= 1.0f) {
    fail("train-heads: warmup_frac = {}: must be in [0, 1)", warmup_frac);
  }
  if (!(teacher_weight >= 0.0f) || teacher_weight > 1.0f) {
    fail("train-heads: teacher_weight = {}: must be in [0, 1]", teacher_weight);
  }
  if (!(holdout_frac >= 0.0f) || holdout_frac >= 1.0f) {
    fail("train-heads: holdout_frac = {}: must be in [0, 1)", holdout_frac);
  }
  if (eval_every < 0) fail("train-heads: eval_every = {}: must be >= 0", eval_every);
  if (eval_max < 1) fail("train-heads: eval_max = {}: must be >= 1", eval_max);
  if (threads < 1) fail("train-heads: threads = {}: must be >= 1", threads);
}

namespace {

// Eigen parallelises a product when the calling OpenMP team has one thread, and its blocking
// (so the float summation order) then depends on the thread count. Heads run one per thread;
// setting this thread's nthreads ICV to 1 (thread-local, restored when the region ends) keeps
// every product sequential, so results depend on the seed only.
void single_threaded_eigen() { omp_set_num_threads(1); }

// Where head h's input lives in the data, and how far ahead its label is.
struct HeadSource {
  std::int32_t layer_slot = -1;  // index into DistillSequence::layer_hidden; -1 = final hidden
  std::int32_t ahead = 1;        // label = token t + ahead; teacher recorded at t + ahead - 1
};

HeadSource head_source(const HeadNet& net, std::int32_t h, const DistillData& data) {
  const HeadConfig& c = net.config();
  if (data.dim != c.dim || data.vocab != c.vocab) {
    fail("train-heads: data recorded from a model with dim {} / vocab {}, heads have dim {} / vocab {}",
         data.dim, data.vocab, c.dim, c.vocab);
  }
  HeadSource s;
  if (c.kind == HeadKind::kExitAdapter) {
    const std::int32_t l = c.exit_layers[h];
    const auto it = std::find(data.layers.begin(), data.layers.end(), l);
    if (it == data.layers.end()) {
      fail("train-heads: exit layer {} was not recorded in the distillation data (layers: {})", l,
           fmt::format("{}", fmt::join(data.layers, ",")));
    }
    s.layer_slot = static_cast<std::int32_t>(it - data.layers.begin());
    s.ahead = 1;
  } else {
    s.ahead = h + 2;
  }
  return s;
}

}  // namespace

std::vector<HeadExample> head_examples(const HeadNet& net, std::int32_t h, const DistillData& data,
                                       std::span<const std::int32_t> seq_ids) {
  const HeadSource src = head_source(net, h, data);
  std::vector<HeadExample> ex;
  for (const std::int32_t s : seq_ids) {
    const std::int32_t n = data.seqs[s].size();
    for (std::int32_t t = 0; t + src.ahead < n; ++t) ex.push_back({s, t});
  }
  return ex;
}

namespace {

// Forward (and optionally backward) of head h on a batch. Returns the summed weighted loss;
// `logits_out` (optional) receives the logits.
double run_head(const HeadNet& net, std::int32_t h, const DistillData& data,
                std::span<const HeadExample> ex, float w, float row_weight, HeadParams* grad,
                MatF* logits_out) {
  const HeadConfig& c = net.config();
  const HeadParams& p = net.params(h);
  const HeadSource src = head_source(net, h, data);
  const std::int32_t B = static_cast<std::int32_t>(ex.size()), d = c.dim, V = c.vocab;
  const std::int32_t in = c.input_dim(h);
  MatF x0(B, in);
  for (std::int32_t i = 0; i < B; ++i) {
    const DistillSequence& s = data.seqs[ex[i].seq];
    const std::vector<float>& hid = src.layer_slot < 0 ? s.hidden : s.layer_hidden[src.layer_slot];
    x0.block(i, 0, 1, d) = CMapV(hid.data() + static_cast<std::size_t>(ex[i].t) * d, d);
    if (c.kind == HeadKind::kHydra) {
      const auto& emb = net.target().token_embedding;
      for (std::int32_t k = 0; k <= h; ++k) {
        const Token tok = s.tokens[ex[i].t + 1 + k];
        emb.dequantize_row(tok, x0.data() + static_cast<std::size_t>(i) * in + (k + 1) * d);
      }
    }
  }
  // Forward.
  MatF x;
  if (c.kind == HeadKind::kHydra) {
    heads::linear_forward<float>(x0, CMap(p.proj_w.data(), d, in), CMapV(p.proj_b.data(), d), x);
  } else {
    x = x0;
  }
  std::vector<MatF> xs(c.n_blocks), zs(c.n_blocks);
  for (std::int32_t b = 0; b < c.n_blocks; ++b) {
    xs[b] = x;
    heads::residual_forward<float>(xs[b], CMap(p.block_w[b].data(), d, d), CMapV(p.block_b[b].data(), d),
                                   zs[b], x);
  }
  const bool adapter = c.kind == HeadKind::kExitAdapter;
  // Exit adapters train through the target's own classifier (fp32 view; other stored types are
  // dequantised for the trainer).
  const WeightMatrix& tc = net.target().classifier_matrix();
  std::vector<float> tc_f32;
  if (adapter && tc.dtype() != DType::kF32) tc_f32 = tc.to_f32();
  const float* c_data = !adapter ? p.classifier.data() : tc.dtype() == DType::kF32 ? tc.f32() : tc_f32.data();
  const CMap C(c_data, V, d);
  MatF normed;
  ColF inv_r;
  const CMapV g(net.target().final_norm.data(), d);
  if (adapter) heads::rmsnorm_forward<float>(x, g, net.target().info.norm_eps, normed, inv_r);
  const MatF& feat = adapter ? normed : x;
  MatF z = feat * C.transpose();
  if (logits_out) *logits_out = z;
  // Target distribution rows.
  MatF tgt = MatF::Zero(B, V);
  const std::int32_t T = data.teacher_top;
  for (std::int32_t i = 0; i < B; ++i) {
    const DistillSequence& s = data.seqs[ex[i].seq];
    const std::int32_t tt = ex[i].t + src.ahead;
    tgt(i, s.tokens[tt]) += 1.0f - w;
    if (w > 0.0f) {
      const std::size_t base = static_cast<std::size_t>(tt - 1) * T;
      for (std::int32_t k = 0; k < T; ++k) tgt(i, s.teacher_ids[base + k]) += w * s.teacher_p[base + k];
    }
  }
  const ColF row_w = ColF::Constant(B, row_weight);
  const double loss = heads::soft_xent<float>(z, tgt, row_w);  // z := dL/dz
  if (!grad) return loss;
  // Backward.
  MatF dx;
  if (adapter) {
    const MatF dn = z * C;
    heads::rmsnorm_backward<float>(x, g, inv_r, dn, dx);
  } else {
    MapM(grad->classifier.data(), V, d).noalias() += z.transpose() * x;
    dx = z * C;
  }
  MatF dz;
  for (std::int32_t b = c.n_blocks - 1; b >= 0; --b) {
    MapM gw(grad->block_w[b].data(), d, d);
    MapV gb(grad->block_b[b].data(), d);
    heads::residual_backward<float>(xs[b], zs[b], CMap(p.block_w[b].data(), d, d), dx, gw, gb, dz);
  }
  if (c.kind == HeadKind::kHydra) {
    MapM gw(grad->proj_w.data(), d, in);
    MapV gb(grad->proj_b.data(), d);
    heads::linear_backward<float>(dx, x0, CMap(p.proj_w.data(), d, in), gw, gb, nullptr);
  }
  return loss;
}

HeadParams zeros_like(const HeadParams& p) {
  HeadParams z = p;
  for (auto t : z.tensors()) std::fill(t.begin(), t.end(), 0.0f);
  return z;
}

}  // namespace

double head_loss(const HeadNet& net, std::int32_t h, const DistillData& data,
                 std::span<const HeadExample> examples, float teacher_weight, HeadParams* grad) {
  if (examples.empty()) return 0.0;
  return run_head(net, h, data, examples, teacher_weight, 1.0f / static_cast<float>(examples.size()),
                  grad, nullptr);
}

HeadEval evaluate_heads(const HeadNet& net, const DistillData& data,
                        std::span<const std::int32_t> seq_ids, float teacher_weight,
                        std::int32_t max_examples, int threads) {
  const std::int32_t K = net.n_heads();
  HeadEval e;
  e.topk.assign(K, {});
  e.loss.assign(K, 0.0);
  e.n_examples.assign(K, 0);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::int32_t h = 0; h < K; ++h) {
    single_threaded_eigen();
    std::vector<HeadExample> all = head_examples(net, h, data, seq_ids);
    std::vector<HeadExample> ex;
    if (static_cast<std::int32_t>(all.size()) > max_examples) {
      for (std::int32_t i = 0; i < max_examples; ++i) {
        ex.push_back(all[static_cast<std::size_t>(i) * all.size() / max_examples]);
      }
    } else {
      ex = std::move(all);
    }
    std::array<std::int64_t, kTopKTracked> hits{};
    double loss = 0.0;
    constexpr std::size_t kChunk = 256;
    MatF logits;
    for (std::size_t start = 0; start < ex.size(); start += kChunk) {
      const std::size_t n = std::min(kChunk, ex.size() - start);
      const std::span<const HeadExample> part(ex.data() + start, n);
      loss += run_head(net, h, data, part, teacher_weight, 1.0f, nullptr, &logits);
      const HeadSource src = head_source(net, h, data);
      for (std::size_t i = 0; i < n; ++i) {
        const Token y = data.seqs[part[i].seq].tokens[part[i].t + src.ahead];
        const float ly = logits(static_cast<Eigen::Index>(i), y);
        std::int32_t rank = 0;  // tokens strictly better, ties broken towards lower ids
        for (std::int32_t j = 0; j < logits.cols() && rank < kTopKTracked; ++j) {
          const float lj = logits(static_cast<Eigen::Index>(i), j);
          if (lj > ly || (lj == ly && j < y)) ++rank;
        }
        for (std::int32_t r = rank; r < kTopKTracked; ++r) ++hits[r];
      }
    }
    e.n_examples[h] = static_cast<std::int64_t>(ex.size());
    e.loss[h] = ex.empty() ? 0.0 : loss / static_cast<double>(ex.size());
    for (int r = 0; r < kTopKTracked; ++r) {
      e.topk[h][r] = ex.empty() ? 0.0 : static_cast<double>(hits[r]) / static_cast<double>(ex.size());
    }
  }
  return e;
}

namespace {

using heads::adam_update;

struct AdamState {
  std::vector<std::vector<float>> m, v;
};

std::string fmt_row(const std::vector<double>& v, const char* f) {
  std::string s;
  for (const double x : v) s += fmt::format(fmt::runtime(f), x);
  return s;
}

}  // namespace

TrainReport train_heads(HeadNet& net, const DistillData& data, const TrainOptions& opts,
                        std::ostream* log) {
  opts.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const std::int32_t K = net.n_heads();
  const DistillSplit split = split_holdout(data, opts.holdout_frac);
  const std::vector<std::int32_t>& train_ids = split.train;
  const std::vector<std::int32_t>& hold_ids = split.heldout;
  TrainReport rep;
  rep.train_sequences = static_cast<std::int32_t>(train_ids.size());
  rep.heldout_sequences = split.n_heldout;
  rep.train_positions = split.train_positions;
  rep.heldout_positions = split.heldout_positions;

  std::vector<std::vector<HeadExample>> train_ex(K);
  for (std::int32_t h = 0; h < K; ++h) {
    train_ex[h] = head_examples(net, h, data, train_ids);
    if (train_ex[h].empty()) {
      fail("train-heads: head {} has no training example (sequences too short for its offset)", h);
    }
  }
  std::vector<AdamState> adam(K);
  std::vector<HeadParams> grads(K);
  std::vector<Rng> rngs;
  for (std::int32_t h = 0; h < K; ++h) {
    for (auto t : net.params(h).tensors()) {
      adam[h].m.emplace_back(t.size(), 0.0f);
      adam[h].v.emplace_back(t.size(), 0.0f);
    }
    grads[h] = zeros_like(net.params(h));
    rngs.emplace_back(opts.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(h) + 1);
  }
  rep.initial = evaluate_heads(net, data, hold_ids, opts.teacher_weight, opts.eval_max, opts.threads);
  std::vector<double> run_loss(K, 0.0);
  std::int32_t run_n = 0;
  const float b1 = 0.9f, b2 = 0.999f;
  if (log) {
    *log << fmt::format("train-heads: {} {} heads x {} blocks, {} train sequences ({} positions), {} held out ({} positions), {} steps x batch {}\n",
                        to_string(net.config().kind), K, net.config().n_blocks, rep.train_sequences,
                        rep.train_positions, rep.heldout_sequences, rep.heldout_positions, opts.steps, opts.batch);
  }
  for (std::int32_t step = 0; step < opts.steps; ++step) {
    const float lr = heads::warmup_cosine_lr(opts.lr, step, opts.steps, opts.warmup_frac);
    const float bc1 = 1.0f - std::pow(b1, static_cast<float>(step + 1));
    const float bc2 = 1.0f - std::pow(b2, static_cast<float>(step + 1));
#pragma omp parallel for schedule(dynamic, 1) num_threads(opts.threads)
    for (std::int32_t h = 0; h < K; ++h) {
      single_threaded_eigen();
      std::vector<HeadExample> batch(static_cast<std::size_t>(opts.batch));
      for (auto& e : batch) e = train_ex[h][rngs[h].below(train_ex[h].size())];
      for (auto t : grads[h].tensors()) std::fill(t.begin(), t.end(), 0.0f);
      run_loss[h] += head_loss(net, h, data, batch, opts.teacher_weight, &grads[h]);
      auto ps = net.params(h).tensors();
      auto gs = grads[h].tensors();
      for (std::size_t k = 0; k < ps.size(); ++k) {
        // Decay matrices (and classifier copies), not biases: a bias is a [dim] tensor.
        const bool decay = ps[k].size() > static_cast<std::size_t>(net.config().dim);
        adam_update(ps[k], gs[k], adam[h].m[k], adam[h].v[k], lr, bc1, bc2,
                    decay ? opts.weight_decay : 0.0f);
      }
    }
    ++run_n;
    const bool last = step + 1 == opts.steps;
    if (log && (last || (opts.eval_every > 0 && (step + 1) % opts.eval_every == 0))) {
      std::vector<double> mean(K);
      for (std::int32_t h = 0; h < K; ++h) mean[h] = run_loss[h] / run_n;
      const HeadEval e = evaluate_heads(net, data, hold_ids, opts.teacher_weight,
                                        std::min(opts.eval_max, 4000), opts.threads);
      std::vector<double> top1(K), top5(K);
      for (std::int32_t h = 0; h < K; ++h) {
        top1[h] = e.topk[h][0];
        top5[h] = e.topk[h][4];
      }
      *log << fmt::format("step {}/{} lr {:.2e} train loss [{}] held-out loss [{}] top-1 [{}] top-5 [{}]\n",
                          step + 1, opts.steps, lr, fmt_row(mean, " {:.3f}"), fmt_row(e.loss, " {:.3f}"),
                          fmt_row(top1, " {:.3f}"), fmt_row(top5, " {:.3f}"));
      std::fill(run_loss.begin(), run_loss.end(), 0.0);
      run_n = 0;
    }
  }
  rep.heldout = evaluate_heads(net, data, hold_ids, opts.teacher_weight, opts.eval_max, opts.threads);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.target_top1 = target_top1(data, hold_ids);
  HeadConfig& cfg = net.mutable_config();
  cfg.topk_accuracy = rep.heldout.topk;
  cfg.training["steps"] = opts.steps;
  cfg.training["batch"] = opts.batch;
  cfg.training["lr"] = opts.lr;
  cfg.training["weight_decay"] = opts.weight_decay;
  cfg.training["teacher_weight"] = opts.teacher_weight;
  cfg.training["seed"] = opts.seed;
  cfg.training["train_sequences"] = rep.train_sequences;
  cfg.training["train_positions"] = rep.train_positions;
  cfg.training["heldout_sequences"] = rep.heldout_sequences;
  cfg.training["heldout_positions"] = rep.heldout_positions;
  cfg.training["heldout_loss"] = rep.heldout.loss;
  cfg.training["initial_heldout_loss"] = rep.initial.loss;
  {
    std::vector<double> top1;
    for (const auto& a : rep.initial.topk) top1.push_back(a[0]);
    cfg.training["initial_heldout_top1"] = top1;
  }
  cfg.training["train_seconds"] = rep.seconds;
  cfg.training["heldout_target_top1"] = rep.target_top1;
  if (log) {
    for (std::int32_t h = 0; h < K; ++h) {
      *log << fmt::format("head {}: held-out top-1 {:.3f} top-5 {:.3f} loss {:.3f} ({} examples); "
                          "before training top-1 {:.3f} top-5 {:.3f} loss {:.3f}\n",
                          h, rep.heldout.topk[h][0], rep.heldout.topk[h][4], rep.heldout.loss[h],
                          rep.heldout.n_examples[h], rep.initial.topk[h][0], rep.initial.topk[h][4],
                          rep.initial.loss[h]);
    }
    *log << fmt::format("reference: the target's own top-1 on the held-out next tokens is {:.3f}\n",
                        rep.target_top1);
    *log << fmt::format("train-heads: trained in {:.1f} s\n", rep.seconds);
  }
  return rep;
}

}  // namespace speclab
