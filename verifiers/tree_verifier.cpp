#include "verifiers/tree_verifier.h"

#include "core/error.h"

namespace speclab {

namespace {
// positions[i] = base + depth[i]; mask[i*n+j] = 1 iff j is i or an ancestor of i.
void tree_positions(const DraftTree& tree, std::int32_t base, std::vector<std::int32_t>& pos) {
  pos.resize(tree.size());
  for (std::int32_t i = 0; i < tree.size(); ++i) pos[i] = base + tree.depth[i];
}
void ancestor_mask(const DraftTree& tree, std::vector<std::uint8_t>& mask) {
  const std::size_t n = tree.size();
  mask.assign(n * n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::int32_t a = static_cast<std::int32_t>(i); a >= 0; a = tree.parent[a]) mask[i * n + a] = 1;
  }
}
}  // namespace

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
