#include "drafters/hydra_drafter.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace speclab {

namespace {

constexpr DrafterKey kHydraKeys[] = {
    {"heads", "", "DIR: hydra heads trained for the target (speclab train-heads --kind hydra); required",
     OptionalFile::kHeadsDir},
    {"tree", "dynamic", "dynamic|template: EAGLE-2 style dynamic tree, or a static template"},
    {"top_k", "8", "candidates per expanded node, in [1, 64]"},
    {"expand_top", "8", "dynamic tree: nodes expanded per depth, in [1, 64]"},
    {"max_depth", "", "deepest draft node, in [1, n_heads] (default: n_heads)"},
    {"choices", "", "tree=template: a Medusa choices list (default: the heads' optimal template)"},
    {"q", "1", "1|0: record the heads' softmax as q rows"},
};

const HydraOptions& hydra_options_of(const DrafterOptions& o) { return std::any_cast<const HydraOptions&>(o); }

}  // namespace

HydraOptions hydra_options(ParamReader& r) {
  const DrafterParams& p = r.params();
  HydraOptions o;
  if (!p.has("heads")) r.problem("drafter hydra: heads: required (heads=DIR, written by save_heads)");
  o.heads_dir = r.get_string("heads", "");
  const std::string tree = r.get_choice("tree", "dynamic", {"dynamic", "template"});
  o.tree = tree == "template" ? HydraTree::kTemplate : HydraTree::kDynamic;
  o.top_k = r.get_int("top_k", o.top_k, 1, 64);
  o.expand_top = r.get_int("expand_top", o.expand_top, 1, 64);
  o.max_depth = r.get_int("max_depth", 0, 1, 64);
  if (p.has("choices")) {
    const std::string choices = r.get_string("choices", "");
    if (o.tree != HydraTree::kTemplate) {
      r.problem("choices", choices, "a choices list needs tree=template (the default tree=dynamic has no fixed shape)");
    } else if (r.attempt([&] { head_drafter::parse_choices_param(p, "choices"); })) {
      o.choices = choices;
    }
  }
  o.record_q = r.get_bool("q", o.record_q);
  return o;
}

