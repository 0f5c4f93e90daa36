// TableModel: a synthetic LanguageModel whose next-token logits are a fixed random table
// indexed by the last `order` tokens (order 1 or 2). Its exact distributions are known, which
// makes it the target of the statistical losslessness tests and of fast loop tests; it honours
// the full LanguageModel contract (tree masks, keep_batch_rows, truncate, context limit).
// Hidden states: dim = vocab, the final-normed hidden of a row is its logits row.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/language_model.h"

namespace speclab {

class TableModel final : public LanguageModel {
 public:
  // logits ~ N(0, scale^2) per entry; table has vocab^order rows. max_seq_len = capacity.
  TableModel(std::int32_t vocab, std::int32_t order, std::int32_t capacity, float scale,
             std::uint64_t seed);

  const ModelInfo& info() const override { return info_; }
  void forward(const ForwardBatch& batch, ForwardOutput& out) override;
  void keep_batch_rows(std::span<const std::int32_t> rows) override;
  void truncate(std::int32_t n_keep) override;
  std::int32_t n_cached() const override { return static_cast<std::int32_t>(cache_.size()); }

  // The logits row after a context ending in ... prev2, prev (prev2 ignored for order 1;
  // -1 = no token there, which maps to row 0 of that axis).
  std::span<const float> row_for(Token prev2, Token prev) const;
  std::int32_t order() const { return order_; }

 private:
  ModelInfo info_;
  std::int32_t order_;
  std::vector<float> table_;   // [vocab^order, vocab]
  std::vector<Token> cache_;   // tokens in cache slots
  std::vector<Token> batch_;   // last batch's tokens (for keep_batch_rows)
  bool has_batch_ = false;
};

}  // namespace speclab
