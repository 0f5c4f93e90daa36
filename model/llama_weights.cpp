#include "model/llama_weights.h"

#include "base/error.h"

namespace speclab {

namespace {
void check_size(const ModelInfo& m, const std::string& name, const std::vector<float>& v,
                std::int64_t expected) {
  if (static_cast<std::int64_t>(v.size()) != expected) {
    fail("{}: tensor {} has {} elements: expected {}", m.source, name, v.size(), expected);
  }
}
}  // namespace

void LlamaWeights::validate() const {
  info.validate();
  const std::int64_t d = info.dim, h = info.hidden_dim, q = std::int64_t(info.n_heads) * info.head_dim,
                     kv = std::int64_t(info.n_kv_heads) * info.head_dim, v = info.vocab_size;
  check_size(info, "token_embedding", token_embedding, v * d);
  if (static_cast<std::int32_t>(layers.size()) != info.n_layers) {
    fail("{}: {} layers of weights: expected n_layers = {}", info.source, layers.size(),
         info.n_layers);
  }
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    check_size(info, p + "attn_norm", L.attn_norm, d);
    check_size(info, p + "wq", L.wq, q * d);
    check_size(info, p + "wk", L.wk, kv * d);
    check_size(info, p + "wv", L.wv, kv * d);
    check_size(info, p + "wo", L.wo, d * q);
    check_size(info, p + "ffn_norm", L.ffn_norm, d);
    check_size(info, p + "w1", L.w1, h * d);
    check_size(info, p + "w2", L.w2, d * h);
    check_size(info, p + "w3", L.w3, h * d);
    if (info.qkv_bias) {
      check_size(info, p + "bq", L.bq, q);
      check_size(info, p + "bk", L.bk, kv);
      check_size(info, p + "bv", L.bv, kv);
    }
  }
  check_size(info, "final_norm", final_norm, d);
  if (!info.tied_classifier) check_size(info, "classifier", classifier, v * d);
}

std::int64_t LlamaWeights::n_bytes() const {
  std::int64_t n = token_embedding.size() + final_norm.size() + classifier.size();
  for (const auto& L : layers) {
    n += L.attn_norm.size() + L.wq.size() + L.wk.size() + L.wv.size() + L.bq.size() +
         L.bk.size() + L.bv.size() + L.wo.size() + L.ffn_norm.size() + L.w1.size() +
         L.w2.size() + L.w3.size();
  }
  return n * static_cast<std::int64_t>(sizeof(float));
}

}  // namespace speclab
