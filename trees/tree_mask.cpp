#include "trees/tree_mask.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {

void ancestor_mask(const DraftTree& tree, std::vector<std::uint8_t>& mask) {
  const std::size_t n = tree.token.size();
  mask.assign(n * n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t par = tree.parent[i];
    if (par >= 0) {
      SPECLAB_ASSERT(static_cast<std::size_t>(par) < i);
      // Row i = row of the parent (its ancestors and itself) + i.
      std::copy_n(mask.begin() + static_cast<std::ptrdiff_t>(par * n), i,
                  mask.begin() + static_cast<std::ptrdiff_t>(i * n));
    }
    mask[i * n + i] = 1;
  }
}

void tree_positions(const DraftTree& tree, std::int32_t base, std::vector<std::int32_t>& positions) {
  positions.resize(tree.depth.size());
  for (std::size_t i = 0; i < tree.depth.size(); ++i) positions[i] = base + tree.depth[i];
}

}  // namespace speclab
