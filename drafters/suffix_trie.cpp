#include "drafters/suffix_trie.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {


SuffixTrie::SuffixTrie(std::int32_t max_depth) : max_depth_(max_depth) {
  SPECLAB_ASSERT(max_depth >= 1);
  clear();
}

void SuffixTrie::clear() {
  count_.assign(1, 0);
  depth_.assign(1, 0);
  first_child_.assign(1, -1);
  last_child_.assign(1, -1);
  next_sibling_.assign(1, -1);
  token_.assign(1, -1);
  child_of_.clear();
  active_.clear();
}

void SuffixTrie::start_text() { active_.clear(); }

std::int32_t SuffixTrie::child(std::int32_t node, Token t) const { return child_of_.find(node, t); }

std::int32_t SuffixTrie::add_child(std::int32_t node, Token t) {
  const auto c = static_cast<std::int32_t>(count_.size());
  count_.push_back(0);
  depth_.push_back(depth_[node] + 1);
  first_child_.push_back(-1);
  last_child_.push_back(-1);
  next_sibling_.push_back(-1);
  token_.push_back(t);
  if (first_child_[node] < 0) {
    first_child_[node] = c;
  } else {
    next_sibling_[last_child_[node]] = c;
  }
  last_child_[node] = c;
  child_of_.set(node, t, c);
  return c;
}

void SuffixTrie::append(Token t) {
  // Every open suffix (and the empty one, the root) grows by t.
  next_active_.clear();
  active_.push_back(0);
  for (const std::int32_t a : active_) {
    std::int32_t c = child(a, t);
    if (c < 0) c = add_child(a, t);
    ++count_[c];
    if (depth_[c] < max_depth_) next_active_.push_back(c);
  }
  active_.swap(next_active_);
}

std::int32_t SuffixTrie::longest_suffix(std::span<const Token> context, std::int32_t max_len, std::int32_t& len) const {
  const auto n = static_cast<std::int32_t>(context.size());
  for (std::int32_t l = std::min({max_len, n, max_depth_}); l >= 1; --l) {
    std::int32_t node = 0;
    for (std::int32_t i = n - l; i < n && node >= 0; ++i) node = child(node, context[i]);
    if (node >= 0) {
      len = l;
      return node;
    }
  }
  len = 0;
  return 0;
}

}  // namespace speclab
