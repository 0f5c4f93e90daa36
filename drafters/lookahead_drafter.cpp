#include "drafters/lookahead_drafter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "ops/sampling.h"

namespace speclab {

namespace {

constexpr DrafterKey kLookaheadKeys[] = {
    {"window", "5", "W: Jacobi guesses in the lookahead chain, in [1, 64]"},
    {"ngram", "4", "N: n-gram size of the pool (N-1 tokens follow the key), in [2, 16]"},
    {"candidates", "5", "G: pool n-grams verified per step and kept per first token, in [0, 64]"},
    {"prompt_pool", "1", "0|1: seed the pool with the prompt's n-grams (LADE's POOL_FROM_PROMPT)"},
    {"output_pool", "0", "0|1: also pool the n-grams of the emitted text, every step"},
    {"first", "candidates", "candidates|window: which part takes the budget first (T = 0)"},
};

constexpr std::uint64_t kFillSeed = 0x4C4F4F4B41484541ull;  // "LOOKAHEA"

LookaheadOptions read_lookahead(ParamReader& r, const DrafterEnv& env) {
  LookaheadOptions o;
  o.window = r.get_int("window", o.window, 1, 64);
  o.ngram = r.get_int("ngram", o.ngram, 2, 16);
  o.candidates = r.get_int("candidates", o.candidates, 0, 64);
  o.prompt_pool = r.get_bool("prompt_pool", o.prompt_pool);
  o.output_pool = r.get_bool("output_pool", o.output_pool);
  o.candidates_first = r.get_choice("first", "candidates", {"candidates", "window"}) == "candidates";
  if (env.target != nullptr) o.vocab = env.target->vocab_size;
  return o;
}

const LookaheadOptions& lookahead_options(const DrafterOptions& o) {
  return std::any_cast<const LookaheadOptions&>(o);
}

}  // namespace

const DrafterKind& lookahead_drafter_kind() {
  static const DrafterKind kind{
      .name = "lookahead",
      .summary = "Lookahead decoding: a Jacobi window chain + n-grams from its trajectory; SJD chains at T > 0",
      .keys = kLookaheadKeys,
      .parse = [](ParamReader& r, const DrafterEnv& env) -> DrafterOptions { return read_lookahead(r, env); },
      .check = [](const DrafterOptions&, const DrafterEnv&) {},  // parse checked every value
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<LookaheadDrafter>(lookahead_options(o));
      },
      // As propose(): fixed candidates when greedy, else the SJD chain sampled from q rows.
      .children = [](const DrafterOptions&, const SamplingParams& s) {
        return s.greedy() ? ChildSampling::kDeterministic : ChildSampling::kIidSampled;
      },
  };
  return kind;
}

void LookaheadOptions::validate() const {
  if (window < 1 || window > 64) fail("drafter lookahead: window = {}: must be in [1, 64]", window);
  if (ngram < 2 || ngram > 16) fail("drafter lookahead: ngram = {}: must be in [2, 16]", ngram);
  if (candidates < 0 || candidates > 64) fail("drafter lookahead: candidates = {}: must be in [0, 64]", candidates);
  if (vocab < 0) fail("drafter lookahead: vocab = {}: must be >= 0", vocab);
}

LookaheadDrafter::LookaheadDrafter(const LookaheadOptions& options) : options_(options) {
  options_.validate();
  name_ = fmt::format("lookahead:candidates={},first={},ngram={},output_pool={},prompt_pool={},window={}",
                      options_.candidates, options_.candidates_first ? "candidates" : "window", options_.ngram,
                      options_.output_pool ? 1 : 0, options_.prompt_pool ? 1 : 0, options_.window);
  tail_ = options_.ngram - 1;
  guess_.assign(options_.window, 0);
  pred_.assign(options_.window + 1, 0);
  chain_node_.assign(options_.window + 1, 0);
  gram_.assign(tail_, 0);
  if (options_.vocab > 0) size_buffers(options_.vocab);
}

void LookaheadDrafter::size_buffers(std::int32_t vocab) {
  vocab_ = vocab;
  rows_.assign(static_cast<std::size_t>(options_.window) * vocab, 0.0f);
  n_slots_ = options_.candidates > 0 ? std::min(vocab, kMaxPoolKeys) : 0;
  key_slot_.assign(options_.candidates > 0 ? vocab : 0, -1);
  slot_key_.assign(n_slots_, -1);
  slot_count_.assign(n_slots_, 0);
  slot_tails_.assign(static_cast<std::size_t>(n_slots_) * options_.candidates * tail_, 0);
  n_used_ = next_slot_ = 0;
  scratch_.reserve(vocab);
}

Token LookaheadDrafter::fill_token() {
  if (prompt_.empty()) return 0;
  return prompt_[fill_rng_.below(prompt_.size())];
}

void LookaheadDrafter::refill_from(std::int32_t j0) {
  for (std::int32_t j = j0; j < options_.window; ++j) guess_[j] = fill_token();
}

