// fp32 weights of a Llama-family model, owned in flat row-major arrays (PyTorch layout:
// a linear layer's matrix is [out, in]). Every reader (llama2.c, GGUF, safetensors) produces
// this, dequantizing / converting at load; LlamaModel instances share it read-only through a
// shared_ptr, so a target and an early-exit or second-sequence instance cost no extra weights.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model_info.h"

namespace speclab {

struct LlamaLayerWeights {
  std::vector<float> attn_norm;  // [dim]
  std::vector<float> wq;         // [n_heads * head_dim, dim]
  std::vector<float> wk;         // [n_kv_heads * head_dim, dim]
  std::vector<float> wv;         // [n_kv_heads * head_dim, dim]
  std::vector<float> bq, bk, bv; // [n_heads*head_dim], [n_kv*head_dim] x2; empty unless qkv_bias
  std::vector<float> wo;         // [dim, n_heads * head_dim]
  std::vector<float> ffn_norm;   // [dim]
  std::vector<float> w1;         // gate  [hidden_dim, dim]
  std::vector<float> w2;         // down  [dim, hidden_dim]
  std::vector<float> w3;         // up    [hidden_dim, dim]
};

struct LlamaWeights {
  ModelInfo info;
  std::vector<float> token_embedding;  // [vocab_size, dim]
  std::vector<LlamaLayerWeights> layers;  // n_layers
  std::vector<float> final_norm;       // [dim]
  std::vector<float> classifier;       // [vocab_size, dim]; empty when info.tied_classifier

  // The classifier matrix actually used ([vocab, dim]): token_embedding when tied.
  const std::vector<float>& classifier_matrix() const {
    return info.tied_classifier ? token_embedding : classifier;
  }

  // Checks info.validate() and that every array has the size its comment states; throws
  // Error naming info.source and the tensor.
  void validate() const;

  std::int64_t n_bytes() const;  // bytes of all arrays
};

}  // namespace speclab
