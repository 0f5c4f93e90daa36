#include "experiments/cost_policy.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {

namespace {

constexpr double kPriorWeight = 2.0;

std::int32_t clamp_index(std::int32_t v, std::int32_t n) { return std::clamp(v, 0, n - 1); }

}  // namespace

void CostBudgetPolicy::begin() {
  std::fill(cells_.begin(), cells_.end(), Cell{});
  deterministic_seen_ = false;
  any_seen_ = false;
  idle_steps_ = 0;
  std::fill(std::begin(recent_kept_), std::end(recent_kept_), -1);
  recent_next_ = 0;
}

const CostBudgetPolicy::Cell& CostBudgetPolicy::cell(std::int32_t depth, std::int32_t rank) const {
  return cells_[clamp_index(depth - 1, kDepths) * kRanks + clamp_index(rank, kRanks)];
}
CostBudgetPolicy::Cell& CostBudgetPolicy::cell(std::int32_t depth, std::int32_t rank) {
  return cells_[clamp_index(depth - 1, kDepths) * kRanks + clamp_index(rank, kRanks)];
}

double CostBudgetPolicy::accept_estimate(std::int32_t depth, std::int32_t rank) const {
  const Cell& c = cell(depth, rank);
  const double prior = 0.5 / (std::min(rank, kRanks - 1) + 1.0);
  return (c.hits + prior * kPriorWeight) / (c.trials + kPriorWeight);
}

DraftBudget CostBudgetPolicy::budget(const DraftBudget& max, std::int32_t cached, bool prunable_drafter) {
  if (max.max_nodes <= 0) return max;
  // Unknown tree kind (first step): propose at the maximum.
  if (!any_seen_) return max;
  // Trees the policy prunes: propose what recent steps suggest may be kept.
  if (prunable_drafter && deterministic_seen_) {
    std::int32_t kept = -1;
    for (const std::int32_t k : recent_kept_) kept = std::max(kept, k);
    if (kept < 0) return max;
    return DraftBudget{std::min(max.max_nodes, std::max(kMinProposal, 2 * kept)), max.max_depth};
  }
  const std::int32_t cap = max.max_depth > 0 ? std::min(max.max_nodes, max.max_depth) : max.max_nodes;
  double expected = 1.0, path = 1.0;
  std::int32_t best = 0;
  double best_rate = expected / profile_->forward_ms(1.0, cached);
  for (std::int32_t b = 1; b <= cap; ++b) {
    path *= accept_estimate(b, 0);
    expected += path;
    const double rate = expected / profile_->forward_ms(b + 1.0, cached);
    if (rate > best_rate) {
      best_rate = rate;
      best = b;
    }
  }
  if (best == 0 && idle_steps_ >= kExploreAfter) best = 1;  // calibrate depth 1 now and then
  idle_steps_ = best == 0 ? idle_steps_ + 1 : 0;
  return DraftBudget{best, max.max_depth};
}

bool CostBudgetPolicy::prune(DraftTree& tree, std::int32_t cached, bool prunable_drafter) {
  any_seen_ = true;
  deterministic_seen_ = tree.children == ChildSampling::kDeterministic;
  const std::int32_t n = tree.size();
  if (!prunable_drafter || !deterministic_seen_ || n <= 1) return false;
  value_.assign(n, 0.0);
  rank_.assign(n, 0);
  first_child_.assign(n, -1);
  next_sibling_.assign(n, -1);
  remap_.assign(n, -1);  // last child so far, then the new index
  value_[0] = 1.0;
  for (std::int32_t i = 1; i < n; ++i) {
    const std::int32_t p = tree.parent[i];
    if (first_child_[p] < 0) {
      first_child_[p] = i;
    } else {
      next_sibling_[remap_[p]] = i;
      rank_[i] = rank_[remap_[p]] + 1;
    }
    remap_[p] = i;
    value_[i] = value_[p] * accept_estimate(tree.depth[i], rank_[i]);
  }
  // Best-first over the frontier (value, then tree order).
  // A max-heap in a member buffer: no allocation per step once it has grown.
  auto worse = [&](std::int32_t a, std::int32_t b) { return value_[a] != value_[b] ? value_[a] < value_[b] : a > b; };
  frontier_.clear();
  auto push = [&](std::int32_t x) {
    frontier_.push_back(x);
    std::push_heap(frontier_.begin(), frontier_.end(), worse);
  };
  push(first_child_[0]);
  order_.clear();
  double sum = 0.0, best_rate = 1.0 / profile_->forward_ms(1.0, cached);
  std::size_t best_k = 0;
  while (!frontier_.empty()) {
    std::pop_heap(frontier_.begin(), frontier_.end(), worse);
    const std::int32_t x = frontier_.back();
    frontier_.pop_back();
    order_.push_back(x);
    sum += value_[x];
    const double rate = (1.0 + sum) / profile_->forward_ms(order_.size() + 1.0, cached);
    if (rate > best_rate) {
      best_rate = rate;
      best_k = order_.size();
    }
    if (first_child_[x] >= 0) push(first_child_[x]);
    if (next_sibling_[x] >= 0) push(next_sibling_[x]);
  }
  if (best_k == 0 && idle_steps_ >= kExploreAfter) best_k = 1;  // calibrate the best node now and then
  idle_steps_ = best_k == 0 ? idle_steps_ + 1 : 0;
  recent_kept_[recent_next_] = static_cast<std::int32_t>(best_k);
  recent_next_ = (recent_next_ + 1) % kRecent;
  if (best_k + 1 == static_cast<std::size_t>(n)) return true;  // every node is worth its cost
  keep_.assign(n, 0);
  keep_[0] = 1;
  for (std::size_t k = 0; k < best_k; ++k) keep_[order_[k]] = 1;
  pruned_.reset(tree.token[0], tree.children, tree.q_vocab);
  remap_.assign(n, -1);
  remap_[0] = 0;
  auto copy_q = [&](std::int32_t from, std::int32_t to) {
    if (tree.has_q()) std::copy_n(tree.q_row(from).begin(), tree.q_vocab, pruned_.q_row_mut(to).begin());
  };
  copy_q(0, 0);
  for (std::int32_t i = 1; i < n; ++i) {
    if (!keep_[i]) continue;
    SPECLAB_ASSERT(remap_[tree.parent[i]] >= 0);
    remap_[i] = pruned_.add(tree.token[i], remap_[tree.parent[i]], tree.score[i],
                            tree.q_token.empty() ? 1.0f : tree.q_token[i]);
    copy_q(i, remap_[i]);
  }
  std::swap(tree, pruned_);
  return true;
}

void CostBudgetPolicy::observe(const DraftTree& tree, const Acceptance& acc) {
  const std::int32_t n = tree.size();
  on_path_.assign(n, 0);
  for (const std::int32_t i : acc.path) on_path_[i] = 1;
  rank_.assign(n, 0);
  remap_.assign(n, -1);  // last child of each node so far
  for (std::int32_t i = 1; i < n; ++i) {
    const std::int32_t p = tree.parent[i];
    rank_[i] = remap_[p] < 0 ? 0 : rank_[remap_[p]] + 1;
    remap_[p] = i;
    if (!on_path_[p]) continue;  // never had its chance
    Cell& c = cell(tree.depth[i], rank_[i]);
    c.trials += 1;
    c.hits += on_path_[i];
  }
}

}  // namespace speclab
