#include "drafters/ngram_drafter.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"

namespace speclab {

namespace {

constexpr DrafterKey kNgramKeys[] = {
    {"min_n", "1", "shortest suffix n-gram looked up, in [1, 16]"},
    {"max_n", "3", "longest suffix n-gram looked up, in [min_n, 16]"},
    {"max_matches", "4", "earlier occurrences whose continuations are merged, in [1, 1024]"},
    {"order", "recent", "recent|frequent: cut the trie in occurrence order or by shared continuations"},
};

NgramOptions read_ngram(ParamReader& r) {
  NgramOptions o;
  o.min_n = r.get_int("min_n", o.min_n, 1, 16);
  o.max_n = r.get_int("max_n", o.max_n, 1, 16);
  if (o.max_n < o.min_n) r.problem("max_n", std::to_string(o.max_n), fmt::format("must be >= min_n = {}", o.min_n));
  o.max_matches = r.get_int("max_matches", o.max_matches, 1, 1024);
  o.order = r.get_choice("order", "recent", {"recent", "frequent"}) == "recent" ? NgramOrder::kRecent
                                                                              : NgramOrder::kFrequent;
  return o;
}

const NgramOptions& ngram_options(const DrafterOptions& o) { return std::any_cast<const NgramOptions&>(o); }

}  // namespace

const DrafterKind& ngram_drafter_kind() {
  static const DrafterKind kind{
      .name = "ngram",
      .summary = "prompt lookup: continuations of earlier occurrences of the suffix n-gram, merged into a trie",
      .keys = kNgramKeys,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return read_ngram(r); },
      .check = [](const DrafterOptions&, const DrafterEnv&) {},  // parse checked every value
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<NgramDrafter>(ngram_options(o));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

NgramOptions NgramOptions::from_params(const DrafterParams& p) {
  ParamReader r(p, kNgramKeys);
  NgramOptions o = read_ngram(r);
  r.throw_if_problems();
  return o;
}

void NgramOptions::validate() const {
  if (min_n < 1 || min_n > 16) fail("drafter ngram: min_n = {}: must be in [1, 16]", min_n);
  if (max_n < min_n || max_n > 16) {
    fail("drafter ngram: max_n = {}: must be in [min_n = {}, 16]", max_n, min_n);
  }
  if (max_matches < 1 || max_matches > 1024) {
    fail("drafter ngram: max_matches = {}: must be in [1, 1024]", max_matches);
  }
}

NgramDrafter::NgramDrafter(const NgramOptions& options) : options_(options) {
  options_.validate();
  name_ = fmt::format("ngram:max_matches={},max_n={},min_n={},order={}", options_.max_matches,
                      options_.max_n, options_.min_n,
                      options_.order == NgramOrder::kRecent ? "recent" : "frequent");
  const std::int32_t n_sizes = options_.max_n - options_.min_n + 1;
  head_.assign(static_cast<std::size_t>(n_sizes) << kBucketBits, -1);
  prev_.resize(n_sizes);
}

NgramDrafter::NgramDrafter(const DrafterParams& params)
    : NgramDrafter(NgramOptions::from_params(params)) {}

void NgramDrafter::clear_index() {
  seq_.clear();
  std::fill(head_.begin(), head_.end(), -1);
  for (auto& p : prev_) p.clear();
}

std::uint32_t NgramDrafter::bucket(std::int32_t end, std::int32_t n) const {
  std::uint64_t h = 0x243F6A8885A308D3ull ^ static_cast<std::uint64_t>(n);
  for (std::int32_t i = end - n + 1; i <= end; ++i) {
    h = (h ^ static_cast<std::uint32_t>(seq_[i])) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  return static_cast<std::uint32_t>(h >> (64 - kBucketBits));
}

bool NgramDrafter::same_ngram(std::int32_t e1, std::int32_t e2, std::int32_t n) const {
  return std::memcmp(&seq_[e1 - n + 1], &seq_[e2 - n + 1], sizeof(Token) * n) == 0;
}

void NgramDrafter::sync(std::span<const Token> tokens) {
  // Longest common prefix of the indexed sequence and `tokens`; entries past it are rolled back
  // newest first (each was its bucket's head when inserted, so head = prev restores the table).
  std::size_t common = 0;
  const std::size_t n_cmp = std::min(tokens.size(), seq_.size());
  while (common < n_cmp && tokens[common] == seq_[common]) ++common;
  const std::int32_t n_sizes = options_.max_n - options_.min_n + 1;
  for (auto e = static_cast<std::int32_t>(seq_.size()) - 1; e >= static_cast<std::int32_t>(common); --e) {
    for (std::int32_t s = 0; s < n_sizes; ++s) {
      const std::int32_t n = options_.min_n + s;
      if (e >= n - 1) head_[(static_cast<std::size_t>(s) << kBucketBits) + bucket(e, n)] = prev_[s][e];
      prev_[s].pop_back();
    }
    seq_.pop_back();
  }
  for (std::size_t e = seq_.size(); e < tokens.size(); ++e) {
    seq_.push_back(tokens[e]);
    const auto end = static_cast<std::int32_t>(e);
    for (std::int32_t s = 0; s < n_sizes; ++s) {
      const std::int32_t n = options_.min_n + s;
      if (end < n - 1) {
        prev_[s].push_back(-1);
        continue;
      }
      std::int32_t& head = head_[(static_cast<std::size_t>(s) << kBucketBits) + bucket(end, n)];
      prev_[s].push_back(head);
      head = end;
    }
  }
}

void NgramDrafter::begin(std::span<const Token> prompt) {
  clear_index();
  sync(prompt);
}

void NgramDrafter::observe(const StepFeedback& fb) { sync(fb.tokens); }

void NgramDrafter::collect_matches() {
  match_end_.clear();
  const auto last = static_cast<std::int32_t>(seq_.size()) - 1;
  // Chain steps per n: enough to skip bucket collisions, bounded so a step stays cheap.
  const std::int32_t max_steps = 4 * options_.max_matches + 64;
  for (std::int32_t n = options_.max_n; n >= options_.min_n; --n) {
    if (static_cast<std::int32_t>(match_end_.size()) >= options_.max_matches) break;
    if (last < n) continue;  // an earlier occurrence needs at least n + 1 tokens
    const std::int32_t s = n - options_.min_n;
    std::int32_t steps = 0;
    for (std::int32_t e = prev_[s][last]; e >= 0 && steps < max_steps; e = prev_[s][e], ++steps) {
      if (!same_ngram(e, last, n)) continue;  // bucket collision
      if (std::find(match_end_.begin(), match_end_.end(), e) != match_end_.end()) continue;
      match_end_.push_back(e);
      if (static_cast<std::int32_t>(match_end_.size()) >= options_.max_matches) break;
    }
  }
}

void NgramDrafter::build_trie(std::int32_t max_len) {
  trie_token_.assign(1, seq_.back());
  trie_parent_.assign(1, -1);
  trie_count_.assign(1, static_cast<std::int32_t>(match_end_.size()));
  trie_child_.assign(1, -1);
  trie_sibling_.assign(1, -1);
  const auto n_seq = static_cast<std::int32_t>(seq_.size());
  for (const std::int32_t e : match_end_) {
    std::int32_t cur = 0;
    for (std::int32_t pos = e + 1; pos < n_seq && pos - e <= max_len; ++pos) {
      const Token t = seq_[pos];
      std::int32_t c = trie_child_[cur], last_child = -1;
      while (c >= 0 && trie_token_[c] != t) {
        last_child = c;
        c = trie_sibling_[c];
      }
      if (c < 0) {  // new node, appended after its existing siblings (preference order)
        c = static_cast<std::int32_t>(trie_token_.size());
        trie_token_.push_back(t);
        trie_parent_.push_back(cur);
        trie_count_.push_back(0);
        trie_child_.push_back(-1);
        trie_sibling_.push_back(-1);
        if (last_child < 0) trie_child_[cur] = c; else trie_sibling_[last_child] = c;
      }
      ++trie_count_[c];
      cur = c;
    }
  }
}

void NgramDrafter::emit(const DraftBudget& budget, DraftTree& out) {
  const auto n_trie = static_cast<std::int32_t>(trie_token_.size());
  order_.clear();
  for (std::int32_t i = 1; i < n_trie; ++i) order_.push_back(i);
  if (options_.order == NgramOrder::kFrequent) {
    // count(child) <= count(parent) and parents are created first, so this order lists every
    // node after its parent: any prefix of it is a valid tree.
    std::sort(order_.begin(), order_.end(), [&](std::int32_t a, std::int32_t b) {
      return trie_count_[a] != trie_count_[b] ? trie_count_[a] > trie_count_[b] : a < b;
    });
  }
  trie_out_.assign(n_trie, -1);
  trie_out_[0] = 0;
  const float total = static_cast<float>(std::max<std::size_t>(match_end_.size(), 1));
  const std::int32_t n_take = std::min<std::int32_t>(budget.max_nodes, n_trie - 1);
  for (std::int32_t k = 0; k < n_take; ++k) {
    const std::int32_t i = order_[k];
    const std::int32_t par = trie_out_[trie_parent_[i]];
    SPECLAB_ASSERT(par >= 0);
    trie_out_[i] = out.add(trie_token_[i], par, std::log(trie_count_[i] / total));
  }
}

DraftFacts NgramDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  out.reset(ctx.tokens.back(), ChildSampling::kDeterministic);
  sync(ctx.tokens);
  if (budget.max_nodes <= 0) return {};
  const std::int32_t max_len = budget.max_depth > 0 ? budget.max_depth : budget.max_nodes;
  collect_matches();
  if (match_end_.empty()) return {};
  build_trie(max_len);
  emit(budget, out);
  return {};
}

}  // namespace speclab
