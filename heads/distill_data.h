// Self-distillation data for the head trainer (heads/head_trainer.h): the frozen target runs
// over token sequences — continuations it samples itself from a prompt set (Medusa-2 / Hydra
// style self-distillation) or chunks of a text corpus — and we record, for every position t,
// the token, the target's final-normed hidden state, the residual streams after the requested
// exit layers, and the target's next-token distribution (temperature 1, kept as its top-T
// entries renormalised: the teacher of the KL loss).
#pragma once
#include <cstdint>
#include <ostream>
#include <span>
#include <vector>

#include "model/language_model.h"
#include "base/types.h"

namespace speclab {

struct DistillSequence {
  std::vector<Token> tokens;                      // [n]
  std::vector<float> hidden;                      // [n, dim] final-normed hidden of tokens[t]
  std::vector<std::vector<float>> layer_hidden;   // per recorded layer: [n, dim] residuals
  std::vector<Token> teacher_ids;                 // [n, T] top-T of p(. | tokens[0..t])
  std::vector<float> teacher_p;                   // [n, T] their probabilities (sum 1)
  std::int32_t size() const { return static_cast<std::int32_t>(tokens.size()); }
};

struct DistillData {
  std::int32_t dim = 0, vocab = 0, teacher_top = 0;
  std::vector<std::int32_t> layers;  // layers recorded in layer_hidden (residual after l layers)
  std::vector<DistillSequence> seqs;
  std::int64_t n_positions() const;
};

struct DistillOptions {
  std::int32_t samples_per_prompt = 128; // continuations sampled per prompt
  std::int32_t max_len = 256;            // total tokens per sequence (prompt included)
  float temperature = 1.0f;              // sampling temperature of the continuations
  std::int32_t teacher_top = 16;         // T: teacher entries kept per position
  std::vector<std::int32_t> layers;      // residual layers to record, in [0, n_layers] (exit adapters, fused EAGLE)
  bool stop_at_eos = true;               // end a continuation at EOS / BOS
  std::uint64_t seed = 1;
  void validate(const ModelInfo& info) const;  // throws Error naming the field
};

// Runs `target` (its cache is truncated to 0 first and after each sequence) over one sequence:
// starts with `prefix` (>= 1 token, ids in range), then samples until opts.max_len tokens (or EOS
// when stop_at_eos and n_generate > 0). n_generate = 0 records `prefix` only.
DistillSequence record_sequence(LanguageModel& target, std::span<const Token> prefix,
                                bool generate, const DistillOptions& opts, std::uint64_t seed);

// samples_per_prompt continuations of every prompt. Progress lines to `log` when non-null.
DistillData distill_from_prompts(LanguageModel& target, const std::vector<std::vector<Token>>& prompts,
                                 const DistillOptions& opts, std::ostream* log);

// The trainers' split: the last holdout_frac of the sequences (rounded, at least one, never all)
// are held out; sequences shorter than min_tokens are left out of both lists. An empty held-out
// list (holdout_frac 0) is replaced by the training list. Throws Error when a split is asked
// for with fewer than 2 sequences.
struct DistillSplit {
  std::vector<std::int32_t> train, heldout;
  std::int32_t n_heldout = 0;                              // sequences held out (before filtering)
  std::int64_t train_positions = 0;    // positions of the `train` sequences
  std::int64_t heldout_positions = 0;  // positions of all held-out sequences
};
DistillSplit split_holdout(const DistillData& data, float holdout_frac, std::int32_t min_tokens = 1);

// How often the target's own argmax at t is token t+1 over the sequences `seq_ids` (the ceiling a
// predictor of sampled tokens faces; the trainers report it next to their held-out accuracy).
double target_top1(const DistillData& data, std::span<const std::int32_t> seq_ids);

// The corpus (already tokenized, BOS first) cut into chunks of opts.max_len tokens; no sampling.
DistillData distill_from_corpus(LanguageModel& target, std::span<const Token> corpus,
                                const DistillOptions& opts, std::ostream* log);

}  // namespace speclab
