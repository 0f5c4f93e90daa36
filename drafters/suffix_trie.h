// A bounded-depth suffix trie with occurrence counts: every substring of the inserted texts of
// length <= max_depth is a path from the root, and count(node) = how many times that substring
// occurs (the structure suffix decoding speculates from: Oliaro et al. 2024, "SuffixDecoding:
// Extreme Speculative Decoding for Emerging AI Applications"; ArcticInference's suffix tree,
// bounded by its max depth). Texts are appended token by token (append), each text separately
// (start_text: no substring spans two texts). O(max_depth) per token.
//
// Flat storage: nodes in parallel vectors, children as singly linked lists (insertion order)
// plus a NodeTokenMap (node, token) -> child. clear() keeps every capacity.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "base/types.h"
#include "drafters/node_token_map.h"

namespace speclab {

class SuffixTrie {
 public:
  explicit SuffixTrie(std::int32_t max_depth = 64);

  void clear();
  void start_text();  // the next append begins a new text
  void append(Token t);

  std::int32_t max_depth() const { return max_depth_; }
  std::int32_t root() const { return 0; }
  std::int32_t child(std::int32_t node, Token t) const;  // -1 when absent
  std::int32_t count(std::int32_t node) const { return count_[node]; }
  std::int32_t depth(std::int32_t node) const { return depth_[node]; }
  Token token(std::int32_t node) const { return token_[node]; }
  std::int32_t first_child(std::int32_t node) const { return first_child_[node]; }
  std::int32_t next_sibling(std::int32_t node) const { return next_sibling_[node]; }
  std::int32_t n_nodes() const { return static_cast<std::int32_t>(count_.size()); }
  // The node of the longest suffix of `context` of length <= max_len present in the trie
  // (root for none); `len` receives its length.
  std::int32_t longest_suffix(std::span<const Token> context, std::int32_t max_len, std::int32_t& len) const;

 private:
  std::int32_t add_child(std::int32_t node, Token t);

  std::int32_t max_depth_;
  std::vector<std::int32_t> count_, depth_, first_child_, last_child_, next_sibling_;
  std::vector<Token> token_;
  NodeTokenMap child_of_;  // (node, token) -> child
  std::vector<std::int32_t> active_, next_active_;  // nodes of the current text's open suffixes
};

}  // namespace speclab
