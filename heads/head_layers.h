// The layer types of the draft heads (heads/head_net.h), forward and hand-derived backward, on
// row-major Eigen matrices with one row per example. Templated on the scalar so the tests check
// every backward against central finite differences in double precision, while training runs
// in float. Weights use PyTorch layout [out, in]: y = x W^T + b.
//
//   linear:        y = x W^T + b                dW = dy^T x, db = colsum(dy), dx = dy W
//   residual SiLU: y = x + SiLU(x W^T + b)      dz = dy * SiLU'(z), dx = dy + dz W, ...
//                  SiLU(z) = z s(z), SiLU'(z) = s(z) (1 + z (1 - s(z))), s = logistic
//   RMSNorm:       y = g * x / r, r = sqrt(mean(x^2) + eps)
//                  dx = g dy / r - x (sum(g dy x) / (n r^3))    (g frozen: the target's)
//   soft cross-entropy on logits z against a target distribution t (rows sum to 1):
//                  L = -sum t log softmax(z), dz = softmax(z) - t
//                  (t = (1 - w) onehot(y) + w p_teacher: CE on the target's own tokens plus w
//                  times KL(p_teacher || softmax(z)), up to a constant)
#pragma once
#include <Eigen/Dense>

#include <cmath>

namespace speclab::heads {

template <class S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using Vec = Eigen::Matrix<S, 1, Eigen::Dynamic>;  // a row (bias)

template <class S>
inline S logistic(S z) {
  return S(1) / (S(1) + std::exp(-z));
}

// y = x W^T + b (b may be empty = no bias).
template <class S, class X, class W, class B, class Y>
void linear_forward(const X& x, const W& w, const B& b, Y& y) {
  y.noalias() = x * w.transpose();
  if (b.size() > 0) y.rowwise() += b;
}

// Accumulates dW += dy^T x, db += colsum(dy); dx = dy W when dx is non-null.
template <class S, class DY, class X, class W, class GW, class GB>
void linear_backward(const DY& dy, const X& x, const W& w, GW& dw, GB& db, Mat<S>* dx) {
  dw.noalias() += dy.transpose() * x;
  if (db.size() > 0) db += dy.colwise().sum();
  if (dx) dx->noalias() = dy * w;
}

// Residual SiLU block: z = x W^T + b; y = x + SiLU(z). Keeps z for the backward.
template <class S, class W, class B>
void residual_forward(const Mat<S>& x, const W& w, const B& b, Mat<S>& z, Mat<S>& y) {
  z.noalias() = x * w.transpose();
  z.rowwise() += b;
  y = x + z.unaryExpr([](S v) { return v * logistic(v); });
}

// Given dy (overwritten with dx): accumulates dW, db. `dz` is scratch.
template <class S, class W, class GW, class GB>
void residual_backward(const Mat<S>& x, const Mat<S>& z, const W& w, Mat<S>& dy, GW& dw, GB& db,
                       Mat<S>& dz) {
  dz = dy.cwiseProduct(z.unaryExpr([](S v) {
    const S s = logistic(v);
    return s * (S(1) + v * (S(1) - s));
  }));
  dw.noalias() += dz.transpose() * x;
  db += dz.colwise().sum();
  dy.noalias() += dz * w;
}

// RMSNorm rows of x with gain g (row vector). Keeps 1/r per row.
template <class S, class G>
void rmsnorm_forward(const Mat<S>& x, const G& g, S eps, Mat<S>& y,
                     Eigen::Matrix<S, Eigen::Dynamic, 1>& inv_r) {
  const S n = static_cast<S>(x.cols());
  inv_r = ((x.array().square().rowwise().sum() / n) + eps).rsqrt().matrix();
  y = (x.array().colwise() * inv_r.array()).rowwise() * g.array();
}

// dx from dy (g frozen).
template <class S, class G>
void rmsnorm_backward(const Mat<S>& x, const G& g, const Eigen::Matrix<S, Eigen::Dynamic, 1>& inv_r,
                      const Mat<S>& dy, Mat<S>& dx) {
  const S n = static_cast<S>(x.cols());
  Mat<S> gdy = dy.array().rowwise() * g.array();
  const Eigen::Matrix<S, Eigen::Dynamic, 1> dot = gdy.cwiseProduct(x).rowwise().sum();
  const Eigen::Matrix<S, Eigen::Dynamic, 1> c = dot.cwiseProduct(inv_r.array().cube().matrix()) / n;
  dx = (gdy.array().colwise() * inv_r.array()) - (x.array().colwise() * c.array());
}

// Softmax rows of z in place (stable).
template <class S>
void softmax_rows(Mat<S>& z) {
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    auto r = z.row(i);
    const S m = r.maxCoeff();
    r = (r.array() - m).exp();
    r /= r.sum();
  }
}

// Loss sum over rows of -sum_j t_ij log softmax(z_i)_j, weighted per row by `row_w`; z is
// replaced by dL/dz = row_w (softmax(z) - t). Returns the weighted loss.
template <class S>
S soft_xent(Mat<S>& z, const Mat<S>& t, const Eigen::Matrix<S, Eigen::Dynamic, 1>& row_w) {
  S loss = 0;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    auto r = z.row(i);
    const S m = r.maxCoeff();
    const S lse = m + std::log((r.array() - m).exp().sum());
    loss += row_w(i) * (t.row(i).array() * (lse - r.array())).sum();
    r = (r.array() - lse).exp();
    r = (r - t.row(i)) * row_w(i);
  }
  return loss;
}

}  // namespace speclab::heads
