// A flat hash map (node, token) -> int32, open addressing with linear probing, load <= 1/2; the
// transition tables of the suffix automaton and the suffix trie. clear() keeps the capacity, so
// rebuilding a structure of the same size allocates nothing.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/types.h"

namespace speclab {

class NodeTokenMap {
 public:
  NodeTokenMap() : keys_(kInitialSlots, kEmpty), values_(kInitialSlots, -1) {}

  void clear() {
    std::fill(keys_.begin(), keys_.end(), kEmpty);
    n_used_ = 0;
  }

  // The value stored for (node, t), or -1.
  std::int32_t find(std::int32_t node, Token t) const {
    const std::uint64_t key = key_of(node, t);
    for (std::size_t i = slot_of(key);; i = (i + 1) & mask()) {
      if (keys_[i] == key) return values_[i];
      if (keys_[i] == kEmpty) return -1;
    }
  }

  // Stores value for (node, t), replacing any earlier value.
  void set(std::int32_t node, Token t, std::int32_t value) {
    const std::uint64_t key = key_of(node, t);
    std::size_t i = slot_of(key);
    for (; keys_[i] != kEmpty; i = (i + 1) & mask()) {
      if (keys_[i] == key) {
        values_[i] = value;
        return;
      }
    }
    if (2 * (n_used_ + 1) > keys_.size()) {
      grow();
      for (i = slot_of(key); keys_[i] != kEmpty; i = (i + 1) & mask()) {
      }
    }
    keys_[i] = key;
    values_[i] = value;
    ++n_used_;
  }

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  static constexpr std::size_t kInitialSlots = 1024;

  static std::uint64_t key_of(std::int32_t node, Token t) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(node)) << 32) | static_cast<std::uint32_t>(t);
  }
  std::size_t mask() const { return keys_.size() - 1; }
  std::size_t slot_of(std::uint64_t key) const {
    key *= 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(key ^ (key >> 31)) & mask();
  }
  void grow() {
    std::vector<std::uint64_t> keys(keys_.size() * 2, kEmpty);
    std::vector<std::int32_t> values(keys.size(), -1);
    keys.swap(keys_);
    values.swap(values_);
    for (std::size_t j = 0; j < keys.size(); ++j) {
      if (keys[j] == kEmpty) continue;
      std::size_t i = slot_of(keys[j]);
      while (keys_[i] != kEmpty) i = (i + 1) & mask();
      keys_[i] = keys[j];
      values_[i] = values[j];
    }
  }

  std::vector<std::uint64_t> keys_;
  std::vector<std::int32_t> values_;
  std::size_t n_used_ = 0;
};

}  // namespace speclab
