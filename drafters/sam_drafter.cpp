#include "drafters/sam_drafter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/input_file.h"

namespace speclab {

namespace {

constexpr DrafterKey kSamKeys[] = {
    {"min_match", "1", "shortest matched suffix (tokens) that drafts, in [1, 64]"},
    {"branches", "3", "alternative next tokens per main-chain node, in [0, 64]"},
    {"branch_len", "4", "tokens per alternative branch, in [1, 256]"},
    {"state", "cold", "cold|warm: rebuild the automaton per prompt, or keep earlier sequences' text"},
    {"corpus", "", "PATH: a static automaton over raw little-endian int32 token ids"},
};

SamOptions read_sam(ParamReader& r, const DrafterEnv& env) {
  SamOptions o;
  o.min_match = r.get_int("min_match", o.min_match, 1, 64);
  o.branches = r.get_int("branches", o.branches, 0, 64);
  o.branch_len = r.get_int("branch_len", o.branch_len, 1, 256);
  o.warm = r.get_choice("state", "cold", {"cold", "warm"}) == "warm";
  o.corpus_path = r.get_string("corpus", "");
  if (env.target != nullptr) o.vocab = env.target->vocab_size;
  return o;
}

const SamOptions& sam_options(const DrafterOptions& o) { return std::any_cast<const SamOptions&>(o); }

std::vector<Token> read_corpus(const SamOptions& o) {
  std::string bytes;
  try {
    bytes = read_input_file(o.corpus_path, kMaxTextInputBytes, "a SAM corpus");
  } catch (const Error& e) {
    fail("drafter sam: corpus = {}: {}", o.corpus_path, e.what());
  }
  if (bytes.empty() || bytes.size() % 4 != 0) {
    fail("drafter sam: corpus = {}: size {} bytes: expected a non-empty stream of int32 ids", o.corpus_path,
         bytes.size());
  }
  std::vector<Token> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), bytes.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || (o.vocab > 0 && ids[i] >= o.vocab)) {
      fail("drafter sam: corpus = {}: token {} = {}: ids must be in [0, {})", o.corpus_path, i, ids[i],
           o.vocab > 0 ? o.vocab : 2147483647);
    }
  }
  return ids;
}

}  // namespace

