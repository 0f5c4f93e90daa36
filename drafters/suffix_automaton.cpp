#include "drafters/suffix_automaton.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {

namespace {

constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
constexpr std::size_t kInitialSlots = 1024;

std::uint64_t key_of(std::int32_t s, Token t) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(s)) << 32) | static_cast<std::uint32_t>(t);
}

std::size_t hash_of(std::uint64_t key, std::size_t mask) {
  key *= 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(key ^ (key >> 31)) & mask;
}

}  // namespace

void SuffixAutomaton::clear() {
  text_.clear();
  len_.clear();
  link_.clear();
  firstpos_.clear();
  first_edge_.clear();
  last_edge_.clear();
  edge_token_.clear();
  edge_to_.clear();
  edge_next_.clear();
  if (slot_key_.empty()) {
    slot_key_.assign(kInitialSlots, kEmpty);
    slot_edge_.assign(kInitialSlots, -1);
  } else {
    std::fill(slot_key_.begin(), slot_key_.end(), kEmpty);
  }
  n_used_ = 0;
  last_ = new_state(0, -1, -1);
}

std::int32_t SuffixAutomaton::new_state(std::int32_t len, std::int32_t link, std::int32_t firstpos) {
  len_.push_back(len);
  link_.push_back(link);
  firstpos_.push_back(firstpos);
  first_edge_.push_back(-1);
  last_edge_.push_back(-1);
  return static_cast<std::int32_t>(len_.size()) - 1;
}

std::int32_t SuffixAutomaton::find_edge(std::int32_t s, Token t) const {
  const std::uint64_t key = key_of(s, t);
  const std::size_t mask = slot_key_.size() - 1;
  for (std::size_t i = hash_of(key, mask);; i = (i + 1) & mask) {
    if (slot_key_[i] == key) return slot_edge_[i];
    if (slot_key_[i] == kEmpty) return -1;
  }
}

std::int32_t SuffixAutomaton::go(std::int32_t s, Token t) const {
  const std::int32_t e = find_edge(s, t);
  return e < 0 ? -1 : edge_to_[e];
}

void SuffixAutomaton::grow_table() {
  const std::size_t n = slot_key_.size() * 2;
  std::vector<std::uint64_t> keys(n, kEmpty);
  std::vector<std::int32_t> edges(n, -1);
  for (std::size_t i = 0; i < slot_key_.size(); ++i) {
    if (slot_key_[i] == kEmpty) continue;
    std::size_t j = hash_of(slot_key_[i], n - 1);
    while (keys[j] != kEmpty) j = (j + 1) & (n - 1);
    keys[j] = slot_key_[i];
    edges[j] = slot_edge_[i];
  }
  slot_key_.swap(keys);
  slot_edge_.swap(edges);
}

void SuffixAutomaton::set_transition(std::int32_t s, Token t, std::int32_t to) {
  const std::uint64_t key = key_of(s, t);
  std::size_t mask = slot_key_.size() - 1;
  std::size_t i = hash_of(key, mask);
  for (; slot_key_[i] != kEmpty; i = (i + 1) & mask) {
    if (slot_key_[i] == key) {
      edge_to_[slot_edge_[i]] = to;
      return;
    }
  }
  if (2 * (n_used_ + 1) > slot_key_.size()) {  // load factor <= 1/2
    grow_table();
    mask = slot_key_.size() - 1;
    for (i = hash_of(key, mask); slot_key_[i] != kEmpty; i = (i + 1) & mask) {
    }
  }
  const auto e = static_cast<std::int32_t>(edge_to_.size());
  edge_token_.push_back(t);
  edge_to_.push_back(to);
  edge_next_.push_back(-1);
  // Appended at the end of s's list: transitions stay in insertion order.
  if (first_edge_[s] < 0) {
    first_edge_[s] = e;
  } else {
    edge_next_[last_edge_[s]] = e;
  }
  last_edge_[s] = e;
  slot_key_[i] = key;
  slot_edge_[i] = e;
  ++n_used_;
}

void SuffixAutomaton::extend(Token t) {
  const auto pos = static_cast<std::int32_t>(text_.size());
  text_.push_back(t);
  const std::int32_t cur = new_state(len_[last_] + 1, 0, pos);
  std::int32_t p = last_;
  while (p >= 0 && find_edge(p, t) < 0) {
    set_transition(p, t, cur);
    p = link_[p];
  }
  if (p >= 0) {
    const std::int32_t q = go(p, t);
    if (len_[p] + 1 == len_[q]) {
      link_[cur] = q;
    } else {
      const std::int32_t clone = new_state(len_[p] + 1, link_[q], firstpos_[q]);
      for (std::int32_t e = first_edge_[q]; e >= 0; e = edge_next_[e]) {
        set_transition(clone, edge_token_[e], edge_to_[e]);
      }
      while (p >= 0 && go(p, t) == q) {
        set_transition(p, t, clone);
        p = link_[p];
      }
      link_[q] = clone;
      link_[cur] = clone;
    }
  }
  last_ = cur;
}

}  // namespace speclab
