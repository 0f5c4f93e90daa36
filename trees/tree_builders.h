// Tree builders. Every builder respects DraftBudget (max_nodes excludes the root; max_depth caps
// depth, 0 = unlimited) and writes a DraftTree in which parents precede children and siblings
// are in the drafter's preference order.
//
//  - build_chain: a chain from a token list.
//  - instantiate_template: fills a static TreeTemplate (trees/choices.h: Medusa choices, Token
//    Recycling BFS, budget-optimal) with the drafter's top-k candidates per node.
//  - build_dynamic_tree: EAGLE-2 style dynamic tree (Li et al. 2024, "EAGLE-2: Faster Inference
//    of Language Models with Dynamic Draft Trees"): expand the best-scoring frontier nodes by
//    cumulative log-probability, then keep the best max_nodes of all.
//  - optimal_template: Sequoia style (Chen et al. 2024, "Sequoia: Scalable, Robust, and
//    Hardware-aware Speculative Decoding") budget-optimal shape from an acceptance profile by
//    dynamic programming.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/types.h"
#include "trees/choices.h"
#include "trees/draft_tree.h"

namespace speclab {

struct Candidate {
  Token token = 0;
  float log_prob = 0.0f;  // drafter's log-probability of the token under the node (<= 0)
};

// Writes up to k candidates for the children of `node` of `tree` (best first) into `out`
// (cleared by the callee). Fewer than k is allowed (those child slots are skipped).
using CandidateFn = std::function<void(const DraftTree& tree, std::int32_t node, std::int32_t k,
                                       std::vector<Candidate>& out)>;

// out = root followed by tokens[0], tokens[1], ... as a chain, cut to the budget.
void build_chain(Token root, std::span<const Token> tokens, const DraftBudget& budget,
                 DraftTree& out, ChildSampling kind = ChildSampling::kDeterministic);

// Fills `tmpl` (cut to `budget` first) in BFS order: for each node with children, calls
// `candidates(out, node, max child rank + 1)` once and gives the child of rank r the r-th
// candidate; children whose rank has no candidate are dropped with their subtrees. Node score =
// parent score + candidate log_prob. The tree's ChildSampling is kDeterministic.
void instantiate_template(Token root, const TreeTemplate& tmpl, const DraftBudget& budget,
                          const CandidateFn& candidates, DraftTree& out);

struct DynamicTreeOptions {
  std::int32_t top_k = 8;         // children requested per expanded node
  std::int32_t expand_top = 8;    // frontier nodes expanded per depth (best cumulative score)
  std::int32_t max_depth = 6;     // depth when the budget has no cap (budget.max_depth caps it)
  void validate() const;          // throws Error: all >= 1
};

// EAGLE-2 style: depth by depth, expand the `expand_top` best-scoring nodes of the newest layer
// with their top-k candidates; then rerank every drafted node by cumulative log-probability and
// keep the best budget.max_nodes (ties: earlier-created first), which is ancestor-closed because a
// child's score never exceeds its parent's. The result is re-indexed in BFS order; ChildSampling
// is kDeterministic. `candidates` sees a staging tree (node indices of that tree).
void build_dynamic_tree(Token root, const DraftBudget& budget, const DynamicTreeOptions& options,
                        const CandidateFn& candidates, DraftTree& out);

// The same EAGLE-2 rule driven by the caller one depth at a time, for drafters that score a
// whole depth in one batched forward (the `eagle` head runs the expanded nodes of a depth as
// one tree-masked batch): begin(root); add_children(0, ...); then per depth d = 1, 2, ...:
// best_at_depth(d, n) names the nodes to expand, the caller scores them and add_children()s
// their candidates; finish(max_nodes, out) keeps the best max_nodes drafted nodes by cumulative
// log-probability (ties: earlier-created first), which is ancestor-closed (a child's score
// never exceeds its parent's) and sibling-prefix closed (siblings are added best first with
// the same parent score), re-indexed in BFS order with siblings best first; ChildSampling
// kDeterministic. Buffers are members: no allocation once they have grown (unlike
// build_dynamic_tree, which makes its staging tree per call).
class DynamicTreeStage {
 public:
  // Starts a staging tree holding only `root`.
  void begin(Token root);
  // The staging tree (node 0 = root; nodes in creation order; score = cumulative log-prob).
  const DraftTree& tree() const { return stage_; }
  // Appends cands (best first) as children of staging node u: score = score(u) + log_prob,
  // q_token = exp(log_prob). Throws Error for a log_prob > 0 (or NaN); asserts u is a node.
  void add_children(std::int32_t u, std::span<const Candidate> cands);
  // The min(n, count) best nodes at depth d (score, ties: earlier-created first), returned in
  // creation order. Valid until the next call.
  std::span<const std::int32_t> best_at_depth(std::int32_t d, std::int32_t n);
  // out = root + the best max_nodes (>= 0) drafted nodes (see above).
  void finish(std::int32_t max_nodes, DraftTree& out);

 private:
  bool better(std::int32_t a, std::int32_t b) const {
    return stage_.score[a] > stage_.score[b] || (stage_.score[a] == stage_.score[b] && a < b);
  }
  DraftTree stage_;
  std::vector<std::int32_t> pick_;     // best_at_depth's result
  std::vector<std::int32_t> keep_;     // finish: kept staging nodes
  std::vector<std::int32_t> node_of_;  // finish: staging node -> output node (-1 = dropped)
};

// Acceptance profile: at(d, r) = probability that a child at depth d (>= 1) with sibling rank r
// is accepted given its parent was. Rows by depth (row 0 = depth 1); depths beyond the last row
// reuse the last row; ranks beyond a row's width have probability 0. One row = depth-independent.
struct AcceptanceProfile {
  std::vector<std::vector<double>> by_depth;
  double at(std::int32_t depth, std::int32_t rank) const;
  void validate() const;  // throws Error: at least one row, values in [0, 1]
};

// Expected accepted tokens of a shape: sum over non-root nodes of the product of at(depth, rank)
// along the root-to-node path.
double expected_accepted(const TreeTemplate& t, const AcceptanceProfile& profile);

// The template with <= budget.max_nodes non-root nodes and depth <= budget.max_depth (0 = no
// cap beyond max_nodes) maximizing expected_accepted, over trees whose children use ranks
// 0..k-1. Dynamic programming over (budget, depth, rank): O(depth * ranks * budget^2).
// `value` (optional) receives the optimum.
TreeTemplate optimal_template(const AcceptanceProfile& profile, const DraftBudget& budget,
                              double* value = nullptr);

}  // namespace speclab
