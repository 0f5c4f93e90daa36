#include "model/llama_model.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/error.h"
#include "ops/dot.h"
#include "ops/matmul.h"
#include "model/rope_frequencies.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax.h"

namespace speclab {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMatrix>;

}  // namespace

LlamaModel::LlamaModel(std::shared_ptr<const LlamaWeights> weights, int n_threads,
                       std::int32_t cache_capacity, KvCacheType kv_type)
    : weights_(std::move(weights)), n_threads_(n_threads), kv_type_(kv_type) {
  if (!weights_) fail("LlamaModel: weights = null: must be loaded weights");
  weights_->validate();
  const ModelInfo& m = weights_->info;
  if (n_threads_ < 1) fail("{}: n_threads = {}: must be >= 1", m.source, n_threads_);
  capacity_ = cache_capacity == -1 ? std::min(m.max_seq_len, kDefaultContext) : cache_capacity;
  if (capacity_ < 1 || capacity_ > m.max_seq_len) {
    fail("{}: context = {}: must be in [1, max_seq_len = {}] (the model's maximum context)", m.source,
         cache_capacity, m.max_seq_len);
  }
  info_ = m;
  info_.max_seq_len = capacity_;
  dim_ = m.dim;
  head_dim_ = m.head_dim;
  q_dim_ = m.n_heads * m.head_dim;
  kv_dim_ = m.n_kv_heads * m.head_dim;
  hidden_dim_ = m.hidden_dim;
  inv_freq_ = rope_inv_frequencies(m);
  const std::size_t cache_size = static_cast<std::size_t>(m.n_layers) * capacity_ * kv_dim_;
  if (kv_type_ == KvCacheType::kF16) {
    key_cache16_.assign(cache_size, 0);
    value_cache16_.assign(cache_size, 0);
  } else {
    key_cache_.assign(cache_size, 0.0f);
    value_cache_.assign(cache_size, 0.0f);
  }
  slot_depth_.assign(capacity_, 0);
  slot_token_.assign(capacity_, 0);
  slot_pos_.assign(capacity_, 0);
  exit_resid_.assign(static_cast<std::size_t>(capacity_) * dim_, 0.0f);
  scores_.assign(static_cast<std::size_t>(n_threads_) * capacity_, 0.0f);
  ensure_batch_capacity(std::min(kPreallocBatch, capacity_));
}

void LlamaModel::ensure_batch_capacity(std::int32_t n) {
  if (n <= batch_cap_) return;
  batch_cap_ = n;
  const std::size_t b = n;
  x_.assign(b * dim_, 0.0f);
  xb_.assign(b * dim_, 0.0f);
  q_.assign(b * q_dim_, 0.0f);
  k_.assign(b * kv_dim_, 0.0f);
  v_.assign(b * kv_dim_, 0.0f);
  att_.assign(b * q_dim_, 0.0f);
  hb_.assign(b * hidden_dim_, 0.0f);
  hb2_.assign(b * hidden_dim_, 0.0f);
  rope_cos_.assign(b * (head_dim_ / 2), 0.0f);
  rope_sin_.assign(b * (head_dim_ / 2), 0.0f);
  cls_in_.assign(b * dim_, 0.0f);
  // Integer weight types quantise activation rows to 40-byte blocks of 32 (ops/matmul.h).
  const std::size_t widest = static_cast<std::size_t>(std::max({dim_, q_dim_, hidden_dim_}));
  matmul_scratch_.act.resize(b * (widest / 32 + 1) * 40);
}

