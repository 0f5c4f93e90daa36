#include "trees/draft_tree.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {

std::string_view to_string(ChildSampling c) {
  switch (c) {
    case ChildSampling::kDeterministic: return "deterministic";
    case ChildSampling::kIidSampled: return "iid";
    case ChildSampling::kWithoutReplacement: return "without-replacement";
  }
  return "?";
}

void DraftTree::reset(Token root, ChildSampling kind, std::int32_t q_vocab_) {
  token.clear();
  parent.clear();
  depth.clear();
  score.clear();
  q.clear();
  q_token.clear();
  children = kind;
  q_vocab = q_vocab_;
  token.push_back(root);
  parent.push_back(-1);
  depth.push_back(0);
  score.push_back(0.0f);
  q_token.push_back(1.0f);
  if (q_vocab > 0) q.resize(q_vocab, 0.0f);
}

std::int32_t DraftTree::add(Token t, std::int32_t par, float score_, float q_tok) {
  SPECLAB_ASSERT(par >= 0 && par < size());
  token.push_back(t);
  parent.push_back(par);
  depth.push_back(depth[par] + 1);
  score.push_back(score_);
  q_token.push_back(q_tok);
  if (q_vocab > 0) q.resize(q.size() + q_vocab, 0.0f);
  return size() - 1;
}

std::int32_t DraftTree::max_depth() const {
  return depth.empty() ? 0 : *std::max_element(depth.begin(), depth.end());
}

void DraftTree::validate() const {
  const std::size_t n = token.size();
  if (n == 0) fail("draft tree: empty (it needs at least the root)");
  if (parent.size() != n || depth.size() != n || score.size() != n) {
    fail("draft tree: array sizes differ (token {}, parent {}, depth {}, score {})", n,
         parent.size(), depth.size(), score.size());
  }
  if (!q_token.empty() && q_token.size() != n) {
    fail("draft tree: q_token has {} entries for {} nodes", q_token.size(), n);
  }
  if (q_vocab > 0 && q.size() != n * static_cast<std::size_t>(q_vocab)) {
    fail("draft tree: q has {} values: expected {} nodes x {} vocab", q.size(), n, q_vocab);
  }
  if (parent[0] != -1 || depth[0] != 0) fail("draft tree: node 0 must be the root (parent -1, depth 0)");
  for (std::size_t i = 1; i < n; ++i) {
    if (parent[i] < 0 || static_cast<std::size_t>(parent[i]) >= i) {
      fail("draft tree: node {} has parent {}: parents must precede children", i, parent[i]);
    }
    if (depth[i] != depth[parent[i]] + 1) {
      fail("draft tree: node {} has depth {}: expected parent's depth + 1 = {}", i, depth[i],
           depth[parent[i]] + 1);
    }
  }
}

}  // namespace speclab
