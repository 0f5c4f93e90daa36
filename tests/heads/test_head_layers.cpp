// Finite-difference gradient checks (double precision, central differences) for every layer
// type of the draft heads (heads/head_layers.h): linear, residual SiLU block, RMSNorm (input
// gradient; its gain is the frozen target's), soft cross-entropy. Each check perturbs every
// parameter / input entry of a small random instance and compares with the hand-derived
// backward through a scalar loss L = sum(R .* y) with a fixed random R.
#include <gtest/gtest.h>

#include <functional>

#include "base/rng.h"
#include "heads/head_layers.h"

namespace speclab::heads {
namespace {

using M = Mat<double>;
using V = Vec<double>;
using C = Eigen::Matrix<double, Eigen::Dynamic, 1>;

M random_mat(Rng& rng, int r, int c, double scale = 1.0) {
  M m(r, c);
  for (int i = 0; i < r; ++i) {
    for (int j = 0; j < c; ++j) m(i, j) = scale * rng.normal();
  }
  return m;
}

// Checks analytic gradient `g` of f at `x` (f reads x) entry by entry.
void expect_gradient(const std::function<double()>& f, M& x, const M& g, const char* what) {
  const double h = 1e-6;
  double worst = 0.0;
  for (int i = 0; i < x.rows(); ++i) {
    for (int j = 0; j < x.cols(); ++j) {
      const double keep = x(i, j);
      x(i, j) = keep + h;
      const double fp = f();
      x(i, j) = keep - h;
      const double fm = f();
      x(i, j) = keep;
      const double num = (fp - fm) / (2 * h);
      const double err = std::abs(num - g(i, j)) / std::max(1.0, std::abs(num));
      worst = std::max(worst, err);
      EXPECT_NEAR(g(i, j), num, 1e-6 * std::max(1.0, std::abs(num))) << what << " (" << i << "," << j << ")";
    }
  }
  EXPECT_LT(worst, 1e-6) << what;
}

TEST(HeadLayers, LinearGradients) {
  Rng rng(1);
  M x = random_mat(rng, 5, 7), w = random_mat(rng, 4, 7);
  M b = random_mat(rng, 1, 4);
  const M R = random_mat(rng, 5, 4);
  auto f = [&] {
    M y;
    linear_forward<double>(x, w, V(b), y);
    return (y.array() * R.array()).sum();
  };
  M dw = M::Zero(4, 7);
  V db = V::Zero(4);
  M dx;
  linear_backward<double>(R, x, w, dw, db, &dx);
  expect_gradient(f, w, dw, "dW");
  expect_gradient(f, b, M(db), "db");
  expect_gradient(f, x, dx, "dx");
}

TEST(HeadLayers, ResidualSiluGradients) {
  Rng rng(2);
  const int n = 6, d = 5;
  M x = random_mat(rng, n, d), w = random_mat(rng, d, d, 0.7), b = random_mat(rng, 1, d, 0.5);
  const M R = random_mat(rng, n, d);
  auto f = [&] {
    M z, y;
    residual_forward<double>(x, w, V(b), z, y);
    return (y.array() * R.array()).sum();
  };
  M z, y, dz;
  residual_forward<double>(x, w, V(b), z, y);
  M dw = M::Zero(d, d);
  V db = V::Zero(d);
  M dy = R;  // becomes dx
  residual_backward<double>(x, z, w, dy, dw, db, dz);
  expect_gradient(f, w, dw, "dW");
  expect_gradient(f, b, M(db), "db");
  expect_gradient(f, x, dy, "dx");
}

TEST(HeadLayers, ResidualBlockStartsAsIdentity) {
  Rng rng(3);
  const M x = random_mat(rng, 3, 4);
  M z, y;
  residual_forward<double>(x, M::Zero(4, 4), V::Zero(4), z, y);
  EXPECT_EQ(y, x);  // SiLU(0) = 0
}

TEST(HeadLayers, RmsNormInputGradient) {
  Rng rng(4);
  const int n = 4, d = 6;
  M x = random_mat(rng, n, d, 2.0);
  const V g = V(random_mat(rng, 1, d)).array() + 1.0;
  const M R = random_mat(rng, n, d);
  const double eps = 1e-5;
  auto f = [&] {
    M y;
    C inv;
    rmsnorm_forward<double>(x, g, eps, y, inv);
    return (y.array() * R.array()).sum();
  };
  M y, dx;
  C inv;
  rmsnorm_forward<double>(x, g, eps, y, inv);
  rmsnorm_backward<double>(x, g, inv, R, dx);
  expect_gradient(f, x, dx, "dx");
  // Forward matches the definition.
  for (int i = 0; i < n; ++i) {
    const double r = std::sqrt(x.row(i).squaredNorm() / d + eps);
    for (int j = 0; j < d; ++j) EXPECT_NEAR(y(i, j), g(j) * x(i, j) / r, 1e-12);
  }
}

TEST(HeadLayers, SoftCrossEntropyGradient) {
  Rng rng(5);
  const int n = 3, v = 7;
  M z = random_mat(rng, n, v, 2.0);
  // Target rows: mixture of a one-hot and a random distribution.
  M t = M::Zero(n, v);
  for (int i = 0; i < n; ++i) {
    t(i, static_cast<int>(rng.below(v))) += 0.6;
    C r(v);
    for (int j = 0; j < v; ++j) r(j) = rng.uniform() + 0.01;
    t.row(i) += 0.4 * (r / r.sum()).transpose();
  }
  C w(n);
  w << 0.5, 1.0, 2.0;
  auto f = [&] {
    M zz = z;
    return soft_xent<double>(zz, t, w);
  };
  M dz = z;
  const double loss = soft_xent<double>(dz, t, w);
  expect_gradient(f, z, dz, "dz");
  // Value: sum_i w_i * (-sum_j t_ij log softmax(z_i)_j).
  double ref = 0.0;
  for (int i = 0; i < n; ++i) {
    const double lse = std::log(z.row(i).array().exp().sum());
    for (int j = 0; j < v; ++j) ref -= w(i) * t(i, j) * (z(i, j) - lse);
  }
  EXPECT_NEAR(loss, ref, 1e-12);
}

}  // namespace
}  // namespace speclab::heads
