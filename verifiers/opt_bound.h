// The gap to the optimum: how much of the draft set at the root any lossless rule could accept.
//
// For a draft set S (random: k draws from q; or fixed candidates) and a target p, a lossless
// rule outputs Y ~ p and accepts at depth 1 iff Y is in S, so its depth-1 acceptance is at most
// the best coupling's: max P(Y in S) = min over token sets A of [p(V \ A) + P(S meets A)]
// (a max-flow / min-cut duality; the question of SpecTr, Sun et al. 2023; Khisti et al. 2024,
// "Multi-Draft Speculative Sampling: Canonical Architectures and Theoretical Limits"; Hu et al.
// 2025). Every set A gives an upper bound; opt_accept_bound() takes the best of the nested sets
// A_t = {x : p(x) / q(x) >= t} over 1024 log-spaced ratio thresholds t (tokens with q = 0 < p
// are always in A, tokens with p = 0 never), evaluated exactly: a CERTIFIED upper bound on the
// optimum, within rounding. For a fixed candidate set the optimum is p(S) exactly (A = V \ S).
//
// P(S meets A), a = q(A): i.i.d. draws 1 - (1 - a)^k; draws without replacement (successive
// sampling) at most 1 - prod_{j<k} max(0, 1 - a / (1 - M_j)), M_j = the j largest q outside A
// (the j-th draw lands in A with probability a / (1 - q(earlier draws)) <= a / (1 - M_j)), so the
// bound stays certified.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "base/types.h"
#include "trees/draft_tree.h"

namespace speclab {

enum class DraftSetLaw { kIid, kWithoutReplacement };

// P(S meets A) for |A|'s q-mass `a`, k draws: exact for kIid. For kWithoutReplacement the
// certified upper bound above with `top_outside` = the largest q values outside A, descending
// (at least k - 1 of them, fewer when fewer exist).
double meet_probability(double a, std::int32_t k, DraftSetLaw law, std::span<const double> top_outside);

// Scratch buffers (no allocation once reserved for the vocabulary and the largest k).
struct OptBoundScratch {
  std::vector<std::int32_t> bucket_of, count, order;
  std::vector<double> bucket_p, bucket_q, top;
  void reserve(std::size_t vocab, std::size_t max_k);
};

// Certified upper bound on the optimal depth-1 acceptance of k draws from q (rows of one
// vocabulary). k >= 1.
double opt_accept_bound(std::span<const float> p, std::span<const float> q, std::int32_t k, DraftSetLaw law,
                        OptBoundScratch& scratch);

// p(S) for the distinct tokens of `set`: the optimum for fixed candidates.
double fixed_set_acceptance(std::span<const float> p, std::span<const Token> set);

// The bound of one verified tree at its root: opt_accept_bound for kIidSampled /
// kWithoutReplacement trees with q rows (k = the root's children), p(root children) for
// kDeterministic trees; NaN when the root has no children or a sampled tree has no q rows.
// `p_root` is the target row of node 0. `tokens` is scratch.
double root_accept_bound(const DraftTree& tree, std::span<const float> p_root, OptBoundScratch& scratch,
                         std::vector<Token>& tokens);

}  // namespace speclab
