// The target-model abstraction (DESIGN.md). One instance owns one sequence's KV cache.
//
// Cache semantics. The cache holds n_cached() rows (slots 0..n_cached-1), one per token already
// run. forward() appends the n batch tokens at slots n_cached..n_cached+n-1; batch entry i
// attends to every cached slot plus the batch entries j that batch.mask allows. RoPE uses
// batch.positions[i] (absolute position), not the slot, so a tree's siblings share a position.
// keep_batch_rows(rows) then keeps only those rows of the last batch (indices into the batch, in
// the given order) right after the slots that were cached before it: the accepted path.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/model_info.h"
#include "base/types.h"

namespace speclab {

// Hidden-state selectors for ForwardBatch::hidden_layers.
//   h in [0, n_layers]: the residual stream after h layers (0 = token embeddings).
//   kFinalNormedHidden: the final-normed state the classifier reads (after the exit layer).
inline constexpr std::int32_t kFinalNormedHidden = -1;

struct ForwardBatch {
  std::span<const Token> tokens;            // [n] new tokens, each in [0, vocab)
  std::span<const std::int32_t> positions;  // [n] absolute positions, each < max_seq_len
  // [n * n] row-major, mask[i * n + j] != 0 iff entry i may attend to batch entry j. Must have
  // mask[i*n+i] != 0 and mask[i*n+j] == 0 for j > i (parents come before children).
  // Empty: causal (entry i sees entries 0..i), i.e. a chain.
  std::span<const std::uint8_t> mask;
  // Rows that get logits. all_logits: every row (logit_rows ignored).
  bool all_logits = true;
  std::span<const std::int32_t> logit_rows;     // used when !all_logits; may be empty
  std::span<const std::int32_t> hidden_layers;  // selectors (see above) to copy out
  // Early exit: run layers [0, exit_layer) then final norm + classifier. -1 = all layers.
  std::int32_t exit_layer = -1;
  // Resume (LayerSkip-style KV reuse): the first n_resume batch entries are the last n_resume
  // cached slots, all left at the same partial depth E < n_layers by earlier early-exit
  // forwards (their tokens and positions must match what was run). Only layers [E, n_layers)
  // run for them, from their stored layer-E residual; the other entries run all layers. The
  // resumed entries count as part of this batch for keep_batch_rows. Hidden selectors h < E
  // give NaN rows for resumed entries. 0 = ordinary forward.
  std::int32_t n_resume = 0;
};

struct ForwardOutput {
  std::int32_t n_rows = 0;       // rows of `logits`
  std::int32_t vocab = 0;
  std::vector<float> logits;     // [n_rows, vocab] row-major, in batch-row order requested
  std::vector<std::vector<float>> hidden;  // one per hidden_layers entry: [n, dim] row-major

  std::span<const float> row(std::int32_t r) const {
    return std::span<const float>(logits).subspan(static_cast<std::size_t>(r) * vocab, vocab);
  }
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual const ModelInfo& info() const = 0;
  // Runs the batch on top of the cache (see file comment). Throws Error on bad input: empty
  // batch, token id out of range, position out of range, cache overflow
  // (n_cached + n > max_seq_len), malformed mask, bad exit layer or hidden selector.
  // Does not allocate when `out` already has enough capacity.
  virtual void forward(const ForwardBatch& batch, ForwardOutput& out) = 0;
  // Keeps rows (indices into the last forward's batch, strictly increasing) and drops the rest.
  virtual void keep_batch_rows(std::span<const std::int32_t> rows) = 0;
  // Drops cached slots >= n_keep (n_keep <= n_cached).
  virtual void truncate(std::int32_t n_keep) = 0;
  virtual std::int32_t n_cached() const = 0;
};

}  // namespace speclab
