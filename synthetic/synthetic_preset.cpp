#include "synthetic/synthetic_preset.h"

#include "synthetic/synthetic_weights.h"

namespace speclab {

namespace {
constexpr std::uint64_t kWeightsSeed = 1234;
// Random weights give very peaked next-token distributions (temperature 1 would sample the
// argmax almost always); a smaller final norm flattens them.
constexpr float kFinalNormScale = 0.3f;
}  // namespace

LlamaWeights synthetic_preset_weights() {
  LlamaWeights w = random_llama_weights(synthetic_info(64, 128, 2, 4, 4, 512, 1024), kWeightsSeed);
  for (float& g : w.final_norm) g *= kFinalNormScale;
  return w;
}

std::string synthetic_preset_label() {
  return "synthetic model (random LlamaModel dim 64, 2 layers, vocab 512, weights seed 1234, byte tokenizer)";
}

}  // namespace speclab
