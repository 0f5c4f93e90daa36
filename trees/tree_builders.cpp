#include "trees/tree_builders.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>

#include "base/error.h"

namespace speclab {

void build_chain(Token root, std::span<const Token> tokens, const DraftBudget& budget,
                 DraftTree& out, ChildSampling kind) {
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  out.reset(root, kind);
  std::size_t n = std::min<std::size_t>(tokens.size(), static_cast<std::size_t>(budget.max_nodes));
  if (budget.max_depth > 0) n = std::min<std::size_t>(n, static_cast<std::size_t>(budget.max_depth));
  for (std::size_t i = 0; i < n; ++i) out.add(tokens[i], static_cast<std::int32_t>(i));
}

namespace {

void check_candidate(const Candidate& c, std::int32_t node) {
  if (!(c.log_prob <= 0.0f)) {
    fail("tree builder: candidate token {} under node {} has log_prob {}: must be <= 0", c.token,
         node, c.log_prob);
  }
}

}  // namespace

void instantiate_template(Token root, const TreeTemplate& tmpl, const DraftBudget& budget,
                          const CandidateFn& candidates, DraftTree& out) {
  tmpl.validate();
  const TreeTemplate t = cut_to_budget(tmpl, budget);
  out.reset(root, ChildSampling::kDeterministic);
  // Widest rank needed under each template node.
  std::vector<std::int32_t> width(t.size(), 0);
  for (std::int32_t i = 1; i < t.size(); ++i) {
    width[t.parent[i]] = std::max(width[t.parent[i]], t.rank[i] + 1);
  }
  std::vector<std::int32_t> node_of(t.size(), -1);  // template node -> out node
  node_of[0] = 0;
  std::vector<Candidate> cands;
  std::int32_t cands_of = -1;  // template node whose candidates are in `cands`
  for (std::int32_t i = 1; i < t.size(); ++i) {
    const std::int32_t tp = t.parent[i];
    const std::int32_t par = node_of[tp];
    if (par < 0) continue;  // parent dropped: drop the subtree
    if (cands_of != tp) {
      candidates(out, par, width[tp], cands);
      cands_of = tp;
    }
    const auto r = static_cast<std::size_t>(t.rank[i]);
    if (r >= cands.size()) continue;
    check_candidate(cands[r], par);
    node_of[i] = out.add(cands[r].token, par, out.score[par] + cands[r].log_prob,
                         std::exp(cands[r].log_prob));
  }
}

void DynamicTreeOptions::validate() const {
  if (top_k < 1) fail("dynamic tree: top_k = {}: must be >= 1", top_k);
  if (expand_top < 1) fail("dynamic tree: expand_top = {}: must be >= 1", expand_top);
  if (max_depth < 1) fail("dynamic tree: max_depth = {}: must be >= 1", max_depth);
}

void build_dynamic_tree(Token root, const DraftBudget& budget, const DynamicTreeOptions& options,
                        const CandidateFn& candidates, DraftTree& out) {
  options.validate();
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  out.reset(root, ChildSampling::kDeterministic);
  if (budget.max_nodes == 0) return;
  // A kept node at depth d needs its d - 1 ancestors kept too (the kept set is ancestor-closed),
  // so nothing deeper than max_nodes can survive the rerank: do not expand (or run a draft model
  // on) paths longer than that. Besides saving work this keeps a drafter's forwards inside the
  // context left for the tree (the decode loop caps max_nodes by it).
  std::int32_t depth_cap = std::min(options.max_depth, budget.max_nodes);
  if (budget.max_depth > 0) depth_cap = std::min(depth_cap, budget.max_depth);

  DraftTree stage;
  stage.reset(root, ChildSampling::kDeterministic);
  auto better = [&stage](std::int32_t a, std::int32_t b) {
    return stage.score[a] > stage.score[b] || (stage.score[a] == stage.score[b] && a < b);
  };
  std::vector<std::int32_t> layer = {0}, next;
  std::vector<Candidate> cands;
  for (std::int32_t d = 1; d <= depth_cap && !layer.empty(); ++d) {
    const std::size_t n_expand = std::min<std::size_t>(layer.size(), options.expand_top);
    std::partial_sort(layer.begin(), layer.begin() + n_expand, layer.end(), better);
    std::sort(layer.begin(), layer.begin() + n_expand);  // expand in creation order
    next.clear();
    for (std::size_t j = 0; j < n_expand; ++j) {
      const std::int32_t u = layer[j];
      candidates(stage, u, options.top_k, cands);
      const std::size_t k = std::min<std::size_t>(cands.size(), options.top_k);
      for (std::size_t c = 0; c < k; ++c) {
        check_candidate(cands[c], u);
        next.push_back(stage.add(cands[c].token, u, stage.score[u] + cands[c].log_prob,
                                 std::exp(cands[c].log_prob)));
      }
    }
    layer.swap(next);
  }
  // Rerank all drafted nodes; keep the best max_nodes (ancestor-closed, see header).
  std::vector<std::int32_t> all(stage.size() - 1);
  std::iota(all.begin(), all.end(), 1);
  const std::size_t n_keep = std::min<std::size_t>(all.size(), budget.max_nodes);
  std::partial_sort(all.begin(), all.begin() + n_keep, all.end(), better);
  all.resize(n_keep);
  // BFS order: by depth, then creation order (siblings stay best first).
  std::sort(all.begin(), all.end(), [&stage](std::int32_t a, std::int32_t b) {
    return stage.depth[a] != stage.depth[b] ? stage.depth[a] < stage.depth[b] : a < b;
  });
  std::vector<std::int32_t> node_of(stage.size(), -1);
  node_of[0] = 0;
  for (const std::int32_t s : all) {
    const std::int32_t par = node_of[stage.parent[s]];
    SPECLAB_ASSERT(par >= 0);  // ancestor-closed
    node_of[s] = out.add(stage.token[s], par, stage.score[s], stage.q_token[s]);
  }
}

void DynamicTreeStage::begin(Token root) { stage_.reset(root, ChildSampling::kDeterministic); }

void DynamicTreeStage::add_children(std::int32_t u, std::span<const Candidate> cands) {
  SPECLAB_ASSERT(u >= 0 && u < stage_.size());
  for (const Candidate& c : cands) {
    check_candidate(c, u);
    stage_.add(c.token, u, stage_.score[u] + c.log_prob, std::exp(c.log_prob));
  }
}

std::span<const std::int32_t> DynamicTreeStage::best_at_depth(std::int32_t d, std::int32_t n) {
  pick_.clear();
  for (std::int32_t i = 0; i < stage_.size(); ++i) {
    if (stage_.depth[i] == d) pick_.push_back(i);
  }
  const std::size_t k = std::min<std::size_t>(pick_.size(), static_cast<std::size_t>(std::max(n, 0)));
  std::partial_sort(pick_.begin(), pick_.begin() + k, pick_.end(),
                    [this](std::int32_t a, std::int32_t b) { return better(a, b); });
  pick_.resize(k);
  std::sort(pick_.begin(), pick_.end());  // creation order
  return pick_;
}

void DynamicTreeStage::finish(std::int32_t max_nodes, DraftTree& out) {
  SPECLAB_ASSERT(max_nodes >= 0);
  out.reset(stage_.token[0], ChildSampling::kDeterministic);
  keep_.clear();
  for (std::int32_t i = 1; i < stage_.size(); ++i) keep_.push_back(i);
  const std::size_t n_keep = std::min<std::size_t>(keep_.size(), static_cast<std::size_t>(max_nodes));
  std::partial_sort(keep_.begin(), keep_.begin() + n_keep, keep_.end(),
                    [this](std::int32_t a, std::int32_t b) { return better(a, b); });
  keep_.resize(n_keep);
  // BFS order: by depth, then creation order (siblings stay best first).
  std::sort(keep_.begin(), keep_.end(), [this](std::int32_t a, std::int32_t b) {
    return stage_.depth[a] != stage_.depth[b] ? stage_.depth[a] < stage_.depth[b] : a < b;
  });
  node_of_.assign(static_cast<std::size_t>(stage_.size()), -1);
  node_of_[0] = 0;
  for (const std::int32_t s : keep_) {
    const std::int32_t par = node_of_[stage_.parent[s]];
    SPECLAB_ASSERT(par >= 0);  // ancestor-closed
    node_of_[s] = out.add(stage_.token[s], par, stage_.score[s], stage_.q_token[s]);
  }
}

double AcceptanceProfile::at(std::int32_t depth, std::int32_t rank) const {
  SPECLAB_ASSERT(!by_depth.empty() && depth >= 1 && rank >= 0);
  const auto& row = by_depth[std::min<std::size_t>(depth - 1, by_depth.size() - 1)];
  return static_cast<std::size_t>(rank) < row.size() ? row[rank] : 0.0;
}

void AcceptanceProfile::validate() const {
  if (by_depth.empty()) fail("acceptance profile: no rows (need at least one depth)");
  for (std::size_t d = 0; d < by_depth.size(); ++d) {
    for (std::size_t r = 0; r < by_depth[d].size(); ++r) {
      const double v = by_depth[d][r];
      if (!(v >= 0.0 && v <= 1.0)) {
        fail("acceptance profile: depth {} rank {} = {}: must be a probability in [0, 1]", d + 1,
             r, v);
      }
    }
  }
}

double expected_accepted(const TreeTemplate& t, const AcceptanceProfile& profile) {
  std::vector<double> reach(t.size(), 1.0);
  double sum = 0.0;
  for (std::int32_t i = 1; i < t.size(); ++i) {
    reach[i] = reach[t.parent[i]] * profile.at(t.depth[i], t.rank[i]);
    sum += reach[i];
  }
  return sum;
}

TreeTemplate optimal_template(const AcceptanceProfile& profile, const DraftBudget& budget,
                              double* value) {
  profile.validate();
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  if (budget.max_depth < 0) fail("draft budget: max_depth = {}: must be >= 0", budget.max_depth);
  const std::int32_t n_budget = budget.max_nodes;
  const std::int32_t n_depth = budget.max_depth > 0 ? std::min(budget.max_depth, n_budget) : n_budget;
  std::size_t width = 0;
  for (const auto& row : profile.by_depth) width = std::max(width, row.size());
  const std::int32_t n_rank = static_cast<std::int32_t>(std::min<std::size_t>(width, n_budget));
  const std::size_t nb = static_cast<std::size_t>(n_budget) + 1;

  // f[d][b]: best value of b nodes below a node whose children sit at depth d (d = 1..n_depth;
  // f[n_depth + 1] = 0). g(d, r, b): best value giving b nodes to children of ranks r, r+1, ...;
  // choice[d][r][b] = nodes (child + its subtree) given to rank r, 0 = no child of rank r.
  std::vector<std::vector<double>> f(n_depth + 2, std::vector<double>(nb, 0.0));
  std::vector<std::vector<std::vector<std::int32_t>>> choice(
      n_depth + 2, std::vector<std::vector<std::int32_t>>(n_rank + 1, std::vector<std::int32_t>(nb, 0)));
  std::vector<double> g_next(nb), g_cur(nb);
  for (std::int32_t d = n_depth; d >= 1; --d) {
    std::fill(g_next.begin(), g_next.end(), 0.0);  // ranks >= n_rank: nothing
    for (std::int32_t r = n_rank - 1; r >= 0; --r) {
      const double a = profile.at(d, r);
      for (std::size_t b = 0; b < nb; ++b) {
        double best = 0.0;  // no child of rank r (and so none of higher rank)
        std::int32_t best_s = 0;
        for (std::size_t s = 1; s <= b; ++s) {
          const double v = a * (1.0 + f[d + 1][s - 1]) + g_next[b - s];
          if (v > best) {
            best = v;
            best_s = static_cast<std::int32_t>(s);
          }
        }
        g_cur[b] = best;
        choice[d][r][b] = best_s;
      }
      g_next.swap(g_cur);
    }
    f[d] = g_next;
  }
  if (value) *value = n_depth >= 1 ? f[1][n_budget] : 0.0;

  // Rebuild breadth first: (template node, depth of its children, budget below it).
  TreeTemplate t = root_template();
  struct Item {
    std::int32_t node, depth, budget;
  };
  std::deque<Item> queue;
  if (n_depth >= 1) queue.push_back({0, 1, n_budget});
  while (!queue.empty()) {
    const Item it = queue.front();
    queue.pop_front();
    if (it.depth > n_depth) continue;
    std::int32_t rem = it.budget;
    for (std::int32_t r = 0; r < n_rank && rem > 0; ++r) {
      const std::int32_t s = choice[it.depth][r][rem];
      if (s == 0) break;
      const std::int32_t child = t.size();
      t.parent.push_back(it.node);
      t.rank.push_back(r);
      t.depth.push_back(it.depth);
      queue.push_back({child, it.depth + 1, s - 1});
      rem -= s;
    }
  }
  return t;
}

}  // namespace speclab
