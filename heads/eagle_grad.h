// Forward and hand-derived backward of the EAGLE head (heads/eagle_head.h) over one training
// sequence, for heads/eagle_trainer.h. Templated on the scalar so the tests check the whole
// backward against central finite differences in double precision, while training runs in float.
// Weights use PyTorch layout [out, in] (y = x W^T + b), as heads/head_layers.h.
//
// One sequence of L rows, causal (row i sees rows 0..i), RoPE position of row i = pos0 + i:
//   u    = [e(x_{i+1}), f_i]                 (given; frozen inputs)
//          fused heads (EagleConfig::feature_layers): f_i = z_i Wfuse^T, z_i the given layer
//          features, so Wfuse gets the gradient reaching every true row's f_i
//   h    = u Wfc^T + bfc
//   n    = RMSNorm(h; g1) with input_norm, else h
//   q, k, v = n Wq^T + bq, n Wk^T + bk, n Wv^T + bv;  q~, k~ = RoPE(q), RoPE(k)
//   P_h  = softmax_causal(q~_h k~_g^T / sqrt(hd))    (g = the KV head of query head h)
//   o_h  = P_h v_g
//   a    = h + o Wo^T
//   m    = RMSNorm(a; g2)
//   out  = a + (SiLU(m W1^T) * (m W3^T)) W2^T      (= f̂_{i+1})
//   z    = out C^T                                 (C = the target's frozen classifier, no norm)
// Loss (summed over rows, times `scale`; the trainer passes 1 / rows in the batch):
//   w_feat * mean_d SmoothL1(out_i - f_{i+1})  +  w_tok * (-sum_v t_iv log softmax(z_i)_v)
// (EAGLE's vloss and ploss; SmoothL1 with beta 1 as PyTorch's default: 0.5 x^2 for |x| < 1,
// |x| - 0.5 else). t_i is a sparse distribution: (id, prob) entries summing to 1.
// Backward (all by the chain rule; the non-obvious steps):
//   softmax rows:   dS = P * (dP - rowsum(dP * P))   (masked entries have P = 0, hence dS = 0)
//   RoPE:           a rotation per pair: the gradient rotates back (same tables, sin negated)
//   RMSNorm with gain g: dx = g dy / r - x sum(g dy x) / (n r^3); dg = colsum(dy x / r)
//   SiLU(z) * u:    dz = dy u SiLU'(z), du = dy SiLU(z), SiLU'(z) = s(z) (1 + z (1 - s(z)))
#pragma once
#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>
#include <algorithm>
#include <limits>

#include "heads/eagle_head.h"
#include "heads/head_layers.h"

namespace speclab::heads {

template <class S>
using Col = Eigen::Matrix<S, Eigen::Dynamic, 1>;

// The trainable tensors of an EAGLE head. Empty vectors: absent (fc_b without fc_bias,
// attn_norm without input_norm, bq/bk/bv without qkv_bias).
template <class S>
struct EagleParams {
  Mat<S> fc;                  // [d, 2d]
  Vec<S> fc_b;                // [d]
  Vec<S> attn_norm;           // [d]
  Mat<S> wq, wk, wv;          // [q, d], [kv, d], [kv, d]
  Vec<S> bq, bk, bv;          // [q], [kv], [kv]
  Mat<S> wo;                  // [d, q]
  Vec<S> ffn_norm;            // [d]
  Mat<S> w1, w3;              // [hidden, d] gate, up
  Mat<S> w2;                  // [d, hidden] down
  Mat<S> fuse;                // [d, F d] (fused features only; EagleConfig::feature_layers)

