// TreeVerifier: the model side of verification. One target forward over the root (the last
// accepted token, not yet cached) plus every draft node with the tree's ancestor mask, the
// target distribution p of every node (ops/sampling.h), the acceptance rule, then the target
// cache keeps only the accepted path (keep_batch_rows).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/language_model.h"
#include "base/rng.h"
#include "ops/sampling.h"
#include "trees/draft_tree.h"
#include "verifiers/acceptance_rule.h"

namespace speclab {

class TreeVerifier {
 public:
  // What to copy out of the verification forward besides logits.
  struct Wants {
    bool hidden = false;        // final-normed hidden state of every node (Medusa-style heads)
    bool layer_hidden = false;  // residual after layers 1..n_layers-1 of every node (DEL)
    // Fused target features (EAGLE-3-style heads; DrafterNeeds::feature_layers): these
    // selectors' rows of every node, concatenated per node (features()).
    std::span<const std::int32_t> feature_layers = {};
  };
  // Runs verification of `tree` on `target` (whose cache holds exactly the sequence before the
  // root, plus the tree's first n_resume rows — the root and a chain of its descendants in tree
  // order — when a self-speculative drafter left them there: ForwardBatch::n_resume). Fills
  // `out`. Buffers are members: no allocation once they have grown.
  void verify(LanguageModel& target, const DraftTree& tree, std::int32_t n_resume, const SamplingParams& sampling,
              const AcceptanceRule& rule, Rng& rng, Wants wants, Acceptance& out);

  // Results of the last verify(): target logits and p of every node, hidden when requested.
  std::int32_t vocab() const { return fwd_.vocab; }
  std::span<const float> logits() const { return fwd_.logits; }
  std::span<const float> probs() const { return probs_; }
  std::span<const float> hidden() const {
    return has_final_ ? std::span<const float>(fwd_.hidden[0]) : std::span<const float>();
  }
  // [n_layers-1] entries, each [n, dim]; empty unless Wants::layer_hidden.
  std::span<const std::vector<float>> layer_hidden() const {
    if (!has_layers_) return {};
    return std::span<const std::vector<float>>(fwd_.hidden).subspan(layers_at_);
  }
  // [n, F dim]: node i's rows of Wants::feature_layers side by side; empty unless asked for.
  std::span<const float> features() const { return features_; }

 private:
  std::vector<std::int32_t> positions_;
  std::vector<std::uint8_t> mask_;
  std::vector<float> probs_;
  std::vector<std::int32_t> scratch_;
  std::vector<std::int32_t> selectors_;
  bool has_final_ = false, has_layers_ = false;
  std::size_t layers_at_ = 0;     // index of layer 1 in fwd_.hidden
  std::vector<float> features_;   // [n, F dim] (Wants::feature_layers)
  ForwardOutput fwd_;
};

}  // namespace speclab
