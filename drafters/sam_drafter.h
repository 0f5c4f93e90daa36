// `sam`: SAM-Decoding (Hu et al. 2024, "SAM Decoding: Speculative Decoding via Suffix
// Automaton"). Training-free retrieval: a suffix automaton (drafters/suffix_automaton.h) over
// prompt + generated tokens finds, in amortised O(1) per token, the longest suffix of the
// sequence that occurred before; the draft is what followed that earlier occurrence. An optional
// static automaton over a corpus (corpus=FILE) is matched alongside (the paper's static SAM); the
// longer match drafts (ties: the sequence's own).
//
// Tree (within the budget, depth <= budget.max_depth or max_nodes): the main chain is the
// continuation of the matched suffix's first occurrence, followed as far as the text, the budget
// and the depth allow (each step moves to the automaton state of the extended match, and takes
// the token after that state's first occurrence). The remaining nodes go to alternatives: at each
// chain node from the root down, up to `branches` other tokens that followed the same matched
// string somewhere in the text (its automaton transitions, in order of first appearance), each
// continued for up to branch_len tokens the same way. Candidates are fixed tokens
// (ChildSampling::kDeterministic): verified losslessly by the `deterministic` rule under
// sampling. No match of at least min_match tokens: the root alone.
//
// State policy: cold (default) rebuilds the automaton from each prompt; warm keeps the text of
// earlier sequences (separated by a unique token that never matches), so later prompts retrieve
// from earlier outputs.
//
// Params (defaults): min_match=1 (1..64), branches=3 (0..64), branch_len=4 (1..256),
// state=cold|warm, corpus=PATH (raw little-endian int32 token ids, each in [0, vocab)).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "drafters/suffix_automaton.h"

namespace speclab {

struct SamOptions {
  std::int32_t min_match = 1;
  std::int32_t branches = 3;
  std::int32_t branch_len = 4;
  bool warm = false;
  std::string corpus_path;
  std::int32_t vocab = 0;  // > 0: corpus ids must be below it (the target's vocab)
  void validate() const;   // throws Error
};

// The registry entry: keys min_match, branches, branch_len, state, corpus; fixed candidates;
// cross-prompt state (state=cold|warm).
const DrafterKind& sam_drafter_kind();

class SamDrafter final : public Drafter {
 public:
  explicit SamDrafter(const SamOptions& options = {});

  std::string_view name() const override { return name_; }
  DrafterNeeds needs() const override { return {}; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  const SamOptions& options() const { return options_; }

 private:
  void sync(std::span<const Token> tokens);  // make the current sequence equal `tokens`
  void match_corpus(Token t);
  // Main chain from `state` of `a`, then alternatives; appends to `out`.
  void build_tree(const SuffixAutomaton& a, std::int32_t state, const DraftBudget& budget, DraftTree& out);
  // Appends up to `n` tokens continuing `state`'s first occurrence under `node` at `depth`.
  void continue_path(const SuffixAutomaton& a, std::int32_t state, std::int32_t node, std::int32_t depth,
                     std::int32_t n, std::int32_t max_depth, std::int32_t max_nodes, DraftTree& out);

  SamOptions options_;
  std::string name_;
  SuffixAutomaton text_;            // earlier sequences (warm) + separators + current sequence
  SuffixAutomaton corpus_;          // static (empty without corpus=)
  bool has_corpus_ = false;
  std::int32_t seq_start_ = 0;      // the current sequence's first position in text_
  Token next_separator_ = -1;
  std::int32_t corpus_state_ = 0, corpus_len_ = 0;  // longest suffix of the sequence in the corpus
  std::vector<Token> rebuild_;      // scratch for a rewound sequence (never in a normal decode)
  std::vector<std::int32_t> chain_state_, chain_node_;
  std::vector<Token> chain_token_;
};

}  // namespace speclab
