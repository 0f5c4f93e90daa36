// `medusa`: Medusa draft heads (Cai et al. 2024, "Medusa: Simple LLM Inference Acceleration
// Framework with Multiple Decoding Heads") on a frozen Llama target (heads/head_net.h).
//
// The heads read DraftContext::hidden, the target's final-normed hidden state of the token
// before the root; head h predicts the tree node at depth h + 1. Medusa's heads do not see the
// drafted tokens, so all nodes at one depth share the same candidates: each propose() runs head
// d once (d = 0 .. depth - 1) and the child of rank r of any node at depth d is head d's r-th
// most likely token. The shape is a static template (trees/choices.h):
//  - tree=auto (default): the budget-optimal template (trees/tree_builders.h optimal_template)
//    for the acceptance profile of the heads' held-out top-k accuracies (HeadConfig::
//    topk_accuracy: P(rank r at depth d + 1) = acc[d][r] - acc[d][r - 1]), or a fixed fallback
//    profile when the heads record none; computed once per (budget, depth cap) and cached;
//  - choices=[[0],[0,0],[1],...]: a Medusa choices list, cut to the budget (BFS prefix).
// Depth is capped at n_heads; sibling ranks at top_k (nodes of larger rank are dropped with their
// subtrees). Candidate scores are log_softmax of the head logits (temperature 1).
//
// Children are fixed top-k candidates: ChildSampling::kDeterministic (rules greedy,
// deterministic, typical). With q=1 (default) the tree also records dense q rows: row i =
// softmax of the head that produces node i's children (head depth(i)), zero for nodes at the
// last drafted depth; q_token = the candidate's probability under that row.
// A context without a hidden state (one-token prompt) gets the root-only tree.
//
// Spec: medusa:heads=DIR[,tree=auto|choices=[[0],[0,0],...]][,top_k=K][,q=1|0]
//   heads: directory written by save_heads (kind medusa, trained for this target);
//   top_k: largest sibling rank + 1, in [1, 64] (default 10 = ranks tracked by the heads).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/llama_weights.h"
#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "heads/head_net.h"
#include "trees/choices.h"
#include "trees/tree_builders.h"

namespace speclab {

// ---- Helpers shared by the head drafters (medusa, hydra) ----------------------------------

namespace head_drafter {

// Checks that `dir` holds heads (Error "drafter <drafter>: heads = <dir>: ..." otherwise), reads
// DIR/heads.json and checks its kind is `want` (Error naming the kind and the right drafter).
// Cheap: no tensors are read. Returns the config.
HeadConfig read_config(const std::string& dir, HeadKind want, std::string_view drafter);

// read_config, then load_heads(dir, target). Throws Error for a null target ("<drafter> needs a
// Llama target"), and whatever load_heads throws (fingerprint mismatch, shapes).
HeadNet load(const std::string& dir, HeadKind want, std::string_view drafter,
             std::shared_ptr<const LlamaWeights> target);

// The acceptance profile of `cfg`: row d = per-rank probabilities of head d (differences of the
// cumulative top-k accuracies, clamped at 0), ranks cut to top_k. Without accuracies, a fixed
// fallback (top-1 0.55, decaying with rank and by 0.75 per depth).
AcceptanceProfile profile_of(const HeadConfig& cfg, std::int32_t top_k);

// `t` without nodes of rank >= max_rank (and their subtrees); BFS order kept.
TreeTemplate cap_ranks(const TreeTemplate& t, std::int32_t max_rank);

// Templates per budget for a static-shape head drafter: a choices list or (no choices) the
// optimal template of an acceptance profile; depth <= depth_cap, ranks < max_rank. Each
// (max_nodes, max_depth) is computed once; later calls return the cached template (no
// allocation).
class TemplateCache {
 public:
  TemplateCache() = default;
  // choices: parsed choices, or null to use `profile` ("[]" = root only). Throws Error for
  // invalid choices or an invalid profile.
  TemplateCache(const std::vector<std::vector<std::int32_t>>* choices, AcceptanceProfile profile,
                std::int32_t max_rank, std::int32_t depth_cap);
  const TreeTemplate& get(const DraftBudget& budget);

 private:
  struct Entry {
    std::int32_t max_nodes, max_depth;
    TreeTemplate tmpl;
  };
  bool from_choices_ = false;
  TreeTemplate choices_;
  AcceptanceProfile profile_;
  std::int32_t max_rank_ = 1, depth_cap_ = 1;
  std::vector<Entry> entries_;
};

// Parses a choices value of `p` (key `key`); Error naming the drafter, key and value.
std::vector<std::vector<std::int32_t>> parse_choices_param(const DrafterParams& p,
                                                           std::string_view key);

// Best k tokens of `logits` (ties: lower id first) with log_softmax log-probs (<= 0), into
// out[0..k). idx: scratch of >= logits.size() entries. If probs is non-empty it receives
// softmax(logits). k <= logits.size().
void top_candidates(std::span<const float> logits, std::int32_t k, std::span<Candidate> out,
                    std::span<std::int32_t> idx, std::span<float> probs);

}  // namespace head_drafter

struct MedusaOptions {
  std::string heads_dir;
  std::string choices;        // Medusa choices text; empty = tree=auto
  std::int32_t top_k = 10;    // sibling ranks used: 0 .. top_k - 1
  bool record_q = true;       // dense q rows in the tree
  int n_threads = 1;          // threads for head calls (DrafterEnv::n_threads; not a spec key)
};

// Reads heads, tree, choices, top_k, q, recording every problem in `r` (unknown keys, no heads
// key, malformed choices, tree other than auto, both tree and choices, top_k outside [1, 64]).
// Does not touch the files.
MedusaOptions medusa_options(ParamReader& r);

// The registry entry (drafters/drafter_kind.h): the keys above (heads names a directory an
// optional drafter needs); fixed top-k candidates (kDeterministic children); no cross-prompt
// state. check() reads heads.json (kind), make() loads the heads for the target's weights.
const DrafterKind& medusa_drafter_kind();

class MedusaDrafter final : public Drafter {
 public:
  // `heads` must be kind medusa (Error otherwise). Validates the options (Error).
  MedusaDrafter(HeadNet heads, MedusaOptions options);

  std::string_view name() const override { return "medusa"; }
  DrafterNeeds needs() const override { return {.target_hidden = true}; }
  void begin(std::span<const Token> prompt) override {}
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override {}

  const HeadNet& heads() const { return net_; }
  // The template propose() fills for `budget` (cut to the budget, depth <= n_heads, ranks <
  // top_k); cached.
  const TreeTemplate& template_for(const DraftBudget& budget) { return templates_.get(budget); }

 private:
  HeadNet net_;
  MedusaOptions opt_;
  std::int32_t vocab_ = 0;
  head_drafter::TemplateCache templates_;
  HeadScratch scratch_;
  std::vector<std::int32_t> width_;    // [depth] candidates needed from head d (max rank + 1)
  std::vector<float> logits_;          // [vocab] one head's logits
  std::vector<float> probs_;           // [n_heads, vocab] softmax per head (q rows)
  std::vector<Candidate> cands_;       // [n_heads, top_k] top candidates per head
  std::vector<std::int32_t> idx_;      // [vocab] top-k selection
};

}  // namespace speclab
