// Tree attention inputs (model/language_model.h ForwardBatch): the ancestor mask and positions.
#pragma once
#include <cstdint>
#include <vector>

#include "trees/draft_tree.h"

namespace speclab {

// mask = [n * n] row-major uint8, mask[i * n + j] = 1 iff j is i or an ancestor of i (so the
// diagonal is set and the upper triangle is 0, as ForwardBatch::mask requires). Resizes `mask`
// (no allocation once it has capacity). A chain gives the causal lower triangle.
void ancestor_mask(const DraftTree& tree, std::vector<std::uint8_t>& mask);

// positions[i] = base + depth[i]: absolute positions of the tree entries when the root sits at
// position `base` (siblings share a position).
void tree_positions(const DraftTree& tree, std::int32_t base, std::vector<std::int32_t>& positions);

}  // namespace speclab
