// TargetSession: the target side of one decoded sequence, so that decode() (experiments/decode.h)
// reads like llama2.c's generate(). It owns the prefill, the final-normed hidden state of the
// last cached token (what Medusa / Hydra heads read: DraftContext::hidden), for feature-level
// heads (DrafterNeeds::target_features, EAGLE) the prompt's rows too (DraftContext::prompt_hidden)
// and every verified node's (StepFeedback::hidden), as the final-normed state or the
// concatenated rows of DrafterNeeds::feature_layers (EAGLE-3-style fused heads), one verification per step
// (verifiers/tree_verifier.h) and its outputs as drafter feedback (StepFeedback). Buffers are
// members: nothing is allocated per step once they have grown.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "drafters/drafter.h"
#include "model/language_model.h"
#include "verifiers/acceptance_rule.h"
#include "verifiers/tree_verifier.h"

namespace speclab {

class TargetSession {
 public:
  // `needs`: what the drafter reads (hidden states, per-layer residuals, the target itself).
  TargetSession(LanguageModel& target, const DrafterNeeds& needs);

  // Resets the cache and runs prompt[0 .. n-2]: the last prompt token is the first step's root.
  // Throws Error for an empty prompt, a token id outside [0, vocab) or a prompt longer than
  // the context.
  void prefill(std::span<const Token> prompt);
  // Draft nodes that fit in the context beside the root; -1 when not even the root fits.
  std::int32_t room() const;

  // What a drafter sees before proposing on `tokens` (tokens.back() is the root).
  DraftContext draft_context(std::span<const Token> tokens, const SamplingParams& sampling, Rng& rng);
  // One target forward over root + tree (the first `facts.n_resume` rows already cached by a
  // self-speculative drafter), the target distribution of every node, the rule's decision into
  // `out`, then the cache keeps only the accepted path; the accepted node's hidden state becomes
  // the next root hidden state.
  void verify(const DraftTree& tree, const DraftFacts& facts, const SamplingParams& sampling,
              const AcceptanceRule& rule, Rng& rng, Acceptance& out);
  // The last verification as drafter feedback; `tokens` is the sequence after the step.
  StepFeedback feedback(const DraftTree& tree, const Acceptance& acc, std::span<const Token> tokens) const;

  LanguageModel& target() { return target_; }
  // [tree.size(), vocab]: the target distribution of every node of the last verification.
  std::span<const float> probs() const { return verifier_.probs(); }

 private:
  LanguageModel& target_;
  DrafterNeeds needs_;
  TreeVerifier verifier_;
  // Final-normed hidden states are copied out of the forwards: needs target_hidden or
  // target_features (feature-level heads also get the prompt's rows and every verified node's).
  bool wants_hidden_ = false;
  ForwardOutput prefill_out_;
  std::vector<float> root_hidden_;      // [dim] or empty (unknown, or not needed)
  // [P - 1, W] (target_features): a view into prefill_out_, or prompt_features_ when fused.
  std::span<const float> prompt_hidden_;
  std::vector<float> prompt_features_;  // [P - 1, F dim] fused features (DrafterNeeds::feature_layers)
  bool fused() const { return needs_.target_features && !needs_.feature_layers.empty(); }
};

}  // namespace speclab
