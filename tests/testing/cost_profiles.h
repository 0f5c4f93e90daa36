// Synthetic cost profiles for tests of the cost model, the projection and the "cost" budget
// policy (experiments/cost_model.h, cost_policy.h): a step of n tokens on a cache of L costs
// base + slope * (n - 1) + per_cached * L milliseconds, tabulated at n = 1, 2, 4, ..., 256 and
// L = 0, 1024 (linear, so the table's interpolation is exact everywhere).
#pragma once
#include <string>

#include "experiments/cost_model.h"

namespace speclab::testing {

inline CostProfile linear_cost_profile(double slope, double base = 1.0, double per_cached = 0.001,
                                       const std::string& name = "linear") {
  CostProfile p;
  p.name = name;
  p.kind = "measured";
  p.source = "tests: linear synthetic profile";
  p.target.n = default_profile_sizes();
  p.target.cached = {0, 1024};
  for (const std::int32_t l : p.target.cached) {
    for (const std::int32_t n : p.target.n) p.target.ms.push_back(base + slope * (n - 1) + per_cached * l);
  }
  return p;
}

}  // namespace speclab::testing
