// `suffix`: suffix decoding (Oliaro et al. 2024, "SuffixDecoding: Extreme Speculative Decoding
// for Emerging AI Applications"; the ArcticInference implementation). Training-free: two
// bounded-depth suffix tries with occurrence counts (drafters/suffix_trie.h), one over the
// current request (prompt + output so far) and, under state=warm, a global one over the outputs
// of earlier requests (kept across prompts, the paper's cross-request tree).
//
// Per step, in each trie: the longest suffix of the sequence present (length L <= max_depth / 2,
// so that continuations have room) is the match; from its node a tree is grown best-first by the
// estimated probability of each continuation, p(child) = p(parent) * count(child) / count(node),
// while p >= min_prob, within the budget, the depth cap and an adaptive size of
// ceil(spec_factor * L) nodes (longer matches earn bigger trees). Of the two trees, the one with
// the larger expected number of accepted tokens (sum of p) is proposed (ties: the request's own).
// Candidates are fixed tokens (ChildSampling::kDeterministic): verified losslessly by the
// `deterministic` rule under sampling. Node score = log p.
//
// Params (defaults, as ArcticInference's): max_depth=64 (4..256), spec_factor=1 (0.1..64),
// min_prob=0.1 (0..1), min_match=1 (1..64), state=cold|warm.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "drafters/suffix_trie.h"

namespace speclab {

struct SuffixOptions {
  std::int32_t max_depth = 64;
  double spec_factor = 1.0;
  double min_prob = 0.1;
  std::int32_t min_match = 1;
  bool warm = false;
  void validate() const;  // throws Error
};

// The registry entry: keys max_depth, spec_factor, min_prob, min_match, state; fixed candidates;
// cross-prompt state (state=cold|warm).
const DrafterKind& suffix_drafter_kind();

class SuffixDrafter final : public Drafter {
 public:
  explicit SuffixDrafter(const SuffixOptions& options = {});

  std::string_view name() const override { return name_; }
  DrafterNeeds needs() const override { return {}; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  const SuffixOptions& options() const { return options_; }

 private:
  struct Candidate {
    float p;
    std::int32_t trie_node, parent;  // parent: index in the tree being built
  };
  void sync(std::span<const Token> tokens);
  // Grows a tree from `trie`'s longest match of the sequence into `out`; returns sum of p.
  double speculate(const SuffixTrie& trie, const DraftBudget& budget, DraftTree& out);

  SuffixOptions options_;
  std::string name_;
  SuffixTrie local_, global_;
  std::vector<Token> seq_;          // the current request's tokens (what local_ holds)
  std::size_t prompt_len_ = 0;
  bool global_used_ = false;
  std::vector<Candidate> heap_;
  DraftTree scratch_;
};

}  // namespace speclab
