#include "drafters/del_policy.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace speclab {

double tokens_per_layer(double alpha, std::int32_t layer, std::int32_t d, std::int32_t n_layers,
                        double head_cost) {
  SPECLAB_ASSERT(layer >= 1 && layer < n_layers && d >= 1 && head_cost >= 0.0);
  const double a = std::clamp(alpha, 0.0, 1.0);
  // Expected tokens per step: 1 + a + a^2 + ... + a^d (the geometric sum, exact at a = 1).
  double expected = 0.0, term = 1.0;
  for (std::int32_t k = 0; k <= d; ++k) {
    expected += term;
    term *= a;
  }
  return expected / (static_cast<double>(d) * (layer + head_cost) + n_layers + head_cost);
}

ExitChoice choose_exit(std::span<const double> alpha, std::int32_t n_layers, std::int32_t max_d,
                       std::span<const std::int32_t> candidates, double head_cost) {
  if (!(head_cost >= 0.0)) fail("del: head_cost = {}: must be >= 0", head_cost);
  if (n_layers < 2) fail("del: n_layers = {}: an exit layer needs at least 2 layers", n_layers);
  if (max_d < 1) fail("del: max_d = {}: must be >= 1", max_d);
  if (alpha.size() != static_cast<std::size_t>(n_layers - 1)) {
    fail("del: alpha table size = {}: must be n_layers - 1 = {}", alpha.size(), n_layers - 1);
  }
  for (std::size_t i = 0; i < alpha.size(); ++i) {
    if (std::isnan(alpha[i])) fail("del: alpha[{}] = NaN: must be a number in [0, 1]", i + 1);
  }
  for (std::int32_t l : candidates) {
    if (l < 1 || l >= n_layers) {
      fail("del: candidate layer {}: must be in [1, n_layers = {})", l, n_layers);
    }
  }
  ExitChoice best;
  best.tpl = -1.0;
  auto consider = [&](std::int32_t l) {
    for (std::int32_t d = 1; d <= max_d; ++d) {
      const double t = tokens_per_layer(alpha[l - 1], l, d, n_layers, head_cost);
      const bool better = t > best.tpl || (t == best.tpl && (l < best.exit_layer ||
                                                             (l == best.exit_layer && d < best.draft_len)));
      if (better) best = ExitChoice{l, d, t};
    }
  };
  if (candidates.empty()) {
    for (std::int32_t l = 1; l < n_layers; ++l) consider(l);
  } else {
    for (std::int32_t l : candidates) consider(l);
  }
  return best;
}

}  // namespace speclab
