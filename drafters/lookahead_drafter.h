// `lookahead`: Lookahead decoding (Fu et al. 2024, "Break the Sequential Dependency of LLM
// Inference Using Lookahead Decoding"; Spec-Bench's training-free baseline) on the tree verifier,
// and at temperature > 0 Speculative Jacobi Decoding (Teng et al. 2024, SJD: draft tokens
// sampled from the previous Jacobi iteration's distributions, verified by a q-based rule).
//
// The paper runs two branches in one forward: a lookahead branch (a 2D window of W positions x
// N-1 Jacobi iterations, each new token conditioned on its diagonal of earlier iterations, whose
// diagonals + outputs become n-grams of a pool) and a verification branch (up to G pool n-grams
// that start with the last token). Mapped onto one tree under the root:
//   (a) the lookahead branch is a chain of w = min(W, depth cap, budget) Jacobi guesses
//       g_1..g_w (the chain's node at depth j has position n_cached + j). Under the ancestor
//       mask it sees the prefix and g_1..g_j, so the target's row at chain depth i is
//       p(. | prefix, g_1..g_i): one Jacobi iteration for every window position at once,
//       exactly Jacobi decoding's update g'_{i+1} = argmax p(. | prefix, g_1..g_i). The chain is
//       also verified like any branch (the converged prefix of the window is accepted).
//   (b) the verification branch: up to G pool n-grams keyed by the root token (their N-1
//       following tokens, cut to the depth cap), most recent first, merged into a trie that
//       shares prefixes with the chain and with each other.
// Budget (T = 0), first=candidates (default): the candidates take up to max_nodes - 1 nodes,
// then the window chain is inserted into the trie (sharing nodes with candidates that start
// with the same guesses) until w or the budget: the window always gets at least one node, so
// the Jacobi iteration always advances and the pool keeps growing. first=window: the chain first
// (nodes 1..w), candidates in the rest. On stories260K candidates-first has the higher tau at
// budgets 8-16 (1.14 vs 1.09 at 8; with output_pool=1 1.55 vs 1.36) and the same once the
// budget holds both (W + G(N-1) = 20 nodes by default).
//
// observe(): with k draft tokens accepted (k + 1 emitted: the root moves k + 1 positions), old
// chain row i predicts position n + i + 1 = new root position + (i - k), so the next guesses are
// g'_j = argmax row(k + j) for k + j <= w (the Jacobi iteration, shifted by what the step
// emitted); positions past the old window get fill tokens. n-grams: the paper's n-gram is the
// diagonal its new token was conditioned on plus that token; here node i's prediction is
// conditioned on the chain itself, so the n-grams harvested per step are (c_{i-N+2}, ..., c_i,
// argmax row i) for every chain depth i >= N-2 (c_0 = root, c_i = g_i): N-1 tokens the target
// read followed by its prediction after them. The pool keeps, per first token, the G most
// recent distinct n-grams (a repeated one moves to the front); at most min(vocab, 4096) first
// tokens are pooled (round-robin eviction of the oldest key beyond that).
// Pool sources besides the Jacobi trajectory: prompt_pool=1 (default, as LADE's
// POOL_FROM_PROMPT, the authors' implementation) seeds it in begin() with every n-gram of the
// prompt, in order; output_pool=1 (off by default: not in the paper) also inserts, after each
// step's harvest, the n-grams of the sequence ending at each emitted token (prompt lookup
// through the pool: on stories260K it lifts tau from ~1.2 to ~1.6).
//
// Fill tokens (initial guesses, positions past the window): tokens of the prompt drawn uniformly
// (the paper initialises the window randomly from the prompt) by a private Rng reseeded in
// begin(): reproducible, and independent of the decode's rng.
//
// Temperature 0: fixed candidates, ChildSampling::kDeterministic (rule greedy).
// Temperature > 0 (SJD): a tree has one ChildSampling kind and pool candidates are fixed
// tokens, so only the window chain is proposed, as ChildSampling::kIidSampled (rule multi-iid,
// i.e. speculative sampling on a chain): g'_j is SAMPLED (ctx.rng) from the target's sampling
// transform (temperature / top-k / top-p, ops/sampling.h) of the previous iteration's row
// (k + j), and that distribution is node j-1's q row; a fill token has a one-hot q row (accepted
// with probability p(x), the deterministic test). Each draw is made from a row fixed before it,
// so the chain is lossless under min(1, p/q). The pool is neither harvested nor used at T > 0.
//
// Params (defaults): window=5 (W, 1..64), ngram=4 (N, 2..16), candidates=5 (G, 0..64): the
// paper's 7B setting (W=15, N=5, G=15) scaled to speclab's budgets of 8-64 nodes (at most
// W + G(N-1) = 20 nodes are used); prompt_pool=1, output_pool=0, first=candidates.
// No cross-prompt state (begin() clears the pool). Buffers are sized at construction (vocab
// known) or on the first feedback; propose/observe allocate nothing afterwards.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/rng.h"
#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"

