// DEL's exit-layer / draft-length choice (Zarch et al. 2025, "DEL: Context-Aware Dynamic Exit
// Layer for Efficient Self-Speculative Decoding"): with alpha_l the probability that an exit at
// layer l predicts the target's next token, drafting d tokens at exit l and verifying with the
// full model (L layers) yields on average (1 - alpha_l^(d+1)) / (1 - alpha_l) tokens for
// d * l + L layer evaluations; DEL picks the (l, d) that maximises tokens per layer
//   TPL(l, d) = [(1 - alpha_l^(d+1)) / (1 - alpha_l)] / (d * l + L).
// Optional head cost c (in layer units, default 0 = the formula above): every forward also pays
// final norm + classifier, which on small models (stories260K: vocab 512, dim 64) costs about as
// much as a layer; TPL_c(l, d) = E[tokens] / (d * (l + c) + L + c).
// Pure functions, no state: the DEL drafter (drafters/del_drafter.h) owns the alpha table.
#pragma once
#include <cstdint>
#include <span>

namespace speclab {

// TPL(l, d) for one layer. alpha is clamped to [0, 1]; alpha = 1 gives (d + 1) / (d*l + L).
// Requires 1 <= l < n_layers, d >= 1, head_cost >= 0 (SPECLAB_ASSERT).
double tokens_per_layer(double alpha, std::int32_t layer, std::int32_t d, std::int32_t n_layers,
                        double head_cost = 0.0);

struct ExitChoice {
  std::int32_t exit_layer = 0;  // l in [1, n_layers)
  std::int32_t draft_len = 0;   // d in [1, max_d]
  double tpl = 0.0;             // TPL(l, d)
};

// argmax over l in `candidates` (empty: every l in [1, n_layers)) and d in [1, max_d] of
// TPL(alpha[l - 1], l, d). Ties go to the smaller l, then the smaller d. alpha has n_layers - 1
// entries (alpha[l - 1] for layer l). Throws Error for n_layers < 2, max_d < 1, a wrong alpha
// size, a NaN alpha, a candidate layer outside [1, n_layers), or a negative/NaN head_cost.
ExitChoice choose_exit(std::span<const double> alpha, std::int32_t n_layers, std::int32_t max_d,
                       std::span<const std::int32_t> candidates = {}, double head_cost = 0.0);

}  // namespace speclab
