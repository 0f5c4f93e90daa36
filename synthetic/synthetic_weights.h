// Random-weight Llama models of any shape, built in memory: fixtures for tests and the
// stories110M-shaped benchmark model. Deterministic for a given seed.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "model/llama_weights.h"

namespace speclab {

// A ModelInfo with the given shape and llama2.c conventions (interleaved RoPE, tied
// classifier, bos 1, eos 2, format "synthetic", dtype "f32"). head_dim = dim / n_heads.
ModelInfo synthetic_info(std::int32_t dim, std::int32_t hidden_dim, std::int32_t n_layers,
                         std::int32_t n_heads, std::int32_t n_kv_heads, std::int32_t vocab_size,
                         std::int32_t max_seq_len);

// Named model shapes for synthetic models and files (speclab synth-model --shape):
//   stories260K  dim 64, FFN 172, 5 layers, 8 heads / 4 KV, vocab 512, ctx 512, tied
//   stories110M  dim 768, FFN 2048, 12 layers, 12 heads, vocab 32000, ctx 1024, tied
//   1B           dim 2048, FFN 8192, 16 layers, 32 heads / 8 KV, vocab 32000, ctx 2048, untied
//                (the TinyLlama / Llama-3.2-1B class)
//   7B           dim 4096, FFN 11008, 32 layers, 32 heads, vocab 32000, ctx 4096, untied
//                (Llama-2-7B)
// Names are case-insensitive; nullopt for an unknown name.
std::optional<ModelInfo> named_shape(std::string_view name);
std::string named_shape_list();  // "stories260K, stories110M, 1B, 7B"

// Weights drawn N(0, scale^2) with scale = 1/sqrt(fan_in) for matrices (so activations stay
// O(1) through depth), norms ~ 1 + N(0, 0.1^2), biases N(0, 0.1^2) when info.qkv_bias, and a
// separate classifier when !info.tied_classifier. info is validated first (throws Error).
LlamaWeights random_llama_weights(const ModelInfo& info, std::uint64_t seed);

}  // namespace speclab
