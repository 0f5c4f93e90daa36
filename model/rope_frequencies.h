// Rotary inverse frequencies of a model (ModelInfo: rope_theta, head_dim, rope scaling), the
// table ops/rope.h rope_tables() turns into cos/sin per position. Public so that layers outside
// LlamaModel that must rotate exactly like the target (the EAGLE head's decoder layer,
// heads/eagle_head.h) use the same numbers; LlamaModel calls it too.
#pragma once
#include <vector>

#include "model/model_info.h"

namespace speclab {

// [head_dim / 2] inverse frequencies theta^(-2i / head_dim) (in float, like llama2.c and
// Hugging Face), with linear or Llama 3.1 ("llama3") scaling applied. Throws Error naming
// info.source for invalid scaling parameters.
std::vector<float> rope_inv_frequencies(const ModelInfo& info);

}  // namespace speclab
