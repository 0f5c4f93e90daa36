// Static tree shapes ("templates"): Medusa-style `choices` lists (Cai et al. 2024: each entry is
// the path of sibling ranks from the root, e.g. [[0],[0,0],[1],[0,1]]) and per-depth branching
// factors (Token Recycling style breadth-first template, e.g. {8,4,2,1,1,1}). A drafter
// instantiates a template by filling tokens (trees/tree_builders.h: instantiate_template).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trees/draft_tree.h"

namespace speclab {

// A tree shape in breadth-first order: node 0 is the root; depth is non-decreasing; parents
// precede children; siblings appear in increasing rank. rank = index of the node's token among
// its parent's candidates (0 = the drafter's best).
struct TreeTemplate {
  std::vector<std::int32_t> parent;  // [n]; -1 for the root
  std::vector<std::int32_t> rank;    // [n]; 0 for the root
  std::vector<std::int32_t> depth;   // [n]; 0 for the root
  std::int32_t size() const { return static_cast<std::int32_t>(parent.size()); }
  std::int32_t max_depth() const;
  // Throws Error if the arrays are inconsistent, not BFS ordered, or ranks repeat under a parent.
  void validate() const;
};

// The root-only template.
TreeTemplate root_template();

// Parses a choices list "[[0],[0,0],[1],[0,1]]" (whitespace allowed; "[]" = root only).
// Throws Error naming the position for malformed text and for negative ranks.
std::vector<std::vector<std::int32_t>> parse_choices(std::string_view text);
// Formats paths back as "[[0],[0,0]]".
std::string format_choices(const std::vector<std::vector<std::int32_t>>& choices);

// Template of a choices list, BFS order (by depth, then lexicographic path). Throws Error for an
// empty path, a negative rank, a duplicate path, or a list that is not prefix-closed (every
// proper prefix of an entry must be an entry).
TreeTemplate template_from_choices(const std::vector<std::vector<std::int32_t>>& choices);
// Inverse of template_from_choices: the rank path of every non-root node, in template order.
std::vector<std::vector<std::int32_t>> choices_of(const TreeTemplate& t);

// Breadth-first template: the root has branching[0] children, each of those branching[1], ...
// Throws Error for a factor < 1. Sizes grow as products: cut with cut_to_budget.
TreeTemplate template_from_branching(std::span<const std::int32_t> branching);

// The first budget.max_nodes non-root nodes in BFS order with depth <= budget.max_depth (0 =
// unlimited). A BFS prefix is ancestor-closed, so the result is a valid template.
// max_nodes < 0 throws Error.
TreeTemplate cut_to_budget(const TreeTemplate& t, const DraftBudget& budget);

}  // namespace speclab
