#include "tests/testing/reference_llama.h"

#include <cmath>
#include <numbers>

#include "base/error.h"

namespace speclab::testing {

namespace {

using Vec = std::vector<double>;

// y = W x (+ b), W row-major [rows, cols].
Vec linear(const std::vector<float>& W, const std::vector<float>& b, const Vec& x, int rows) {
  const int cols = static_cast<int>(x.size());
  Vec y(rows, 0.0);
  for (int r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int c = 0; c < cols; ++c) s += static_cast<double>(W[static_cast<std::size_t>(r) * cols + c]) * x[c];
    if (!b.empty()) s += b[r];
    y[r] = s;
  }
  return y;
}

// Weights in any stored type: the values they encode (dequantised), in double precision.
Vec linear(const WeightMatrix& W, const std::vector<float>& b, const Vec& x, int rows) {
  return linear(W.to_f32(), b, x, rows);
}

Vec rmsnorm(const Vec& x, const std::vector<float>& weight, double eps) {
  double ms = 0.0;
  for (double v : x) ms += v * v;
  ms /= static_cast<double>(x.size());
  const double inv = 1.0 / std::sqrt(ms + eps);
  Vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * weight[i];
  return y;
}

// Rotary frequency of pair i (0 <= i < head_dim/2) with the configured scaling.
double rope_frequency(const ModelInfo& m, int i) {
  const double base = std::pow(static_cast<double>(m.rope_theta), -2.0 * i / m.head_dim);
  const RopeScaling& s = m.rope_scaling;
  switch (s.type) {
    case RopeScalingType::kNone:
      return base;
    case RopeScalingType::kLinear:
      return base / s.factor;
    case RopeScalingType::kLlama3: {
      const double wavelength = 2.0 * std::numbers::pi / base;
      const double short_limit = s.original_max_position / static_cast<double>(s.high_freq_factor);
      const double long_limit = s.original_max_position / static_cast<double>(s.low_freq_factor);
      if (wavelength < short_limit) return base;
      if (wavelength > long_limit) return base / s.factor;
      const double t = (s.original_max_position / wavelength - s.low_freq_factor) /
                       (s.high_freq_factor - s.low_freq_factor);
      return (1.0 - t) * base / s.factor + t * base;
    }
  }
  return base;
}

// Rotates every head of v (n_heads * head_dim) for position pos.
void rotate(Vec& v, const ModelInfo& m, int n_heads, int pos) {
  const int hd = m.head_dim;
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < hd / 2; ++i) {
      const double angle = pos * rope_frequency(m, i);
      int a, b;
      if (m.rope_style == RopeStyle::kInterleaved) {
        a = h * hd + 2 * i;
        b = a + 1;
      } else {
        a = h * hd + i;
        b = a + hd / 2;
      }
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
      v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
    }
  }
}

std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

std::vector<float> head_logits(const LlamaWeights& w, const Vec& normed) {
  static const std::vector<float> kNoBias;
  return to_float(linear(w.classifier_matrix(), kNoBias, normed, w.info.vocab_size));
}

}  // namespace

ReferenceForward reference_forward(const LlamaWeights& w, std::span<const Token> tokens,
                                   std::int32_t exit_layer) {
  const ModelInfo& m = w.info;
  const int L = exit_layer == -1 ? m.n_layers : exit_layer;
  SPECLAB_ASSERT(L >= 1 && L <= m.n_layers);
  const int d = m.dim, hd = m.head_dim;
  const int q_dim = m.n_heads * hd, kv_dim = m.n_kv_heads * hd;
  const std::vector<float> no_bias;
  // keys[l][t], values[l][t]: [kv_dim] per layer and position.
  std::vector<std::vector<Vec>> keys(L), values(L);
  ReferenceForward out;
  out.hidden.assign(L + 1, {});
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    const Token tok = tokens[t];
    SPECLAB_ASSERT(tok >= 0 && tok < m.vocab_size);
    Vec x(d);
    std::vector<float> e(static_cast<std::size_t>(d));
    w.token_embedding.dequantize_row(tok, e.data());
    for (int i = 0; i < d; ++i) x[i] = e[i];
    out.hidden[0].push_back(to_float(x));
    for (int l = 0; l < L; ++l) {
      const LlamaLayerWeights& lw = w.layers[l];
      const Vec xn = rmsnorm(x, lw.attn_norm, m.norm_eps);
      Vec q = linear(lw.wq, m.qkv_bias ? lw.bq : no_bias, xn, q_dim);
      Vec k = linear(lw.wk, m.qkv_bias ? lw.bk : no_bias, xn, kv_dim);
      Vec v = linear(lw.wv, m.qkv_bias ? lw.bv : no_bias, xn, kv_dim);
      rotate(q, m, m.n_heads, static_cast<int>(t));
      rotate(k, m, m.n_kv_heads, static_cast<int>(t));
      keys[l].push_back(k);
      values[l].push_back(v);
      Vec attn(q_dim, 0.0);
      const int heads_per_kv = m.n_heads / m.n_kv_heads;
      for (int h = 0; h < m.n_heads; ++h) {
        const int g = h / heads_per_kv;
        std::vector<double> score(t + 1);
        double max_score = -1e300;
        for (std::size_t s = 0; s <= t; ++s) {
          double dot = 0.0;
          for (int i = 0; i < hd; ++i) dot += q[h * hd + i] * keys[l][s][g * hd + i];
          score[s] = dot / std::sqrt(static_cast<double>(hd));
          max_score = std::max(max_score, score[s]);
        }
        double total = 0.0;
        for (auto& s : score) {
          s = std::exp(s - max_score);
          total += s;
        }
        for (std::size_t s = 0; s <= t; ++s) {
          for (int i = 0; i < hd; ++i) attn[h * hd + i] += score[s] / total * values[l][s][g * hd + i];
        }
      }
      const Vec o = linear(lw.wo, no_bias, attn, d);
      for (int i = 0; i < d; ++i) x[i] += o[i];
      const Vec xf = rmsnorm(x, lw.ffn_norm, m.norm_eps);
      const Vec gate = linear(lw.w1, no_bias, xf, m.hidden_dim);
      const Vec up = linear(lw.w3, no_bias, xf, m.hidden_dim);
      Vec mid(m.hidden_dim);
      for (int i = 0; i < m.hidden_dim; ++i) mid[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const Vec down = linear(lw.w2, no_bias, mid, d);
      for (int i = 0; i < d; ++i) x[i] += down[i];
      out.hidden[l + 1].push_back(to_float(x));
    }
    const Vec normed = rmsnorm(x, w.final_norm, m.norm_eps);
    out.final_normed.push_back(to_float(normed));
    out.logits.push_back(head_logits(w, normed));
  }
  return out;
}

std::vector<std::vector<float>> reference_logits(const LlamaWeights& w,
                                                 std::span<const Token> tokens) {
  return reference_forward(w, tokens).logits;
}

std::vector<float> reference_head(const LlamaWeights& w, std::span<const float> residual) {
  const Vec x(residual.begin(), residual.end());
  return head_logits(w, rmsnorm(x, w.final_norm, w.info.norm_eps));
}

}  // namespace speclab::testing