namespace speclab {

struct LookaheadOptions {
  std::int32_t window = 5;      // W: Jacobi guesses in the lookahead chain
  std::int32_t ngram = 4;       // N: n-gram size (N-1 tokens follow the key)
  std::int32_t candidates = 5;  // G: pool n-grams verified per step (and kept per key)
  bool prompt_pool = true;      // seed the pool with the prompt's n-grams (LADE's POOL_FROM_PROMPT)
  bool output_pool = false;     // also pool the emitted text's n-grams every step
  bool candidates_first = true;  // T = 0: candidates take the budget first (all but one node), else the window
  std::int32_t vocab = 0;       // the target's vocab (0: learnt from the first feedback; needed for T > 0)
  void validate() const;        // throws Error naming the key
};

// The registry entry: keys window, ngram, candidates; kDeterministic at T = 0, kIidSampled
// (SJD chains with q rows) at T > 0; no cross-prompt state.
const DrafterKind& lookahead_drafter_kind();

class LookaheadDrafter final : public Drafter {
 public:
  static constexpr std::int32_t kMaxPoolKeys = 4096;

  explicit LookaheadDrafter(const LookaheadOptions& options = {});

  std::string_view name() const override { return name_; }
  // observe() reads the chain rows it proposed (chain_node_): no pruning.
  DrafterNeeds needs() const override { return {.fixed_tree = true}; }
  void begin(std::span<const Token> prompt) override;
  // Throws Error at T > 0 when the vocab is still unknown (options.vocab = 0, no feedback yet).
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  const LookaheadOptions& options() const { return options_; }
  // For tests: the next proposal's guesses g_1..g_W (index j-1), how many of them come from the
  // last Jacobi iteration (the rest are fills), and the pool's n-grams after `key` (most recent
  // first, each N-1 tokens).
  std::span<const Token> guesses() const { return guess_; }
  std::int32_t n_jacobi() const { return n_rows_; }
  std::vector<std::vector<Token>> pool_entries(Token key) const;

 private:
  void size_buffers(std::int32_t vocab);
  Token fill_token();
  void seed_from_prompt();
  void refill_from(std::int32_t j0);                   // guess_[j0..W-1] = fills
  void pool_insert(Token key, const Token* rest);      // rest: N-1 tokens
  // Each returns / places nodes within max_nodes draft nodes.
  std::int32_t add_chain(std::int32_t w, std::int32_t max_nodes, DraftTree& out);  // window nodes placed
  void add_candidates(Token root, std::int32_t max_nodes, std::int32_t max_depth, DraftTree& out);
  std::int32_t propose_greedy(Token root, std::int32_t w, const DraftBudget& budget, DraftTree& out);
  void propose_sampled(const DraftContext& ctx, std::int32_t w, DraftTree& out);

  LookaheadOptions options_;
  std::string name_;
  std::int32_t vocab_ = 0;
  std::int32_t tail_ = 0;                 // N-1: tokens stored per n-gram
  Rng fill_rng_;
  std::vector<Token> prompt_;             // fill tokens are drawn from it
  std::size_t expected_len_ = 0;          // sequence length the guesses are aligned to
  // Jacobi state for the next proposal.
  std::vector<Token> guess_;              // [W]
  std::int32_t n_rows_ = 0;               // guesses 0..n_rows_-1 come from the last iteration
  std::vector<float> rows_;               // [W, vocab] T > 0: the last iteration's logits rows
  bool greedy_ = true;                    // how the last proposal was made
  bool rows_greedy_ = true;               // how the Jacobi state was made (argmax guesses or rows_)
  std::int32_t chain_len_ = 0;            // window nodes of the last proposal
  std::vector<std::int32_t> chain_node_;  // [W+1] tree node of chain depth i (0 = root)
  // Pool: key -> slot; slot -> up to G n-gram tails, most recent first.
  std::vector<std::int32_t> key_slot_;    // [vocab] slot or -1
  std::vector<Token> slot_key_;           // [n_slots]
  std::vector<std::int32_t> slot_count_;  // [n_slots]
  std::vector<Token> slot_tails_;         // [n_slots, G, N-1]
  std::int32_t n_slots_ = 0, n_used_ = 0, next_slot_ = 0;
  // Per-step scratch.
  std::vector<Token> pred_;               // [W+1] argmax of the target's row at chain depth i
  std::vector<Token> gram_;               // [N-1]
  std::vector<std::int32_t> scratch_;
};

}  // namespace speclab
