// `early-exit`: LayerSkip-style self-speculation (Elhoushi et al. 2024, "LayerSkip: Enabling
// Early Exit Inference and Self-Speculative Decoding"). The target drafts for itself: the root
// and each drafted token run through the first E layers only (early-exit forwards on the
// target's own cache, final norm + classifier on layer E's output), and the chain of drafted
// tokens is verified by the full model.
//
// KV reuse (kv_reuse=1, default): the drafting forwards leave the root and the drafted tokens
// except the last (which was only predicted, never run) in the target's cache at depth E, with
// exactly the layer-[0, E) K/V the full model computes for them; the tree reports them as
// DraftTree::n_resume rows and the verifier resumes them from layer E (ForwardBatch::n_resume),
// running all layers only for the last drafted token. kv_reuse=0 truncates the drafted slots and
// verification recomputes all layers: same tokens, more work (for measuring the saving).
//
// Chain: root + up to d tokens (d capped by the budget's nodes and depth). Greedy targets draft
// the argmax of the exit logits (ChildSampling::kDeterministic, no q rows); sampled targets draw
// from q = the exit logits under the target's sampling parameters (kIidSampled, q rows recorded;
// rules `speculative` / `multi-iid`). Confidence threshold: after the first drafted token,
// drafting stops when the exit distribution's top probability (softmax at temperature 1) is
// below `threshold` (that token is not drafted; 0 = never stop early).
// Rows run while drafting: root + (drafted - 1), or root + drafted when the threshold stopped it.
//
// Spec: early-exit:exit=E,d=D,threshold=X,kv_reuse=1|0   (1 <= E < n_layers).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/language_model.h"
#include "drafters/drafter.h"
#include "drafters/drafter_params.h"

namespace speclab {

// One drafting round of an exit chain.
struct ExitRound {
  std::int32_t exit_layer = 1;   // E in [1, n_layers)
  std::int32_t max_d = 4;        // tokens to draft at most (>= 1)
  double threshold = 0.0;        // stop below this top probability (after the first token)
  bool kv_reuse = true;
  bool keep_hidden = false;      // keep residuals after layers 1..E-1 of every row run (DEL)
};

// The drafting engine shared by `early-exit` and `del` (not a Drafter itself). Buffers are
// members: no allocation once they have grown for the largest E and d used.
class ExitChainEngine {
 public:
  explicit ExitChainEngine(const ModelInfo& target) : info_(target) {}
  // Grows every buffer (per-exit forward outputs, kept residuals, the output tree's arrays) for
  // chains of up to max_d tokens at any exit layer, so that draft() does not allocate later
  // even when the exit layer or length changes (DEL).
  void reserve(std::int32_t max_d, bool keep_hidden);
  // Drafts on ctx.target (must be non-null, with ctx.tokens.size() - 1 cached slots) and fills
  // `out` (root = ctx.tokens.back()); on return the target holds n_before + out.n_resume slots.
  // Sets out.draft_exit_layer. Throws Error for a null target or an exit layer outside
  // [1, n_layers).
  void draft(const DraftContext& ctx, const DraftBudget& budget, const ExitRound& round,
             DraftTree& out);
  // Rows run through the exit layers by the last draft(): tree rows 0..n_run()-1.
  std::int32_t n_run() const { return n_run_; }
  std::int32_t exit_layer() const { return exit_layer_; }
  // Residual after layer l (1 <= l < exit_layer()) of run row r, when keep_hidden was set.
  std::span<const float> hidden(std::int32_t r, std::int32_t l) const;

 private:
  ModelInfo info_;
  std::vector<ForwardOutput> fwd_;                 // [n_layers] one per exit layer (fixed selectors)
  std::vector<std::vector<std::int32_t>> selectors_;  // [n_layers] selectors 1..E-1 for exit E
  std::vector<float> hidden_;   // [rows][n_layers][dim] residuals kept for DEL
  std::vector<std::int32_t> scratch_;
  std::int32_t n_run_ = 0, exit_layer_ = 0;
  std::int32_t reserved_d_ = 0;
};

struct EarlyExitOptions {
  std::int32_t exit_layer = 1;
  std::int32_t draft_len = 4;
  double threshold = 0.0;
  bool kv_reuse = true;
};

// Reads exit, d, threshold, kv_reuse from `p` (unknown keys, exit outside [1, n_layers), d
// outside [1, 64], threshold outside [0, 1] throw Error).
EarlyExitOptions early_exit_options(const DrafterParams& p, const ModelInfo& target);

class EarlyExitDrafter final : public Drafter {
 public:
  // Throws Error for an exit layer outside [1, target.n_layers) or d < 1.
  EarlyExitDrafter(const ModelInfo& target, EarlyExitOptions options);

  std::string_view name() const override { return "early-exit"; }
  DrafterNeeds needs() const override { return {.self_speculative = true}; }
  void begin(std::span<const Token> prompt) override {}
  void propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override {}

 private:
  EarlyExitOptions opt_;
  ExitChainEngine engine_;
};

}  // namespace speclab
