// The synthetic fallback model of the experiment runner (a spec whose model is "synthetic", or
// no real model found): a random LlamaModel of a fixed shape and seed, with the final norm
// scaled down so that sampling is exercised, paired with the ByteTokenizer
// (tokenizers/byte_tokenizer.h). Deterministic: the same weights on every machine and run.
#pragma once
#include <string>

#include "model/llama_weights.h"

namespace speclab {

// The preset's weights: dim 64, FFN 128, 2 layers, 4 heads, vocab 512, context 1024, seed 1234.
LlamaWeights synthetic_preset_weights();
// What reports call it (summary.csv `model`, config.json).
std::string synthetic_preset_label();

}  // namespace speclab
