#include "drafters/suffix_trie.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {

namespace {

constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
constexpr std::size_t kInitialSlots = 1024;

std::uint64_t key_of(std::int32_t node, Token t) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(node)) << 32) | static_cast<std::uint32_t>(t);
}

std::size_t hash_of(std::uint64_t key, std::size_t mask) {
  key *= 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(key ^ (key >> 31)) & mask;
}

}  // namespace

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
  if (slot_key_.empty()) {
    slot_key_.assign(kInitialSlots, kEmpty);
    slot_node_.assign(kInitialSlots, -1);
  } else {
    std::fill(slot_key_.begin(), slot_key_.end(), kEmpty);
  }
  n_used_ = 0;
  active_.clear();
}

void SuffixTrie::start_text() { active_.clear(); }

std::int32_t SuffixTrie::child(std::int32_t node, Token t) const {
  const std::uint64_t key = key_of(node, t);
  const std::size_t mask = slot_key_.size() - 1;
  for (std::size_t i = hash_of(key, mask);; i = (i + 1) & mask) {
    if (slot_key_[i] == key) return slot_node_[i];
    if (slot_key_[i] == kEmpty) return -1;
  }
}

void SuffixTrie::grow_table() {
  const std::size_t n = slot_key_.size() * 2;
  std::vector<std::uint64_t> keys(n, kEmpty);
  std::vector<std::int32_t> nodes(n, -1);
  for (std::size_t i = 0; i < slot_key_.size(); ++i) {
    if (slot_key_[i] == kEmpty) continue;
    std::size_t j = hash_of(slot_key_[i], n - 1);
    while (keys[j] != kEmpty) j = (j + 1) & (n - 1);
    keys[j] = slot_key_[i];
    nodes[j] = slot_node_[i];
  }
  slot_key_.swap(keys);
  slot_node_.swap(nodes);
}

std::int32_t SuffixTrie::add_child(std::int32_t node, Token t) {
  if (2 * (n_used_ + 1) > slot_key_.size()) grow_table();
  const std::uint64_t key = key_of(node, t);
  const std::size_t mask = slot_key_.size() - 1;
  std::size_t i = hash_of(key, mask);
  while (slot_key_[i] != kEmpty) i = (i + 1) & mask;
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
  slot_key_[i] = key;
  slot_node_[i] = c;
  ++n_used_;
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
