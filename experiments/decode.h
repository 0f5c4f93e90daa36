// The decoding loop (DESIGN.md): prefill, then per step
//   propose -> verify (one target forward over root + tree) -> accept -> keep_batch_rows -> observe.
// Autoregressive decoding is the same loop with no drafter (a tree of just the root), so the
// baseline and every drafter are timed by the same code.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/language_model.h"
#include "ops/sampling.h"
#include "drafters/drafter.h"
#include "verifiers/acceptance_rule.h"

namespace speclab {

struct DecodeOptions {
  SamplingParams sampling;
  std::int32_t max_new_tokens = 128;  // generated tokens (bonus included); prompt not counted
  DraftBudget budget;                 // per-step draft limits
  std::uint64_t seed = 0;
  bool stop_at_eos = true;            // stop after emitting an eos id of the model
  bool stop_at_bos = true;            // llama2.c convention: generating BOS ends the text
};

enum class StopReason { kMaxTokens, kEos, kBos, kContextFull };
const char* to_string(StopReason r);

struct StepRecord {
  std::int32_t step = 0;
  std::int32_t n_drafted = 0;          // draft nodes proposed (root excluded)
  std::int32_t tree_depth = 0;         // max depth of the proposed tree
  std::int32_t n_accepted = 0;         // accepted draft nodes (bonus excluded)
  std::int32_t n_emitted = 0;          // tokens appended this step (accepted + bonus, after stops)
  Token bonus = -1;
  double draft_ms = 0.0;
  double verify_ms = 0.0;              // target forward + acceptance + cache compaction
  std::vector<std::int32_t> accepted_by_depth;  // [tree_depth]: 1 if depth d+1 accepted
  std::vector<std::int32_t> drafted_by_depth;   // [tree_depth]: nodes at depth d+1
  std::vector<std::int32_t> accepted_rank;      // sibling rank of each accepted node (path order)
  std::int32_t exit_layer = 0;         // early-exit drafters: exit layer of the draft (0 = none)
};

struct DecodeResult {
  std::vector<Token> tokens;           // generated tokens only (prompt excluded)
  std::vector<StepRecord> steps;
  StopReason stop = StopReason::kMaxTokens;
  double prefill_ms = 0.0;
  double decode_ms = 0.0;              // wall time of all steps
  std::int32_t n_target_forwards() const { return static_cast<std::int32_t>(steps.size()); }
};

// Runs one sequence. `drafter` may be null (autoregressive). `rule` may be null: each tree then
// gets the lossless default rule for how its children were made (verifiers/rules.h
// default_rule_for). A given rule must accept the drafter's trees (rule->check_tree is called on
// every tree and throws Error otherwise). The target's cache is reset
// (truncate(0)) first. Throws Error for an empty prompt, out-of-range token ids, or a prompt
// that does not fit the context.
DecodeResult decode(LanguageModel& target, Drafter* drafter, const AcceptanceRule* rule,
                    std::span<const Token> prompt, const DecodeOptions& options);

}  // namespace speclab
