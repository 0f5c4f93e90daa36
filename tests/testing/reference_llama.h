// Naive reference forward pass of a Llama-family model: the "reference twin" of LlamaModel
// (DESIGN.md: every optimized kernel keeps one). Plain scalar loops with double accumulation,
// written straight from the math (RMSNorm, RoPE with scaling, grouped-query causal attention,
// SwiGLU), no Eigen, no threads, no shared code with model/llama_model.cpp. Slow: for tests only.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/llama_weights.h"
#include "base/types.h"

namespace speclab::testing {

struct ReferenceForward {
  // logits[t] = [vocab] logits at position t (after exit_layer layers + final norm + classifier).
  std::vector<std::vector<float>> logits;
  // hidden[h][t] = [dim] residual stream after h layers at position t, h in [0, exit_layer].
  std::vector<std::vector<std::vector<float>>> hidden;
  // final_normed[t] = [dim] final-normed state the classifier reads.
  std::vector<std::vector<float>> final_normed;
};

// Runs `tokens` sequentially at positions 0..n-1 with causal attention. exit_layer -1 = all
// layers, else in [1, n_layers]. Tokens must be in [0, vocab) (asserted).
ReferenceForward reference_forward(const LlamaWeights& w, std::span<const Token> tokens,
                                   std::int32_t exit_layer = -1);

// Logits per position (shorthand for reference_forward(w, tokens).logits).
std::vector<std::vector<float>> reference_logits(const LlamaWeights& w,
                                                 std::span<const Token> tokens);

// Applies final norm + classifier to one residual-stream row [dim]: logits [vocab].
std::vector<float> reference_head(const LlamaWeights& w, std::span<const float> residual);

}  // namespace speclab::testing
