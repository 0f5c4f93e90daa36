#include <gtest/gtest.h>

#include <cmath>

#include "base/rng.h"

namespace speclab {
namespace {

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= (x != c.next_u64());
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, UniformMomentsAndRange) {
  Rng r(7);
  const int n = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum2 += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NEAR(sum2 / n - (sum / n) * (sum / n), 1.0 / 12, 0.002);
}

TEST(Rng, GumbelMean) {
  Rng r(11);
  const int n = 200000;
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += r.gumbel();
  EXPECT_NEAR(sum / n, 0.5772156649, 0.01);  // Euler-Mascheroni constant
}

}  // namespace
}  // namespace speclab
