// The small fixed target model the heads harness loads heads for, shared with the corpus
// generator so that seed heads carry the target's fingerprint (and reach the tensor checks).
#pragma once
#include <memory>

#include "model/llama_weights.h"
#include "synthetic/synthetic_weights.h"

namespace speclab::fuzz {

// dim 8, hidden 16, 2 layers, 2 heads, vocab 32, 16 positions; seed 7.
inline std::shared_ptr<const LlamaWeights> heads_target() {
  static const std::shared_ptr<const LlamaWeights> w = std::make_shared<const LlamaWeights>(
      random_llama_weights(synthetic_info(8, 16, 2, 2, 2, 32, 16), 7));
  return w;
}

}  // namespace speclab::fuzz
