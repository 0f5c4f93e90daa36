// LlamaModel: the Llama-family target model (llama2.c run.c math, generalized to GQA,
// q/k/v biases, both RoPE conventions and rope scaling), with weights in their stored type
// (f32, f16, bf16, q8_0, 4-6 bit; ops/matmul.h kernels), fp32 activations, an f32 or f16 KV
// cache, Eigen maps for the vector ops and OpenMP threading. Implements the LanguageModel contract
// (model/language_model.h): one instance owns one sequence's KV cache; weights are shared
// read-only, so several instances (target, early-exit drafter, second sequence) cost no extra
// weights.
//
// Numerics. Every matmul output element y[t, r] = sum_k x[t, k] * w[r, k] is computed by the same
// instruction sequence whatever the batch size, the tile it falls in, or the thread that runs
// it; attention for (row, head) likewise. Row blocks are fixed (not derived from the thread
// count), so logits are bit-identical for any n_threads (DESIGN.md contract 4).
//
// Threads. n_threads OpenMP threads (each parallel region says num_threads(n_threads)); no
// Eigen-internal threading is used (no Eigen products, only coefficient-wise maps).
//
// Memory. The KV cache ([n_layers][capacity][n_kv_heads*head_dim] for K after RoPE, same for V;
// capacity = the requested context, by default min(model maximum, 4096))
// and all activations for batches up to kPreallocBatch tokens are allocated in the constructor;
// a bigger batch grows the activations once. forward() does not allocate when `out` already has
// enough capacity.
//
// Early exit and the cache. A forward with exit_layer E < n_layers fills K/V of its batch slots
// for layers [0, E) only. The model tracks, per cached slot, how many layers hold valid K/V; a
// later forward that runs more layers than some cached slot holds throws Error (truncate or
// keep_batch_rows first, or use a separate instance for early-exit drafting), unless it resumes
// those slots.
//
// Resume (ForwardBatch::n_resume, LayerSkip-style KV reuse). Every partial-depth slot also keeps
// its token, position and residual stream after its last layer ([capacity, dim] buffer, filled
// by early-exit forwards). A forward with n_resume = r treats the last r cached slots (all at
// the same depth E < n_layers, tokens and positions equal to the batch's first r entries) as its
// first r entries: layers [0, E) run only for the new entries (attending to the cache, resumed
// slots included, through the mask), then layers [E, exit) run for all entries together, the
// resumed ones starting from their stored residual. Because every matmul element and every
// (row, head) attention is computed by the same instruction sequence whatever the batch, the
// logits equal those of truncating the r slots and running all entries from layer 0 (bit for
// bit), provided the resumed slots were run with the visibility the mask gives them now (a chain
// drafted token by token and verified with its ancestor mask is). Hidden selectors h < E give
// NaN rows for the resumed entries.
//
// keep_batch_rows() applies to the most recent forward() only, once: after it, or after
// truncate(), another keep_batch_rows() throws Error until the next forward(). Every bad input
// throws Error before any state changes.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <span>
#include <vector>

#include "model/language_model.h"
#include "model/llama_weights.h"
#include "ops/matmul.h"

namespace speclab {

// Element type of the KV cache. f16 halves its memory; K and V are rounded to f16 (nearest
// even) when stored and widened exactly when read, so results stay independent of the batch.
enum class KvCacheType : std::uint8_t { kF32, kF16 };
// "f32" / "f16"; nullopt for anything else.
std::optional<KvCacheType> kv_cache_type_from_name(std::string_view name);
std::string_view kv_cache_type_name(KvCacheType t);

class LlamaModel final : public LanguageModel {
 public:
  static constexpr std::int32_t kPreallocBatch = 256;

  // weights: validated here (throws Error). n_threads >= 1 (throws Error otherwise).
  // cache_capacity: KV slots = the context this instance serves, in [1, max_seq_len];
  // -1 = min(info.max_seq_len, kDefaultContext), so that a header claiming millions of positions
  // does not size the cache. info() reports the model with max_seq_len = capacity().
  static constexpr std::int32_t kDefaultContext = 4096;
  LlamaModel(std::shared_ptr<const LlamaWeights> weights, int n_threads,
             std::int32_t cache_capacity = -1, KvCacheType kv_type = KvCacheType::kF32);

