// Trains an EAGLE head (heads/eagle_head.h) on self-distillation data (heads/distill_data.h)
// with the target frozen: the EAGLE-1 objective (Li et al. 2024, section 4.2),
//   L = w_feat * SmoothL1(f̂_{i+1}, f_{i+1}) + w_tok * CE(softmax(C f̂_{i+1}), t_{i+1})
// on teacher-forced features: row i of a sequence reads the target's feature f_i (plus uniform
// noise U(-noise/2, noise/2) per element, EAGLE's data augmentation) and token x_{i+1}, attends
// causally over rows 0..i, and predicts the next feature f_{i+1}; the token target t_{i+1} is
// (1 - w) onehot(x_{i+2}) + w p_target(. | x_0..x_{i+1}) (w = teacher_weight; EAGLE: 1, the
// target's own distribution, kept as its top-T entries). Defaults follow EAGLE (w_feat 1,
// noise 0.2, gradient-norm clip 0.5) except two, chosen on stories260K (README): w_tok 0.5
// (EAGLE: 0.1; on a dim-64 target 0.5 raises held-out depth-1 top-1 from 0.44 to 0.48 and
// leaves depths 2-4 unchanged) and lr 0.01 (EAGLE's 3e-5 is for 7B targets).
//
// Training-time test (EAGLE-3, Li et al. 2025; HASS, Zhang et al. 2024), ttt_steps = S > 1:
// the head also runs S - 1 more passes in which row r reads its own prediction from the pass
// before at row r - 1 and attends to the true rows of its chain's start plus the chain's own
// earlier rows (heads/eagle_grad.h eagle_forward_steps): exactly what depths 2..S of a draft
// tree see; pass s's loss weighs ttt_decay^s, gradients flow through the fed-back features.
//
// Fused features (EagleConfig::feature_layers, EAGLE-3's input): a true row's feature is
// fuse z_i, z_i = token i's rows of those target layers side by side (the data must record the
// residual layers: DistillOptions::layers; kFinalNormedHidden reads DistillSequence::hidden);
// the noise goes on z, fuse trains with the rest, and the feature loss still targets the next
// final-normed feature (the classifier reads f̂).
//
// Forward/backward: heads/eagle_grad.h (checked by finite differences in tests). A mini-batch
// is `batch` whole sequences drawn with replacement from the training ones; each sequence's
// gradient is computed on one thread into its own buffer and the buffers are added in batch
// order, so the result depends on the seed only, not on the thread count. AdamW (b1 0.9, b2
// 0.95 as EAGLE), linear warm-up then cosine decay to 0, weight decay on matrices only.
//
// Held-out evaluation runs the inference code (EagleHead, ops/ kernels) on the last
// holdout_frac of the sequences: depth 1 = teacher-forced features (EAGLE's "0-alpha"
// setting); depth k > 1 feeds the head its own predicted features for k - 1 steps along the
// data tokens ("(k-1)-alpha"), which is what a drafted tree's deeper levels see.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <vector>

#include "heads/distill_data.h"
#include "heads/eagle_grad.h"
#include "heads/eagle_head.h"
#include "model/llama_weights.h"

namespace speclab {

struct EagleTrainOptions {
  std::int32_t steps = 3000;
  std::int32_t batch = 8;           // sequences per step
  float lr = 1e-2f;
  float weight_decay = 0.0f;
  float warmup_frac = 0.05f;
  float feature_weight = 1.0f;      // w_feat
  float token_weight = 0.5f;        // w_tok (EAGLE: 0.1; see the top of the file)
  float teacher_weight = 1.0f;      // w of the token target
  float noise = 0.2f;               // width of the uniform feature noise (0 = none)
  float clip = 0.5f;                // global gradient-norm clip (0 = none)
  std::int32_t ttt_steps = 1;       // training-time test: steps of own fed-back features (1 = EAGLE-1)
  float ttt_decay = 0.8f;           // step s's loss weight ttt_decay^s (EAGLE-3: 0.8)
  float holdout_frac = 0.1f;        // 0 = evaluate on the training sequences
  std::int32_t eval_every = 500;    // progress + held-out accuracy every N steps (0 = at the end)
  std::int32_t eval_max = 20000;    // held-out positions evaluated at most
  std::int32_t eval_depth = 4;      // depths 1..eval_depth reported
  std::uint64_t seed = 1;
  int threads = 1;
  void validate() const;            // throws Error naming the field
};

// Held-out accuracy of the head. Depth k (index k-1): the head predicts token x_{i+k+1} from
// rows 0..i with true features and k-1 rows of its own predicted features (tokens from the data).
struct EagleEval {
  std::vector<double> top1, top5;      // [depth] vs the data token
  std::vector<double> agree1;          // [depth] top-1 equals the target's own argmax there
  std::vector<std::int64_t> n;         // [depth] examples
  double feature_l1 = 0.0;             // depth 1: mean SmoothL1 of f̂ vs f (per element)
  double feature_cos = 0.0;            // depth 1: mean cosine similarity of f̂ and f
  double loss = 0.0;                   // depth 1: the training loss (noise-free) per row (pass 1's)
};

struct EagleTrainReport {
  EagleEval initial, heldout;
  double seconds = 0.0;
  std::int64_t train_positions = 0, heldout_positions = 0;
  std::int32_t train_sequences = 0, heldout_sequences = 0;
  double target_top1 = 0.0;  // how often the target's argmax at t is token t+1 (held out)
};

// Conversions between the file form and the trainer's tensors (fp32).
heads::EagleParams<float> eagle_params_from(const EagleWeights& w);
EagleWeights eagle_weights_from(const EagleConfig& c, const heads::EagleParams<float>& p);

// Sequence `s` of `data` as training rows (L = n - 2 rows; n >= 3): features f_0..f_{L-1}, or
// for a fused head z_0..z_{L-1} (+ noise drawn from `rng` when noise > 0), tokens, feature targets, token targets, RoPE
// tables of positions 0..L-1. Throws Error when the data's dim / vocab differ from the head's.
heads::EagleSequence<float> eagle_sequence(const EagleConfig& c, const LlamaWeights& target,
                                           const DistillData& data, std::int32_t s, float teacher_weight,
                                           float noise, std::uint64_t noise_seed);

// Loss over the rows of sequences `seq_ids` (noise-free; every training-time-test pass, each
// summed over its rows and divided by the rows of pass 1: a mean for ttt_steps = 1); when `grad` is non-null (shaped
// like p, zeroed by the caller) the gradient of that mean is added. The function the trainer
// minimises (with noise), checked against finite differences by the tests.
double eagle_loss(const EagleConfig& c, const heads::EagleParams<float>& p, const LlamaWeights& target,
                  const DistillData& data, std::span<const std::int32_t> seq_ids, const EagleTrainOptions& opts,
                  heads::EagleParams<float>* grad);

// Held-out evaluation through EagleHead (see the top of the file).
EagleEval evaluate_eagle(const EagleWeights& w, std::shared_ptr<const LlamaWeights> target, const DistillData& data,
                         std::span<const std::int32_t> seq_ids, const EagleTrainOptions& opts);

// Trains `w` in place (its config must fit the target and the data); records the settings and
// held-out figures in w.config.training. Throws Error for data that does not fit (dims, no
// sequence of >= 3 tokens).
EagleTrainReport train_eagle(EagleWeights& w, std::shared_ptr<const LlamaWeights> target, const DistillData& data,
                             const EagleTrainOptions& opts, std::ostream* log);

}  // namespace speclab
