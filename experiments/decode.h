// The decoding loop (DESIGN.md), shaped like llama2.c's generate(): prefill, then per step
//   propose -> verify (one target forward over root + tree) -> accept -> keep_batch_rows -> observe.
// Autoregressive decoding is the same loop with no drafter (a tree of just the root), so the
// baseline and every drafter are timed by the same code. The target side (prefill, hidden
// states, verification, feedback) is experiments/target_session.h.
#pragma once
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "model/language_model.h"
#include "ops/sampling.h"
#include "verifiers/acceptance_rule.h"

namespace speclab {

struct CostProfile;  // experiments/cost_model.h

// Range limits of the options (specs and the CLI check the same bounds): beyond them a value is
// a typo, not an experiment, and would only size allocations.
inline constexpr std::int32_t kMaxNewTokensLimit = 1 << 20;  // generated tokens per sequence
inline constexpr std::int32_t kMaxBudgetLimit = 4096;        // draft nodes per step
inline constexpr std::int32_t kMaxDepthLimit = 4096;         // depth cap of a draft tree

struct DecodeOptions {
  SamplingParams sampling;
  std::int32_t max_new_tokens = 128;  // generated tokens (bonus included); prompt not counted
  DraftBudget budget;                 // per-step draft limits
  std::uint64_t seed = 0;
  bool stop_at_eos = true;            // stop after emitting an eos id of the model
  bool stop_at_bos = true;            // llama2.c convention: generating BOS ends the text
  // Budget policy "cost" (experiments/cost_policy.h) under this profile: `budget` becomes a
  // maximum and each step's tree size maximises expected tokens per unit time. Null: "fixed".
  const CostProfile* cost_profile = nullptr;
};

enum class StopReason { kMaxTokens, kEos, kBos, kContextFull };
const char* to_string(StopReason r);

// One step (one target forward). Flat: the per-depth and per-accepted-node lists live in
// DecodeResult's arrays, at the offsets recorded here.
struct StepRecord {
  std::int32_t n_drafted = 0;     // draft nodes proposed (root excluded)
  std::int32_t tree_depth = 0;    // max depth of the proposed tree
  std::int32_t n_accepted = 0;    // accepted draft nodes (bonus excluded)
  std::int32_t n_emitted = 0;     // tokens appended this step (accepted + bonus, after stops)
  Token bonus = -1;
  std::int32_t exit_layer = 0;    // early-exit drafters: exit layer of the draft (0 = none)
  // The best depth-1 acceptance any lossless rule could reach on this tree's root children
  // (verifiers/opt_bound.h root_accept_bound: a certified upper bound for sampled children,
  // p(candidates) exactly for fixed ones); NaN when the root has no children.
  double opt_accept_bound = std::numeric_limits<double>::quiet_NaN();
  double draft_ms = 0.0;
  double verify_ms = 0.0;         // target forward + acceptance + cache compaction
  std::int32_t depth_offset = 0;  // DecodeResult::drafted_by_depth[depth_offset ..+ tree_depth)
  std::int32_t rank_offset = 0;   // DecodeResult::accepted_rank[rank_offset ..+ n_accepted)
};

struct DecodeResult {
  std::vector<Token> tokens;                   // generated tokens only (prompt excluded)
  std::vector<StepRecord> steps;
  std::vector<std::int32_t> drafted_by_depth;  // per step: nodes at depth 1 .. tree_depth
  std::vector<std::int32_t> accepted_rank;     // per step: sibling rank of each accepted node (path order)
  StopReason stop = StopReason::kMaxTokens;
  double prefill_ms = 0.0;
  double decode_ms = 0.0;                      // wall time of all steps
  std::int32_t n_target_forwards() const { return static_cast<std::int32_t>(steps.size()); }
  std::span<const std::int32_t> drafted_by_depth_of(const StepRecord& s) const {
    return std::span<const std::int32_t>(drafted_by_depth).subspan(s.depth_offset, s.tree_depth);
  }
  std::span<const std::int32_t> accepted_rank_of(const StepRecord& s) const {
    return std::span<const std::int32_t>(accepted_rank).subspan(s.rank_offset, s.n_accepted);
  }
};

// Runs one sequence. `drafter` may be null (autoregressive). `rule` may be null: each tree then
// gets the lossless default rule for how its children were made (verifiers/rules.h
// DefaultRules). A given rule must accept the drafter's trees (rule->check_tree is called on
// every tree with draft nodes and throws Error otherwise; a root-only tree is verified by the
// default rule, which samples the bonus from the target as every lossless rule would). The target's cache is reset (truncate(0)) first.
// Throws Error for bad options, an empty prompt, out-of-range token ids, or a prompt that does
// not fit the context. Every result array is reserved up front for the longest run the options
// and the remaining context allow (never more): steps allocate nothing.
DecodeResult decode(LanguageModel& target, Drafter* drafter, const AcceptanceRule* rule,
                    std::span<const Token> prompt, const DecodeOptions& options);

}  // namespace speclab