  const ModelInfo& info() const override { return info_; }
  void forward(const ForwardBatch& batch, ForwardOutput& out) override;
  void keep_batch_rows(std::span<const std::int32_t> rows) override;
  void truncate(std::int32_t n_keep) override;
  std::int32_t n_cached() const override { return n_cached_; }

  std::int32_t capacity() const { return capacity_; }
  KvCacheType kv_type() const { return kv_type_; }
  // Bytes of the KV cache (K and V of every layer and slot).
  std::int64_t kv_cache_bytes() const;
  int n_threads() const { return n_threads_; }
  const std::shared_ptr<const LlamaWeights>& weights() const { return weights_; }

 private:
  // Returns the resume depth E of the batch's resumed slots (0 when n_resume == 0).
  std::int32_t validate_batch(const ForwardBatch& batch, std::int32_t exit_layer) const;
  void ensure_batch_capacity(std::int32_t n);
  void compute_rope_tables(std::span<const std::int32_t> positions);
  // Runs one layer for batch rows [row0, n) (rows below row0 are resumed slots that already
  // hold this layer's K/V); the batch occupies slots batch_start_ .. batch_start_ + n - 1.
  void run_layer(std::int32_t layer, std::int32_t row0, std::int32_t n, const std::uint8_t* mask);
  void attention(std::int32_t layer, std::int32_t row0, std::int32_t n, const std::uint8_t* mask);
  template <typename KV>
  void attention_impl(const KV* kc, const KV* vc, std::int32_t row0, std::int32_t n,
                      const std::uint8_t* mask);

  std::shared_ptr<const LlamaWeights> weights_;
  ModelInfo info_;  // weights_->info with max_seq_len = capacity_
  int n_threads_ = 1;
  std::int32_t capacity_ = 0;
  std::int32_t dim_ = 0, q_dim_ = 0, kv_dim_ = 0, hidden_dim_ = 0, head_dim_ = 0;

  std::vector<float> inv_freq_;     // [head_dim/2] rotary inverse frequencies, scaling applied
  KvCacheType kv_type_ = KvCacheType::kF32;
  std::vector<float> key_cache_;    // [n_layers][capacity][kv_dim], K after RoPE (f32 cache)
  std::vector<float> value_cache_;  // [n_layers][capacity][kv_dim]
  std::vector<std::uint16_t> key_cache16_;    // the same as f16 (f16 cache)
  std::vector<std::uint16_t> value_cache16_;
  std::vector<std::int32_t> slot_depth_;  // [capacity] layers with valid K/V per slot
  std::vector<Token> slot_token_;         // [capacity] token of each slot (resume checks)
  std::vector<std::int32_t> slot_pos_;    // [capacity] position of each slot (resume checks)
  std::vector<float> exit_resid_;         // [capacity, dim] residual after slot_depth_ layers,
                                          // valid for partial-depth slots only
  std::int32_t batch_start_ = 0;  // first slot of the running forward's batch
  std::int32_t n_cached_ = 0;
  std::int32_t last_start_ = 0;   // n_cached before the last forward
  std::int32_t last_n_ = -1;      // batch size of the last forward; -1 = none to keep from

  // Activations for up to batch_cap_ tokens (row-major, one row per batch entry).
  std::int32_t batch_cap_ = 0;
  std::vector<float> x_;          // [B, dim] residual stream
  std::vector<float> xb_;         // [B, dim] normed input / attention output projection
  std::vector<float> q_;          // [B, q_dim]
  std::vector<float> k_;          // [B, kv_dim]
  std::vector<float> v_;          // [B, kv_dim]
  std::vector<float> att_;        // [B, q_dim] attention output before wo
  std::vector<float> hb_;         // [B, hidden] gate, then silu(gate) * up
  std::vector<float> hb2_;        // [B, hidden] up
  std::vector<float> rope_cos_;   // [B, head_dim/2]
  std::vector<float> rope_sin_;   // [B, head_dim/2]
  std::vector<std::uint8_t> causal_mask_;  // [B * B] used when the batch mask is empty
  std::vector<float> scores_;     // [n_threads][capacity] attention scratch
  std::vector<float> cls_in_;     // [B, dim] final-normed rows that get logits
  MatmulScratch matmul_scratch_;  // quantised activations of integer weight types
};

}  // namespace speclab