void LookaheadDrafter::begin(std::span<const Token> prompt) {
  prompt_.assign(prompt.begin(), prompt.end());
  fill_rng_.reseed(kFillSeed);
  expected_len_ = prompt.size();
  n_rows_ = 0;
  chain_len_ = 0;
  refill_from(0);
  for (std::int32_t s = 0; s < n_used_; ++s) {
    key_slot_[slot_key_[s]] = -1;
    slot_key_[s] = -1;
    slot_count_[s] = 0;
  }
  n_used_ = next_slot_ = 0;
  seed_from_prompt();
}

void LookaheadDrafter::seed_from_prompt() {
  if (!options_.prompt_pool || n_slots_ == 0) return;
  const auto n = static_cast<std::int32_t>(prompt_.size());
  for (std::int32_t p = 0; p + tail_ < n; ++p) pool_insert(prompt_[p], &prompt_[p + 1]);
}

void LookaheadDrafter::pool_insert(Token key, const Token* rest) {
  if (n_slots_ == 0 || key < 0 || key >= static_cast<Token>(key_slot_.size())) return;
  std::int32_t slot = key_slot_[key];
  if (slot < 0) {
    slot = next_slot_;
    next_slot_ = (next_slot_ + 1) % n_slots_;
    if (slot < n_used_) {
      key_slot_[slot_key_[slot]] = -1;  // evict the oldest key
    } else {
      ++n_used_;
    }
    key_slot_[key] = slot;
    slot_key_[slot] = key;
    slot_count_[slot] = 0;
  }
  const std::int32_t g = options_.candidates;
  Token* tails = &slot_tails_[static_cast<std::size_t>(slot) * g * tail_];
  std::int32_t& count = slot_count_[slot];
  const std::size_t bytes = sizeof(Token) * tail_;
  std::int32_t at = 0;
  while (at < count && std::memcmp(tails + static_cast<std::size_t>(at) * tail_, rest, bytes) != 0) ++at;
  if (at == count) {  // new: drop the oldest when full
    at = std::min(count, g - 1);
    count = std::min(count + 1, g);
  }
  // Entries 0..at-1 move down one; the n-gram goes to the front (most recent first).
  std::memmove(tails + tail_, tails, bytes * at);
  std::memcpy(tails, rest, bytes);
}

std::vector<std::vector<Token>> LookaheadDrafter::pool_entries(Token key) const {
  std::vector<std::vector<Token>> out;
  if (key < 0 || key >= static_cast<Token>(key_slot_.size()) || key_slot_[key] < 0) return out;
  const std::int32_t slot = key_slot_[key];
  const Token* tails = &slot_tails_[static_cast<std::size_t>(slot) * options_.candidates * tail_];
  for (std::int32_t e = 0; e < slot_count_[slot]; ++e) {
    out.emplace_back(tails + static_cast<std::size_t>(e) * tail_, tails + static_cast<std::size_t>(e + 1) * tail_);
  }
  return out;
}

DraftFacts LookaheadDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  greedy_ = ctx.sampling == nullptr || ctx.sampling->greedy();
  const Token root = ctx.tokens.back();
  if (!greedy_ && vocab_ == 0) {
    fail("drafter lookahead: temperature > 0 needs the target's vocab size (LookaheadOptions::vocab)");
  }
  if (greedy_) out.reset(root, ChildSampling::kDeterministic);
  else out.reset(root, ChildSampling::kIidSampled, vocab_);
  chain_len_ = 0;
  // Not the sequence the guesses follow (a rewound loop), or rows of the other mode: start over.
  if (ctx.tokens.size() != expected_len_ || (n_rows_ > 0 && rows_greedy_ != greedy_)) {
    expected_len_ = ctx.tokens.size();
    n_rows_ = 0;
    refill_from(0);
  }
  chain_node_[0] = 0;
  if (budget.max_nodes <= 0) return {};
  std::int32_t w = std::min(options_.window, budget.max_nodes);
  if (budget.max_depth > 0) w = std::min(w, budget.max_depth);
  if (greedy_) {
    chain_len_ = propose_greedy(root, w, budget, out);
  } else {
    propose_sampled(ctx, w, out);
    chain_len_ = w;
  }
  return {};
}

namespace {

// The child of `node` holding `t`, or -1.
std::int32_t child_with(const DraftTree& tree, std::int32_t node, Token t) {
  for (std::int32_t c = node + 1; c < tree.size(); ++c) {
    if (tree.parent[c] == node && tree.token[c] == t) return c;
  }
  return -1;
}

}  // namespace

std::int32_t LookaheadDrafter::add_chain(std::int32_t w, std::int32_t max_nodes, DraftTree& out) {
  std::int32_t j = 1;
  for (; j <= w; ++j) {
    std::int32_t c = child_with(out, chain_node_[j - 1], guess_[j - 1]);
    if (c < 0) {
      if (out.size() - 1 >= max_nodes) break;
      c = out.add(guess_[j - 1], chain_node_[j - 1], 0.0f);
    }
    chain_node_[j] = c;
  }
  return j - 1;
}

