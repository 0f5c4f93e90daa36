#include "verifiers/tree_verifier.h"

#include <algorithm>

#include "base/error.h"
#include "trees/tree_mask.h"

namespace speclab {

void TreeVerifier::verify(LanguageModel& target, const DraftTree& tree, std::int32_t n_resume,
                          const SamplingParams& sampling, const AcceptanceRule& rule, Rng& rng,
                          Wants wants, Acceptance& out) {
  const std::int32_t n = tree.size();
  SPECLAB_ASSERT(n >= 1);
  SPECLAB_ASSERT(n_resume >= 0 && n_resume <= n);
  SPECLAB_ASSERT(target.n_cached() >= n_resume);
  const std::int32_t base = target.n_cached() - n_resume;
  tree_positions(tree, base, positions_);
  ancestor_mask(tree, mask_);

  selectors_.clear();
  has_final_ = wants.hidden;
  has_layers_ = wants.layer_hidden;
  if (wants.hidden) selectors_.push_back(kFinalNormedHidden);
  const std::size_t feat_at = selectors_.size();
  selectors_.insert(selectors_.end(), wants.feature_layers.begin(), wants.feature_layers.end());
  layers_at_ = selectors_.size();
  if (wants.layer_hidden) {
    for (std::int32_t l = 1; l < target.info().n_layers; ++l) selectors_.push_back(l);
  }
  ForwardBatch batch;
  batch.tokens = tree.token;
  batch.positions = positions_;
  batch.mask = mask_;
  batch.all_logits = true;
  batch.hidden_layers = selectors_;
  batch.n_resume = n_resume;
  target.forward(batch, fwd_);
  const std::size_t F = wants.feature_layers.size();
  features_.clear();
  if (F > 0) {
    const std::size_t d = static_cast<std::size_t>(target.info().dim);
    features_.resize(static_cast<std::size_t>(n) * F * d);
    for (std::int32_t i = 0; i < n; ++i) {
      for (std::size_t l = 0; l < F; ++l) {
        const float* src = fwd_.hidden[feat_at + l].data() + static_cast<std::size_t>(i) * d;
        std::copy_n(src, d, features_.begin() + (static_cast<std::size_t>(i) * F + l) * d);
      }
    }
  }

  const std::int32_t vocab = fwd_.vocab;
  probs_.resize(static_cast<std::size_t>(n) * vocab);
  for (std::int32_t i = 0; i < n; ++i) {
    logits_to_probs(fwd_.row(i), sampling,
                    std::span<float>(probs_).subspan(static_cast<std::size_t>(i) * vocab, vocab),
                    scratch_);
  }
  rule.accept(tree, TargetRows{vocab, probs_}, rng, out);
  target.keep_batch_rows(out.path);
}

}  // namespace speclab
