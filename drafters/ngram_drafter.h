// `ngram`: prompt lookup decoding (Saxena 2023, "Prompt Lookup Decoding"; the PLD baseline of
// Spec-Bench, Xia et al. 2024). Training-free: the draft is copied from the sequence itself.
//
// Per step: for n = max_n down to min_n, take the suffix n-gram of ctx.tokens and find its
// earlier occurrences (most recent first) through a hash index (n-gram -> chain of end
// positions), collecting up to max_matches distinct occurrences over all n (longer n first). Each
// occurrence's continuation (the tokens after it, up to the depth limit) is inserted into a trie
// rooted at the root token, so continuations that share a prefix share nodes. The trie is cut to
// the node budget in preference order:
//   order=recent   : occurrences in the order collected (longer n first, then most recent);
//                    the first continuation gets its full length before the next one branches.
//   order=frequent : nodes by how many collected continuations pass through them (ties: recent).
// Siblings appear in that preference order. Node score = log(share of continuations through it).
// Depth limit = budget.max_depth, else budget.max_nodes. An empty tree (root only) is proposed
// when nothing matches.
//
// Params (defaults): min_n=1, max_n=3 (as Spec-Bench's PLD: max n-gram 3, down to 1),
// max_matches=4, order=recent. 1 <= min_n <= max_n <= 16, 1 <= max_matches <= 1024.
//
// Index: per n a fixed table of 2^14 bucket heads plus one `prev` link per position (a chained
// hash); propose() and observe() sync the index with the given sequence: entries past the common
// prefix are rolled back (newest first, restoring the table exactly) and new tokens appended, so
// a step costs O(common-prefix compare + new tokens * n + chain walk), not an O(n^2) scan, and a
// loop that rewinds the sequence stays correct. Buffers grow with the sequence and keep their capacity across begin().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"

namespace speclab {

enum class NgramOrder { kRecent, kFrequent };

struct NgramOptions {
  std::int32_t min_n = 1;
  std::int32_t max_n = 3;
  std::int32_t max_matches = 4;
  NgramOrder order = NgramOrder::kRecent;
  // Reads and validates `ngram:` params (throws Error naming key, value and rule; every
  // problem of the spec at once).
  static NgramOptions from_params(const DrafterParams& p);
  void validate() const;  // throws Error
};

// The registry entry (drafters/drafter_kind.h): keys min_n, max_n, max_matches, order; lookup
// trees (kDeterministic children); no cross-prompt state.
const DrafterKind& ngram_drafter_kind();

class NgramDrafter final : public Drafter {
 public:
  explicit NgramDrafter(const NgramOptions& options = {});
  explicit NgramDrafter(const DrafterParams& params);

  std::string_view name() const override { return name_; }
  DrafterNeeds needs() const override { return {}; }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  const NgramOptions& options() const { return options_; }

 private:
  static constexpr std::int32_t kBucketBits = 14;
  void clear_index();
  void sync(std::span<const Token> tokens);  // make the index describe exactly `tokens`
  std::uint32_t bucket(std::int32_t end, std::int32_t n) const;  // of seq_[end-n+1 .. end]
  bool same_ngram(std::int32_t e1, std::int32_t e2, std::int32_t n) const;
  void collect_matches();
  void build_trie(std::int32_t max_len);
  void emit(const DraftBudget& budget, DraftTree& out);

  NgramOptions options_;
  std::string name_;
  std::vector<Token> seq_;                    // indexed sequence
  std::vector<std::int32_t> head_;            // [n_sizes, 2^kBucketBits] latest end position or -1
  std::vector<std::vector<std::int32_t>> prev_;  // [n_sizes][seq_.size()] earlier end in bucket or -1
  // Per-step scratch (kept across steps):
  std::vector<std::int32_t> match_end_;       // end positions of collected occurrences
  std::vector<Token> trie_token_;
  std::vector<std::int32_t> trie_parent_, trie_count_, trie_child_, trie_sibling_, trie_out_;
  std::vector<std::int32_t> order_;
};

}  // namespace speclab
