// `del`: DEL (Zarch et al. 2025, "DEL: Context-Aware Dynamic Exit Layer for Efficient
// Self-Speculative Decoding") on top of the early-exit engine (drafters/early_exit_drafter.h).
//
// Shadow tokens. After each verification, for every layer l in [1, n_layers) and every position of the
// accepted path (root and accepted nodes), the token an exit at l would have predicted there is
// argmax(classifier(final_norm(residual after layer l))). It is compared with the token the
// target emitted next (the next accepted node, or the bonus). Residuals come from the
// verification forward (StepFeedback::layer_hidden); rows the verifier resumed have no
// residuals below the resume depth E, and for those the drafter uses the residuals its own
// exit-E draft forwards produced for the same rows (identical K/V below E, so identical values).
// Each comparison updates a per-layer acceptance estimate
//   alpha_l <- decay * alpha_l + (1 - decay) * [shadow == emitted].
// Before any observation alpha_l = alpha0 * l / n_layers (DelOptions::alpha0).
//
// Each round DEL drafts at the (E, d) maximising TPL (drafters/del_policy.h) over the candidate
// layers (`layers`, default all; alpha is tracked for every layer) and d in [1, max_d], and stops drafting early when the exit distribution's top
// probability falls below `threshold` (after the first token). The chosen E is logged per step
// (DraftFacts::exit_layer -> steps.csv exit_layer). Alpha is reset per sequence (begin()).
//
// Needs the target's weights (final norm + classifier for shadow tokens): DrafterEnv's
// target_weights, i.e. a LlamaModel target.
//
// Exit adapters (adapters=DIR, drafters/early_exit_drafter.h): drafting at an adapted layer uses
// the adapter's logits, and so do that layer's shadow tokens (argmax of the adapter on the
// residual after l layers), so alpha_l estimates what drafting at l would actually propose.
// Candidate layers are restricted to the adapted ones: without `layers`, the candidates are
// the adapters' exit layers; an explicit `layers` entry without an adapter is an Error. Alpha is
// still tracked for every layer (plain exits' shadow tokens for layers without an adapter).
// The adapter's blocks are not in the TPL cost: account for them with head_cost if needed.
//
// Spec: del:max_d=6,threshold=0.3,decay=0.9,layers=1-2-3,alpha0=0.9,head_cost=0,kv_reuse=1,
//       adapters=DIR
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_weights.h"
#include "drafters/del_policy.h"
#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "drafters/early_exit_drafter.h"

namespace speclab {

struct DelOptions {
  std::int32_t max_d = 6;
  double threshold = 0.3;
  double decay = 0.9;                 // in [0, 1): weight of the old estimate per comparison
  std::vector<std::int32_t> layers;   // candidate exit layers; empty = all of [1, n_layers)
  // Prior before observations: alpha_l = alpha0 * l / n_layers (deeper exits agree more).
  double alpha0 = 0.9;
  double head_cost = 0.0;             // classifier cost in layers for TPL (del_policy.h)
  bool kv_reuse = true;
  std::string adapters;               // exit adapters directory ("" = plain exits)
};

// Reads max_d, threshold, decay, layers (e.g. 1-2-3), alpha0, head_cost, kv_reuse, adapters,
// recording every problem in `r` (unknown keys, out-of-range values, a layer outside
// [1, n_layers)).
DelOptions del_options(ParamReader& r, const ModelInfo& target);

// The registry entry (drafters/drafter_kind.h): the keys above (adapters names a directory an
// optional drafter needs); chains with kDeterministic children when greedy, else kIidSampled;
// per-sequence state only (alpha resets in begin()). Parsing needs DrafterEnv::target.
const DrafterKind& del_drafter_kind();

class DelDrafter final : public Drafter {
 public:
  // weights: the target's (non-null; throws Error otherwise). Validates options (Error).
  // adapters: load_exit_adapters(options.adapters, weights, "del") when options.adapters is set
  // (Error if it is set and adapters is null, or a `layers` entry has no adapter).
  DelDrafter(std::shared_ptr<const LlamaWeights> weights, DelOptions options,
             std::shared_ptr<const HeadNet> adapters = nullptr);

  std::string_view name() const override { return "del"; }
  DrafterNeeds needs() const override {
    return {.target_layer_hidden = true, .self_speculative = true};
  }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  // alpha_l for l in [1, n_layers): alpha()[l - 1].
  std::span<const double> alpha() const { return alpha_; }
  // The (E, d) chosen by the last propose().
  const ExitChoice& last_choice() const { return choice_; }
  // The exit layers DEL chooses among (sorted).
  std::span<const std::int32_t> candidates() const { return candidates_; }

 private:
  // Shadow token of one residual row [dim] after `layer` layers: argmax of the layer's adapter
  // when it has one, else of classifier(final_norm(h)).
  Token shadow_token(std::span<const float> h, std::int32_t layer);

  std::shared_ptr<const LlamaWeights> weights_;
  DelOptions opt_;
  std::int32_t n_layers_ = 0;
  ExitChainEngine engine_;
  std::vector<double> alpha_;       // [n_layers - 1]
  std::vector<std::int32_t> candidates_;
  ExitChoice choice_;
  bool proposed_ = false;           // propose() ran for the step being observed
  std::vector<float> normed_;       // [dim]
  std::vector<float> logits_;       // [vocab]
  HeadScratch head_scratch_;
};

}  // namespace speclab