void LookaheadDrafter::add_candidates(Token root, std::int32_t max_nodes, std::int32_t max_depth, DraftTree& out) {
  if (n_slots_ == 0 || root < 0 || root >= static_cast<Token>(key_slot_.size())) return;
  const std::int32_t slot = key_slot_[root];
  if (slot < 0) return;
  const std::int32_t len = max_depth > 0 ? std::min(tail_, max_depth) : tail_;
  const Token* tails = &slot_tails_[static_cast<std::size_t>(slot) * options_.candidates * tail_];
  for (std::int32_t e = 0; e < slot_count_[slot]; ++e) {
    const Token* gram = tails + static_cast<std::size_t>(e) * tail_;
    std::int32_t cur = 0;
    for (std::int32_t d = 0; d < len; ++d) {
      std::int32_t next = child_with(out, cur, gram[d]);
      if (next < 0) {
        if (out.size() - 1 >= max_nodes) return;
        next = out.add(gram[d], cur, 0.0f);
      }
      cur = next;
    }
  }
}

std::int32_t LookaheadDrafter::propose_greedy(Token root, std::int32_t w, const DraftBudget& budget, DraftTree& out) {
  if (options_.candidates_first) {
    // Candidates within the budget less one node, then the window merged into the trie.
    add_candidates(root, budget.max_nodes - 1, budget.max_depth, out);
    return add_chain(w, budget.max_nodes, out);
  }
  const std::int32_t placed = add_chain(w, budget.max_nodes, out);
  add_candidates(root, budget.max_nodes, budget.max_depth, out);
  return placed;
}

void LookaheadDrafter::propose_sampled(const DraftContext& ctx, std::int32_t w, DraftTree& out) {
  float score = 0.0f;
  for (std::int32_t j = 1; j <= w; ++j) {
    const std::span<float> q = out.q_row_mut(j - 1);
    Token x;
    if (j <= n_rows_) {  // SJD: drawn from the previous iteration's distribution at this position
      const std::span<const float> logits(&rows_[static_cast<std::size_t>(j - 1) * vocab_], vocab_);
      logits_to_probs(logits, *ctx.sampling, q, scratch_);
      x = sample_from(q, *ctx.rng);
    } else {  // a fill token: a point mass
      x = guess_[j - 1];
      q[x] = 1.0f;
    }
    const float qx = q[x];
    score += std::log(std::max(qx, 1e-30f));
    chain_node_[j] = out.add(x, j - 1, score, qx);  // may reallocate q: `q` is not used after this
  }
}

void LookaheadDrafter::observe(const StepFeedback& fb) {
  SPECLAB_ASSERT(fb.tree != nullptr && fb.acceptance != nullptr);
  if (vocab_ == 0 && fb.vocab > 0) {
    size_buffers(fb.vocab);
    seed_from_prompt();  // begin() could not: the pool had no size yet
  }
  if (fb.vocab != vocab_) fail("drafter lookahead: feedback vocab {} differs from the drafter's {}", fb.vocab, vocab_);
  const DraftTree& tree = *fb.tree;
  const std::int32_t w = std::min(chain_len_, tree.size() - 1);
  const std::int32_t k = fb.acceptance->n_accepted();
  const std::size_t old_len = std::min(expected_len_, fb.tokens.size());
  expected_len_ = fb.tokens.size();
  auto row = [&](std::int32_t i) {
    return std::span<const float>(fb.logits).subspan(static_cast<std::size_t>(i) * vocab_, vocab_);
  };
  // Next iteration: new guess j (1-based) comes from old chain row k + j.
  n_rows_ = std::clamp(w - k, 0, options_.window);
  rows_greedy_ = greedy_;
  if (greedy_) {
    for (std::int32_t i = 0; i <= w; ++i) pred_[i] = argmax(row(chain_node_[i]));
    for (std::int32_t j = 1; j <= n_rows_; ++j) guess_[j - 1] = pred_[k + j];
    // n-grams: (c_{i-N+2}, ..., c_i, pred_i) for chain depths i >= N-2 (c_0 = root).
    if (n_slots_ > 0) {
      for (std::int32_t i = tail_ - 1; i <= w; ++i) {
        const std::int32_t first = i - tail_ + 1;
        for (std::int32_t t = 1; t < tail_; ++t) gram_[t - 1] = tree.token[chain_node_[first + t]];
        gram_[tail_ - 1] = pred_[i];
        pool_insert(tree.token[chain_node_[first]], gram_.data());
      }
    }
    // The emitted text's n-grams (ending at each new token), the most recent last.
    if (options_.output_pool && n_slots_ > 0) {
      const std::span<const Token> seq = fb.tokens;
      for (std::size_t e = std::max<std::size_t>(old_len, tail_); e < seq.size(); ++e) {
        pool_insert(seq[e - tail_], &seq[e - tail_ + 1]);
      }
    }
  } else {
    for (std::int32_t j = 1; j <= n_rows_; ++j) {
      const std::span<const float> r = row(chain_node_[k + j]);
      std::copy(r.begin(), r.end(), rows_.begin() + static_cast<std::ptrdiff_t>(j - 1) * vocab_);
    }
  }
  refill_from(n_rows_);
}

}  // namespace speclab