const DrafterKind& sam_drafter_kind() {
  static const DrafterKind kind{
      .name = "sam",
      .summary = "SAM-Decoding: continuation of the longest earlier suffix match (suffix automaton), with branches",
      .keys = kSamKeys,
      .cross_prompt_state = true,
      .parse = [](ParamReader& r, const DrafterEnv& env) -> DrafterOptions { return read_sam(r, env); },
      // Cheap to build; building reads and checks the corpus= file.
      .check = [](const DrafterOptions& o, const DrafterEnv&) { SamDrafter d(sam_options(o)); },
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<SamDrafter>(sam_options(o));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

void SamOptions::validate() const {
  if (min_match < 1 || min_match > 64) fail("drafter sam: min_match = {}: must be in [1, 64]", min_match);
  if (branches < 0 || branches > 64) fail("drafter sam: branches = {}: must be in [0, 64]", branches);
  if (branch_len < 1 || branch_len > 256) fail("drafter sam: branch_len = {}: must be in [1, 256]", branch_len);
}

SamDrafter::SamDrafter(const SamOptions& options) : options_(options) {
  options_.validate();
  if (!options_.corpus_path.empty()) {
    corpus_.extend(read_corpus(options_));
    has_corpus_ = true;
  }
  name_ = fmt::format("sam:branch_len={},branches={},min_match={},state={}{}", options_.branch_len,
                      options_.branches, options_.min_match, options_.warm ? "warm" : "cold",
                      options_.corpus_path.empty() ? "" : ",corpus=" + options_.corpus_path);
}

void SamDrafter::begin(std::span<const Token> prompt) {
  if (!options_.warm) {
    text_.clear();
  } else if (!text_.text().empty()) {
    text_.extend(next_separator_--);  // unique: never matches, ends every continuation
  }
  seq_start_ = static_cast<std::int32_t>(text_.text().size());
  corpus_state_ = corpus_len_ = 0;
  sync(prompt);
}

void SamDrafter::match_corpus(Token t) {
  if (!has_corpus_) return;
  while (corpus_state_ != 0 && corpus_.go(corpus_state_, t) < 0) {
    corpus_state_ = corpus_.link(corpus_state_);
    corpus_len_ = corpus_.len(corpus_state_);
  }
  const std::int32_t next = corpus_.go(corpus_state_, t);
  if (next >= 0) {
    corpus_state_ = next;
    ++corpus_len_;
  } else {
    corpus_state_ = corpus_len_ = 0;
  }
}

void SamDrafter::sync(std::span<const Token> tokens) {
  const std::span<const Token> seq = text_.text().subspan(static_cast<std::size_t>(seq_start_));
  const bool extends = seq.size() <= tokens.size() && std::equal(seq.begin(), seq.end(), tokens.begin());
  if (!extends) {  // a rewound sequence: rebuild from the earlier text (never in a normal decode)
    const std::span<const Token> before = text_.text().first(static_cast<std::size_t>(seq_start_));
    rebuild_.assign(before.begin(), before.end());
    text_.clear();
    text_.extend(rebuild_);
    corpus_state_ = corpus_len_ = 0;
  }
  const std::size_t have = text_.text().size() - static_cast<std::size_t>(seq_start_);
  for (std::size_t i = have; i < tokens.size(); ++i) {
    text_.extend(tokens[i]);
    match_corpus(tokens[i]);
  }
}

void SamDrafter::observe(const StepFeedback& fb) { sync(fb.tokens); }

void SamDrafter::continue_path(const SuffixAutomaton& a, std::int32_t state, std::int32_t node, std::int32_t depth,
                               std::int32_t n, std::int32_t max_depth, std::int32_t max_nodes, DraftTree& out) {
  const std::span<const Token> text = a.text();
  for (std::int32_t k = 0; k < n && depth < max_depth && out.size() - 1 < max_nodes; ++k) {
    const auto pos = static_cast<std::size_t>(a.firstpos(state)) + 1;
    if (pos >= text.size() || text[pos] < 0) return;
    const Token t = text[pos];
    node = out.add(t, node, 0.0f);
    ++depth;
    state = a.go(state, t);
    SPECLAB_ASSERT(state >= 0);
  }
}

void SamDrafter::build_tree(const SuffixAutomaton& a, std::int32_t state, const DraftBudget& budget, DraftTree& out) {
  const std::int32_t max_nodes = budget.max_nodes;
  const std::int32_t max_depth = budget.max_depth > 0 ? budget.max_depth : budget.max_nodes;
  // Main chain, recording the automaton state of every node (root first).
  chain_state_.assign(1, state);
  chain_node_.assign(1, 0);
  chain_token_.clear();
  const std::span<const Token> text = a.text();
  while (static_cast<std::int32_t>(chain_token_.size()) < max_depth && out.size() - 1 < max_nodes) {
    const auto pos = static_cast<std::size_t>(a.firstpos(state)) + 1;
    if (pos >= text.size() || text[pos] < 0) break;
    const Token t = text[pos];
    chain_node_.push_back(out.add(t, chain_node_.back(), 0.0f));
    chain_token_.push_back(t);
    state = a.go(state, t);
    SPECLAB_ASSERT(state >= 0);
    chain_state_.push_back(state);
  }
  // Alternatives, shallowest chain node first.
  for (std::size_t d = 0; d < chain_state_.size() && out.size() - 1 < max_nodes; ++d) {
    const auto depth = static_cast<std::int32_t>(d);
    if (depth >= max_depth) break;
    const Token main = d < chain_token_.size() ? chain_token_[d] : -1;
    std::int32_t rank = 0;
    a.for_each_transition(chain_state_[d], [&](Token t, std::int32_t to) {
      if (t < 0 || t == main || rank >= options_.branches || out.size() - 1 >= max_nodes) return;
      ++rank;
      const std::int32_t node = out.add(t, chain_node_[d], -std::log(1.0f + static_cast<float>(rank)));
      continue_path(a, to, node, depth + 1, options_.branch_len - 1, max_depth, max_nodes, out);
    });
  }
}

DraftFacts SamDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  out.reset(ctx.tokens.back(), ChildSampling::kDeterministic);
  sync(ctx.tokens);
  if (budget.max_nodes <= 0) return {};
  const std::int32_t s = text_.longest_repeated_suffix();
  const std::int32_t text_len = s == 0 ? 0 : text_.len(s);
  if (has_corpus_ && corpus_len_ > text_len && corpus_len_ >= options_.min_match) {
    build_tree(corpus_, corpus_state_, budget, out);
  } else if (text_len >= options_.min_match) {
    build_tree(text_, s, budget, out);
  }
  return {};
}

}  // namespace speclab
