// End-to-end greedy losslessness of a drafter through the real decode loop
// (experiments/decode.h): the loop with the drafter and the `greedy` rule must emit exactly the
// autoregressive tokens, for budgets 4..128 and several prompts, on any target (e.g. the real
// stories260K checkpoint, skipped when absent). Every registered drafter gets this on a random
// LlamaModel from the contract suite (tests/drafters/test_drafter_contract.cpp).
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_weights.h"
#include "tokenizers/tokenizer_loader.h"
#include "experiments/decode.h"
#include "drafters/registry.h"
#include "tests/testing/models_dir.h"
#include "verifiers/rules.h"

namespace speclab::testing {

inline const std::vector<std::int32_t>& lossless_budgets() {
  static const std::vector<std::int32_t> b = {4, 8, 16, 32, 64, 128};
  return b;
}

struct LosslessStats {
  std::int64_t target_forwards = 0;   // with the drafter
  std::int64_t ar_forwards = 0;       // autoregressive
  std::int64_t accepted = 0;          // accepted draft tokens (a vacuous test accepts none)
};

// The registry environment for `target`: its info and, for a LlamaModel, its weights (head
// drafters and exit adapters need them for the fingerprint, embeddings and classifier).
inline DrafterEnv env_for(LanguageModel& target) {
  DrafterEnv env;
  env.target = &target.info();
  if (auto* m = dynamic_cast<LlamaModel*>(&target)) env.target_weights = m->weights();
  return env;
}

// For every budget and prompt: decode(target, drafter) == decode(target, null). One drafter is
// built per budget from `spec` and reused across the prompts (begin() is called per prompt), so
// state policies are exercised too.
inline LosslessStats expect_greedy_lossless(LanguageModel& target, const std::string& spec,
                                            const std::vector<std::vector<Token>>& prompts,
                                            std::int32_t n_new) {
  LosslessStats stats;
  auto rule = make_rule("greedy");
  DecodeOptions opt;
  opt.max_new_tokens = n_new;
  opt.stop_at_bos = opt.stop_at_eos = false;
  std::vector<std::vector<Token>> ar;
  for (const auto& p : prompts) {
    auto r = decode(target, nullptr, rule.get(), p, opt);
    ar.push_back(r.tokens);
    stats.ar_forwards += r.n_target_forwards();
  }
  for (const std::int32_t budget : lossless_budgets()) {
    auto drafter = make_drafter(spec, env_for(target));
    opt.budget.max_nodes = budget;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      auto r = decode(target, drafter.get(), rule.get(), prompts[i], opt);
      EXPECT_EQ(r.tokens, ar[i]) << spec << " budget " << budget << " prompt " << i;
      for (const auto& s : r.steps) {
        EXPECT_LE(s.n_drafted, budget) << spec;
        stats.accepted += s.n_accepted;
      }
      stats.target_forwards += r.n_target_forwards();
    }
  }
  stats.ar_forwards *= static_cast<std::int64_t>(lossless_budgets().size());
  return stats;
}

// Sampling through the real loop (temperature 0.9, top-p 0.95; `rule_name` or, when empty, the
// loop's default lossless rule for the drafter's trees): runs, respects the budget, emits
// in-range tokens, and is reproducible (same seed, same tokens) with a fresh drafter each time.
inline void expect_sampling_reproducible_on(const std::shared_ptr<const LlamaWeights>& w,
                                            const std::string& spec,
                                            const std::string& rule_name = "") {
  LlamaModel target(w, 1);
  DecodeOptions opt;
  opt.sampling.temperature = 0.9f;
  opt.sampling.top_p = 0.95f;
  opt.max_new_tokens = 80;
  opt.seed = 5;
  opt.stop_at_bos = opt.stop_at_eos = false;
  opt.budget.max_nodes = 16;
  const std::vector<Token> prompt = {1, 7, 9, 12, 7, 9};
  std::unique_ptr<AcceptanceRule> rule;
  if (!rule_name.empty()) rule = make_rule(rule_name);
  std::vector<Token> first;
  for (int run = 0; run < 2; ++run) {
    auto drafter = make_drafter(spec, env_for(target));
    auto r = decode(target, drafter.get(), rule.get(), prompt, opt);
    EXPECT_EQ(static_cast<int>(r.tokens.size()), 80) << spec << " " << rule_name;
    for (const auto& s : r.steps) EXPECT_LE(s.n_drafted, 16) << spec;
    for (const Token t : r.tokens) {
      EXPECT_GE(t, 0);
      EXPECT_LT(t, w->info.vocab_size);
    }
    if (run == 0) first = r.tokens;
    else EXPECT_EQ(r.tokens, first) << spec << " " << rule_name << ": same seed must give the same tokens";
  }
}

// Returns false (and the caller skips) when the model or tokenizer is absent.
inline bool stories_available() {
  return std::filesystem::exists(model_path("stories260K.bin")) &&
         std::filesystem::exists(model_path("tok512.bin"));
}

// Three story prompts encoded with tok512.bin (BOS first).
inline std::vector<std::vector<Token>> stories_prompts() {
  auto tok = load_tokenizer(model_path("tok512.bin"));
  std::vector<std::vector<Token>> prompts;
  for (const char* text : {"Once upon a time", "Tom and his dog went to the park.",
                           "Lily wanted to bake a big cake for her mom"}) {
    prompts.push_back(tok->encode(text, /*add_bos=*/true));
  }
  return prompts;
}

inline LosslessStats lossless_on_stories(const std::string& spec) {
  LlamaModel target(load_weights_shared(model_path("stories260K.bin")), 1);
  return expect_greedy_lossless(target, spec, stories_prompts(), 100);
}

// lossless_on_stories, and fewer target forwards than autoregressive decoding (lookup drafters
// find the stories' repetitions). Skips the test when stories260K is absent.
inline void expect_lossless_with_fewer_forwards_on_stories(const std::string& spec) {
  if (!stories_available()) GTEST_SKIP() << "stories260K.bin / tok512.bin not found";
  const LosslessStats st = lossless_on_stories(spec);
  std::printf("%s stories260K: %lld target forwards vs %lld autoregressive\n", spec.c_str(),
              static_cast<long long>(st.target_forwards), static_cast<long long>(st.ar_forwards));
  EXPECT_LT(st.target_forwards, st.ar_forwards) << spec;
}

}  // namespace speclab::testing