const DrafterKind& hydra_drafter_kind() {
  static const DrafterKind kind{
      .name = "hydra",
      .summary = "Hydra heads: like medusa, but each head also reads the path it extends (per-node candidates)",
      .keys = kHydraKeys,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return hydra_options(r); },
      .check =
          [](const DrafterOptions& o, const DrafterEnv& env) {
            if (!env.target_weights) {
              fail("drafter hydra: hydra needs a Llama target (the heads read its weights): the target's weights "
                   "are not available");
            }
            const HydraOptions& ho = hydra_options_of(o);
            check_hydra_options(ho, head_drafter::read_config(ho.heads_dir, HeadKind::kHydra, "hydra"));
          },
      .make = [](const DrafterOptions& o, const DrafterEnv& env) -> std::unique_ptr<Drafter> {
        HydraOptions ho = hydra_options_of(o);
        ho.n_threads = env.n_threads;
        HeadNet net = head_drafter::load(ho.heads_dir, HeadKind::kHydra, "hydra", env.target_weights);
        return std::make_unique<HydraDrafter>(std::move(net), std::move(ho));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

void check_hydra_options(const HydraOptions& o, const HeadConfig& cfg) {
  if (o.max_depth > cfg.n_heads) {
    fail("drafter hydra: max_depth = {}: must be <= n_heads = {} of the heads in {}", o.max_depth,
         cfg.n_heads, o.heads_dir);
  }
  if (o.max_depth < 0) fail("drafter hydra: max_depth = {}: must be >= 1 (0 = n_heads)", o.max_depth);
  if (o.top_k < 1) fail("drafter hydra: top_k = {}: must be >= 1", o.top_k);
  if (o.expand_top < 1) fail("drafter hydra: expand_top = {}: must be >= 1", o.expand_top);
  if (!o.choices.empty() && o.tree != HydraTree::kTemplate) {
    fail("drafter hydra: choices = {}: a choices list needs tree=template", o.choices);
  }
}

HydraDrafter::HydraDrafter(HeadNet heads, HydraOptions options)
    : net_(std::move(heads)), opt_(std::move(options)) {
  scratch_.n_threads = std::max(1, opt_.n_threads);
  const HeadConfig& cfg = net_.config();
  if (cfg.kind != HeadKind::kHydra) {
    fail("drafter hydra: heads = {}: kind = {}: this drafter needs hydra heads", opt_.heads_dir,
         to_string(cfg.kind));
  }
  if (cfg.n_heads < 1) fail("drafter hydra: heads = {}: n_heads = 0", opt_.heads_dir);
  check_hydra_options(opt_, cfg);
  vocab_ = cfg.vocab;
  max_depth_ = opt_.max_depth > 0 ? opt_.max_depth : cfg.n_heads;
  const std::int32_t max_rank = std::min(opt_.top_k, vocab_);
  const std::size_t rows = static_cast<std::size_t>(std::max(opt_.expand_top, 1)) + 1;
  level_nodes_.reserve(rows);
  level_order_.reserve(rows * std::max(opt_.top_k, 1));
  level_hidden_.reserve(rows * cfg.dim);
  level_path_.reserve(rows * (max_depth_ + 1));
  level_logits_.reserve(rows * vocab_);
  idx_.resize(vocab_);
  cands_.resize(max_rank);
  if (opt_.tree == HydraTree::kTemplate) {
    std::vector<std::vector<std::int32_t>> choices;
    if (!opt_.choices.empty()) {
      try {
        choices = parse_choices(opt_.choices);
      } catch (const Error& e) {
        fail("drafter hydra: choices = {}: {}", opt_.choices, e.what());
      }
    }
    templates_ = head_drafter::TemplateCache(opt_.choices.empty() ? nullptr : &choices,
                                             head_drafter::profile_of(cfg, max_rank), max_rank,
                                             max_depth_);
  } else {
    const std::size_t max_records = 1 + static_cast<std::size_t>(opt_.expand_top) * (max_depth_ - 1);
    rec_stage_.reserve(max_records);
    rec_parent_.reserve(max_records);
    rec_token_.reserve(max_records);
    if (opt_.record_q) rec_probs_.reserve(max_records * vocab_);
    candidate_fn_ = [this](const DraftTree& tree, std::int32_t v, std::int32_t k,
                           std::vector<Candidate>& out) {
      out.clear();
      if (tree.depth[v] >= max_depth_) return;  // no head for that depth
      k = std::min(k, vocab_);
      out.resize(k);
      std::span<float> probs;
      if (opt_.record_q) {
        const std::size_t r = rec_stage_.size();
        std::int32_t pr = -1;
        for (std::size_t j = 0; j < r && tree.parent[v] >= 0; ++j) {
          if (rec_stage_[j] == tree.parent[v]) pr = static_cast<std::int32_t>(j);
        }
        rec_stage_.push_back(v);
        rec_parent_.push_back(pr);
        rec_token_.push_back(tree.token[v]);
        rec_probs_.resize((r + 1) * vocab_);
        probs = std::span<float>(rec_probs_).subspan(r * vocab_, vocab_);
      }
      node_candidates(tree, v, k, out, probs);
    };
  }
}

void HydraDrafter::fill_level(const DraftTree& tree, std::int32_t d, std::int32_t v) {
  level_nodes_.clear();
  if (opt_.tree == HydraTree::kTemplate) {
    for (std::int32_t u = 0; u < tree.size(); ++u) {
      if (tree.depth[u] == d && u < static_cast<std::int32_t>(width_.size()) && width_[u] > 0) {
        level_nodes_.push_back(u);
      }
    }
  } else {
    level_order_.clear();
    for (std::int32_t u = 0; u < tree.size(); ++u) {
      if (tree.depth[u] == d) level_order_.emplace_back(-tree.score[u], u);
    }
    const std::size_t n = std::min<std::size_t>(level_order_.size(), static_cast<std::size_t>(expand_top_));
    std::partial_sort(level_order_.begin(), level_order_.begin() + n, level_order_.end());
    for (std::size_t i = 0; i < n; ++i) level_nodes_.push_back(level_order_[i].second);
  }
  if (std::find(level_nodes_.begin(), level_nodes_.end(), v) == level_nodes_.end()) {
    level_nodes_.push_back(v);
  }
  const std::int32_t n = static_cast<std::int32_t>(level_nodes_.size());
  const std::size_t dim = hidden_.size(), plen = static_cast<std::size_t>(d) + 1;
  level_hidden_.resize(n * dim);
  level_path_.resize(n * plen);
  level_logits_.resize(static_cast<std::size_t>(n) * vocab_);
  for (std::int32_t i = 0; i < n; ++i) {
    std::copy(hidden_.begin(), hidden_.end(), level_hidden_.begin() + i * dim);
    for (std::int32_t u = level_nodes_[i]; u >= 0; u = tree.parent[u]) {
      level_path_[i * plen + tree.depth[u]] = tree.token[u];
    }
  }
  net_.logits(d, level_hidden_, level_path_, n, level_logits_, scratch_);
  level_depth_ = d;
}

void HydraDrafter::node_candidates(const DraftTree& tree, std::int32_t v, std::int32_t k,
                                   std::span<Candidate> cands, std::span<float> probs) {
  const std::int32_t d = tree.depth[v];
  SPECLAB_ASSERT(d < max_depth_);
  auto it = level_depth_ == d ? std::find(level_nodes_.begin(), level_nodes_.end(), v)
                              : level_nodes_.end();
  if (it == level_nodes_.end()) {
    fill_level(tree, d, v);
    it = std::find(level_nodes_.begin(), level_nodes_.end(), v);
  }
  const std::size_t row = static_cast<std::size_t>(it - level_nodes_.begin());
  head_drafter::top_candidates(
      std::span<const float>(level_logits_).subspan(row * vocab_, vocab_), k, cands, idx_, probs);
}

DraftFacts HydraDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  const Token root = ctx.tokens.back();
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  if (ctx.hidden.empty() || budget.max_nodes == 0) {
    out.reset(root);
    return {};
  }
  hidden_ = ctx.hidden;
  level_depth_ = -1;
  if (opt_.tree == HydraTree::kTemplate) {
    propose_template(root, budget, out);
  } else {
    propose_dynamic(root, budget, out);
  }
  hidden_ = {};
  return {};
}

void HydraDrafter::propose_dynamic(Token root, const DraftBudget& budget, DraftTree& out) {
  const std::int32_t b = budget.max_nodes;
  const DynamicTreeOptions o{std::min({opt_.top_k, b, vocab_}), std::min(opt_.expand_top, b),
                             max_depth_};
  expand_top_ = o.expand_top;
  rec_stage_.clear();
  rec_parent_.clear();
  rec_token_.clear();
  rec_probs_.clear();
  build_dynamic_tree(root, budget, o, candidate_fn_, out);
  if (!opt_.record_q) return;
  // Map every output node to the record of the same staging node: same parent record, same token
  // (siblings have distinct tokens).
  out.q_vocab = vocab_;
  out.q.assign(static_cast<std::size_t>(out.size()) * vocab_, 0.0f);
  rec_of_.assign(out.size(), -1);
  if (!rec_stage_.empty() && rec_stage_[0] == 0) rec_of_[0] = 0;
  const std::int32_t n_rec = static_cast<std::int32_t>(rec_stage_.size());
  for (std::int32_t i = 1; i < out.size(); ++i) {
    const std::int32_t pr = rec_of_[out.parent[i]];
    if (pr < 0) continue;
    for (std::int32_t j = 0; j < n_rec; ++j) {
      if (rec_parent_[j] == pr && rec_token_[j] == out.token[i]) {
        rec_of_[i] = j;
        break;
      }
    }
  }
  for (std::int32_t i = 0; i < out.size(); ++i) {
    if (rec_of_[i] < 0) continue;
    const auto src =
        std::span<const float>(rec_probs_).subspan(static_cast<std::size_t>(rec_of_[i]) * vocab_, vocab_);
    std::copy(src.begin(), src.end(), out.q_row_mut(i).begin());
  }
}

void HydraDrafter::propose_template(Token root, const DraftBudget& budget, DraftTree& out) {
  const TreeTemplate& t = templates_.get(budget);
  width_.assign(t.size(), 0);
  for (std::int32_t i = 1; i < t.size(); ++i) {
    width_[t.parent[i]] = std::max(width_[t.parent[i]], t.rank[i] + 1);
  }
  // The cached template is cut and rank-capped and every node gets all the ranks it needs, so
  // template node i becomes tree node i.
  out.reset(root, ChildSampling::kDeterministic, opt_.record_q ? vocab_ : 0);
  std::int32_t cands_of = -1;
  for (std::int32_t i = 1; i < t.size(); ++i) {
    const std::int32_t par = t.parent[i];
    if (cands_of != par) {
      node_candidates(out, par, width_[par], cands_,
                      opt_.record_q ? out.q_row_mut(par) : std::span<float>());
      cands_of = par;
    }
    const Candidate& c = cands_[t.rank[i]];
    out.add(c.token, par, out.score[par] + c.log_prob, std::exp(c.log_prob));
  }
}

}  // namespace speclab