  // Every present tensor, in the order of eagle_tensor_names() (the published file order).
  template <class Self>
  static auto tensors_of(Self& p) {
    using T = std::conditional_t<std::is_const_v<Self>, const S, S>;
    std::vector<std::span<T>> t;
    auto add = [&](auto& m) {
      if (m.size() > 0) t.emplace_back(m.data(), static_cast<std::size_t>(m.size()));
    };
    add(p.fc);
    add(p.fc_b);
    add(p.attn_norm);
    add(p.wq);
    add(p.wk);
    add(p.wv);
    add(p.bq);
    add(p.bk);
    add(p.bv);
    add(p.wo);
    add(p.ffn_norm);
    add(p.w1);
    add(p.w3);
    add(p.w2);
    add(p.fuse);
    return t;
  }
  std::vector<std::span<S>> tensors() { return tensors_of(*this); }
  std::vector<std::span<const S>> tensors() const { return tensors_of(*this); }

  EagleParams zeros_like() const {
    EagleParams z = *this;
    for (auto t : z.tensors()) std::fill(t.begin(), t.end(), S(0));
    return z;
  }
  template <class T>
  EagleParams<T> cast() const {
    EagleParams<T> r;
    r.fc = fc.template cast<T>();
    r.fc_b = fc_b.template cast<T>();
    r.attn_norm = attn_norm.template cast<T>();
    r.wq = wq.template cast<T>();
    r.wk = wk.template cast<T>();
    r.wv = wv.template cast<T>();
    r.bq = bq.template cast<T>();
    r.bk = bk.template cast<T>();
    r.bv = bv.template cast<T>();
    r.wo = wo.template cast<T>();
    r.ffn_norm = ffn_norm.template cast<T>();
    r.w1 = w1.template cast<T>();
    r.w3 = w3.template cast<T>();
    r.w2 = w2.template cast<T>();
    r.fuse = fuse.template cast<T>();
    return r;
  }
};

// One training sequence's inputs and targets.
template <class S>
struct EagleSequence {
  Mat<S> u;               // [L, 2d]: row i = [e(x_{i+1}), f_i] (fused: f_i columns unused)
  Mat<S> z;               // [L, F d]: fused heads' layer features z_i (f_i = fuse z_i); else empty
  Mat<S> feat_target;     // [L, d]: f_{i+1}
  Mat<S> cos, sin;        // [L, hd / 2]: RoPE tables of the rows' positions (ops/rope.h)
  std::int32_t per_row = 0;            // sparse token-target entries per row
  std::vector<std::int32_t> t_ids;     // [L, per_row]
  std::vector<S> t_p;                  // [L, per_row] (each row sums to 1)
  std::int32_t rows() const { return static_cast<std::int32_t>(u.rows()); }
};

// Activations of one step, kept for the backward.
template <class S>
struct EagleActs {
  Mat<S> u, h, n, q, k, v, o, a, m, gate, up, act, out, z;
  Col<S> inv_r1, inv_r2;
  std::vector<Mat<S>> p;   // [n_heads] of [L, L]: weights on step 0's keys
  std::vector<Mat<S>> pd;  // [n_heads] of [L, s]: weights on the chain keys of steps 1..s
};

// Rotates every head of every row of x ([L, heads * hd]) by the tables; sign = -1 applies the
// inverse rotation (the transpose: the backward of RoPE).
template <class S>
void rope_rows(Mat<S>& x, int heads, int hd, bool interleaved, const Mat<S>& cos, const Mat<S>& sin, S sign) {
  const int half = hd / 2;
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    for (int hh = 0; hh < heads; ++hh) {
      for (int p = 0; p < half; ++p) {
        const int ia = hh * hd + (interleaved ? 2 * p : p);
        const int ib = hh * hd + (interleaved ? 2 * p + 1 : p + half);
        const S c = cos(t, p), s = sign * sin(t, p);
        const S x0 = x(t, ia), x1 = x(t, ib);
        x(t, ia) = x0 * c - x1 * s;
        x(t, ib) = x0 * s + x1 * c;
      }
    }
  }
}

