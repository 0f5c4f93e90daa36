#include "synthetic/table_model.h"

#include <algorithm>

#include "base/error.h"
#include "base/rng.h"

namespace speclab {

TableModel::TableModel(std::int32_t vocab, std::int32_t order, std::int32_t capacity, float scale,
                       std::uint64_t seed)
    : order_(order) {
  if (order != 1 && order != 2) fail("table model: order = {}: must be 1 or 2", order);
  if (vocab < 2 || vocab > 4096) fail("table model: vocab = {}: must be in [2, 4096]", vocab);
  info_.arch = "table";
  info_.source = "table-model";
  info_.format = "synthetic";
  info_.weight_dtype = "f32";
  info_.dim = vocab;
  info_.hidden_dim = vocab;
  info_.n_layers = 1;
  info_.n_heads = 1;
  info_.n_kv_heads = 1;
  info_.head_dim = 2;
  info_.vocab_size = vocab;
  info_.max_seq_len = capacity;
  info_.bos_id = -1;   // no BOS/EOS: sequences only stop at the token limit
  info_.eos_ids.clear();
  info_.validate();
  Rng rng(seed);
  const std::size_t rows = order == 1 ? vocab : static_cast<std::size_t>(vocab) * vocab;
  table_.resize(rows * vocab);
  for (auto& x : table_) x = static_cast<float>(scale * rng.normal());
}

std::span<const float> TableModel::row_for(Token prev2, Token prev) const {
  const std::int32_t v = info_.vocab_size;
  std::size_t r = prev < 0 ? 0 : static_cast<std::size_t>(prev);
  if (order_ == 2) r += static_cast<std::size_t>(prev2 < 0 ? 0 : prev2) * v;
  return std::span<const float>(table_).subspan(r * v, v);
}

void TableModel::forward(const ForwardBatch& batch, ForwardOutput& out) {
  const std::int32_t n = static_cast<std::int32_t>(batch.tokens.size());
  const std::int32_t v = info_.vocab_size;
  if (n == 0) fail("table model: empty batch");
  if (batch.n_resume != 0) fail("table model: n_resume = {}: must be 0 (no early exit)", batch.n_resume);
  if (batch.positions.size() != batch.tokens.size()) {
    fail("table model: {} positions for {} tokens", batch.positions.size(), n);
  }
  if (n_cached() + n > info_.max_seq_len) {
    fail("table model: cache overflow: {} cached + {} new > capacity {}", n_cached(), n,
         info_.max_seq_len);
  }
  if (!batch.mask.empty() && batch.mask.size() != static_cast<std::size_t>(n) * n) {
    fail("table model: mask has {} entries: expected {} x {}", batch.mask.size(), n, n);
  }
  for (Token t : batch.tokens) {
    if (t < 0 || t >= v) fail("table model: token {}: must be in [0, {})", t, v);
  }
  for (std::int32_t l : batch.hidden_layers) {
    if (l != kFinalNormedHidden && (l < 0 || l > 1)) fail("table model: hidden layer {}: must be -1, 0 or 1", l);
  }
  auto allowed = [&](std::int32_t i, std::int32_t j) {
    return batch.mask.empty() ? j <= i : batch.mask[static_cast<std::size_t>(i) * n + j] != 0;
  };
  // Context of entry i: cached tokens, then its ancestors in the batch (in index order).
  auto prev_tokens = [&](std::int32_t i, Token& prev2, Token& prev) {
    prev = batch.tokens[i];
    prev2 = -1;
    for (std::int32_t j = i - 1; j >= 0; --j) {
      if (allowed(i, j)) {
        prev2 = batch.tokens[j];
        return;
      }
    }
    if (!cache_.empty()) prev2 = cache_.back();
  };
  const std::int32_t n_rows =
      batch.all_logits ? n : static_cast<std::int32_t>(batch.logit_rows.size());
  out.n_rows = n_rows;
  out.vocab = v;
  out.logits.resize(static_cast<std::size_t>(n_rows) * v);
  for (std::int32_t r = 0; r < n_rows; ++r) {
    const std::int32_t i = batch.all_logits ? r : batch.logit_rows[r];
    if (i < 0 || i >= n) fail("table model: logit row {}: must be in [0, {})", i, n);
    Token p2, p1;
    prev_tokens(i, p2, p1);
    auto row = row_for(p2, p1);
    std::copy(row.begin(), row.end(), out.logits.begin() + static_cast<std::size_t>(r) * v);
  }
  out.hidden.resize(batch.hidden_layers.size());
  for (std::size_t h = 0; h < batch.hidden_layers.size(); ++h) {
    out.hidden[h].resize(static_cast<std::size_t>(n) * v);
    for (std::int32_t i = 0; i < n; ++i) {
      Token p2, p1;
      prev_tokens(i, p2, p1);
      auto row = row_for(p2, p1);
      std::copy(row.begin(), row.end(), out.hidden[h].begin() + static_cast<std::size_t>(i) * v);
    }
  }
  // The batch enters the cache (slots n_cached .. n_cached+n-1).
  batch_.assign(batch.tokens.begin(), batch.tokens.end());
  cache_.insert(cache_.end(), batch.tokens.begin(), batch.tokens.end());
  has_batch_ = true;
}

void TableModel::keep_batch_rows(std::span<const std::int32_t> rows) {
  if (!has_batch_) fail("table model: keep_batch_rows without a previous forward");
  const std::int32_t n = static_cast<std::int32_t>(batch_.size());
  const std::size_t base = cache_.size() - batch_.size();
  for (std::size_t k = 0; k < rows.size(); ++k) {
    if (rows[k] < 0 || rows[k] >= n || (k > 0 && rows[k] <= rows[k - 1])) {
      fail("table model: keep_batch_rows: row {} at index {}: rows must be increasing and in [0, {})",
           rows[k], k, n);
    }
  }
  cache_.resize(base);
  for (std::int32_t r : rows) cache_.push_back(batch_[r]);
  has_batch_ = false;
}

void TableModel::truncate(std::int32_t n_keep) {
  if (n_keep < 0 || n_keep > n_cached()) {
    fail("table model: truncate({}): must be in [0, {}]", n_keep, n_cached());
  }
  cache_.resize(n_keep);
  has_batch_ = false;
}

}  // namespace speclab
