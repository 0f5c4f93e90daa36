// Fixtures for the self-speculative drafters (early-exit, del): a random 4-layer synthetic
// target, greedy losslessness through the real decode loop with a drafter factory (DEL needs the
// target's weights, which the shared registry harness does not pass), and a hand-driven
// propose -> verify -> observe loop that exposes each step's tree, acceptance and verifier.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "synthetic/synthetic_weights.h"
#include "experiments/decode.h"
#include "verifiers/rules.h"
#include "model/prefill.h"
#include "verifiers/tree_verifier.h"

namespace speclab::testing {

inline std::shared_ptr<const LlamaWeights> self_spec_weights(std::uint64_t seed = 31,
                                                             std::int32_t layers = 4) {
  ModelInfo info = synthetic_info(32, 64, layers, 4, 2, 60, 512);
  info.source = "synthetic:self-spec";
  info.tied_classifier = false;  // tied random models just repeat the last token
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, seed));
}

inline const std::vector<std::vector<Token>>& self_spec_prompts() {
  static const std::vector<std::vector<Token>> p = {
      {1, 7, 9, 12}, {1, 3, 3, 3, 4, 5, 6, 3, 4}, {1, 40, 2, 59, 17, 17, 8}, {1}};
  return p;
}

using DrafterFactory = std::function<std::unique_ptr<Drafter>()>;

// decode(target, drafter) == decode(target, null) for every prompt and budget (greedy rule).
// Returns the number of draft tokens accepted (so callers can check drafting did something).
inline std::int64_t expect_self_spec_lossless(LanguageModel& target, const DrafterFactory& make,
                                              const std::string& what,
                                              const std::vector<std::vector<Token>>& prompts,
                                              std::int32_t n_new,
                                              std::vector<std::int32_t> budgets = {1, 3, 8, 64}) {
  auto rule = make_rule("greedy");
  DecodeOptions opt;
  opt.max_new_tokens = n_new;
  opt.stop_at_bos = opt.stop_at_eos = false;
  std::int64_t accepted = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto ar = decode(target, nullptr, rule.get(), prompts[i], opt).tokens;
    for (std::int32_t budget : budgets) {
      auto drafter = make();
      opt.budget.max_nodes = budget;
      const auto r = decode(target, drafter.get(), rule.get(), prompts[i], opt);
      EXPECT_EQ(r.tokens, ar) << what << " budget " << budget << " prompt " << i;
      for (const auto& s : r.steps) {
        EXPECT_LE(s.n_drafted, budget) << what;
        accepted += s.n_accepted;
      }
    }
    opt.budget.max_nodes = 0;
  }
  return accepted;
}

// One step of a hand-driven speculative loop (no stop conditions).
struct ManualStep {
  DraftTree tree;
  DraftFacts facts;
  Acceptance acc;
};

// Runs `n_steps` steps of propose -> verify -> observe on `target` from `prompt` and calls
// `inspect(step, seq_after, verifier)` after each observe. Counts heap allocations made inside
// propose() and observe() after `warm` steps into *allocs (when non-null).
template <class Inspect>
void manual_loop(LanguageModel& target, Drafter& drafter, const std::vector<Token>& prompt,
                 const SamplingParams& sampling, const DraftBudget& budget, std::int32_t n_steps,
                 Inspect inspect, const std::atomic<long long>* counter = nullptr,
                 long long* allocs = nullptr, std::int32_t warm = 8) {
  const DrafterNeeds needs = drafter.needs();
  auto rule = make_rule(default_rule_for(
      sampling.greedy() ? ChildSampling::kDeterministic : ChildSampling::kIidSampled,
      sampling.greedy()));
  std::vector<Token> seq(prompt);
  seq.reserve(prompt.size() + static_cast<std::size_t>(n_steps) * (budget.max_nodes + 2));
  target.truncate(0);
  ForwardOutput prefilled;
  prefill(target, std::span<const Token>(prompt).first(prompt.size() - 1), {}, prefilled);
  drafter.begin(prompt);
  Rng rng(3), draft_rng(4);
  TreeVerifier verifier;
  ManualStep st;
  if (allocs) *allocs = 0;
  for (std::int32_t step = 0; step < n_steps; ++step) {
    const bool count = counter != nullptr && step >= warm;
    const long long a0 = count ? counter->load() : 0;
    DraftContext ctx{seq, &sampling, &draft_rng, {},
                     needs.self_speculative ? &target : nullptr};
    st.facts = drafter.propose(ctx, budget, st.tree);
    if (count) *allocs += counter->load() - a0;
    verifier.verify(target, st.tree, st.facts.n_resume, sampling, *rule, rng,
                    TreeVerifier::Wants{false, needs.target_layer_hidden}, st.acc);
    for (std::size_t k = 1; k < st.acc.path.size(); ++k) seq.push_back(st.tree.token[st.acc.path[k]]);
    seq.push_back(st.acc.bonus);
    StepFeedback fb;
    fb.tree = &st.tree;
    fb.acceptance = &st.acc;
    fb.vocab = verifier.vocab();
    fb.logits = verifier.logits();
    fb.layer_hidden = verifier.layer_hidden();
    fb.tokens = seq;
    const long long a1 = count ? counter->load() : 0;
    drafter.observe(fb);
    if (count) *allocs += counter->load() - a1;
    inspect(step, st, seq, verifier);
  }
}

}  // namespace speclab::testing
