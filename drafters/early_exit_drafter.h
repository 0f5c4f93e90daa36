// `early-exit`: LayerSkip-style self-speculation (Elhoushi et al. 2024, "LayerSkip: Enabling
// Early Exit Inference and Self-Speculative Decoding"). The target drafts for itself: the root
// and each drafted token run through the first E layers only (early-exit forwards on the
// target's own cache, final norm + classifier on layer E's output), and the chain of drafted
// tokens is verified by the full model.
//
// KV reuse (kv_reuse=1, default): the drafting forwards leave the root and the drafted tokens
// except the last (which was only predicted, never run) in the target's cache at depth E, with
// exactly the layer-[0, E) K/V the full model computes for them; the tree reports them as
// DraftFacts::n_resume rows and the verifier resumes them from layer E (ForwardBatch::n_resume),
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
// Exit adapters (adapters=DIR; issue 8): trained heads (heads/head_net.h, kind exit-adapter,
// `speclab train-heads --kind exit-adapter`) loaded from DIR for the target (fingerprint
// checked). At an exit layer E with an adapter, the drafting forward requests no logits and the
// residual after E layers instead (ForwardBatch::hidden_layers = {E}); the draft logits are the
// adapter's: final_norm + classifier of (residual + n_blocks residual SiLU blocks). Everything
// else (KV reuse, threshold, q rows for sampled drafts) is unchanged: the adapter only replaces
// the exit distribution. A zero (freshly initialised) adapter is the identity, so it drafts
// exactly the plain exit's tokens. early-exit needs an adapter for its exit layer (Error
// otherwise); the adapters need the target's weights (DrafterEnv::target_weights).
//
// Spec: early-exit:exit=E,d=D,threshold=X,kv_reuse=1|0,adapters=DIR   (1 <= E < n_layers).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/language_model.h"
#include "model/llama_weights.h"
#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "heads/head_net.h"

namespace speclab {

// One drafting round of an exit chain.
struct ExitRound {
  std::int32_t exit_layer = 1;   // E in [1, n_layers)
  std::int32_t max_d = 4;        // tokens to draft at most (>= 1)
  double threshold = 0.0;        // stop below this top probability (after the first token)
  bool kv_reuse = true;
  bool keep_hidden = false;      // keep residuals after layers 1..E-1 of every row run (DEL)
};

// Loads exit adapters for a self-speculative drafter: load_heads(dir, weights) plus the checks
// a drafter needs. Throws Error "drafter <drafter>: adapters = <dir>: ..." for null weights (not
// a Llama-family target), any load_heads failure (missing files, fingerprint mismatch, ...), or
// heads of another kind than exit-adapter.
std::shared_ptr<const HeadNet> load_exit_adapters(const std::string& dir,
                                                  std::shared_ptr<const LlamaWeights> weights,
                                                  std::string_view drafter);

// The drafting engine shared by `early-exit` and `del` (not a Drafter itself). Buffers are
// members: no allocation once they have grown for the largest E and d used.
class ExitChainEngine {
 public:
  // adapters: optional exit adapters (kind exit-adapter, for a target of this shape; Error
  // otherwise). Exit layers with an adapter draft from the adapter's logits.
  explicit ExitChainEngine(const ModelInfo& target,
                           std::shared_ptr<const HeadNet> adapters = nullptr);
  // Grows every buffer (per-exit forward outputs, kept residuals, the output tree's arrays) for
  // chains of up to max_d tokens at any exit layer, so that draft() does not allocate later
  // even when the exit layer or length changes (DEL).
  void reserve(std::int32_t max_d, bool keep_hidden);
  // Drafts on ctx.target (must be non-null, with ctx.tokens.size() - 1 cached slots) and fills
  // `out` (root = ctx.tokens.back()); on return the target holds n_before + n_resume slots (the returned facts).
  // Returns the exit layer and the rows left in the cache. Throws Error for a null target or an exit layer outside
  // [1, n_layers).
  DraftFacts draft(const DraftContext& ctx, const DraftBudget& budget, const ExitRound& round,
             DraftTree& out);
  // Rows run through the exit layers by the last draft(): tree rows 0..n_run()-1.
  std::int32_t n_run() const { return n_run_; }
  std::int32_t exit_layer() const { return exit_layer_; }
  // Residual after layer l (1 <= l < exit_layer()) of run row r, when keep_hidden was set.
  std::span<const float> hidden(std::int32_t r, std::int32_t l) const;
  // The adapters (null when none) and the adapter index of exit layer l (-1: none).
  const HeadNet* adapters() const { return adapters_.get(); }
  std::int32_t adapter_of(std::int32_t l) const {
    return l >= 0 && static_cast<std::size_t>(l) < adapter_of_.size() ? adapter_of_[l] : -1;
  }

 private:
  // The hidden selectors of an exit-E forward: layers 1..E-1 when keep_hidden, then E when E
  // has an adapter (a subspan of selectors_[E] = 1..E).
  std::span<const std::int32_t> selectors(std::int32_t e, bool keep_hidden) const;

  ModelInfo info_;
  std::shared_ptr<const HeadNet> adapters_;
  std::vector<std::int32_t> adapter_of_;           // [n_layers] adapter index per layer or -1
  std::vector<ForwardOutput> fwd_;                 // [n_layers] one per exit layer (fixed selectors)
  std::vector<std::vector<std::int32_t>> selectors_;  // [n_layers] selectors 1..E for exit E
  std::vector<float> adapter_logits_;              // [vocab] adapter logits of the last row
  HeadScratch head_scratch_;
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
  std::string adapters;  // exit adapters directory ("" = plain exit); loaded by the registry
};

// Reads exit, d, threshold, kv_reuse, adapters, recording every problem in `r` (unknown keys,
// a target with fewer than 2 layers, exit outside [1, n_layers), d outside [1, 64], threshold
// outside [0, 1]).
EarlyExitOptions early_exit_options(ParamReader& r, const ModelInfo& target);

// The registry entry (drafters/drafter_kind.h): the keys above (adapters names a directory an
// optional drafter needs); chains with kDeterministic children when greedy, else kIidSampled;
// no cross-prompt state. Parsing needs DrafterEnv::target.
const DrafterKind& early_exit_drafter_kind();

class EarlyExitDrafter final : public Drafter {
 public:
  // Throws Error for an exit layer outside [1, target.n_layers) or d < 1; with `adapters`
  // (load_exit_adapters(options.adapters, ...)), for an exit layer without an adapter. Non-empty
  // options.adapters requires non-null `adapters`.
  EarlyExitDrafter(const ModelInfo& target, EarlyExitOptions options,
                   std::shared_ptr<const HeadNet> adapters = nullptr);

  std::string_view name() const override { return "early-exit"; }
  DrafterNeeds needs() const override { return {.self_speculative = true}; }
  void begin(std::span<const Token> prompt) override {}
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override {}

 private:
  EarlyExitOptions opt_;
  ExitChainEngine engine_;
};

}  // namespace speclab
