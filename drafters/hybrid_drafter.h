// `hybrid:parts=A+B[+C[+D]]`: several drafters under one budget (issue 18; the combination the
// 2026 study "Speculative Decoding: Performance or Illusion?" finds far above either part).
//
// Per step every part proposes its own tree with the whole budget. The trees are merged into one
// trie rooted at the root token (shared prefixes merged). Each node is valued by the estimated
// probability that it is accepted: through part p, v_p(node) = v_p(parent) * a[p][depth][rank],
// where rank is the node's sibling rank in p's own tree (capped at 3) and a is p's acceptance
// rate at that depth and rank, calibrated online: among p's nodes whose parent was accepted,
// the share that was accepted, with a Beta(1, 1) prior ((hits + 1) / (tries + 2)). A merged node
// takes the best of its parts' values; the budget's nodes are taken in decreasing value (ties:
// shallower first), which always keeps parents before children since a value never exceeds its
// parent's. Node score = log value.
//
// Candidates must be fixed tokens: the merged tree is ChildSampling::kDeterministic (verified by
// the `deterministic` rule under sampling, `greedy` at temperature 0); a part that samples its
// children at temperature > 0 (draft-model chains, iid trees) is an error at its first
// proposal. Self-speculative parts (early-exit, del) cannot be merged (they leave rows in the
// target's cache). Every part observes the merged tree's verification (its logits, the accepted
// path, the sequence); hybrid's needs are the union of its parts'.
//
// Params: parts (required: 2 to 4 drafter specs joined by '+'; put specs that contain commas in
// brackets, `parts=[ngram:max_n=4,min_n=2+sam]`, or give a JSON list of strings, as spec files'
// object form writes it); state=cold|warm (default cold): given to every part with cross-prompt
// state (a part's own state= is an error, so the hybrid's state is the whole truth, as the
// experiment runner's state policy and --resume assume), and under warm the calibration also
// carries across prompts.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"

namespace speclab {

struct HybridOptions {
  std::vector<std::string> parts;  // drafter specs (state applied)
  bool warm = false;
  DrafterEnv env;                  // what the parts are built with
};

// Splits a parts= value: "a+b", "[a:x=1,y=2+b]" or a JSON list of strings. Throws Error.
std::vector<std::string> split_hybrid_parts(const std::string& value);

const DrafterKind& hybrid_drafter_kind();

class HybridDrafter final : public Drafter {
 public:
  static constexpr int kMaxParts = 4;
  static constexpr int kRanks = 4;       // sibling ranks 0, 1, 2, 3+
  static constexpr int kMaxDepth = 64;   // calibrated depths (deeper nodes use the last)

  // Builds every part with make_drafter (throws Error naming the part).
  explicit HybridDrafter(const HybridOptions& options);

  std::string_view name() const override { return name_; }
  DrafterNeeds needs() const override { return needs_; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  std::int32_t n_parts() const { return static_cast<std::int32_t>(parts_.size()); }
  // Calibrated acceptance estimate of part p at depth d (>= 1) and sibling rank r.
  double rate(int p, int depth, int rank) const;

 private:
  struct Cell {
    double hits = 0, tries = 0;
  };
  Cell& cell(int p, int depth, int rank);
  void reset_calibration();

  HybridOptions options_;
  std::string name_;
  DrafterNeeds needs_;
  std::vector<std::unique_ptr<Drafter>> parts_;
  std::vector<DraftTree> part_trees_;
  std::vector<Cell> cells_;  // [part][depth][rank]
  // The merged trie (scratch, kept across steps).
  std::vector<Token> m_token_;
  std::vector<std::int32_t> m_parent_, m_depth_, m_first_child_, m_next_sibling_, m_out_, order_;
  std::vector<float> m_value_;
  std::vector<std::array<std::int8_t, kMaxParts>> m_rank_;  // per part: rank in its tree, -1 = absent
  std::vector<std::int32_t> map_;                            // part node -> merged node
  std::vector<float> part_value_;                            // part node -> v_p
  // The proposed tree's nodes: which parts proposed them, at which rank (for observe()).
  std::vector<std::array<std::int8_t, kMaxParts>> out_rank_;
  std::vector<std::uint8_t> accepted_;
};

}  // namespace speclab
