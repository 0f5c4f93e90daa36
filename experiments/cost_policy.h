// Budget policy "cost" (issue 17): each step's tree size is chosen to maximise expected emitted
// tokens per unit time under a CostProfile, instead of always filling the budget (which becomes
// a maximum). Sequoia / EAGLE-2 style, with acceptance estimates calibrated online.
//
// Acceptance model. c(d, r) = P(a node of depth d and sibling rank r is accepted | its parent
// was accepted), estimated per sequence from the steps verified so far: (hits + prior) /
// (trials + prior weight) over the nodes whose parent was on an accepted path, with the prior
// 0.5 / (r + 1) at weight 2 (optimistic enough to try what has not been seen). Depths beyond 64
// and ranks beyond 15 share the last cell. A node's value is P(node on the accepted path) = the
// product of c along its path, so E[emitted] = 1 + the sum of the values of the kept nodes.
//
// Two ways to use it, chosen per step from what the drafter's trees are:
//  - prune (trees with deterministic children, from drafters that do not need their own tree
//    back (DrafterNeeds::fixed_tree) and are not self-speculative): the drafter proposes at the
//    maximum budget; the policy keeps the best-first prefix of the tree (frontier search: a node
//    becomes eligible once its parent and its previous sibling are kept, so the kept set is a
//    tree whose sibling lists are prefixes) whose count k maximises
//    (1 + sum of kept values) / profile(k + 1, L). Any subtree of fixed candidates is verified
//    losslessly by every rule that accepts the full tree (greedy: trivially; the deterministic
//    rule: it tests a node's candidates in order, whatever the list).
//  - choose the budget first (everything else: sampled children, fixed_tree or
//    self-speculative drafters): before proposing, b = argmax over b in [0, max] of
//    (1 + sum_{k <= b} prod_{d <= k} c(d, 0)) / profile(b + 1, L) (a chain estimate), and the
//    drafter proposes within b. The tree is then verified as proposed.
// Exploration: a node that is never verified is never calibrated, so after kExploreAfter steps
// in a row that verified no draft node the policy keeps (or asks for) one node anyway.
// Drafting cost: with pruning the drafter still drafts the whole proposal, so the proposal
// budget follows what was kept: max(kMinProposal, 2 x the largest kept size of the last
// kRecent steps), capped by the maximum (the first proposal: the maximum).
// Lossless either way: the choice uses the profile, the step's proposal (its shape, for
// deterministic children only) and the verified history, never the current step's target
// output; sampled children are never pruned after the fact. Deterministic: no timing is read,
// so a seed reproduces the same trees.
#pragma once
#include <cstdint>
#include <vector>

#include "experiments/cost_model.h"
#include "trees/draft_tree.h"

namespace speclab {

class CostBudgetPolicy {
 public:
  static constexpr std::int32_t kDepths = 64, kRanks = 16;
  static constexpr std::int32_t kExploreAfter = 8, kMinProposal = 4, kRecent = 4;

  explicit CostBudgetPolicy(const CostProfile& profile) : profile_(&profile) { begin(); }
  // Per sequence: forgets the calibration.
  void begin();
  // The budget to propose within at this step (max: the configuration's; cached: the target's
  // cache length). `prunable_drafter`: the drafter may have its trees pruned.
  DraftBudget budget(const DraftBudget& max, std::int32_t cached, bool prunable_drafter);
  // Prunes `tree` in place when the policy prunes this kind of tree (see the file comment);
  // true when it did (the tree may be unchanged if every node was worth keeping).
  bool prune(DraftTree& tree, std::int32_t cached, bool prunable_drafter);
  // Calibrates on a verified step.
  void observe(const DraftTree& tree, const Acceptance& acc);

  // c(d, r) as currently estimated (tests).
  double accept_estimate(std::int32_t depth, std::int32_t rank) const;

 private:
  struct Cell {
    double hits = 0, trials = 0;
  };
  const Cell& cell(std::int32_t depth, std::int32_t rank) const;
  Cell& cell(std::int32_t depth, std::int32_t rank);

  const CostProfile* profile_;
  bool deterministic_seen_ = false;  // the last tree had deterministic children
  bool any_seen_ = false;
  std::int32_t idle_steps_ = 0;           // steps in a row that verified no draft node
  std::int32_t recent_kept_[kRecent] = {};  // kept sizes of the last pruned trees (-1 = none yet)
  std::int32_t recent_next_ = 0;
  std::vector<Cell> cells_ = std::vector<Cell>(kDepths * kRanks);
  // prune() scratch
  std::vector<double> value_;
  std::vector<std::int32_t> rank_, first_child_, next_sibling_, order_, remap_, frontier_;
  std::vector<std::uint8_t> keep_, on_path_;
  DraftTree pruned_;
};

}  // namespace speclab
