// `hydra`: Hydra draft heads (Ankner et al. 2024, "Hydra: Sequentially-Dependent Draft Heads
// for Medusa Decoding") on a frozen Llama target (heads/head_net.h).
//
// Head d predicts the node at depth d + 1 from DraftContext::hidden (the target's final-normed
// hidden state of the token before the root) and the embeddings of the path it extends: for a
// node v at depth d, path = the d + 1 tokens from the root down to v (root first). So, unlike
// Medusa, every node gets its own candidates: one head call (n = 1) per expanded node.
//  - tree=dynamic (default): EAGLE-2 style dynamic tree (trees/tree_builders.h
//    build_dynamic_tree): depth by depth, the expand_top best nodes by cumulative log-probability
//    get their top_k head candidates; the best budget.max_nodes nodes are kept. Per call top_k
//    and expand_top are capped at budget.max_nodes (a node outside the best max_nodes of its
//    layer can never be kept, so this changes no tree, only the work).
//  - tree=template: a static template like `medusa` (choices=[[...]] or, without choices, the
//    budget-optimal template of the heads' top-k accuracy profile) filled per node with that
//    node's own head candidates (ranks < top_k).
// Depth <= max_depth <= n_heads. Scores are log_softmax of the head logits (temperature 1).
//
// Children are fixed top-k candidates: ChildSampling::kDeterministic (rules greedy,
// deterministic, typical). With q=1 (default) the tree records dense q rows: row i = softmax of
// head depth(i) at node i's path (the distribution node i's children came from), zero for nodes
// that were never expanded; q_token = the candidate's probability under its parent's row.
// A context without a hidden state (one-token prompt) gets the root-only tree.
//
// Spec: hydra:heads=DIR[,tree=dynamic|template][,top_k=K][,expand_top=E][,max_depth=D]
//       [,choices=[[0],[0,0],...]][,q=1|0]
//   defaults: tree=dynamic, top_k=8, expand_top=8, max_depth=n_heads; top_k, expand_top in
//   [1, 64]; max_depth in [1, n_heads]; choices only with tree=template.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "drafters/medusa_drafter.h"
#include "heads/head_net.h"
#include "trees/tree_builders.h"

namespace speclab {

enum class HydraTree { kDynamic, kTemplate };

struct HydraOptions {
  std::string heads_dir;
  HydraTree tree = HydraTree::kDynamic;
  std::int32_t top_k = 8;
  std::int32_t expand_top = 8;
  std::int32_t max_depth = 0;   // 0 = n_heads
  std::string choices;          // tree=template: choices text; empty = optimal template
  bool record_q = true;
  int n_threads = 1;            // threads for head calls (DrafterEnv::n_threads; not a spec key)
};

// Reads heads, tree, top_k, expand_top, max_depth, choices, q, recording every problem in `r`
// (unknown keys, no heads key, values out of range, malformed choices, choices without
// tree=template). Does not touch the files; max_depth <= n_heads is checked by
// check_hydra_options.
HydraOptions hydra_options(ParamReader& r);

// Checks the options against the heads' config: max_depth <= n_heads (Error naming both).
void check_hydra_options(const HydraOptions& o, const HeadConfig& cfg);

// The registry entry (drafters/drafter_kind.h): the keys above (heads names a directory an
// optional drafter needs); fixed top-k candidates (kDeterministic children); no cross-prompt
// state. check() reads heads.json (kind, n_heads >= max_depth), make() loads the heads.
const DrafterKind& hydra_drafter_kind();

class HydraDrafter final : public Drafter {
 public:
  // `heads` must be kind hydra (Error otherwise). Validates the options (Error).
  HydraDrafter(HeadNet heads, HydraOptions options);

  std::string_view name() const override { return "hydra"; }
  DrafterNeeds needs() const override { return {.target_hidden = true}; }
  void begin(std::span<const Token> prompt) override {}
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override {}

  const HeadNet& heads() const { return net_; }
  std::int32_t max_depth() const { return max_depth_; }

 private:
  // Head depth(v) candidates of node v of `tree` (path root..v); top k into `cands`, softmax
  // into `probs` when non-empty. The logits come from the level cache (below).
  void node_candidates(const DraftTree& tree, std::int32_t v, std::int32_t k,
                       std::span<Candidate> cands, std::span<float> probs);
  // Level batching: the first request at depth d computes, in one head call, the logits of
  // every node of that depth the tree builder is about to expand (template: the nodes with
  // children; dynamic: the expand_top best-scoring ones, as build_dynamic_tree picks them) plus
  // v. A node not in the batch gets its own call. Rows are bit-identical to single calls
  // (HeadNet::logits), so batching changes the cost, never the tree.
  void fill_level(const DraftTree& tree, std::int32_t d, std::int32_t v);
  void propose_dynamic(Token root, const DraftBudget& budget, DraftTree& out);
  void propose_template(Token root, const DraftBudget& budget, DraftTree& out);

  HeadNet net_;
  HydraOptions opt_;
  std::int32_t vocab_ = 0;
  std::int32_t max_depth_ = 0;
  std::span<const float> hidden_;       // this propose()'s context hidden [dim]
  HeadScratch scratch_;
  std::vector<std::int32_t> idx_;       // [vocab] top-k selection
  std::vector<Candidate> cands_;        // [top_k] one node's candidates (template mode)
  CandidateFn candidate_fn_;            // dynamic mode: calls node_candidates, records q rows
  std::int32_t expand_top_ = 0;         // this propose()'s effective expand_top (dynamic mode)
  // Level cache of this propose(): depth, nodes, [n, dim] hidden copies, [n, d+1] paths, logits.
  std::int32_t level_depth_ = -1;
  std::vector<std::int32_t> level_nodes_;
  std::vector<float> level_hidden_;
  std::vector<Token> level_path_;
  std::vector<float> level_logits_;
  std::vector<std::pair<float, std::int32_t>> level_order_;
  // Dynamic mode: the expanded staging nodes, to map q rows onto the final tree.
  std::vector<std::int32_t> rec_stage_;   // staging node index
  std::vector<std::int32_t> rec_parent_;  // record of the staging parent (-1 for the root)
  std::vector<Token> rec_token_;          // the node's token
  std::vector<float> rec_probs_;          // [records, vocab] softmax rows
  std::vector<std::int32_t> rec_of_;      // [tree size] record of each output node, or -1
  // Template mode.
  head_drafter::TemplateCache templates_;
  std::vector<std::int32_t> width_;       // [template size] children ranks needed per node
};

}  // namespace speclab
