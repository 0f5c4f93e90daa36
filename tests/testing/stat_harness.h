// Statistical test harness for acceptance rules (DESIGN.md contract 3, sampling losslessness).
//
// A tiny synthetic target (vocab 8-16; next-token logits from a fixed random table indexed by the
// last one or two tokens, turned into probabilities by logits_to_probs with the sampling params
// under test) and a test drafter with a known draft distribution q (its own random table) that
// builds trees of each kind. simulate() runs draft -> accept from a fixed context until at least
// two tokens are emitted and counts the first token and the (first, second) pair; exact_*() give
// the exact target laws; chi_square_test() compares them (pooling cells with small expected
// counts; a token emitted where the target has probability 0 fails outright).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "base/rng.h"
#include "drafters/drafter.h"
#include "experiments/decode.h"
#include "model/language_model.h"
#include "ops/sampling.h"
#include "trees/draft_tree.h"
#include "verifiers/acceptance_rule.h"

namespace speclab::testing {

// Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0.
double regularized_gamma_q(double a, double x);
// Survival function of the chi-square law: P(X >= x) for X ~ chi2(dof).
double chi_square_sf(double x, double dof);

struct ChiSquareResult {
  double statistic = 0.0;
  std::int32_t dof = 0;
  double p_value = 1.0;
  std::int32_t n_cells = 0;        // cells after pooling
  std::int64_t impossible = 0;     // draws that landed on cells of expected probability 0
};

// Pearson chi-square goodness of fit of `observed` counts to `expected` probabilities (sum 1).
// Cells with expected count < min_expected are pooled into one cell (dropped if still below).
// Any observation on a zero-probability cell gives p_value = 0.
ChiSquareResult chi_square_test(std::span<const std::int64_t> observed,
                                std::span<const double> expected, double min_expected = 5.0);

// Next-token logits from a fixed random table: logits(prev2, prev1) = table[prev1] (order 1) or
// table[prev2 * vocab + prev1] (order 2); entries ~ scale * N(0, 1).
class SyntheticTarget {
 public:
  SyntheticTarget(std::int32_t vocab, std::int32_t order, std::uint64_t seed, float scale = 1.5f);
  std::int32_t vocab() const { return vocab_; }
  std::span<const float> logits(Token prev2, Token prev1) const;
  // out[vocab] = p(. | prev2, prev1) under `sp`.
  void probs(Token prev2, Token prev1, const SamplingParams& sp, std::span<float> out) const;

 private:
  std::int32_t vocab_, order_;
  std::vector<float> table_;
  mutable std::vector<std::int32_t> scratch_;
};

enum class TreeKind {
  kChainIid,             // kIidSampled, one child per node drawn from q
  kIidTree,              // kIidSampled, branching[d] children drawn i.i.d. from q
  kDeterministicTopK,    // kDeterministic, children = top branching[d] tokens of q
  kDeterministicRandom,  // kDeterministic, children drawn i.i.d. from q (duplicate siblings happen)
  kWithoutReplacement,   // kWithoutReplacement, Gumbel-top-k from q (distinct siblings)
};
const char* to_string(TreeKind k);

// Builds trees with a known q: q row of node i = q_params applied to the drafter's own order-1
// table at node i's token. branching[d] = children of each node at depth d (size = max depth).
class TestDrafter {
 public:
  TestDrafter(std::int32_t vocab, std::uint64_t seed, TreeKind kind,
              std::vector<std::int32_t> branching, SamplingParams q_params = {1.0f, 0, 1.0f});
  TreeKind kind() const { return kind_; }
  ChildSampling children() const;
  // Fills `out` rooted at `root`; records q rows for the sampled kinds.
  void build(Token root, Rng& rng, DraftTree& out) const;

 private:
  std::int32_t vocab_;
  TreeKind kind_;
  std::vector<std::int32_t> branching_;
  SamplingParams q_params_;
  std::vector<float> q_table_;             // [vocab, vocab] q row per last token (precomputed)
  std::vector<std::int32_t> q_order_;      // [vocab, vocab] tokens by descending q per row
  mutable std::vector<float> keys_;
  mutable std::vector<std::int32_t> order_;
};

struct SimulationResult {
  std::vector<std::int64_t> first;  // [vocab] counts of the first emitted token
  std::vector<std::int64_t> pair;   // [vocab * vocab] counts of (first, second)
  double mean_accepted = 0.0;       // accepted draft tokens per first step
};

// Runs n_draws independent decodes from `context` (size >= 2). Each: draft -> verify -> accept
// until >= 2 tokens are emitted (accepted path tokens + bonus per step). check_tree is called.
SimulationResult simulate(const SyntheticTarget& target, const SamplingParams& sp,
                          const TestDrafter& drafter, const AcceptanceRule& rule,
                          std::span<const Token> context, std::int32_t n_draws,
                          std::uint64_t seed);

// Exact target laws from `context`: first[v] and pair[a * vocab + b].
void exact_laws(const SyntheticTarget& target, const SamplingParams& sp,
                std::span<const Token> context, std::vector<double>& first,
                std::vector<double>& pair);

// ---- through the real decode loop (experiments/decode.h) ----------------------------------

// Exact laws of a model target after `prompt` under `sp`, from the model's own forwards (full
// recomputation of each context, cache reset first): first[v] = p(v | prompt) and
// pair[a * vocab + b] = p(a | prompt) p(b | prompt, a).
void exact_laws(LanguageModel& model, const SamplingParams& sp, std::span<const Token> prompt,
                std::vector<double>& first, std::vector<double>& pair);

struct DecodeDraws {
  std::vector<std::int64_t> first;  // [vocab] counts of the first emitted token
  std::vector<std::int64_t> pair;   // [vocab * vocab] counts of (first, second)
  std::int64_t accepted = 0;        // accepted draft tokens over all draws
};

// n_draws decodes of two tokens from `prompt` (options.seed = seed0 + draw; max_new_tokens and
// the stop flags are overridden: 2 tokens, no stops) with one drafter object (may be null), and
// the counts of the first token and the pair. Throws Error when a decode emits fewer tokens.
DecodeDraws decode_draws(LanguageModel& target, Drafter* drafter, const AcceptanceRule* rule,
                         std::span<const Token> prompt, DecodeOptions options, std::int32_t n_draws,
                         std::uint64_t seed0);

}  // namespace speclab::testing