std::int32_t LlamaModel::validate_batch(const ForwardBatch& batch,
                                        std::int32_t exit_layer) const {
  const ModelInfo& m = weights_->info;
  const std::size_t n = batch.tokens.size();
  if (n == 0) fail("{}: forward: batch has 0 tokens: must have at least 1", m.source);
  if (batch.positions.size() != n) {
    fail("{}: forward: positions.size() = {}: must equal tokens.size() = {}", m.source,
         batch.positions.size(), n);
  }
  if (batch.exit_layer != -1 && (batch.exit_layer < 1 || batch.exit_layer > m.n_layers)) {
    fail("{}: forward: exit_layer = {}: must be -1 or in [1, n_layers = {}]", m.source,
         batch.exit_layer, m.n_layers);
  }
  const std::int32_t n_res = batch.n_resume;
  if (n_res < 0 || static_cast<std::size_t>(n_res) > n || n_res > n_cached_) {
    fail("{}: forward: n_resume = {}: must be in [0, min(batch size = {}, n_cached = {})]",
         m.source, n_res, n, n_cached_);
  }
  const std::int32_t start = n_cached_ - n_res;
  std::int32_t resume_depth = 0;
  if (n_res > 0) {
    resume_depth = slot_depth_[start];
    if (resume_depth >= m.n_layers) {
      fail("{}: forward: n_resume = {}: cached slot {} already holds all {} layers: only "
           "early-exit slots can be resumed",
           m.source, n_res, start, m.n_layers);
    }
    if (resume_depth >= exit_layer) {
      fail("{}: forward: n_resume = {}: resumed slots hold {} layers but this forward exits at "
           "layer {}: it must run at least one more layer",
           m.source, n_res, resume_depth, exit_layer);
    }
    for (std::int32_t i = 0; i < n_res; ++i) {
      const std::int32_t s = start + i;
      if (slot_depth_[s] != resume_depth) {
        fail("{}: forward: n_resume = {}: cached slot {} holds {} layers, slot {} holds {}: "
             "resumed slots must share one depth",
             m.source, n_res, s, slot_depth_[s], start, resume_depth);
      }
      if (batch.tokens[i] != slot_token_[s] || batch.positions[i] != slot_pos_[s]) {
        fail("{}: forward: resumed entry {} = (token {}, position {}): cached slot {} holds "
             "(token {}, position {}): resumed entries must match what was run",
             m.source, i, batch.tokens[i], batch.positions[i], s, slot_token_[s], slot_pos_[s]);
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= m.vocab_size) {
      fail("{}: forward: tokens[{}] = {}: must be in [0, vocab_size = {})", m.source, i,
           batch.tokens[i], m.vocab_size);
    }
    if (batch.positions[i] < 0 || batch.positions[i] >= capacity_) {
      fail("{}: forward: positions[{}] = {}: must be in [0, context = {})", m.source, i,
           batch.positions[i], capacity_);
    }
  }
  if (static_cast<std::int64_t>(start) + static_cast<std::int64_t>(n) > capacity_) {
    fail("{}: forward: KV cache overflow: {} cached + {} new = {} slots: capacity is {}",
         m.source, n_cached_, n - n_res, static_cast<std::int64_t>(start) + n, capacity_);
  }
  if (!batch.mask.empty()) {
    if (batch.mask.size() != n * n) {
      fail("{}: forward: mask.size() = {}: must be n * n = {}", m.source, batch.mask.size(), n * n);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (batch.mask[i * n + i] == 0) {
        fail("{}: forward: mask[{}][{}] = 0: an entry must attend to itself", m.source, i, i);
      }
      for (std::size_t j = i + 1; j < n; ++j) {
        if (batch.mask[i * n + j] != 0) {
          fail("{}: forward: mask[{}][{}] = {}: entries may only attend to earlier entries",
               m.source, i, j, batch.mask[i * n + j]);
        }
      }
    }
  }
  for (std::int32_t h : batch.hidden_layers) {
    if (h != kFinalNormedHidden && (h < 0 || h > exit_layer)) {
      fail("{}: forward: hidden layer selector {}: must be kFinalNormedHidden ({}) or in [0, {}] "
           "(the exit layer)",
           m.source, h, kFinalNormedHidden, exit_layer);
    }
  }
  if (!batch.all_logits) {
    for (std::int32_t r : batch.logit_rows) {
      if (r < 0 || static_cast<std::size_t>(r) >= n) {
        fail("{}: forward: logit row {}: must be in [0, n = {})", m.source, r, n);
      }
    }
  }
  for (std::int32_t s = 0; s < start; ++s) {
    if (slot_depth_[s] < exit_layer) {
      fail("{}: forward: cached slot {} holds K/V for {} layers (an early-exit forward) but this "
           "forward runs {} layers: truncate, keep_batch_rows or resume it first",
           m.source, s, slot_depth_[s], exit_layer);
    }
  }
  return resume_depth;
}

void LlamaModel::compute_rope_tables(std::span<const std::int32_t> positions) {
  rope_tables(positions, inv_freq_, rope_cos_.data(), rope_sin_.data());
}

void LlamaModel::forward(const ForwardBatch& batch, ForwardOutput& out) {
  const ModelInfo& m = weights_->info;
  const std::int32_t exit_layer = batch.exit_layer == -1 ? m.n_layers : batch.exit_layer;
  const std::int32_t resume_depth = validate_batch(batch, exit_layer);
  const int n = static_cast<int>(batch.tokens.size());
  const int n_res = batch.n_resume;
  ensure_batch_capacity(n);
  const std::uint8_t* mask = batch.mask.empty() ? nullptr : batch.mask.data();
  batch_start_ = n_cached_ - n_res;

  // Hidden outputs: one [n, dim] array per selector.
  const std::size_t n_sel = batch.hidden_layers.size();
  out.hidden.resize(n_sel);
  for (auto& h : out.hidden) h.resize(static_cast<std::size_t>(n) * dim_);
  // Selectors below the resume depth were never computed for resumed rows: NaN there.
  auto copy_hidden = [&](std::int32_t selector, const float* src) {
    for (std::size_t s = 0; s < n_sel; ++s) {
      if (batch.hidden_layers[s] == selector) {
        std::copy(src, src + static_cast<std::size_t>(n) * dim_, out.hidden[s].begin());
        if (selector != kFinalNormedHidden && selector < resume_depth) {
          std::fill_n(out.hidden[s].begin(), static_cast<std::size_t>(n_res) * dim_,
                      std::numeric_limits<float>::quiet_NaN());
        }
      }
    }
  };

  // Resumed rows start from their stored residual; new rows from their token embeddings.
  for (int t = 0; t < n_res; ++t) {
    const float* r = exit_resid_.data() + static_cast<std::size_t>(batch_start_ + t) * dim_;
    std::copy(r, r + dim_, x_.begin() + static_cast<std::size_t>(t) * dim_);
  }
  for (int t = n_res; t < n; ++t) {
    weights_->token_embedding.dequantize_row(batch.tokens[t],
                                             x_.data() + static_cast<std::size_t>(t) * dim_);
  }
  copy_hidden(0, x_.data());
  compute_rope_tables(batch.positions);

  for (std::int32_t l = 0; l < exit_layer; ++l) {
    run_layer(l, l < resume_depth ? n_res : 0, n, mask);
    copy_hidden(l + 1, x_.data());
  }
  for (int t = 0; t < n; ++t) {
    const std::size_t slot = static_cast<std::size_t>(batch_start_ + t);
    slot_depth_[slot] = exit_layer;
    slot_token_[slot] = batch.tokens[t];
    slot_pos_[slot] = batch.positions[t];
    if (exit_layer < m.n_layers) {
      std::copy_n(x_.begin() + static_cast<std::size_t>(t) * dim_, dim_,
                  exit_resid_.begin() + slot * dim_);
    }
  }
  last_start_ = batch_start_;
  last_n_ = n;
  n_cached_ = batch_start_ + n;

  // Final norm of every row (cheap), then the classifier on the requested rows only.
  rms_norm(x_.data(), weights_->final_norm.data(), n, dim_, m.norm_eps, xb_.data());
  copy_hidden(kFinalNormedHidden, xb_.data());
  int n_rows = 0;
  if (batch.all_logits) {
    n_rows = n;
    std::copy(xb_.begin(), xb_.begin() + static_cast<std::size_t>(n) * dim_, cls_in_.begin());
  } else {
    if (batch.logit_rows.size() > static_cast<std::size_t>(batch_cap_)) {
      cls_in_.resize(batch.logit_rows.size() * dim_);  // duplicates beyond the batch: rare
    }
    for (std::int32_t r : batch.logit_rows) {
      std::copy(xb_.begin() + static_cast<std::size_t>(r) * dim_,
                xb_.begin() + static_cast<std::size_t>(r + 1) * dim_,
                cls_in_.begin() + static_cast<std::size_t>(n_rows) * dim_);
      ++n_rows;
    }
  }
  out.n_rows = n_rows;
  out.vocab = m.vocab_size;
  out.logits.resize(static_cast<std::size_t>(n_rows) * m.vocab_size);
  if (n_rows > 0) {
    matmul(cls_in_.data(), n_rows, weights_->classifier_matrix(), nullptr, out.logits.data(),
           n_threads_, &matmul_scratch_);
  }
}

void LlamaModel::run_layer(std::int32_t layer, std::int32_t row0, std::int32_t n,
                           const std::uint8_t* mask) {
  const ModelInfo& m = weights_->info;
  const LlamaLayerWeights& w = weights_->layers[layer];
  const bool bias = m.qkv_bias;
  const int nr = n - row0;  // rows that run this layer
  if (nr <= 0) return;
  const std::size_t r0 = row0;
  float* x_rows = x_.data() + r0 * dim_;
  float* xb_rows = xb_.data() + r0 * dim_;

  // Attention block.
  rms_norm(x_rows, w.attn_norm.data(), nr, dim_, m.norm_eps, xb_rows);
  const MatJob qkv[3] = {{w.wq.view(), bias ? w.bq.data() : nullptr, q_.data() + r0 * q_dim_},
                         {w.wk.view(), bias ? w.bk.data() : nullptr, k_.data() + r0 * kv_dim_},
                         {w.wv.view(), bias ? w.bv.data() : nullptr, v_.data() + r0 * kv_dim_}};
  matmul_jobs(xb_rows, nr, dim_, qkv, 3, n_threads_, &matmul_scratch_);
  const int half = head_dim_ / 2;
  const std::size_t layer_off = static_cast<std::size_t>(layer) * capacity_ * kv_dim_;
  for (int t = row0; t < n; ++t) {
    const float* cs = rope_cos_.data() + static_cast<std::size_t>(t) * half;
    const float* sn = rope_sin_.data() + static_cast<std::size_t>(t) * half;
    const bool interleaved = m.rope_style == RopeStyle::kInterleaved;
    apply_rope(q_.data() + static_cast<std::size_t>(t) * q_dim_, m.n_heads, head_dim_, interleaved, cs, sn);
    float* kt = k_.data() + static_cast<std::size_t>(t) * kv_dim_;
    apply_rope(kt, m.n_kv_heads, head_dim_, interleaved, cs, sn);
    const std::size_t slot = layer_off + static_cast<std::size_t>(batch_start_ + t) * kv_dim_;
    if (kv_type_ == KvCacheType::kF16) {
      store_f16(kt, key_cache16_.data() + slot, kv_dim_);
    } else {
      std::copy(kt, kt + kv_dim_, key_cache_.begin() + slot);
    }
    const float* vt = v_.data() + static_cast<std::size_t>(t) * kv_dim_;
    if (kv_type_ == KvCacheType::kF16) {
      store_f16(vt, value_cache16_.data() + slot, kv_dim_);
    } else {
      std::copy(vt, vt + kv_dim_, value_cache_.begin() + slot);
    }
  }
  attention(layer, row0, n, mask);
  matmul(att_.data() + r0 * q_dim_, nr, w.wo, nullptr, xb_rows, n_threads_, &matmul_scratch_);
  MatMap x(x_rows, nr, dim_), xb(xb_rows, nr, dim_);
  x += xb;

  // SwiGLU feed-forward: w2(silu(w1 x) * w3 x).
  rms_norm(x_rows, w.ffn_norm.data(), nr, dim_, m.norm_eps, xb_rows);
  const MatJob gate_up[2] = {{w.w1.view(), nullptr, hb_.data()},
                             {w.w3.view(), nullptr, hb2_.data()}};
  matmul_jobs(xb_rows, nr, dim_, gate_up, 2, n_threads_, &matmul_scratch_);
  const std::size_t nh = static_cast<std::size_t>(nr) * hidden_dim_;
  float* g = hb_.data();
  const float* u = hb2_.data();
  const std::int64_t n_elems = static_cast<std::int64_t>(nh);
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (n_elems >= (1 << 14))
  for (std::int64_t i = 0; i < n_elems; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  matmul(hb_.data(), nr, w.w2, nullptr, xb_rows, n_threads_, &matmul_scratch_);
  x += xb;
}

void LlamaModel::attention(std::int32_t layer, std::int32_t row0, std::int32_t n,
                           const std::uint8_t* mask) {
  const std::size_t off = static_cast<std::size_t>(layer) * capacity_ * kv_dim_;
  if (kv_type_ == KvCacheType::kF16) {
    attention_impl(key_cache16_.data() + off, value_cache16_.data() + off, row0, n, mask);
  } else {
    attention_impl(key_cache_.data() + off, value_cache_.data() + off, row0, n, mask);
  }
}

namespace {
inline float kv_dot(const float* q, const float* k, int n) { return dot(q, k, n); }
inline float kv_dot(const float* q, const std::uint16_t* k, int n) { return dot_f16(q, k, n); }
inline void kv_axpy(float p, const float* v, float* o, int n) {
  for (int d = 0; d < n; ++d) o[d] += p * v[d];
}
inline void kv_axpy(float p, const std::uint16_t* v, float* o, int n) { axpy_f16(p, v, o, n); }
}  // namespace

template <typename KV>
void LlamaModel::attention_impl(const KV* kc, const KV* vc, std::int32_t row0, std::int32_t n,
                                const std::uint8_t* mask) {
  const ModelInfo& m = weights_->info;
  const int n_heads = m.n_heads, group = m.n_heads / m.n_kv_heads, hd = head_dim_;
  const int kv_dim = kv_dim_, q_dim = q_dim_, n_past = batch_start_, cap = capacity_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* q = q_.data();
  float* att = att_.data();
  float* scores_all = scores_.data();
  const int n_work = (n - row0) * n_heads;
  const bool parallel = static_cast<std::int64_t>(n_work) * (n_past + n) * hd >= (1 << 16);
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (parallel)
  for (int wi = 0; wi < n_work; ++wi) {
    const int i = row0 + wi / n_heads, h = wi % n_heads;
    const std::size_t koff = static_cast<std::size_t>(h / group) * hd;
    const float* qi = q + static_cast<std::size_t>(i) * q_dim + static_cast<std::size_t>(h) * hd;
    float* sc = scores_all + static_cast<std::size_t>(omp_get_thread_num()) * cap;
    auto allowed = [&](int j) { return mask == nullptr ? j <= i : mask[i * n + j] != 0; };
    // Scores over the cached slots, then the allowed batch entries (slots n_past + j).
    int n_s = 0;
    for (int s = 0; s < n_past + i + 1; ++s) {
      if (s >= n_past && !allowed(s - n_past)) continue;
      sc[n_s++] = kv_dot(qi, kc + static_cast<std::size_t>(s) * kv_dim + koff, hd) * scale;
    }
    softmax_inplace(sc, n_s);
    float* o = att + static_cast<std::size_t>(i) * q_dim + static_cast<std::size_t>(h) * hd;
    std::fill(o, o + hd, 0.0f);
    int k = 0;
    for (int s = 0; s < n_past + i + 1; ++s) {
      if (s >= n_past && !allowed(s - n_past)) continue;
      const float p = sc[k++];
      kv_axpy(p, vc + static_cast<std::size_t>(s) * kv_dim + koff, o, hd);
    }
  }
}

void LlamaModel::keep_batch_rows(std::span<const std::int32_t> rows) {
  const ModelInfo& m = weights_->info;
  if (last_n_ < 0) {
    fail("{}: keep_batch_rows: no forward batch to keep rows from (none yet, or already "
         "kept/truncated)",
         m.source);
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    if (rows[k] < 0 || rows[k] >= last_n_) {
      fail("{}: keep_batch_rows: rows[{}] = {}: must be in [0, last batch size = {})", m.source, k,
           rows[k], last_n_);
    }
    if (k > 0 && rows[k] <= rows[k - 1]) {
      fail("{}: keep_batch_rows: rows[{}] = {} after {}: rows must be strictly increasing",
           m.source, k, rows[k], rows[k - 1]);
    }
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::size_t src = static_cast<std::size_t>(last_start_) + rows[k];
    const std::size_t dst = static_cast<std::size_t>(last_start_) + k;
    if (src == dst) continue;
    for (std::int32_t l = 0; l < m.n_layers; ++l) {
      const std::size_t base = static_cast<std::size_t>(l) * capacity_ * kv_dim_;
      if (kv_type_ == KvCacheType::kF16) {
        std::copy_n(key_cache16_.begin() + base + src * kv_dim_, kv_dim_,
                    key_cache16_.begin() + base + dst * kv_dim_);
        std::copy_n(value_cache16_.begin() + base + src * kv_dim_, kv_dim_,
                    value_cache16_.begin() + base + dst * kv_dim_);
      } else {
        std::copy_n(key_cache_.begin() + base + src * kv_dim_, kv_dim_,
                    key_cache_.begin() + base + dst * kv_dim_);
        std::copy_n(value_cache_.begin() + base + src * kv_dim_, kv_dim_,
                    value_cache_.begin() + base + dst * kv_dim_);
      }
    }
    slot_depth_[dst] = slot_depth_[src];
    slot_token_[dst] = slot_token_[src];
    slot_pos_[dst] = slot_pos_[src];
    if (slot_depth_[dst] < m.n_layers) {
      std::copy_n(exit_resid_.begin() + src * dim_, dim_, exit_resid_.begin() + dst * dim_);
    }
  }
  n_cached_ = last_start_ + static_cast<std::int32_t>(rows.size());
  last_n_ = -1;
}

std::optional<KvCacheType> kv_cache_type_from_name(std::string_view name) {
  if (name == "f32") return KvCacheType::kF32;
  if (name == "f16") return KvCacheType::kF16;
  return std::nullopt;
}

std::string_view kv_cache_type_name(KvCacheType t) { return t == KvCacheType::kF16 ? "f16" : "f32"; }

std::int64_t LlamaModel::kv_cache_bytes() const {
  return static_cast<std::int64_t>(key_cache_.size() + value_cache_.size()) * 4 +
         static_cast<std::int64_t>(key_cache16_.size() + value_cache16_.size()) * 2;
}

void LlamaModel::truncate(std::int32_t n_keep) {
  if (n_keep < 0 || n_keep > n_cached_) {
    fail("{}: truncate: n_keep = {}: must be in [0, n_cached = {}]", weights_->info.source, n_keep,
         n_cached_);
  }
  n_cached_ = n_keep;
  last_n_ = -1;
}

}  // namespace speclab