// RMSNorm with a learnable gain: y = g * x / r. Keeps 1/r.
template <class S>
void rmsnorm_fwd(const Mat<S>& x, const Vec<S>& g, S eps, Mat<S>& y, Col<S>& inv_r) {
  rmsnorm_forward<S>(x, g, eps, y, inv_r);
}

// dx (overwritten) from dy; dg += colsum(dy * x / r).
template <class S>
void rmsnorm_bwd(const Mat<S>& x, const Vec<S>& g, const Col<S>& inv_r, const Mat<S>& dy, Mat<S>& dx, Vec<S>& dg) {
  const Mat<S> xn = x.array().colwise() * inv_r.array();
  const Vec<S> sum = dy.cwiseProduct(xn).colwise().sum();
  dg += sum;
  rmsnorm_backward<S>(x, g, inv_r, dy, dx);
}

// Training-time test (EAGLE-3's, Li et al. 2025; HASS): step s > 0 re-runs every row r with
// the feature the head itself predicted one step earlier at row r - 1, i.e. the input a draft
// tree's depth s + 1 sees. Its row r stands for the chain that left the true rows at c = r - s:
// it attends to step 0's keys of rows 0..c (true features) and to the chain's own rows, the
// keys of step t at row c + t for t = 1..s (the last one its own). Its targets are row r's
// (f_{r+1}, x_{r+2}); rows r < s have no chain (they are computed, only their own key and the
// chain keys that exist are visible, and they carry no loss: nothing valid depends on them).
// Gradients flow through the fed-back features (no detach). steps = 1 is plain EAGLE-1.
template <class S>
void eagle_forward_steps(const EagleConfig& c, const EagleParams<S>& p, const Mat<S>& C, const EagleSequence<S>& seq,
                         int steps, std::vector<EagleActs<S>>& acts) {
  const int L = seq.rows(), d = c.dim, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const bool inter = c.rope_style == RopeStyle::kInterleaved;
  const S eps = static_cast<S>(c.norm_eps);
  const S scale = S(1) / std::sqrt(static_cast<S>(hd));
  const Vec<S> none;
  acts.resize(steps);
  for (int s = 0; s < steps; ++s) {
    EagleActs<S>& A = acts[s];
    if (s == 0) {
      A.u = seq.u;
      if (p.fuse.size() > 0) A.u.rightCols(d).noalias() = seq.z * p.fuse.transpose();
    } else {
      A.u = acts[0].u;  // row 0 keeps its true feature
      if (L > 1) A.u.block(1, d, L - 1, d) = acts[s - 1].out.topRows(L - 1);
    }
    linear_forward<S>(A.u, p.fc, p.fc_b, A.h);
    if (p.attn_norm.size() > 0) {
      rmsnorm_fwd<S>(A.h, p.attn_norm, eps, A.n, A.inv_r1);
    } else {
      A.n = A.h;
    }
    linear_forward<S>(A.n, p.wq, p.bq, A.q);
    linear_forward<S>(A.n, p.wk, p.bk, A.k);
    linear_forward<S>(A.n, p.wv, p.bv, A.v);
    rope_rows<S>(A.q, c.n_heads, hd, inter, seq.cos, seq.sin, S(1));
    rope_rows<S>(A.k, c.n_kv_heads, hd, inter, seq.cos, seq.sin, S(1));
    const Mat<S>& K0 = acts[0].k;
    const Mat<S>& V0 = acts[0].v;
    A.p.resize(c.n_heads);
    A.pd.resize(c.n_heads);
    A.o.setZero(L, static_cast<Eigen::Index>(c.n_heads) * hd);
    for (int hh = 0; hh < c.n_heads; ++hh) {
      const int g = hh / group;
      Mat<S>& P = A.p[hh];
      Mat<S>& Pd = A.pd[hh];
      P.noalias() = A.q.middleCols(hh * hd, hd) * K0.middleCols(g * hd, hd).transpose();
      Pd.setZero(L, s);
      for (int r = 0; r < L; ++r) {
        const int chain = r - s;  // step 0's visible keys: 0..chain
        const int n0 = std::max(0, chain + 1);
        auto row = P.row(r);
        S mx = -std::numeric_limits<S>::infinity();
        for (int j = 0; j < n0; ++j) {
          row(j) *= scale;
          mx = std::max(mx, row(j));
        }
        for (int t = 1; t <= s; ++t) {
          const int at = chain + t;
          if (at < 0) continue;
          const Mat<S>& Kt = t == s ? A.k : acts[t].k;
          Pd(r, t - 1) = A.q.row(r).segment(hh * hd, hd).dot(Kt.row(at).segment(g * hd, hd)) * scale;
          mx = std::max(mx, Pd(r, t - 1));
        }
        S sum = 0;
        for (int j = 0; j < n0; ++j) sum += (row(j) = std::exp(row(j) - mx));
        for (int t = 1; t <= s; ++t) {
          if (chain + t < 0) continue;
          sum += (Pd(r, t - 1) = std::exp(Pd(r, t - 1) - mx));
        }
        row.head(n0) /= sum;
        row.tail(L - n0).setZero();
        Pd.row(r) /= sum;
      }
      A.o.middleCols(hh * hd, hd).noalias() = P * V0.middleCols(g * hd, hd);
      for (int r = 0; r < L; ++r) {
        for (int t = 1; t <= s; ++t) {
          const int at = r - s + t;
          if (at < 0) continue;
          const Mat<S>& Vt = t == s ? A.v : acts[t].v;
          A.o.row(r).segment(hh * hd, hd) += Pd(r, t - 1) * Vt.row(at).segment(g * hd, hd);
        }
      }
    }
    Mat<S> proj;
    linear_forward<S>(A.o, p.wo, none, proj);
    A.a = A.h + proj;
    rmsnorm_fwd<S>(A.a, p.ffn_norm, eps, A.m, A.inv_r2);
    linear_forward<S>(A.m, p.w1, none, A.gate);
    linear_forward<S>(A.m, p.w3, none, A.up);
    A.act = A.gate.unaryExpr([](S v) { return v * logistic(v); }).cwiseProduct(A.up);
    linear_forward<S>(A.act, p.w2, none, proj);
    A.out = A.a + proj;
    A.z.noalias() = A.out * C.transpose();
  }
}

