#include "drafters/suffix_drafter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace speclab {

namespace {

constexpr DrafterKey kSuffixKeys[] = {
    {"max_depth", "64", "depth of the suffix tries (match + continuation), in [4, 256]"},
    {"spec_factor", "1", "adaptive size: at most ceil(spec_factor x match length) nodes, in [0.1, 64]"},
    {"min_prob", "0.1", "smallest estimated continuation probability drafted, in [0, 1]"},
    {"min_match", "1", "shortest suffix match (tokens) that drafts, in [1, 64]"},
    {"state", "cold", "cold|warm: request trie only, or also a global trie of earlier outputs"},
};

SuffixOptions read_suffix(ParamReader& r) {
  SuffixOptions o;
  o.max_depth = r.get_int("max_depth", o.max_depth, 4, 256);
  o.spec_factor = r.get_double("spec_factor", o.spec_factor, 0.1, 64.0);
  o.min_prob = r.get_double("min_prob", o.min_prob, 0.0, 1.0);
  o.min_match = r.get_int("min_match", o.min_match, 1, 64);
  o.warm = r.get_choice("state", "cold", {"cold", "warm"}) == "warm";
  return o;
}

const SuffixOptions& suffix_options(const DrafterOptions& o) { return std::any_cast<const SuffixOptions&>(o); }

}  // namespace

const DrafterKind& suffix_drafter_kind() {
  static const DrafterKind kind{
      .name = "suffix",
      .summary = "suffix decoding: frequency-scored trees from suffix tries of the request and (warm) earlier outputs",
      .keys = kSuffixKeys,
      .cross_prompt_state = true,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return read_suffix(r); },
      .check = [](const DrafterOptions&, const DrafterEnv&) {},  // parse checked every value
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<SuffixDrafter>(suffix_options(o));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

void SuffixOptions::validate() const {
  if (max_depth < 4 || max_depth > 256) fail("drafter suffix: max_depth = {}: must be in [4, 256]", max_depth);
  if (!(spec_factor >= 0.1 && spec_factor <= 64.0)) {
    fail("drafter suffix: spec_factor = {}: must be in [0.1, 64]", spec_factor);
  }
  if (!(min_prob >= 0.0 && min_prob <= 1.0)) fail("drafter suffix: min_prob = {}: must be in [0, 1]", min_prob);
  if (min_match < 1 || min_match > 64) fail("drafter suffix: min_match = {}: must be in [1, 64]", min_match);
}

SuffixDrafter::SuffixDrafter(const SuffixOptions& options)
    : options_(options), local_(options.max_depth), global_(options.max_depth) {
  options_.validate();
  name_ = fmt::format("suffix:max_depth={},min_match={},min_prob={},spec_factor={},state={}", options_.max_depth,
                      options_.min_match, options_.min_prob, options_.spec_factor, options_.warm ? "warm" : "cold");
}

void SuffixDrafter::begin(std::span<const Token> prompt) {
  if (options_.warm && seq_.size() > prompt_len_) {  // the previous request's output joins the global trie
    global_.start_text();
    for (std::size_t i = prompt_len_; i < seq_.size(); ++i) global_.append(seq_[i]);
    global_used_ = true;
  }
  if (!options_.warm) {
    global_.clear();
    global_used_ = false;
  }
  local_.clear();
  seq_.clear();
  prompt_len_ = prompt.size();
  sync(prompt);
}

void SuffixDrafter::sync(std::span<const Token> tokens) {
  const bool extends = seq_.size() <= tokens.size() && std::equal(seq_.begin(), seq_.end(), tokens.begin());
  if (!extends) {  // a rewound sequence (never in a normal decode): rebuild the request trie
    local_.clear();
    seq_.clear();
  }
  for (std::size_t i = seq_.size(); i < tokens.size(); ++i) {
    seq_.push_back(tokens[i]);
    local_.append(tokens[i]);
  }
}

void SuffixDrafter::observe(const StepFeedback& fb) { sync(fb.tokens); }

double SuffixDrafter::speculate(const SuffixTrie& trie, const DraftBudget& budget, DraftTree& out) {
  out.reset(seq_.back(), ChildSampling::kDeterministic);
  std::int32_t len = 0;
  // The sequence's own last occurrence ends the text, so in the request trie a match must also
  // occur earlier: count >= 2 there (every occurrence but the last has a continuation).
  const bool own = &trie == &local_;
  std::int32_t match = trie.longest_suffix(seq_, options_.max_depth / 2, len);
  while (own && len > 0 && trie.count(match) < 2) {
    match = trie.longest_suffix(std::span<const Token>(seq_).last(static_cast<std::size_t>(len - 1)), len - 1, len);
  }
  if (len < options_.min_match || trie.count(match) == 0) return 0.0;
  const auto size_cap = static_cast<std::int32_t>(std::ceil(options_.spec_factor * len));
  const std::int32_t max_nodes = std::min(budget.max_nodes, size_cap);
  const std::int32_t max_depth = budget.max_depth > 0 ? budget.max_depth : budget.max_nodes;
  const auto by_p = [](const Candidate& a, const Candidate& b) { return a.p < b.p; };
  heap_.clear();
  const float total = static_cast<float>(trie.count(match));
  for (std::int32_t c = trie.first_child(match); c >= 0; c = trie.next_sibling(c)) {
    heap_.push_back({static_cast<float>(trie.count(c)) / total, c, 0});
    std::push_heap(heap_.begin(), heap_.end(), by_p);
  }
  double expected = 0.0;
  while (!heap_.empty() && out.size() - 1 < max_nodes) {
    std::pop_heap(heap_.begin(), heap_.end(), by_p);
    const Candidate best = heap_.back();
    heap_.pop_back();
    if (best.p < options_.min_prob) break;
    const std::int32_t node = out.add(trie.token(best.trie_node), best.parent, std::log(best.p));
    expected += best.p;
    if (out.depth[node] >= max_depth || trie.depth(best.trie_node) >= trie.max_depth()) continue;
    const float n = static_cast<float>(trie.count(best.trie_node));
    for (std::int32_t c = trie.first_child(best.trie_node); c >= 0; c = trie.next_sibling(c)) {
      heap_.push_back({best.p * static_cast<float>(trie.count(c)) / n, c, node});
      std::push_heap(heap_.begin(), heap_.end(), by_p);
    }
  }
  return expected;
}

DraftFacts SuffixDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  sync(ctx.tokens);
  out.reset(ctx.tokens.back(), ChildSampling::kDeterministic);
  if (budget.max_nodes <= 0) return {};
  const double own = speculate(local_, budget, out);
  if (global_used_) {
    const double other = speculate(global_, budget, scratch_);
    if (other > own) out = scratch_;
  }
  return {};
}

}  // namespace speclab
