// Exact laws of acceptance rules (issue 15): no Monte Carlo, no re-implementation of a rule.
//
// enumerate_rule() runs the SHIPPED rule code on every random event it can meet. Every random
// choice of a rule goes through Rng::uniform() (acceptance tests `u < ratio`, inverse-CDF draws
// of residuals), whose values lie on the grid k * 2^-53. With the Rng's test hook
// (Rng::UniformScript) the enumerator feeds chosen grid values: for the t-th uniform it finds,
// by bisection on the grid, every interval of values over which the rule's outcome is constant
// (the later uniforms fixed at 0), and recurses into each with weight (interval length) * 2^-53.
// The result is the exact law of the outcome (accepted path + bonus) of the code as compiled,
// float rounding included; the only assumption is that a rule's outcome is piecewise constant
// in each uniform with one interval per decision, and that different decisions at one draw
// give different (outcome, number of draws) pairs. That holds for every rule here: an accepted
// node is on the path and a rejected one is not, distinct bonus draws are distinct tokens, and
// where two decisions can lead to the same path (spectr: rejecting a candidate and accepting a
// later one with the same token continues the same group) the rejection costs one more draw.
// enumerate_rule() checks the midpoint of every interval it reports.
//
// LawWorld is a small Markov world with exactly known laws: target rows p(. | a, b) (order 2)
// and draft rows q(. | b) (order 1), both after a sampling transform. tree_law() lists every
// draft tree a tree spec can produce with its probability (i.i.d. children, chains, k
// sequences, top-k candidates, Gumbel-top-k samples without replacement), emitted_law() the
// exact law of the first n emitted tokens of one step of (tree spec, rule) from a context,
// continued either by exact target sampling (a step with an empty tree) or by further steps of
// the same spec and rule; target_law() is the target's law of those n tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include "base/rng.h"
#include "ops/sampling.h"
#include "trees/draft_tree.h"
#include "verifiers/acceptance_rule.h"

namespace speclab::testing {

struct RuleOutcome {
  std::vector<std::int32_t> path;  // accepted nodes (path[0] = 0)
  Token bonus = -1;
  double prob = 0.0;
};

// Every outcome of rule.accept(tree, p, rng) with its exact probability (sums to 1). Calls
// rule.check_tree(tree) first. `n_runs` (optional) receives the number of rule runs made.
std::vector<RuleOutcome> enumerate_rule(const AcceptanceRule& rule, const DraftTree& tree,
                                        const TargetRows& p, std::int64_t* n_runs = nullptr);

// A small world: vocab V, target p(. | a, b) and draft q(. | b) after sampling transforms.
struct LawWorld {
  std::int32_t vocab = 0;
  std::vector<float> p;  // [V * V, V]: row a * V + b = p(. | ..., a, b)
  std::vector<float> q;  // [V, V]: row b = q(. | ..., b)
  std::span<const float> p_row(Token a, Token b) const {
    return std::span<const float>(p).subspan((static_cast<std::size_t>(a) * vocab + b) * vocab, vocab);
  }
  std::span<const float> q_row(Token b) const {
    return std::span<const float>(q).subspan(static_cast<std::size_t>(b) * vocab, vocab);
  }
};

// Random tables (stat_harness SyntheticTarget logits, scale 1.5 for p and 1.0 for q) through
// logits_to_probs with `sp` (target) and `sq` (draft), then rounded to multiples of 2^-24 that
// sum to exactly 1 (so the rows are exactly distributions and drafting from q has exactly the
// law q). At temperature 0 rows are one-hot.
LawWorld make_world(std::int32_t vocab, std::uint64_t seed, const SamplingParams& sp,
                    const SamplingParams& sq);

enum class SpecKind {
  kIid,                 // kIidSampled: branching[d] children per node at depth d, i.i.d. from q
  kDetTopK,             // kDeterministic: children = the top branching[d] tokens of q (no q rows)
  kDetRandom,           // kDeterministic: children drawn i.i.d. from q (duplicates happen)
  kWithoutReplacement,  // kWithoutReplacement: ordered samples without replacement from q
};
const char* to_string(SpecKind k);

struct TreeSpec {
  SpecKind kind = SpecKind::kIid;
  std::vector<std::int32_t> branching;  // children per node at depth 1, 2, ...
};
// k i.i.d. draft sequences of length gamma (draft-model mode=kseq): branching {k, 1, ..., 1}.
TreeSpec kseq_spec(std::int32_t k, std::int32_t gamma);

struct WeightedTree {
  DraftTree tree;
  double prob = 0.0;
};

// Every tree `spec` can produce from root token `root` with its probability (zero-probability
// trees are left out; probabilities sum to 1). q rows of sampled kinds are recorded for every
// node (q(. | node token)).
std::vector<WeightedTree> tree_law(const LawWorld& w, const TreeSpec& spec, Token root);

enum class Continue {
  kTarget,    // tokens after the first step are drawn from the target (an empty-tree step)
  kSameRule,  // further steps of the same spec and rule, until n tokens are emitted
};

// Exact law of the first n emitted tokens from context (a, b) (b = the root): index
// t_1 * V^(n-1) + ... + t_n. `rule` may be shared across calls (it is only accept()ed).
std::vector<double> emitted_law(const LawWorld& w, const TreeSpec& spec, const AcceptanceRule& rule,
                                Token a, Token b, std::int32_t n, Continue cont);
// The target's law of the next n tokens after (a, b), same indexing.
std::vector<double> target_law(const LawWorld& w, Token a, Token b, std::int32_t n);

// Total variation distance sum |x - y| / 2 and the largest cell difference.
struct LawDistance {
  double tv = 0.0, max_cell = 0.0;
};
LawDistance law_distance(std::span<const double> x, std::span<const double> y);

// Law of the token at position `pos` (0-based) and of the pair (pos_a, pos_b) from an n-token law.
std::vector<double> marginal(std::span<const double> law, std::int32_t vocab, std::int32_t n, std::int32_t pos);
std::vector<double> pair_marginal(std::span<const double> law, std::int32_t vocab, std::int32_t n,
                                  std::int32_t pos_a, std::int32_t pos_b);

// Exact probability that the first step accepts at least one draft node (depth-1 acceptance),
// averaged over the trees `spec` makes from context (a, b).
double depth1_acceptance(const LawWorld& w, const TreeSpec& spec, const AcceptanceRule& rule, Token a, Token b);

}  // namespace speclab::testing