// One step (plain EAGLE-1 training).
template <class S>
void eagle_forward(const EagleConfig& c, const EagleParams<S>& p, const Mat<S>& C, const EagleSequence<S>& seq,
                   EagleActs<S>& A) {
  std::vector<EagleActs<S>> acts;
  eagle_forward_steps<S>(c, p, C, seq, 1, acts);
  A = std::move(acts[0]);
}

// The loss of the sequence given its forward over acts.size() steps: step s's rows r >= s count
// with weight step_w[s] (see the top of the file for the per-row loss); when `grad` is non-null
// (shaped like p) the gradient of the loss is added to it.
template <class S>
S eagle_backward_steps(const EagleConfig& c, const EagleParams<S>& p, const Mat<S>& C, const EagleSequence<S>& seq,
                       const std::vector<EagleActs<S>>& acts, S w_feat, S w_tok, S scale, std::span<const S> step_w,
                       EagleParams<S>* grad) {
  const int L = seq.rows(), d = c.dim, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const int steps = static_cast<int>(acts.size());
  const bool inter = c.rope_style == RopeStyle::kInterleaved;
  S loss = 0;
  std::vector<Mat<S>> douts(steps);
  for (int s = 0; s < steps; ++s) {
    const EagleActs<S>& A = acts[s];
    Mat<S>& dout = douts[s];
    dout.setZero(L, d);
    const S fscale = w_feat * scale * step_w[s] / static_cast<S>(d);
    for (int i = s; i < L; ++i) {
      for (int j = 0; j < d; ++j) {
        const S e = A.out(i, j) - seq.feat_target(i, j);
        const S ae = std::abs(e);
        loss += fscale * (ae < S(1) ? S(0.5) * e * e : ae - S(0.5));
        dout(i, j) = fscale * (ae < S(1) ? e : (e > 0 ? S(1) : S(-1)));
      }
    }
    if (w_tok != S(0)) {
      Mat<S> dz = Mat<S>::Zero(L, A.z.cols());
      const S tscale = w_tok * scale * step_w[s];
      for (int i = s; i < L; ++i) {
        auto zr = A.z.row(i);
        auto r = dz.row(i);
        const S mx = zr.maxCoeff();
        const S lse = mx + std::log((zr.array() - mx).exp().sum());
        for (int e = 0; e < seq.per_row; ++e) {
          const std::size_t at = static_cast<std::size_t>(i) * seq.per_row + e;
          loss += tscale * seq.t_p[at] * (lse - zr(seq.t_ids[at]));
        }
        r = (zr.array() - lse).exp() * tscale;
        for (int e = 0; e < seq.per_row; ++e) {
          const std::size_t at = static_cast<std::size_t>(i) * seq.per_row + e;
          r(seq.t_ids[at]) -= tscale * seq.t_p[at];
        }
      }
      if (grad) dout.noalias() += dz * C;
    }
  }
  if (!grad) return loss;
  EagleParams<S>& g = *grad;
  Vec<S> gnone;  // the gradient of an absent bias
  const S sc = S(1) / std::sqrt(static_cast<S>(hd));
  // Gradients reaching each step's keys and values from its own and later steps' attention.
  std::vector<Mat<S>> dk_acc(steps), dv_acc(steps);
  for (int s = 0; s < steps; ++s) {
    dk_acc[s].setZero(L, acts[s].k.cols());
    dv_acc[s].setZero(L, acts[s].v.cols());
  }
  const bool fused = p.fuse.size() > 0;
  Mat<S> dfeat0;  // fused: the gradient reaching the true features f_i (step 0's, row 0 of later steps)
  if (fused) dfeat0.setZero(L, d);
  for (int s = steps - 1; s >= 0; --s) {
    const EagleActs<S>& A = acts[s];
    const Mat<S>& dout = douts[s];
    // out = a + act W2^T
    Mat<S> dact;
    linear_backward<S>(dout, A.act, p.w2, g.w2, gnone, &dact);
    // act = SiLU(gate) * up
    Mat<S> dgate(L, c.hidden_dim), dup(L, c.hidden_dim);
    for (int i = 0; i < L; ++i) {
      for (int j = 0; j < c.hidden_dim; ++j) {
        const S zg = A.gate(i, j), sg = logistic(zg);
        dup(i, j) = dact(i, j) * zg * sg;
        dgate(i, j) = dact(i, j) * A.up(i, j) * sg * (S(1) + zg * (S(1) - sg));
      }
    }
    Mat<S> dm, dm3;
    linear_backward<S>(dgate, A.m, p.w1, g.w1, gnone, &dm);
    linear_backward<S>(dup, A.m, p.w3, g.w3, gnone, &dm3);
    dm += dm3;
    // m = RMSNorm(a; g2); out also has a directly.
    Mat<S> da;
    rmsnorm_bwd<S>(A.a, p.ffn_norm, A.inv_r2, dm, da, g.ffn_norm);
    da += dout;
    // a = h + o Wo^T
    Mat<S> dO;
    linear_backward<S>(da, A.o, p.wo, g.wo, gnone, &dO);
    // Attention (softmax rows: dS = P * (dP - rowsum(dP * P)), over step 0's keys and the chain's).
    const Mat<S>& K0 = acts[0].k;
    const Mat<S>& V0 = acts[0].v;
    Mat<S> dq = Mat<S>::Zero(L, A.q.cols());
    for (int hh = 0; hh < c.n_heads; ++hh) {
      const int kg = hh / group;
      const Mat<S>& P = A.p[hh];
      const Mat<S>& Pd = A.pd[hh];
      const Mat<S> dOh = dO.middleCols(hh * hd, hd);
      const Mat<S> qh = A.q.middleCols(hh * hd, hd);
      Mat<S> dP = dOh * V0.middleCols(kg * hd, hd).transpose();
      Mat<S> dPd = Mat<S>::Zero(L, s);
      for (int r = 0; r < L; ++r) {
        for (int t = 1; t <= s; ++t) {
          const int at = r - s + t;
          if (at < 0) continue;
          const Mat<S>& Vt = t == s ? A.v : acts[t].v;
          dPd(r, t - 1) = dOh.row(r).dot(Vt.row(at).segment(kg * hd, hd));
        }
      }
      Col<S> rs = dP.cwiseProduct(P).rowwise().sum();
      if (s > 0) rs += dPd.cwiseProduct(Pd).rowwise().sum();
      const Mat<S> dS = P.cwiseProduct(dP.colwise() - rs) * sc;
      dq.middleCols(hh * hd, hd).noalias() += dS * K0.middleCols(kg * hd, hd);
      dk_acc[0].middleCols(kg * hd, hd).noalias() += dS.transpose() * qh;
      dv_acc[0].middleCols(kg * hd, hd).noalias() += P.transpose() * dOh;
      for (int r = 0; r < L; ++r) {
        for (int t = 1; t <= s; ++t) {
          const int at = r - s + t;
          if (at < 0) continue;
          const S ds = Pd(r, t - 1) * (dPd(r, t - 1) - rs(r)) * sc;
          const Mat<S>& Kt = t == s ? A.k : acts[t].k;
          dq.row(r).segment(hh * hd, hd) += ds * Kt.row(at).segment(kg * hd, hd);
          dk_acc[t].row(at).segment(kg * hd, hd) += ds * qh.row(r);
          dv_acc[t].row(at).segment(kg * hd, hd) += Pd(r, t - 1) * dOh.row(r);
        }
      }
    }
    // Every step >= s has now added to this step's keys and values.
    Mat<S> dk = dk_acc[s];
    const Mat<S>& dv = dv_acc[s];
    rope_rows<S>(dq, c.n_heads, hd, inter, seq.cos, seq.sin, S(-1));
    rope_rows<S>(dk, c.n_kv_heads, hd, inter, seq.cos, seq.sin, S(-1));
    Mat<S> dn, dn2;
    linear_backward<S>(dq, A.n, p.wq, g.wq, g.bq, &dn);
    linear_backward<S>(dk, A.n, p.wk, g.wk, g.bk, &dn2);
    dn += dn2;
    linear_backward<S>(dv, A.n, p.wv, g.wv, g.bv, &dn2);
    dn += dn2;
    Mat<S> dh;
    if (p.attn_norm.size() > 0) {
      rmsnorm_bwd<S>(A.h, p.attn_norm, A.inv_r1, dn, dh, g.attn_norm);
    } else {
      dh = dn;
    }
    dh += da;
    if (s == 0) {
      if (fused) {
        Mat<S> du;
        linear_backward<S>(dh, A.u, p.fc, g.fc, g.fc_b, &du);
        dfeat0 += du.rightCols(d);
      } else {
        linear_backward<S>(dh, A.u, p.fc, g.fc, g.fc_b, nullptr);
      }
    } else {
      // The fed-back features: row r's feature input is step s-1's output at row r - 1.
      Mat<S> du;
      linear_backward<S>(dh, A.u, p.fc, g.fc, g.fc_b, &du);
      if (L > 1) douts[s - 1].topRows(L - 1) += du.block(1, d, L - 1, d);
      if (fused) dfeat0.row(0) += du.block(0, d, 1, d);
    }
  }
  // f_i = z_i Wfuse^T.
  if (fused) g.fuse.noalias() += dfeat0.transpose() * seq.z;
  return loss;
}

}  // namespace speclab::heads
