#include "drafters/eagle_drafter.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/error.h"
#include "base/json_input.h"
#include "drafters/medusa_drafter.h"  // head_drafter::top_candidates
#include "heads/eagle_checkpoint.h"

namespace speclab {

namespace {

constexpr DrafterKey kEagleKeys[] = {
    {"heads", "",
     "DIR: an EAGLE head for the target: speclab's (eagle.json + eagle.safetensors) or a published EAGLE-1/2 "
     "checkpoint (config.json + model.safetensors); or random_seed",
     OptionalFile::kEagleDir},
    {"random_seed", "", "S: a random-initialised head instead of heads (tests; it drafts poorly)"},
    {"random_layers", "",
     "L1+L2+...: with random_seed, a fused (EAGLE-3-style) head over these target layers (residual after l "
     "layers, or final = the final-normed state); default: unfused"},
    {"tree", "dynamic", "dynamic|chain: EAGLE-2 dynamic tree by path confidence, or the greedy chain"},
    {"top_k", "10", "dynamic tree: children per expanded node and nodes expanded per depth, in [1, 64]"},
    {"depth", "6", "deepest draft node (EAGLE-2's depth 5 + 1), in [1, 64]"},
};

const EagleOptions& eagle_options_of(const DrafterOptions& o) { return std::any_cast<const EagleOptions&>(o); }

// Grows a buffer to at least n elements (geometrically: amortised; never shrinks).
template <class T>
void ensure(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(std::max(n, 2 * v.size()));
}

void check_against_target(const EagleConfig& c, const ModelInfo& t, const std::string& dir) {
  if (c.dim != t.dim || c.vocab != t.vocab_size) {
    fail("drafter eagle: heads = {}: the head has dim {} / vocab {}: the target {} has dim {} / vocab {}", dir,
         c.dim, c.vocab, t.source, t.dim, t.vocab_size);
  }
  c.check_feature_layers(fmt::format("drafter eagle: heads = {}", dir), t.n_layers);
}

}  // namespace

EagleOptions eagle_options(ParamReader& r) {
  const DrafterParams& p = r.params();
  EagleOptions o;
  if (p.has("heads") == p.has("random_seed")) {
    r.problem(p.has("heads") ? "drafter eagle: heads and random_seed: give one, not both"
                             : "drafter eagle: heads: required (heads=DIR written by save_eagle_head or a published EAGLE "
                               "checkpoint, or "
                               "random_seed=S for a random head)");
  }
  o.heads_dir = r.get_string("heads", "");
  if (p.has("random_seed")) o.random_seed = r.get_int("random_seed", 0, 0, 2147483647);
  if (p.has("random_layers")) {
    const std::string v = r.get_string("random_layers", "");
    if (!p.has("random_seed")) r.problem("drafter eagle: random_layers: only with random_seed");
    std::size_t at = 0;
    while (at <= v.size()) {
      const std::size_t end = std::min(v.find('+', at), v.size());
      const std::string part = v.substr(at, end - at);
      std::int32_t layer = 0;
      if (part == "final") {
        o.random_layers.push_back(kFinalNormedHidden);
      } else if (!part.empty() && part.size() <= 4 && std::all_of(part.begin(), part.end(), [](unsigned char ch) { return ch >= '0' && ch <= '9'; }) &&
                 (layer = std::stoi(part)) <= 4096) {
        o.random_layers.push_back(layer);
      } else {
        r.problem(fmt::format("drafter eagle: random_layers = {}: entry {}: must be a layer number or 'final'",
                              quote_untrusted(v), quote_untrusted(part)));
        break;
      }
      at = end + 1;
    }
  }
  const std::string tree = r.get_choice("tree", "dynamic", {"dynamic", "chain"});
  o.tree = tree == "chain" ? EagleTree::kChain : EagleTree::kDynamic;
  o.top_k = r.get_int("top_k", o.top_k, 1, 64);
  o.depth = r.get_int("depth", o.depth, 1, 64);
  return o;
}

const DrafterKind& eagle_drafter_kind() {
  static const DrafterKind kind{
      .name = "eagle",
      .summary = "EAGLE head: one decoder layer over the target's features and token embeddings, EAGLE-2 dynamic trees",
      .keys = kEagleKeys,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return eagle_options(r); },
      .check =
          [](const DrafterOptions& o, const DrafterEnv& env) {
            if (!env.target_weights) {
              fail("drafter eagle: eagle needs a Llama target (the head reads its features, embeddings and "
                   "classifier): the target's weights are not available");
            }
            const EagleOptions& eo = eagle_options_of(o);
            if (eo.random_seed >= 0) {
              EagleConfig c = EagleConfig::for_target(*env.target_weights);
              c.feature_layers = eo.random_layers;
              c.validate("drafter eagle: random_layers");
              c.check_feature_layers("drafter eagle: random_layers", env.target_weights->info.n_layers);
            } else {
              EagleConfig c;
              try {
                c = read_eagle_dir_config(eo.heads_dir, env.target_weights->info);
              } catch (const Error& e) {
                fail("drafter eagle: heads = {}: {}", eo.heads_dir, e.what());
              }
              check_against_target(c, env.target_weights->info, eo.heads_dir);
            }
          },
      .make = [](const DrafterOptions& o, const DrafterEnv& env) -> std::unique_ptr<Drafter> {
        EagleOptions eo = eagle_options_of(o);
        if (!env.target_weights) {
          fail("drafter eagle: eagle needs a Llama target (the head reads its features, embeddings and "
               "classifier): the target's weights are not available");
        }
        eo.n_threads = env.n_threads;
        std::shared_ptr<const EagleWeights> head;
        if (eo.random_seed >= 0) {
          head = std::make_shared<const EagleWeights>(
              random_eagle_weights(*env.target_weights, static_cast<std::uint64_t>(eo.random_seed), eo.random_layers));
        } else {
          try {
            head = std::make_shared<const EagleWeights>(load_eagle_dir(eo.heads_dir, *env.target_weights));
          } catch (const Error& e) {
            fail("drafter eagle: heads = {}: {}", eo.heads_dir, e.what());
          }
        }
        return std::make_unique<EagleDrafter>(std::move(head), env.target_weights, std::move(eo));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

EagleDrafter::EagleDrafter(std::shared_ptr<const EagleWeights> head, std::shared_ptr<const LlamaWeights> target,
                           EagleOptions options)
    : opt_(std::move(options)), head_(std::move(head), std::move(target), std::max(1, opt_.n_threads)) {
  if (opt_.top_k < 1 || opt_.top_k > 64) fail("drafter eagle: top_k = {}: must be in [1, 64]", opt_.top_k);
  if (opt_.depth < 1 || opt_.depth > 64) fail("drafter eagle: depth = {}: must be in [1, 64]", opt_.depth);
  dim_ = head_.config().dim;
  fw_ = head_.config().feature_width();
  vocab_ = head_.config().vocab;
  last_out_.assign(dim_, 0.0f);
  const std::size_t k = static_cast<std::size_t>(std::min(opt_.top_k, vocab_));
  cands_.resize(k);
  idx_.resize(vocab_);
  logits_.resize(k * vocab_);
  expand_.reserve(k);
  draft_feat_.resize(k * dim_);
  draft_tok_.resize(k);
  draft_pos_.resize(k);
  draft_out_.resize(k * static_cast<std::size_t>(opt_.depth) * dim_);
  mask_.resize(k * k * static_cast<std::size_t>(opt_.depth));
  node_row_.reserve(1 + k + k * k * static_cast<std::size_t>(opt_.depth));
}

void EagleDrafter::begin(std::span<const Token> prompt) {
  head_.truncate(0);
  end_ = 0;
  have_last_ = false;
}

void EagleDrafter::append_committed(std::int32_t n) {
  const std::size_t nd = static_cast<std::size_t>(n) * dim_;
  ensure(in_feat_, nd);
  if (out_feat_.size() < nd) out_feat_.resize(nd);
  // True rows' input features: fuse z (a copy for an unfused head).
  head_.fuse(std::span<const float>(in_z_).first(static_cast<std::size_t>(n) * fw_), n,
             std::span<float>(in_feat_).first(nd));
  head_.append(std::span<const float>(in_feat_).first(nd), std::span<const Token>(in_tok_).first(n),
               std::span<const std::int32_t>(in_pos_).first(n), std::span<float>(out_feat_).first(nd));
  std::copy_n(out_feat_.begin() + (nd - dim_), dim_, last_out_.begin());
}

void EagleDrafter::sync(const DraftContext& ctx) {
  const std::int32_t need = static_cast<std::int32_t>(ctx.tokens.size()) - 1;  // rows 0 .. need-1
  if (end_ > need) {  // a context behind the head's state: start over from what it gives
    head_.truncate(0);
    end_ = 0;
    have_last_ = false;
  }
  if (end_ == need) return;
  const std::int32_t n_prompt = static_cast<std::int32_t>(ctx.prompt_hidden.size() / fw_);
  ensure(in_z_, static_cast<std::size_t>(need - end_) * fw_);
  ensure(in_tok_, static_cast<std::size_t>(need - end_));
  ensure(in_pos_, static_cast<std::size_t>(need - end_));
  // The root's hidden state alone stands in for its feature only for an unfused head.
  const bool root_hidden = !head_.config().fused() && ctx.hidden.size() == static_cast<std::size_t>(dim_);
  std::int32_t rows = 0, last_pos = -1;
  for (std::int32_t p = end_; p < need; ++p) {
    const float* f = nullptr;
    if (p < n_prompt) {
      f = ctx.prompt_hidden.data() + static_cast<std::size_t>(p) * fw_;
    } else if (p == need - 1 && root_hidden) {
      f = ctx.hidden.data();
    }
    if (f == nullptr) continue;  // never given: the head does without this position
    std::copy_n(f, fw_, in_z_.begin() + static_cast<std::size_t>(rows) * fw_);
    in_tok_[rows] = ctx.tokens[p + 1];
    in_pos_[rows] = p;
    last_pos = p;
    ++rows;
  }
  if (rows > 0) append_committed(rows);
  have_last_ = last_pos == need - 1;
  end_ = need;
}

void EagleDrafter::observe(const StepFeedback& fb) {
  SPECLAB_ASSERT(fb.tree != nullptr && fb.acceptance != nullptr);
  const DraftTree& tree = *fb.tree;
  const auto& path = fb.acceptance->path;
  if (fb.hidden.size() != static_cast<std::size_t>(tree.size()) * fw_ || path.empty()) {
    return;  // no features given: the next propose() goes on with what it gets
  }
  const std::int32_t len = static_cast<std::int32_t>(path.size());
  SPECLAB_ASSERT(fb.tokens.size() >= static_cast<std::size_t>(len) + 1);
  const std::int32_t base = static_cast<std::int32_t>(fb.tokens.size()) - 1 - len;  // the root's position
  SPECLAB_ASSERT(fb.tokens[base] == tree.token[0]);
  if (end_ > base) {  // the head is ahead of this step (no propose since): start over
    head_.truncate(0);
    end_ = 0;
  }
  ensure(in_z_, static_cast<std::size_t>(len) * fw_);
  ensure(in_tok_, static_cast<std::size_t>(len));
  ensure(in_pos_, static_cast<std::size_t>(len));
  for (std::int32_t j = 0; j < len; ++j) {
    const float* f = fb.hidden.data() + static_cast<std::size_t>(path[j]) * fw_;
    std::copy_n(f, fw_, in_z_.begin() + static_cast<std::size_t>(j) * fw_);
    in_tok_[j] = fb.tokens[base + j + 1];  // the next accepted token; the bonus for the last row
    in_pos_[j] = base + j;
  }
  append_committed(len);
  have_last_ = true;
  end_ = base + len;
}

DraftFacts EagleDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  const Token root = ctx.tokens.back();
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  sync(ctx);
  if (budget.max_nodes == 0 || !have_last_) {
    out.reset(root);
    return {};
  }
  const std::int32_t k = std::min({opt_.tree == EagleTree::kChain ? 1 : opt_.top_k, budget.max_nodes, vocab_});
  std::int32_t depth_cap = std::min(opt_.depth, budget.max_nodes);
  if (budget.max_depth > 0) depth_cap = std::min(depth_cap, budget.max_depth);
  const std::int32_t committed = head_.n_cached();
  const std::int32_t root_pos = static_cast<std::int32_t>(ctx.tokens.size()) - 1;
  const auto cand = std::span<Candidate>(cands_).first(k);
  const auto row_logits = [this](std::int32_t j) {
    return std::span<const float>(logits_).subspan(static_cast<std::size_t>(j) * vocab_, vocab_);
  };

  // Depth 1: the root's children from the newest committed row's predicted feature.
  stage_.begin(root);
  head_.logits(last_out_, 1, std::span<float>(logits_).first(vocab_));
  head_drafter::top_candidates(row_logits(0), k, cand, idx_, {});
  stage_.add_children(0, cand);
  node_row_.assign(static_cast<std::size_t>(stage_.tree().size()), -1);

  std::int32_t drafted = 0;  // drafted rows in the head's cache (after `committed`)
  for (std::int32_t d = 1; d < depth_cap; ++d) {
    const auto best = stage_.best_at_depth(d, k);
    expand_.assign(best.begin(), best.end());
    const std::int32_t m = static_cast<std::int32_t>(expand_.size());
    if (m == 0) break;
    const DraftTree& st = stage_.tree();
    // One batch: row j = (parent's predicted feature, node's token) at the node's position - 1;
    // it sees the committed rows, its drafted ancestors' rows and itself.
    const std::int32_t w = drafted + m;
    ensure(draft_out_, static_cast<std::size_t>(w) * dim_);
    ensure(mask_, static_cast<std::size_t>(m) * w);
    std::fill_n(mask_.begin(), static_cast<std::size_t>(m) * w, std::uint8_t{0});
    for (std::int32_t j = 0; j < m; ++j) {
      const std::int32_t u = expand_[j], par = st.parent[u];
      const float* f = par == 0 ? last_out_.data() : draft_out_.data() + static_cast<std::size_t>(node_row_[par]) * dim_;
      std::copy_n(f, dim_, draft_feat_.begin() + static_cast<std::size_t>(j) * dim_);
      draft_tok_[j] = st.token[u];
      draft_pos_[j] = root_pos + d - 1;
      std::uint8_t* row = mask_.data() + static_cast<std::size_t>(j) * w;
      for (std::int32_t v = par; v != 0; v = st.parent[v]) row[node_row_[v]] = 1;
      row[drafted + j] = 1;
    }
    const std::size_t md = static_cast<std::size_t>(m) * dim_;
    head_.append(std::span<const float>(draft_feat_).first(md), std::span<const Token>(draft_tok_).first(m),
                 std::span<const std::int32_t>(draft_pos_).first(m),
                 std::span<float>(draft_out_).subspan(static_cast<std::size_t>(drafted) * dim_, md), committed,
                 std::span<const std::uint8_t>(mask_).first(static_cast<std::size_t>(m) * w));
    for (std::int32_t j = 0; j < m; ++j) node_row_[expand_[j]] = drafted + j;
    head_.logits(std::span<const float>(draft_out_).subspan(static_cast<std::size_t>(drafted) * dim_, md), m,
                 std::span<float>(logits_).first(static_cast<std::size_t>(m) * vocab_));
    drafted += m;
    for (std::int32_t j = 0; j < m; ++j) {
      head_drafter::top_candidates(row_logits(j), k, cand, idx_, {});
      stage_.add_children(expand_[j], cand);
    }
    node_row_.resize(static_cast<std::size_t>(stage_.tree().size()), -1);
  }
  stage_.finish(budget.max_nodes, out);
  head_.truncate(committed);  // drafted rows are discarded; accepted ones return as committed rows
  return {};
}

}  // namespace speclab
