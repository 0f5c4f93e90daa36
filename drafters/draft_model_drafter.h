// `draft-model`: a small LanguageModel with the target's vocabulary drafts for the target
// (e.g. stories260K_q80.bin for stories260K.bin). Its own KV cache follows the accepted path:
// before each proposal the cache is cut back to the longest prefix it shares with the
// sequence, and the rest (at least the root) is run.
//
// Modes (tree shapes and how children are chosen; q rows are always recorded):
//   chain  - gamma tokens, one child per node: argmax at temperature 0, else sampled from q
//            (ChildSampling::kIidSampled; rule `speculative`, or `greedy` at temperature 0).
//   topk   - per-depth branching factors, children = the draft's top-k tokens (by draft
//            logits) -> kDeterministic (rules `deterministic` / `greedy`).
//   iid    - per-depth branching factors, children drawn i.i.d. from q -> kIidSampled
//            (rule `multi-iid`).
//   swor   - per-depth branching factors, children drawn without replacement from q by
//            Gumbel-top-k -> kWithoutReplacement (rule `without-replacement`).
//   kseq   - k draft sequences of length gamma, each drawn i.i.d. from q (the root has k
//            children, every other node one) -> kIidSampled (rules `multi-iid`, `spectr`; SpecTr,
//            Sun et al. 2023). A budget below k * gamma shortens every sequence alike
//            (gamma' = budget / k; k' = budget when budget < k).
//   dynamic - EAGLE-2 style (trees/tree_builders.h build_dynamic_tree): per depth, expand the
//            `expand_top` best nodes by cumulative draft log-probability with their `top_k`
//            children, then keep the best budget nodes -> kDeterministic. Each expanded node's
//            draft logits come from one draft forward of its root-to-node path.
// q is the draft's distribution under the target's sampling parameters (temperature, top-k,
// top-p), so at temperature 0 q is one-hot.
// Trees are expanded level by level; each level's q rows come from one batched draft forward
// of the tree so far (ancestor mask), then the draft cache is cut back to the sequence.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/language_model.h"
#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"

namespace speclab {

enum class DraftModelMode { kChain, kTopK, kIid, kSwor, kDynamic, kKSeq };

struct DraftModelOptions {
  DraftModelMode mode = DraftModelMode::kChain;
  std::int32_t gamma = 4;                   // chain length (chain and kseq modes)
  std::int32_t k = 2;                       // kseq mode: number of draft sequences
  std::vector<std::int32_t> branching = {4, 2, 2, 1, 1, 1};  // children per node at depth 1, 2, ...
  std::int32_t top_k = 4;        // dynamic: children per expanded node
  std::int32_t expand_top = 4;   // dynamic: nodes expanded per depth
  std::int32_t max_depth = 6;    // dynamic: depth when the budget has no cap
};

// Parses "chain" / "topk" / "iid" / "swor" / "dynamic" / "kseq"; throws Error naming the value and the choices.
DraftModelMode parse_draft_model_mode(const std::string& s);
const char* to_string(DraftModelMode m);

// The registry entry (drafters/drafter_kind.h): keys model (the draft model file, default
// DrafterEnv::draft_model_path; an optional drafter is skipped without it), mode, gamma, k,
// branching, top_k, expand_top, depth; children per mode as above; no cross-prompt state.
const DrafterKind& draft_model_drafter_kind();

class DraftModelDrafter final : public Drafter {
 public:
  // `draft` must have the target's vocabulary size (throws Error otherwise). Owns `draft`.
  DraftModelDrafter(std::unique_ptr<LanguageModel> draft, std::int32_t target_vocab,
                    DraftModelOptions options);

  std::string_view name() const override { return "draft-model"; }
  DrafterNeeds needs() const override { return {}; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override {}

 private:
  // Runs ctx tokens not yet in the draft cache (at least the root); q row of the root from it.
  void sync(std::span<const Token> tokens);
  void propose_chain(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out);
  void propose_tree(const DraftContext& ctx, const DraftBudget& budget,
                    std::span<const std::int32_t> branching, DraftTree& out);
  void propose_dynamic(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out);
  // Appends children of `node` chosen from its draft logits/q row per the mode.
  void choose_children(const DraftContext& ctx, DraftTree& out, std::int32_t node,
                       std::span<const float> logits, std::int32_t k, std::int32_t room);

  std::unique_ptr<LanguageModel> draft_;
  DraftModelOptions opt_;
  std::vector<Token> cached_;           // tokens in the draft cache, slot order
  ForwardOutput fwd_;
  std::vector<float> root_logits_;      // [vocab] draft logits after the root
  std::vector<float> level_logits_;     // [n_level, vocab] logits of the nodes of one level
  std::vector<std::int32_t> positions_, rows_, level_nodes_, next_level_, order_;
  std::vector<std::uint8_t> mask_;
  std::vector<Token> batch_tokens_;
  std::vector<std::int32_t> scratch_;
  std::vector<double> keys_;
  std::vector<float> logp_;             // [vocab] log-softmax scratch (dynamic)
  std::vector<std::int32_t> kseq_branching_;  // kseq: {k, 1, ..., 1} for this step's budget
};

}  // namespace speclab
