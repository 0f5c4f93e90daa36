// Random-weight Llama models of any shape, built in memory: fixtures for tests and the
// stories110M-shaped benchmark model. Deterministic for a given seed.
#pragma once
#include <cstdint>
#include <memory>

#include "model/llama_weights.h"

namespace speclab {

// A ModelInfo with the given shape and llama2.c conventions (interleaved RoPE, tied
// classifier, bos 1, eos 2, format "synthetic", dtype "f32"). head_dim = dim / n_heads.
ModelInfo synthetic_info(std::int32_t dim, std::int32_t hidden_dim, std::int32_t n_layers,
                         std::int32_t n_heads, std::int32_t n_kv_heads, std::int32_t vocab_size,
                         std::int32_t max_seq_len);

// Weights drawn N(0, scale^2) with scale = 1/sqrt(fan_in) for matrices (so activations stay
// O(1) through depth), norms ~ 1 + N(0, 0.1^2), biases N(0, 0.1^2) when info.qkv_bias, and a
// separate classifier when !info.tied_classifier. info is validated first (throws Error).
LlamaWeights random_llama_weights(const ModelInfo& info, std::uint64_t seed);

}  // namespace speclab
