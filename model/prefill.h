// Prefill: run a run of tokens on top of a model's cache, causally, at the next positions, with
// no logits (the decoding loop, the runner and the benchmarks prefill the same way).
#pragma once
#include <cstdint>
#include <span>

#include "model/language_model.h"

namespace speclab {

// Runs tokens at positions n_cached .. n_cached + tokens.size() - 1 with a causal mask and no
// logits; `out.hidden` receives the requested hidden selectors (ForwardBatch::hidden_layers).
// No-op for an empty `tokens`. Throws what LanguageModel::forward throws (ids out of range,
// cache overflow).
void prefill(LanguageModel& model, std::span<const Token> tokens, std::span<const std::int32_t> hidden_layers,
             ForwardOutput& out);

}  // namespace speclab
