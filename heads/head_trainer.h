// Trains a HeadNet (heads/head_net.h) on self-distillation data (heads/distill_data.h) with the
// target frozen.
//
// Examples. Medusa / Hydra head h at position t: input = the target's final-normed hidden of
// token t (Hydra: plus the embeddings of tokens t+1 .. t+h+1, teacher forcing), label = token
// t+h+2, teacher = the target's distribution of that token (recorded at position t+h+1). Exit
// adapter for layer l at position t: input = the residual after l layers of token t, label =
// token t+1, teacher = the target's distribution at t.
//
// Loss per example: soft cross-entropy against (1 - w) onehot(label) + w teacher, i.e. CE on
// the target's own tokens (Medusa-1) plus w times KL(teacher || head) (Hydra++'s teacher loss),
// up to a constant; w = TrainOptions::teacher_weight.
//
// Optimiser: AdamW (decoupled weight decay on matrices, not biases), linear warm-up then cosine
// decay to 0, mini-batches drawn with replacement from the training sequences. Heads have
// disjoint parameters and their own random streams, so they train in parallel (OpenMP over
// heads) and the result depends only on the seed, not on the thread count. The last
// holdout_frac of the sequences (at least one) are held out for accuracy.
#pragma once
#include <array>
#include <cstdint>
#include <ostream>
#include <span>
#include <vector>

#include "heads/distill_data.h"
#include "heads/head_net.h"

namespace speclab {

struct TrainOptions {
  std::int32_t steps = 6000;
  std::int32_t batch = 64;
  float lr = 1e-2f;
  float weight_decay = 0.01f;
  float warmup_frac = 0.05f;
  float teacher_weight = 0.5f;     // w above; 0 = CE only (Medusa-1)
  float holdout_frac = 0.1f;       // 0 = no held-out set (accuracy on the training data)
  std::int32_t eval_every = 500;   // progress + held-out accuracy every N steps (0 = at the end)
  std::int32_t eval_max = 20000;   // held-out examples per head at most (evenly spaced)
  std::uint64_t seed = 1;
  int threads = 1;
  void validate() const;           // throws Error naming the field
};

struct HeadEval {
  std::vector<std::array<double, kTopKTracked>> topk;  // [heads][r]: top-(r+1) accuracy
  std::vector<double> loss;                             // [heads] mean loss
  std::vector<std::int64_t> n_examples;                 // [heads]
};

struct TrainReport {
  HeadEval initial;          // before training (exit adapters: the plain exit), same examples
  HeadEval heldout;          // final, on the held-out sequences (training ones if none)
  double seconds = 0.0;
  std::int64_t train_positions = 0, heldout_positions = 0;
  std::int32_t train_sequences = 0, heldout_sequences = 0;
  // Reference: how often the target's own argmax at t is token t+1 on the held-out sequences
  // (the ceiling a predictor of sampled tokens faces; heads predict further ahead).
  double target_top1 = 0.0;
};

// One training example: position t of sequence seq.
struct HeadExample {
  std::int32_t seq = 0, t = 0;
};

// Examples head h of `net` can learn from in sequences `seq_ids` (positions whose label exists).
std::vector<HeadExample> head_examples(const HeadNet& net, std::int32_t h, const DistillData& data,
                                       std::span<const std::int32_t> seq_ids);

// Mean loss of head h over `examples`; when `grad` is non-null (shaped like net.params(h),
// zeroed by the caller) the gradient of that mean is added to it. This is the exact function
// the trainer minimises (the tests check it against finite differences).
double head_loss(const HeadNet& net, std::int32_t h, const DistillData& data,
                 std::span<const HeadExample> examples, float teacher_weight, HeadParams* grad);

// Evaluates every head of `net` on the sequences `seq_ids` of `data` (at most max_examples per
// head, evenly spaced).
HeadEval evaluate_heads(const HeadNet& net, const DistillData& data,
                        std::span<const std::int32_t> seq_ids, float teacher_weight,
                        std::int32_t max_examples, int threads);

// Trains in place; writes the held-out accuracies into net.mutable_config().topk_accuracy and a
// summary into its `training` JSON. Throws Error when the data does not fit the net (dims,
// missing exit layers) or no head has any training example.
TrainReport train_heads(HeadNet& net, const DistillData& data, const TrainOptions& opts,
                        std::ostream* log);

}  // namespace speclab
