#include "model/prefill.h"

#include <vector>

namespace speclab {

void prefill(LanguageModel& model, std::span<const Token> tokens, std::span<const std::int32_t> hidden_layers,
             ForwardOutput& out) {
  if (tokens.empty()) return;
  std::vector<std::int32_t> positions(tokens.size());
  for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = model.n_cached() + static_cast<std::int32_t>(i);
  ForwardBatch batch;
  batch.tokens = tokens;
  batch.positions = positions;
  batch.all_logits = false;
  batch.hidden_layers = hidden_layers;
  model.forward(batch, out);
}

}  // namespace speclab
