// Drafters propose trees; the verifier checks them; drafters observe the result.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "core/rng.h"
#include "core/sampling.h"
#include "core/types.h"
#include "trees/draft_tree.h"

namespace speclab {

struct DraftContext {
  std::span<const Token> tokens;   // prompt (incl. BOS) + accepted tokens; tokens.back() is the root
  const SamplingParams* sampling;  // the target's sampling parameters
  Rng* rng;                        // for sampled drafts (seeded by the loop)
};

struct StepFeedback {
  const DraftTree* tree;
  const Acceptance* acceptance;
  std::int32_t vocab = 0;
  std::span<const float> logits;   // [tree.size(), vocab] target logits of every node
  std::int32_t hidden_dim = 0;
  std::span<const float> hidden;   // [tree.size(), dim] target final-normed hidden; empty unless requested
  std::span<const Token> tokens;   // the sequence after this step (accepted tokens and bonus appended)
};

struct DrafterNeeds {
  bool target_hidden = false;      // wants StepFeedback::hidden
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual std::string_view name() const = 0;
  virtual DrafterNeeds needs() const = 0;
  // Per-sequence reset. State policy (cold/warm) is the drafter's parameter.
  virtual void begin(std::span<const Token> prompt) = 0;
  // Fills `out` with a tree rooted at ctx.tokens.back() within `budget`.
  virtual void propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) = 0;
  virtual void observe(const StepFeedback& fb) = 0;
};

}  // namespace speclab
