// A draft tree in flat arrays (DESIGN.md). Node 0 is the root: the last accepted token, which
// the target has not run yet; the verifier runs root + all nodes in one forward. Parents come
// before children (parent[i] < i), siblings are ordered by the drafter's preference (rules that
// test siblings one by one test them in index order).
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/types.h"

namespace speclab {

// How a node's children were produced; tells an acceptance rule which test is valid.
enum class ChildSampling {
  kDeterministic,        // fixed candidates (top-k, lookup, n-gram, recycled): q is a point mass
  kIidSampled,           // each child drawn i.i.d. from the node's q row (chain = 1 child)
  kWithoutReplacement,   // children drawn without replacement from q (Gumbel-top-k)
};

std::string_view to_string(ChildSampling c);

struct DraftTree {
  std::vector<Token> token;          // [n]
  std::vector<std::int32_t> parent;  // [n]; -1 for the root
  std::vector<std::int32_t> depth;   // [n]; root = 0
  std::vector<float> score;          // [n] drafter's log-score of the root-to-node path (0 = unknown)
  ChildSampling children = ChildSampling::kDeterministic;
  // Draft distributions, when the drafter has them (rules that need them check):
  std::int32_t q_vocab = 0;          // length of a q row; 0 = no dense rows recorded
  std::vector<float> q;              // [n, q_vocab] row i = distribution i's children were drawn from
  std::vector<float> q_token;        // [n] q of node i's token under its parent's row (root: 1); may be empty

  std::int32_t size() const { return static_cast<std::int32_t>(token.size()); }
  bool has_q() const { return q_vocab > 0; }
  std::span<const float> q_row(std::int32_t i) const {
    return std::span<const float>(q).subspan(static_cast<std::size_t>(i) * q_vocab, q_vocab);
  }
  std::span<float> q_row_mut(std::int32_t i) {
    return std::span<float>(q).subspan(static_cast<std::size_t>(i) * q_vocab, q_vocab);
  }

  // Resets to a single root node (keeps capacity: no allocation in the decode loop).
  void reset(Token root, ChildSampling kind = ChildSampling::kDeterministic,
             std::int32_t q_vocab_ = 0);
  // Appends a node under `par`; returns its index. When q rows are on, appends a zero q row.
  std::int32_t add(Token t, std::int32_t par, float score_ = 0.0f, float q_tok = 1.0f);
  std::int32_t max_depth() const;
  // Throws Error if the arrays are inconsistent (sizes, parent order, depths).
  void validate() const;
};

// Per step limits on what a drafter may propose.
struct DraftBudget {
  std::int32_t max_nodes = 0;   // draft nodes excluding the root (tree tokens verified - 1)
  std::int32_t max_depth = 0;   // 0 = unlimited
};

// What the acceptance rule decided.
struct Acceptance {
  std::vector<std::int32_t> path;  // accepted node indices; path[0] = 0 (root); each a child of the previous
  Token bonus = -1;                // the token emitted after the last accepted node
  std::int32_t n_accepted() const { return static_cast<std::int32_t>(path.size()) - 1; }
};

}  // namespace speclab
