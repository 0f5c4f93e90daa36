// Drafters propose trees; the verifier checks them; drafters observe the result.
#pragma once
#include <cstdint>
#include <span>
#include <vector>
#include <string_view>

#include "model/language_model.h"
#include "base/rng.h"
#include "ops/sampling.h"
#include "base/types.h"
#include "trees/draft_tree.h"

namespace speclab {

struct DraftContext {
  std::span<const Token> tokens;   // prompt (incl. BOS) + accepted tokens; tokens.back() is the root
  const SamplingParams* sampling;  // the target's sampling parameters
  Rng* rng;                        // for sampled drafts (seeded by the loop)
  // Final-normed target hidden state [dim] of the token before the root (the last token in the
  // target's cache): what Medusa/Hydra heads read. Filled only for drafters whose needs() ask
  // for target_hidden or target_features; empty when unknown (a one-token prompt has no cached
  // token).
  std::span<const float> hidden = {};
  // The target itself, for self-speculative drafters (needs().self_speculative). On entry its
  // cache holds exactly tokens[0 .. size-2]. Such a drafter may append the root and draft
  // tokens with early-exit forwards; it must then return in DraftFacts::n_resume the number of
  // tree rows (root first, then a chain of its descendants in tree order) it left in the cache,
  // so the verifier resumes them instead of recomputing (LanguageModel ForwardBatch::n_resume).
  // Null for other drafters.
  LanguageModel* target = nullptr;
  // Target features [P - 1, W] of prompt tokens 0 .. P-2 (the prefill rows; P = prompt length),
  // the same on every step of a sequence: the final-normed hidden states (W = dim), or with
  // DrafterNeeds::feature_layers the concatenation of those selectors' rows (W = F dim). Filled
  // only for drafters whose needs() ask for target_features (feature-level heads such as EAGLE,
  // which must see the target's feature of every token); empty otherwise and for a one-token
  // prompt.
  std::span<const float> prompt_hidden = {};
};

// What a proposal left behind besides the tree (propose's return value).
struct DraftFacts {
  // Self-speculation: rows 0..n_resume-1 of the tree (the root and a chain of descendants) are
  // already in the target's cache from early-exit draft forwards; the verifier resumes them.
  std::int32_t n_resume = 0;
  // Early-exit drafters (early-exit, del): the exit layer the chain was drafted at; 0 = none.
  // Logged per step (StepRecord::exit_layer, steps.csv column exit_layer).
  std::int32_t exit_layer = 0;
};

struct StepFeedback {
  const DraftTree* tree;
  const Acceptance* acceptance;
  std::int32_t vocab = 0;
  std::span<const float> logits;   // [tree.size(), vocab] target logits of every node
  std::span<const Token> tokens;   // the sequence after this step (accepted tokens and bonus appended)
  // Residual streams after layers 1..n_layers-1 of every node: layer_hidden[l-1] is
  // [tree.size(), dim]. Empty unless needs().target_layer_hidden. Rows the verifier resumed
  // (DraftFacts::n_resume) hold NaN for layers below their resume depth (never computed there).
  std::span<const std::vector<float>> layer_hidden;
  // Target features [tree.size(), W] of every verified node (row i = node i, the root first; W
  // and the layout as DraftContext::prompt_hidden): with prompt_hidden, the target's feature of
  // every token the target has run. Empty unless needs().target_features.
  std::span<const float> hidden = {};
};

struct DrafterNeeds {
  bool target_hidden = false;        // wants DraftContext::hidden
  bool target_layer_hidden = false;  // wants StepFeedback::layer_hidden
  // Wants the target's final-normed hidden state of every token it runs: DraftContext::hidden,
  // DraftContext::prompt_hidden (the prefill rows) and StepFeedback::hidden (every verified
  // node). Costs no extra target work: the forwards compute these rows anyway.
  bool target_features = false;
  // With target_features: the hidden-state selectors (model/language_model.h ForwardBatch::
  // hidden_layers: residual after h layers, or kFinalNormedHidden) whose rows, concatenated in
  // this order, make a token's feature (EAGLE-3-style fused heads). Empty = the final-normed
  // state alone.
  std::vector<std::int32_t> feature_layers;
  bool self_speculative = false;     // drafts with the target itself (DraftContext::target)
  // observe() indexes the tree propose() returned (its own node bookkeeping): the tree must be
  // verified as proposed, never pruned by a budget policy (experiments/cost_policy.h).
  bool fixed_tree = false;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual std::string_view name() const = 0;
  virtual DrafterNeeds needs() const = 0;
  // Per-sequence reset. State policy (cold/warm) is the drafter's parameter.
  virtual void begin(std::span<const Token> prompt) = 0;
  // Fills `out` with a tree rooted at ctx.tokens.back() within `budget`; returns what it left
  // in the target's cache (self-speculative drafters) and its exit layer, else {}.
  virtual DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) = 0;
  virtual void observe(const StepFeedback& fb) = 0;
};

}  // namespace speclab
