// `eagle`: the EAGLE draft head (Li et al. 2024, "EAGLE: Speculative Sampling Requires
// Rethinking Feature Uncertainty") drafting EAGLE-2 dynamic trees (Li et al. 2024, "EAGLE-2:
// Faster Inference of Language Models with Dynamic Draft Trees") on a frozen Llama target. The
// head (heads/eagle_head.h) is one decoder layer over [e(x_{i+1}), f_i] with its own KV cache.
//
// Features (DrafterNeeds::target_features): the head's cache holds one committed row per
// position i < n - 1 of the sequence (n = tokens.size(), root = tokens[n-1]), row i reading the
// target's true final-normed feature f_i and token x_{i+1} (a fused head, EagleConfig::
// feature_layers: fuse z_i of the layers' rows it asks for through DrafterNeeds::feature_layers). The first propose() of a sequence
// appends the prompt's rows from DraftContext::prompt_hidden; every observe() appends the rows
// of the accepted path (root .. last accepted node) from StepFeedback::hidden with the next
// tokens (the last one reads the bonus token), so the head is in step with the target when the
// next propose() starts, and the output of the newest row (the predicted feature f̂_{n-1})
// gives the root's children. If a feature was never given (a context built without
// prompt_hidden, e.g. by a test, or a step without feedback), the head skips that position and
// goes on with what it has (DraftContext::hidden alone still drafts; nothing at all: a
// root-only tree). Drafted rows are appended to the head's cache during propose() and removed
// again (truncate) before it returns.
//
// Trees (children are the head's top-k: ChildSampling::kDeterministic; no q rows):
//  - tree=dynamic (default, EAGLE-2): the root's top_k children; then per depth the top_k
//    nodes of the newest depth with the best path confidence (product of the head's
//    probabilities along the path = exp(score)) are run through the head as one tree-masked
//    batch (each row sees the committed rows and its drafted ancestors) and get their top_k
//    children; up to `depth`; finally the best budget.max_nodes nodes by path confidence are
//    kept (ancestor- and sibling-prefix closed: trees/tree_builders.h DynamicTreeStage). top_k
//    is capped at the budget's nodes (a node outside the best max_nodes of a depth can never
//    be kept) and at the vocabulary.
//  - tree=chain: the head's greedy chain (top_k = 1), depth min(depth, budget).
// Depth is also capped by budget.max_nodes and budget.max_depth. EAGLE-2's published defaults
// are top_k = 10 and depth = 5 expansion steps, i.e. draft nodes down to depth 6 here.
//
// Spec: eagle:(heads=DIR|random_seed=S[,random_layers=L1+L2+..])[,tree=dynamic|chain][,top_k=K][,depth=D]
//   heads: a directory written by save_eagle_head (eagle.json + eagle.safetensors) for this
//   target, or a published EAGLE-1/2 checkpoint (config.json + model.safetensors; checked
//   against the target by shapes, heads/eagle_checkpoint.h); random_seed: a random-initialised head
//   (random_eagle_weights; tests), fused over random_layers when given. Exactly one of the two.
//   top_k, depth in [1, 64].
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "heads/eagle_head.h"
#include "trees/tree_builders.h"

namespace speclab {

enum class EagleTree { kDynamic, kChain };

struct EagleOptions {
  std::string heads_dir;          // DIR with eagle.json + eagle.safetensors or config.json + model.safetensors; or
  std::int64_t random_seed = -1;  // >= 0: a random head (random_eagle_weights) instead
  std::vector<std::int32_t> random_layers;  // with random_seed: a fused head over these selectors
  EagleTree tree = EagleTree::kDynamic;
  std::int32_t top_k = 10;        // children per expanded node = nodes expanded per depth
  std::int32_t depth = 6;         // deepest draft node
  int n_threads = 1;              // head threads (DrafterEnv::n_threads; not a spec key)
};

// Reads heads, random_seed, tree, top_k, depth, recording every problem in `r` (unknown keys,
// neither or both of heads / random_seed, values out of range). Touches no file.
EagleOptions eagle_options(ParamReader& r);

// The registry entry (drafters/drafter_kind.h): the keys above (heads names a directory an
// optional drafter needs); kDeterministic children; no cross-prompt state. check() reads
// eagle.json or config.json (shape against the target; heads/eagle_checkpoint.h
// read_eagle_dir_config), make() loads (load_eagle_dir) or makes the head.
const DrafterKind& eagle_drafter_kind();

class EagleDrafter final : public Drafter {
 public:
  // head and target must be non-null and match (Error otherwise). Validates the options (Error).
  EagleDrafter(std::shared_ptr<const EagleWeights> head, std::shared_ptr<const LlamaWeights> target,
               EagleOptions options);

  std::string_view name() const override { return "eagle"; }
  DrafterNeeds needs() const override {
    return {.target_hidden = true, .target_features = true, .feature_layers = head_.config().feature_layers};
  }
  void begin(std::span<const Token> prompt) override;
  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override;
  void observe(const StepFeedback& fb) override;

  const EagleHead& head() const { return head_; }
  // Positions the head has committed rows for: [0, n_committed()) minus skipped ones.
  std::int32_t n_committed() const { return end_; }

 private:
  // Appends committed rows for positions [end_, tokens.size() - 1) from the context's features.
  void sync(const DraftContext& ctx);
  // Appends in_feat_ / in_tok_ / in_pos_ rows [0, n) as committed rows; last_out_ = the last
  // row's output.
  void append_committed(std::int32_t n);

  EagleOptions opt_;
  EagleHead head_;
  std::int32_t dim_ = 0, fw_ = 0, vocab_ = 0;  // fw_: a true row's target feature width (EagleConfig)
  std::int32_t end_ = 0;          // next position without a committed row
  bool have_last_ = false;        // last_out_ is the output of the row at position end_ - 1
  std::vector<float> last_out_;   // [dim] predicted feature of the newest committed row
  // Committed appends.
  std::vector<float> in_z_;       // [rows, fw] target features (fused: the layers' rows)
  std::vector<float> in_feat_;    // [rows, dim] the head's input features (fuse z)
  std::vector<Token> in_tok_;     // [rows]
  std::vector<std::int32_t> in_pos_;  // [rows]
  std::vector<float> out_feat_;   // [rows, dim]
  // Drafting.
  DynamicTreeStage stage_;
  std::vector<std::int32_t> expand_;     // the nodes expanded at this depth
  std::vector<std::int32_t> node_row_;   // [stage nodes] row of draft_out_ (-1: not run)
  std::vector<float> draft_feat_;        // [m, dim] inputs of one depth's batch
  std::vector<Token> draft_tok_;         // [m]
  std::vector<std::int32_t> draft_pos_;  // [m]
  std::vector<float> draft_out_;         // [drafted rows, dim] predicted features
  std::vector<std::uint8_t> mask_;       // [m, drafted + m]
  std::vector<float> logits_;            // [m, vocab]
  std::vector<Candidate> cands_;         // [top_k]
  std::vector<std::int32_t> idx_;        // [vocab] top-k scratch
};

}  // namespace speclab
