#include "drafters/suffix_automaton.h"

#include <algorithm>

#include "base/error.h"

namespace speclab {


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
  edge_of_.clear();
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

std::int32_t SuffixAutomaton::find_edge(std::int32_t s, Token t) const { return edge_of_.find(s, t); }

std::int32_t SuffixAutomaton::go(std::int32_t s, Token t) const {
  const std::int32_t e = find_edge(s, t);
  return e < 0 ? -1 : edge_to_[e];
}

void SuffixAutomaton::set_transition(std::int32_t s, Token t, std::int32_t to) {
  if (const std::int32_t e = edge_of_.find(s, t); e >= 0) {
    edge_to_[e] = to;
    return;
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
  edge_of_.set(s, t, e);
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
