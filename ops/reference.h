// Naive reference twins of the kernels in ops/: plain loops in double precision, written for
// obviousness, not speed. tests/ops compares every optimized kernel with its twin (to a
// tolerance: the kernels round in float) and bench/bench_ops times both.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace speclab::reference {

inline double dot(const float* a, const float* b, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// y[n, n_out] = x[n, n_in] w[n_out, n_in]^T (+ bias).
inline std::vector<double> matmul(const float* x, int n, const float* w, int n_out, int n_in, const float* bias) {
  std::vector<double> y(static_cast<std::size_t>(n) * n_out);
  for (int t = 0; t < n; ++t) {
    for (int o = 0; o < n_out; ++o) {
      double s = bias ? bias[o] : 0.0;
      for (int i = 0; i < n_in; ++i) s += static_cast<double>(x[static_cast<std::size_t>(t) * n_in + i]) * w[static_cast<std::size_t>(o) * n_in + i];
      y[static_cast<std::size_t>(t) * n_out + o] = s;
    }
  }
  return y;
}

inline std::vector<double> rms_norm(const float* x, const float* gain, int n, int d, double eps) {
  std::vector<double> out(static_cast<std::size_t>(n) * d);
  for (int t = 0; t < n; ++t) {
    double ss = 0.0;
    for (int i = 0; i < d; ++i) ss += static_cast<double>(x[static_cast<std::size_t>(t) * d + i]) * x[static_cast<std::size_t>(t) * d + i];
    const double r = 1.0 / std::sqrt(ss / d + eps);
    for (int i = 0; i < d; ++i) out[static_cast<std::size_t>(t) * d + i] = x[static_cast<std::size_t>(t) * d + i] * r * gain[i];
  }
  return out;
}

inline std::vector<double> softmax(std::span<const float> x) {
  double m = -INFINITY;
  for (float v : x) m = std::max(m, static_cast<double>(v));
  std::vector<double> p(x.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(x[i] - m);
  for (double& v : p) v /= sum;
  return p;
}

// One row [n_heads, head_dim] rotated for position pos with per-pair frequencies inv_freq.
inline std::vector<double> rope(std::span<const float> row, int n_heads, int head_dim, bool interleaved, double pos,
                                std::span<const float> inv_freq) {
  std::vector<double> out(row.begin(), row.end());
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    for (int p = 0; p < half; ++p) {
      const int a = h * head_dim + (interleaved ? 2 * p : p);
      const int b = h * head_dim + (interleaved ? 2 * p + 1 : p + half);
      const double angle = pos * inv_freq[p];
      out[a] = row[a] * std::cos(angle) - row[b] * std::sin(angle);
      out[b] = row[a] * std::sin(angle) + row[b] * std::cos(angle);
    }
  }
  return out;
}

}  // namespace speclab::reference
