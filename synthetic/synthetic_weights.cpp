#include "synthetic/synthetic_weights.h"

#include <cctype>
#include <cmath>

#include "base/rng.h"

namespace speclab {

ModelInfo synthetic_info(std::int32_t dim, std::int32_t hidden_dim, std::int32_t n_layers,
                         std::int32_t n_heads, std::int32_t n_kv_heads, std::int32_t vocab_size,
                         std::int32_t max_seq_len) {
  ModelInfo m;
  m.source = "synthetic";
  m.format = "synthetic";
  m.weight_dtype = "f32";
  m.dim = dim;
  m.hidden_dim = hidden_dim;
  m.n_layers = n_layers;
  m.n_heads = n_heads;
  m.n_kv_heads = n_kv_heads;
  m.head_dim = n_heads > 0 ? dim / n_heads : 0;
  m.vocab_size = vocab_size;
  m.max_seq_len = max_seq_len;
  return m;
}

namespace {
void fill_normal(std::vector<float>& v, std::size_t n, double scale, double mean, Rng& rng) {
  v.resize(n);
  for (auto& x : v) x = static_cast<float>(mean + scale * rng.normal());
}
WeightMatrix normal_matrix(std::size_t rows, std::size_t cols, double scale, Rng& rng) {
  std::vector<float> v;
  fill_normal(v, rows * cols, scale, 0.0, rng);
  return WeightMatrix::from_f32(static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols),
                                std::move(v));
}
}  // namespace

std::optional<ModelInfo> named_shape(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ModelInfo m;
  if (n == "stories260k") {
    m = synthetic_info(64, 172, 5, 8, 4, 512, 512);
  } else if (n == "stories110m") {
    m = synthetic_info(768, 2048, 12, 12, 12, 32000, 1024);
  } else if (n == "1b") {
    m = synthetic_info(2048, 8192, 16, 32, 8, 32000, 2048);
    m.tied_classifier = false;
  } else if (n == "7b") {
    m = synthetic_info(4096, 11008, 32, 32, 32, 32000, 4096);
    m.tied_classifier = false;
  } else {
    return std::nullopt;
  }
  return m;
}

std::string named_shape_list() { return "stories260K, stories110M, 1B, 7B"; }

LlamaWeights random_llama_weights(const ModelInfo& info, std::uint64_t seed) {
  info.validate();
  Rng rng(seed);
  LlamaWeights w;
  w.info = info;
  const std::size_t d = info.dim, h = info.hidden_dim,
                    q = static_cast<std::size_t>(info.n_heads) * info.head_dim,
                    kv = static_cast<std::size_t>(info.n_kv_heads) * info.head_dim,
                    v = info.vocab_size;
  w.token_embedding = normal_matrix(v, d, 1.0, rng);
  w.layers.resize(info.n_layers);
  for (auto& L : w.layers) {
    fill_normal(L.attn_norm, d, 0.1, 1.0, rng);
    L.wq = normal_matrix(q, d, 1.0 / std::sqrt(double(d)), rng);
    L.wk = normal_matrix(kv, d, 1.0 / std::sqrt(double(d)), rng);
    L.wv = normal_matrix(kv, d, 1.0 / std::sqrt(double(d)), rng);
    if (info.qkv_bias) {
      fill_normal(L.bq, q, 0.1, 0.0, rng);
      fill_normal(L.bk, kv, 0.1, 0.0, rng);
      fill_normal(L.bv, kv, 0.1, 0.0, rng);
    }
    L.wo = normal_matrix(d, q, 1.0 / std::sqrt(double(q)), rng);
    fill_normal(L.ffn_norm, d, 0.1, 1.0, rng);
    L.w1 = normal_matrix(h, d, 1.0 / std::sqrt(double(d)), rng);
    L.w2 = normal_matrix(d, h, 1.0 / std::sqrt(double(h)), rng);
    L.w3 = normal_matrix(h, d, 1.0 / std::sqrt(double(d)), rng);
  }
  fill_normal(w.final_norm, d, 0.1, 1.0, rng);
  if (!info.tied_classifier) w.classifier = normal_matrix(v, d, 1.0 / std::sqrt(double(d)), rng);
  w.validate();
  return w;
}

}  // namespace speclab
