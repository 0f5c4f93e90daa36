// TreeVerifier: the model side of verification. One target forward over the root (the last
// accepted token, not yet cached) plus every draft node with the tree's ancestor mask, the
// target distribution p of every node (core/sampling.h), the acceptance rule, then the target
// cache keeps only the accepted path (keep_batch_rows).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/language_model.h"
#include "core/rng.h"
#include "core/sampling.h"
#include "trees/draft_tree.h"
#include "verifiers/acceptance_rule.h"

namespace speclab {

class TreeVerifier {
 public:
  // Runs verification of `tree` on `target` (whose cache holds exactly the sequence before the
  // root). Fills `out`. Buffers are members: no allocation once they have grown.
  // want_hidden: also copy the final-normed hidden state of every node (for Medusa-style heads).
  void verify(LanguageModel& target, const DraftTree& tree, const SamplingParams& sampling,
              const AcceptanceRule& rule, Rng& rng, bool want_hidden, Acceptance& out);

  // Results of the last verify(): target logits and p of every node, hidden when requested.
  std::int32_t vocab() const { return fwd_.vocab; }
  std::span<const float> logits() const { return fwd_.logits; }
  std::span<const float> probs() const { return probs_; }
  std::span<const float> hidden() const {
    return fwd_.hidden.empty() ? std::span<const float>() : std::span<const float>(fwd_.hidden[0]);
  }

 private:
  std::vector<std::int32_t> positions_;
  std::vector<std::uint8_t> mask_;
  std::vector<float> probs_;
  std::vector<std::int32_t> scratch_;
  ForwardOutput fwd_;
};

}  // namespace speclab
