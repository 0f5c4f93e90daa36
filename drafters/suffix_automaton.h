// An online suffix automaton over token ids (Blumer et al. 1985; the SAM of SAM-Decoding, Hu et
// al. 2024, "SAM Decoding: Speculative Decoding via Suffix Automaton"). Every substring of the
// text is a path from state 0; a state is a class of substrings with the same set of end
// positions. Kept per state: len (longest string of the class), link (suffix link), firstpos
// (end position of the class's first occurrence). extend() adds one token in amortised O(1).
//
// Flat storage: states in parallel vectors; transitions as edges in a per-state singly linked
// list (for cloning) plus a NodeTokenMap (state, token) -> edge for lookups. clear()
// keeps every capacity, so a cold drafter that rebuilds the same text allocates nothing.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "base/types.h"
#include "drafters/node_token_map.h"

namespace speclab {

class SuffixAutomaton {
 public:
  SuffixAutomaton() { clear(); }

  void clear();
  void extend(Token t);
  void extend(std::span<const Token> tokens) {
    for (Token t : tokens) extend(t);
  }

  // State reached from `s` by `t`, or -1.
  std::int32_t go(std::int32_t s, Token t) const;

  std::span<const Token> text() const { return text_; }
  std::int32_t last() const { return last_; }
  std::int32_t len(std::int32_t s) const { return len_[s]; }
  std::int32_t link(std::int32_t s) const { return link_[s]; }
  std::int32_t firstpos(std::int32_t s) const { return firstpos_[s]; }
  std::int32_t n_states() const { return static_cast<std::int32_t>(len_.size()); }

  // Outgoing transitions of `s` (token, target) in insertion order: visit(token, target).
  template <class F>
  void for_each_transition(std::int32_t s, F&& visit) const {
    for (std::int32_t e = first_edge_[s]; e >= 0; e = edge_next_[e]) visit(edge_token_[e], edge_to_[e]);
  }

  // The state of the longest suffix of the text that also ends at an earlier position (the
  // suffix link of the whole text's state), 0 when none (then len = 0).
  std::int32_t longest_repeated_suffix() const { return last_ == 0 ? 0 : link_[last_]; }

 private:
  std::int32_t new_state(std::int32_t len, std::int32_t link, std::int32_t firstpos);
  std::int32_t find_edge(std::int32_t s, Token t) const;
  void set_transition(std::int32_t s, Token t, std::int32_t to);  // adds or redirects

  std::vector<Token> text_;
  std::vector<std::int32_t> len_, link_, firstpos_, first_edge_, last_edge_;
  std::vector<Token> edge_token_;
  std::vector<std::int32_t> edge_to_, edge_next_;
  NodeTokenMap edge_of_;  // (state, token) -> edge
  std::int32_t last_ = 0;
};

}  // namespace speclab
