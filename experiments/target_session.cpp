#include "experiments/target_session.h"

#include <algorithm>

#include "base/error.h"
#include "model/prefill.h"

namespace speclab {

TargetSession::TargetSession(LanguageModel& target, const DrafterNeeds& needs)
    : target_(target), needs_(needs), wants_hidden_(needs.target_hidden || needs.target_features) {
  root_hidden_.reserve(target.info().dim);
}

void TargetSession::prefill(std::span<const Token> prompt) {
  const ModelInfo& info = target_.info();
  if (prompt.empty()) fail("prompt: empty: it needs at least one token (e.g. BOS)");
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= info.vocab_size) {
      fail("prompt: token {} at index {}: must be in [0, vocab_size = {})", prompt[i], i, info.vocab_size);
    }
  }
  if (static_cast<std::int64_t>(prompt.size()) > info.max_seq_len) {
    fail("prompt: {} tokens: does not fit the context of {} positions", prompt.size(), info.max_seq_len);
  }
  target_.truncate(0);
  root_hidden_.clear();
  prompt_hidden_ = {};
  // Selectors: the final-normed state first (root_hidden_), then the fused feature layers.
  std::vector<std::int32_t> selectors;
  if (wants_hidden_) selectors.push_back(kFinalNormedHidden);
  if (fused()) selectors.insert(selectors.end(), needs_.feature_layers.begin(), needs_.feature_layers.end());
  speclab::prefill(target_, prompt.first(prompt.size() - 1), selectors, prefill_out_);
  if (wants_hidden_ && prompt.size() > 1) {
    const auto& h = prefill_out_.hidden[0];
    const std::size_t rows = prompt.size() - 1, d = static_cast<std::size_t>(info.dim);
    root_hidden_.assign(h.end() - info.dim, h.end());
    if (fused()) {  // row i = [h^(l1)_i, h^(l2)_i, ...]
      const std::size_t F = needs_.feature_layers.size();
      prompt_features_.resize(rows * F * d);
      for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t l = 0; l < F; ++l) {
          std::copy_n(prefill_out_.hidden[1 + l].data() + i * d, d, prompt_features_.begin() + (i * F + l) * d);
        }
      }
      prompt_hidden_ = prompt_features_;
    } else if (needs_.target_features) {
      // prefill_out_ is not touched again during the sequence: the span stays valid.
      prompt_hidden_ = std::span<const float>(h).first(rows * d);
    }
  }
}

std::int32_t TargetSession::room() const { return target_.info().max_seq_len - target_.n_cached() - 1; }

DraftContext TargetSession::draft_context(std::span<const Token> tokens, const SamplingParams& sampling, Rng& rng) {
  return DraftContext{tokens, &sampling, &rng, root_hidden_, needs_.self_speculative ? &target_ : nullptr,
                      prompt_hidden_};
}

void TargetSession::verify(const DraftTree& tree, const DraftFacts& facts, const SamplingParams& sampling,
                           const AcceptanceRule& rule, Rng& rng, Acceptance& out) {
  verifier_.verify(target_, tree, facts.n_resume, sampling, rule, rng,
                   TreeVerifier::Wants{wants_hidden_, needs_.target_layer_hidden,
                                       fused() ? std::span<const std::int32_t>(needs_.feature_layers)
                                               : std::span<const std::int32_t>()},
                   out);
  if (wants_hidden_) {
    const std::int32_t dim = target_.info().dim;
    const auto h = verifier_.hidden().subspan(static_cast<std::size_t>(out.path.back()) * dim, dim);
    root_hidden_.assign(h.begin(), h.end());
  }
}

StepFeedback TargetSession::feedback(const DraftTree& tree, const Acceptance& acc,
                                     std::span<const Token> tokens) const {
  StepFeedback fb;
  fb.tree = &tree;
  fb.acceptance = &acc;
  fb.vocab = verifier_.vocab();
  fb.logits = verifier_.logits();
  fb.tokens = tokens;
  fb.layer_hidden = verifier_.layer_hidden();
  if (needs_.target_features) fb.hidden = fused() ? verifier_.features() : verifier_.hidden();
  return fb;
}

}  // namespace speclab
