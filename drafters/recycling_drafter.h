// `recycling`: Token Recycling (Luo et al. 2024, "Turning Trash into Treasure: Accelerating
// Inference of Large Language Models with Token Recycling", arXiv 2408.08696). Training-free.
//
// State: an adjacency matrix A [V, k] of int32 token ids (row t = candidate next tokens after t,
// best first; -1 = row never filled, "cold"). V = the target's vocab, learnt from the first
// observe() (or from load_state). For V = 32000, k = 8 it takes 1,024,000 bytes.
//
// observe(): for EVERY node i of the verified tree (accepted or not), A[token_i] = top-k ids of
// the target logits row i (the target's prediction after node i): the "trash" of verification
// becomes the next drafts. Ties in top-k go to the lower id. When a token occurs at several
// nodes, the last write wins: nodes off the accepted path are written first (index order), then
// the accepted path, so the prediction made in the real context is kept (our choice; the paper
// updates from all nodes without specifying the order).
//
// propose(): expands a static template from the root token in template order: a template node of
// rank r under a node holding token t gets token A[t][r]; cold rows and ranks >= k are skipped
// (with their subtrees); a child equal to an existing sibling is merged into it (its template
// children expand under the existing node). Template nodes are visited in template order and the
// expansion stops at budget.max_nodes draft nodes; nodes deeper than budget.max_depth are skipped.
// Node score = sum over the path of log(recycling_rank_profile(rank)). A budget larger than the
// template gives the template's size at most (default 80 nodes; raise with nodes=...).
//
// Templates (at most one of these keys):
//   default (auto): the `nodes` (80) highest-scoring paths of depth <= `depth` (6) under the
//     rank-acceptance profile recycling_rank_profile (rank r accepted with probability a_r), in
//     score order. Its level sizes are 8,21,25,13,11,2, close to the paper's default tree
//     "2.2.2" (8,21,25,15,8,3 over 6 levels, 80 nodes). A budget B < 80 takes the B best paths
//     of the same order, so smaller budgets get the best smaller tree, not a truncated level.
//   branching=8x2x1x1 (also 8-2-1-1): every depth-d node gets b_{d+1} children, ranks
//     0..b-1, in BFS order; the budget cuts it in BFS order.
//   choices=[[0],[1],[0,0]]: a Medusa-style choices list (trees/choices.h parses it; every
//     prefix must be listed), ordered by (depth, lexicographic); cut in that order.
// State policy `state`: cold (default) = begin() restores the initial matrix (empty, or the
// file given by `load`), so every prompt starts the same; warm = the matrix persists across
// prompts (the paper's "hot start"). Params: k=8 (1..256), state=cold|warm, load=PATH, and one
// of nodes/depth (auto), branching, choices. Bad values throw Error naming key, value and rule.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"

namespace speclab {

// A static tree template: node 0 = root; node i > 0 is the rank[i]-th candidate of node
// parent[i] (parent[i] < i). Expansion and budget cuts follow index order.
struct RecyclingTemplate {
  std::vector<std::int32_t> parent;
  std::vector<std::int32_t> rank;
  std::vector<std::int32_t> depth;
  std::int32_t size() const { return static_cast<std::int32_t>(parent.size()); }
  std::int32_t max_depth() const;
  std::vector<std::int32_t> level_sizes() const;  // [max_depth] nodes per depth 1..max_depth
};

// The assumed acceptance probability of a row's rank-r candidate, used for the auto template and
// node scores. Ranks >= 8 decay geometrically from the last entry.
double recycling_rank_profile(std::int32_t rank);

// The `n_nodes` best paths (product of rank_profile over the path), depth <= max_depth, ranks
// < k, in decreasing score order (ties: shorter path, then lower ranks). n_nodes excludes root.
RecyclingTemplate recycling_auto_template(std::int32_t n_nodes, std::int32_t max_depth,
                                          std::int32_t k);
// Per-depth branching factors, BFS order. Throws Error for an empty list or factors < 1.
RecyclingTemplate recycling_branching_template(std::span<const std::int32_t> branching);
// Parses "8x2x1" / "8-2-1" (Error naming `what` on malformed text).
std::vector<std::int32_t> parse_branching(std::string_view text, std::string_view what);
// Medusa-style "[[0],[1],[0,0]]". Throws Error for malformed text, negative ranks, missing
// prefixes, duplicates or an empty list.
RecyclingTemplate recycling_choices_template(std::string_view choices, std::string_view what);

enum class StatePolicy { kCold, kWarm };

struct RecyclingOptions {
  std::int32_t k = 8;
  StatePolicy state = StatePolicy::kCold;
  std::string load_path;          // empty = start empty
  std::string template_desc = "auto(nodes=80,depth=6)";
  RecyclingTemplate tree;         // filled by from_params / default
  static RecyclingOptions from_params(const DrafterParams& p);  // throws Error (every problem)
};

// The registry entry (drafters/drafter_kind.h): the keys above; recycled candidates
// (kDeterministic children); keeps its matrix across prompts under state=warm.
const DrafterKind& recycling_drafter_kind();

class RecyclingDrafter final : public Drafter {
 public:
  RecyclingDrafter();  // defaults
  explicit RecyclingDrafter(RecyclingOptions options);
  explicit RecyclingDrafter(const DrafterParams& params);

  std::string_view name() const override { return name_; }
  DrafterNeeds needs() const override { return {}; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  // Binary state file: magic "SPLTRCY1", uint32 version 1, int32 V, int32 k, then V*k int32
  // ids (-1 = empty), little-endian. save_state throws Error when nothing was learnt yet (V
  // unknown) or the file cannot be written; load_state throws Error for an unreadable file, bad
  // magic/version, k different from this drafter's k, V <= 0, a size that does not match, or
  // ids outside [-1, V). A loaded matrix replaces the current one.
  void save_state(const std::string& path) const;
  void load_state(const std::string& path);

  std::int32_t vocab() const { return vocab_; }
  std::int32_t k() const { return options_.k; }
  std::size_t matrix_bytes() const { return adj_.size() * sizeof(std::int32_t); }
  // Row t of the matrix (k ids, -1 = empty); empty span before the vocab is known.
  std::span<const Token> row(Token t) const;
  const RecyclingTemplate& tree_template() const { return options_.tree; }

 private:
  void ensure_vocab(std::int32_t vocab);

  RecyclingOptions options_;
  std::string name_;
  std::int32_t vocab_ = 0;
  std::vector<Token> adj_;           // [vocab_, k]
  std::vector<Token> initial_adj_;   // matrix restored by begin() under state=cold (loaded file)
  std::int32_t initial_vocab_ = 0;
  // propose scratch:
  std::vector<std::int32_t> map_;         // template node -> out node, -1 = dropped
  std::vector<std::int32_t> first_child_, next_sibling_;  // per out node
  std::vector<float> topk_val_;           // observe scratch [k]
  std::vector<std::uint8_t> on_path_;     // observe scratch [tree size]
};

// Top-k ids of `row` (largest first; ties to the lower id) into ids[0..k); when row.size() < k
// the tail is -1. `vals` is scratch of length k. One pass; blocks below the current k-th value
// are skipped with a vectorizable test. NaN and -inf entries are never selected (their slots
// stay -1).
void top_k_ids(std::span<const float> row, std::int32_t k, Token* ids, float* vals);

}  // namespace speclab
