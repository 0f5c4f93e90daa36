#include "model/model_info.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {

namespace {
void check_range(const ModelInfo& m, const char* field, std::int64_t v, std::int64_t lo,
                 std::int64_t hi) {
  if (v < lo || v > hi) {
    fail("{}: {} = {}: must be in [{}, {}]", m.source, field, v, lo, hi);
  }
}
}  // namespace

void ModelInfo::validate() const {
  check_range(*this, "dim", dim, 1, 1 << 16);
  check_range(*this, "hidden_dim", hidden_dim, 1, 1 << 18);
  check_range(*this, "n_layers", n_layers, 1, 1024);
  check_range(*this, "n_heads", n_heads, 1, 1024);
  check_range(*this, "n_kv_heads", n_kv_heads, 1, 1024);
  check_range(*this, "head_dim", head_dim, 2, 4096);
  check_range(*this, "vocab_size", vocab_size, 1, 1 << 22);
  check_range(*this, "max_seq_len", max_seq_len, 1, 1 << 22);
  if (n_kv_heads > n_heads) {
    fail("{}: n_kv_heads = {}: must not exceed n_heads = {}", source, n_kv_heads, n_heads);
  }
  if (n_heads % n_kv_heads != 0) {
    fail("{}: n_heads = {}: must be a multiple of n_kv_heads = {}", source, n_heads, n_kv_heads);
  }
  if (head_dim % 2 != 0) {
    fail("{}: head_dim = {}: must be even (rotary embeddings rotate pairs)", source, head_dim);
  }
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) {
    fail("{}: norm_eps = {}: must be in (0, 1)", source, norm_eps);
  }
  if (!(rope_theta > 0.0f)) {
    fail("{}: rope_theta = {}: must be positive", source, rope_theta);
  }
  if (bos_id < -1 || bos_id >= vocab_size) {
    fail("{}: bos_id = {}: must be -1 (none) or a token id below vocab_size = {}", source, bos_id,
         vocab_size);
  }
  for (Token e : eos_ids) {
    if (e < 0 || e >= vocab_size) {
      fail("{}: eos id {}: must be a token id below vocab_size = {}", source, e, vocab_size);
    }
  }
}

std::int64_t ModelInfo::n_params() const {
  const std::int64_t d = dim, h = hidden_dim, q = std::int64_t(n_heads) * head_dim,
                     kv = std::int64_t(n_kv_heads) * head_dim, v = vocab_size;
  std::int64_t per_layer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * h;
  if (qkv_bias) per_layer += q + 2 * kv;
  return v * d + n_layers * per_layer + d + (tied_classifier ? 0 : v * d);
}

bool ModelInfo::is_eos(Token t) const {
  return std::find(eos_ids.begin(), eos_ids.end(), t) != eos_ids.end();
}

}  // namespace speclab
