// `aded`: ADED (Liu et al. 2024, "Adaptive Draft-Verification for Efficient Large Language Model
// Decoding", arXiv 2407.12021). Training-free: a tri-gram model of the target's own output,
// adapted while decoding, and drafts built by Monte Carlo tree search over it.
//
// Tri-gram table: context (t-2, t-1) -> at most top_c candidate next tokens with counts, kept by
// the Space-Saving rule (Metwally et al. 2005): a new token in a full context replaces the
// least-counted candidate and inherits its count + weight, so the table keeps the (approximate)
// top_c heavy hitters per context in fixed space. The first position uses t-2 = -1. With
// backoff=1 (default) a bigram entry (*, t-1) is kept as well and used when the tri-gram context
// is unknown (a deviation from the paper, which has only the tri-gram matrix; it helps early on).
// Learning (our choices):
//   begin(): state=cold restores the initial table (empty, or prefilled from `corpus`);
//            state=warm keeps the table across prompts. Then the prompt's tri-grams are added.
//   observe(): the newly appended tokens of fb.tokens (accepted + bonus) with weight 1; with
//            tree_weight > 0 also, for every tree node NOT on the accepted path, the target's
//            top-1 after it (argmax of its logits row) under context (parent token, node token)
//            with weight tree_weight (default 0 = off: learning only from the emitted text, as the
//            paper). Every decay_every learnt tokens all counts are multiplied by `decay`.
//   corpus=PATH: prefill from a file of raw little-endian int32 token ids (one stream).
// Draft construction (MCTS with PUCT, deterministic, no rng): the search tree starts at the root
// (context = last two tokens). A simulation descends from the root choosing the child with the
// largest  Q + c_puct * P * sqrt(N_parent + 1) / (1 + N)  (P = tri-gram probability of the
// child's token in its context, Q = mean reward through it, ties to the higher P), expanding a
// node's candidates on first visit and stopping at a new leaf, at `depth` or at a context
// without candidates. The leaf is evaluated by a greedy rollout (most probable next token) to
// `depth`; reward = (sum over path prefixes of the product of P) / depth, i.e. the expected
// accepted length under the tri-gram model, normalised. Backprop adds 1 visit and the reward to
// every node on the path. The draft = the visited nodes ordered by visit count (ties: created
// first), which lists parents before children; the first budget.max_nodes are kept, siblings in
// that order. Node score = log of the path's product of P. Depth = min(depth, budget.max_depth).
// Deviation: the paper's reward/selection details are simplified to this deterministic form.
//
// Params (defaults): iterations=0 (auto: max(32, 2 * budget.max_nodes)), c_puct=1.0, depth=6,
// top_c=8, decay=0.9, decay_every=256, backoff=1, tree_weight=0, state=cold, corpus=PATH.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"

namespace speclab {


// Open-addressing table (t-2, t-1) -> top_c (token, count) slots. Grows (rehash x2) at half
// load; otherwise allocation-free.
class TrigramTable {
 public:
  explicit TrigramTable(std::int32_t top_c = 8);
  void clear();
  // Adds weight w to (a, b) -> c (Space-Saving replacement in a full context).
  void add(Token a, Token b, Token c, float w);
  // Slots of (a, b): top_c tokens (-1 = empty) and counts; false when the context is absent.
  bool find(Token a, Token b, const Token** tokens, const float** counts) const;
  void scale(float f);  // counts *= f
  std::int32_t top_c() const { return top_c_; }
  std::int32_t n_contexts() const { return n_used_; }
  std::size_t bytes() const;

 private:
  static std::uint64_t key(Token a, Token b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }
  std::int32_t slot_of(std::uint64_t k) const;  // index holding k or the empty slot for it
  void grow();

  std::int32_t top_c_;
  std::int32_t n_used_ = 0;
  std::vector<std::uint64_t> keys_;  // [cap], kEmptyKey = free
  std::vector<Token> tok_;           // [cap, top_c]
  std::vector<float> cnt_;           // [cap, top_c]
};

struct AdedOptions {
  std::int32_t iterations = 0;  // 0 = auto
  double c_puct = 1.0;
  std::int32_t depth = 6;
  std::int32_t top_c = 8;
  double decay = 0.9;
  std::int32_t decay_every = 256;
  bool backoff = true;
  double tree_weight = 0.0;
  bool warm = false;
  std::string corpus_path;
  static AdedOptions from_params(const DrafterParams& p);  // throws Error (every problem)
  void validate() const;                                   // throws Error
};

// The registry entry (drafters/drafter_kind.h): the keys above; MCTS candidates (kDeterministic
// children); keeps its table across prompts under state=warm.
const DrafterKind& aded_drafter_kind();

class AdedDrafter final : public Drafter {
 public:
  explicit AdedDrafter(const AdedOptions& options = {});
  explicit AdedDrafter(const DrafterParams& params);

  std::string_view name() const override { return name_; }
  DrafterNeeds needs() const override { return {}; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  const TrigramTable& table() const { return table_; }
  const AdedOptions& options() const { return options_; }
  // Adds a token stream's tri-grams (weight 1 each; the stream's first context uses -1).
  void learn_sequence(std::span<const Token> tokens);
  // Number of search nodes of the last propose() (root included) and their visit counts.
  std::int32_t last_search_nodes() const { return static_cast<std::int32_t>(node_token_.size()); }

 private:
  void learn(Token a, Token b, Token c, float w);
  // Candidates of context (a, b) sorted by count (desc, ties lower id) into cand_tok_/cand_p_;
  // returns how many (0 = unknown context).
  std::int32_t candidates(Token a, Token b);
  void expand(std::int32_t v);
  double rollout(Token a, Token b, std::int32_t steps, double prob);
  void search(std::int32_t iterations, std::int32_t max_depth);

  AdedOptions options_;
  std::string name_;
  TrigramTable table_;
  TrigramTable initial_;        // restored by begin() under state=cold
  std::size_t n_seen_ = 0;      // tokens of the current sequence already learnt
  std::int32_t since_decay_ = 0;
  // Search tree (kept across steps for capacity): children of v are contiguous.
  std::vector<Token> node_token_;
  std::vector<std::int32_t> node_parent_, node_depth_, node_child_, node_n_child_, node_visits_;
  std::vector<float> node_p_;
  std::vector<double> node_value_;
  std::vector<std::int32_t> path_, order_, out_index_;
  std::vector<Token> cand_tok_;
  std::vector<float> cand_p_;
  Token root_prev_ = -1;        // t-2 of the root context
};

}  // namespace speclab
