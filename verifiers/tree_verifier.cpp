#include "verifiers/tree_verifier.h"

#include "core/error.h"
#include "trees/tree_mask.h"

namespace speclab {


void TreeVerifier::verify(LanguageModel& target, const DraftTree& tree,
                          const SamplingParams& sampling, const AcceptanceRule& rule, Rng& rng,
                          bool want_hidden, Acceptance& out) {
  const std::int32_t n = tree.size();
  SPECLAB_ASSERT(n >= 1);
  const std::int32_t base = target.n_cached();
  tree_positions(tree, base, positions_);
  ancestor_mask(tree, mask_);

  static constexpr std::int32_t kFinal[] = {kFinalNormedHidden};
  ForwardBatch batch;
  batch.tokens = tree.token;
  batch.positions = positions_;
  batch.mask = mask_;
  batch.all_logits = true;
  if (want_hidden) batch.hidden_layers = kFinal;
  target.forward(batch, fwd_);

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
