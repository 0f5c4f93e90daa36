// Weights of a Llama-family model. The large matrices (projections, token embedding,
// classifier) are WeightMatrix (ops/weight_matrix.h): in their stored type (f32, f16, bf16,
// q8_0, q4_k, ...), either views into the memory-mapped file or owned buffers, PyTorch layout
// (a linear layer's matrix is [out, in]). Norm gains and biases are small fp32 vectors. Readers
// (llama2.c, GGUF, safetensors) keep the file's type where a kernel exists for it;
// convert_weights() re-stores them in another type (`--dtype`). LlamaModel instances share one
// LlamaWeights read-only through a shared_ptr, so a target and an early-exit or second-sequence
// instance cost no extra weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model_info.h"
#include "ops/weight_matrix.h"

namespace speclab {

struct LlamaLayerWeights {
  std::vector<float> attn_norm;  // [dim]
  WeightMatrix wq;               // [n_heads * head_dim, dim]
  WeightMatrix wk;               // [n_kv_heads * head_dim, dim]
  WeightMatrix wv;               // [n_kv_heads * head_dim, dim]
  std::vector<float> bq, bk, bv; // [n_heads*head_dim], [n_kv*head_dim] x2; empty unless qkv_bias
  WeightMatrix wo;               // [dim, n_heads * head_dim]
  std::vector<float> ffn_norm;   // [dim]
  WeightMatrix w1;               // gate  [hidden_dim, dim]
  WeightMatrix w2;               // down  [dim, hidden_dim]
  WeightMatrix w3;               // up    [hidden_dim, dim]
};

struct LlamaWeights {
  ModelInfo info;
  WeightMatrix token_embedding;           // [vocab_size, dim]
  std::vector<LlamaLayerWeights> layers;  // n_layers
  std::vector<float> final_norm;          // [dim]
  WeightMatrix classifier;                // [vocab_size, dim]; empty when info.tied_classifier

  // The classifier matrix actually used ([vocab, dim]): token_embedding when tied.
  const WeightMatrix& classifier_matrix() const {
    return info.tied_classifier ? token_embedding : classifier;
  }

  // Checks info.validate() and that every array has the shape its comment states; throws
  // Error naming info.source and the tensor.
  void validate() const;

  std::int64_t n_bytes() const;  // bytes of all arrays as held (resident)
  // The types of the matrices as held, e.g. "q8_0" or "q4_k+q6_k" (distinct types in order of
  // first appearance: embedding, layers, classifier); norms and biases (always fp32) excluded.
  std::string resident_dtypes() const;
  std::vector<DType> resident_dtype_list() const;  // the same types, as values
  // Every matrix (embedding, per layer wq wk wv wo w1 w2 w3, classifier if untied) with a stable
  // name ("token_embedding", "layers.0.wq", ..., "classifier").
  std::vector<std::pair<std::string, const WeightMatrix*>> matrices() const;
};

// How convert_weights stores the matrices.
struct WeightConversion {
  DType dtype = DType::kF32;
  // Matrices whose row length is not a whole number of `dtype` blocks (e.g. 172 columns for a
  // 32-block type) are stored as q8_0 when their rows fit 32-blocks, else as f16 (never more
  // precise types than needed, never less precise than q8_0 for a quantised request).
  bool convert_embedding = true;  // false: the token embedding keeps its type
  int n_threads = 1;              // rows are converted in parallel; the result does not depend on it
};

// A copy of `w` with every matrix stored as conv.dtype (dequantise, then our own quantiser,
// ops/quant.h); matrices already of that type are shared, not copied. info.weight_dtype keeps
// the stored type of the file.
LlamaWeights convert_weights(const LlamaWeights& w, const WeightConversion& conv);

}  // namespace speclab
