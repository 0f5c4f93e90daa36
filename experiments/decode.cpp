#include "experiments/decode.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "base/error.h"
#include "experiments/cost_policy.h"
#include "experiments/target_session.h"
#include "verifiers/opt_bound.h"
#include "verifiers/rules.h"

namespace speclab {

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kEos: return "eos";
    case StopReason::kBos: return "bos";
    case StopReason::kContextFull: return "context_full";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void check_options(const DecodeOptions& o) {
  o.sampling.validate();
  if (o.max_new_tokens < 0 || o.max_new_tokens > kMaxNewTokensLimit) {
    fail("max_new_tokens = {}: must be in [0, {}]", o.max_new_tokens, kMaxNewTokensLimit);
  }
  if (o.budget.max_nodes < 0 || o.budget.max_nodes > kMaxBudgetLimit) {
    fail("budget = {}: must be in [0, {}] draft nodes per step", o.budget.max_nodes, kMaxBudgetLimit);
  }
  if (o.budget.max_depth < 0 || o.budget.max_depth > kMaxDepthLimit) {
    fail("depth cap = {}: must be in [0, {}] (0 = unlimited)", o.budget.max_depth, kMaxDepthLimit);
  }
}

// Reserves every result array for the longest possible run, so that steps never allocate:
// every step emits at least one token, so there are at most min(max_new, room) steps (room =
// context left after the prompt), each with at most min(budget, room) depths; accepted nodes are
// emitted tokens, except in the last step, where a stop may cut the accepted path (up to
// `depth` more ranks than tokens).
void reserve(DecodeResult& r, const DecodeOptions& o, std::int32_t room) {
  room = std::max(room, 0);
  const std::size_t steps = std::min(o.max_new_tokens, room), depth = std::min(o.budget.max_nodes, room);
  r.tokens.reserve(steps);
  r.steps.reserve(steps);
  r.drafted_by_depth.reserve(steps * (o.budget.max_depth > 0 ? std::min<std::size_t>(depth, o.budget.max_depth) : depth));
  r.accepted_rank.reserve(steps + depth);
}

// Sibling rank of `node`: its index among its parent's children (tree index order).
std::int32_t sibling_rank(const DraftTree& tree, std::int32_t node) {
  std::int32_t rank = 0;
  for (std::int32_t j = node - 1; j > tree.parent[node]; --j) rank += tree.parent[j] == tree.parent[node];
  return rank;
}

// The drafter contract (drafters/drafter.h), checked on every proposal with always-on asserts:
// a drafter that breaks it is a bug, not bad input.
void check_proposal(const DraftTree& tree, const DraftFacts& facts, const DraftBudget& budget, Token root,
                    std::int32_t cached_before, std::int32_t cached_after) {
  SPECLAB_ASSERT(tree.size() >= 1 && tree.token[0] == root);
  SPECLAB_ASSERT(tree.size() - 1 <= budget.max_nodes);
  SPECLAB_ASSERT(budget.max_depth == 0 || tree.max_depth() <= budget.max_depth);
  SPECLAB_ASSERT(facts.n_resume >= 0 && facts.n_resume <= tree.size());
  SPECLAB_ASSERT(cached_after == cached_before + facts.n_resume);
}

// Fills the step's shape: nodes per depth and the accepted nodes' sibling ranks.
void record_shape(const DraftTree& tree, const Acceptance& acc, StepRecord& rec, DecodeResult& r) {
  rec.n_drafted = tree.size() - 1;
  rec.tree_depth = tree.max_depth();
  rec.n_accepted = acc.n_accepted();
  rec.bonus = acc.bonus;
  rec.depth_offset = static_cast<std::int32_t>(r.drafted_by_depth.size());
  r.drafted_by_depth.resize(r.drafted_by_depth.size() + rec.tree_depth, 0);
  for (std::int32_t i = 1; i < tree.size(); ++i) ++r.drafted_by_depth[rec.depth_offset + tree.depth[i] - 1];
  rec.rank_offset = static_cast<std::int32_t>(r.accepted_rank.size());
  for (std::size_t k = 1; k < acc.path.size(); ++k) r.accepted_rank.push_back(sibling_rank(tree, acc.path[k]));
}

// Appends the accepted tokens then the bonus to `seq` and the result, stopping at BOS / EOS
// (not emitted) or at the token limit; true when the sequence is finished.
bool emit(const DraftTree& tree, const Acceptance& acc, const ModelInfo& info, const DecodeOptions& o,
          std::vector<Token>& seq, StepRecord& rec, DecodeResult& r) {
  for (std::size_t k = 1; k <= acc.path.size(); ++k) {
    const Token t = k < acc.path.size() ? tree.token[acc.path[k]] : acc.bonus;
    if (o.stop_at_bos && t == info.bos_id) {
      r.stop = StopReason::kBos;
      return true;
    }
    if (o.stop_at_eos && info.is_eos(t)) {
      r.stop = StopReason::kEos;
      return true;
    }
    seq.push_back(t);
    r.tokens.push_back(t);
    ++rec.n_emitted;
    if (static_cast<std::int32_t>(r.tokens.size()) >= o.max_new_tokens) {
      r.stop = StopReason::kMaxTokens;
      return true;
    }
  }
  return false;
}

}  // namespace

DecodeResult decode(LanguageModel& target, Drafter* drafter, const AcceptanceRule* rule,
                    std::span<const Token> prompt, const DecodeOptions& options) {
  const ModelInfo& info = target.info();
  check_options(options);
  if (rule) check_rule_sampling(*rule, options.sampling);
  DecodeResult result;
  const std::int32_t room =
      info.max_seq_len - static_cast<std::int32_t>(std::min<std::size_t>(prompt.size(), info.max_seq_len));
  reserve(result, options, room);
  std::vector<Token> seq(prompt.begin(), prompt.end());
  seq.reserve(prompt.size() + std::min(options.max_new_tokens, room));
  Rng rng(options.seed);
  Rng draft_rng = rng.split();
  DefaultRules default_rules(options.sampling.greedy());
  DraftTree tree;
  Acceptance acc;
  acc.path.reserve(std::min(options.budget.max_nodes, std::max(room, 0)) + 1);
  OptBoundScratch bound_scratch;
  std::vector<Token> bound_tokens;
  bound_scratch.reserve(info.vocab_size, options.budget.max_nodes);
  bound_tokens.reserve(options.budget.max_nodes);

  const DrafterNeeds needs = drafter ? drafter->needs() : DrafterNeeds{};
  TargetSession session(target, needs);
  std::optional<CostBudgetPolicy> policy;
  if (options.cost_profile) {
    policy.emplace(*options.cost_profile);
    policy->begin();
  }
  const bool prunable = !needs.fixed_tree && !needs.self_speculative;
  const auto t_prefill = Clock::now();
  session.prefill(prompt);
  if (drafter) drafter->begin(prompt);
  result.prefill_ms = ms_since(t_prefill);

  const auto t_decode = Clock::now();
  bool stopped = options.max_new_tokens == 0;
  while (!stopped) {
    if (session.room() < 0) {
      result.stop = StopReason::kContextFull;
      break;
    }
    StepRecord rec;
    // Draft: a tree rooted at the last accepted token, within the budget and the context.
    const auto t_draft = Clock::now();
    DraftBudget budget{std::min(options.budget.max_nodes, session.room()), options.budget.max_depth};
    const std::int32_t cached = target.n_cached();
    if (policy && drafter) budget = policy->budget(budget, cached, prunable);
    DraftFacts facts;
    if (drafter && budget.max_nodes > 0) {
      facts = drafter->propose(session.draft_context(seq, options.sampling, draft_rng), budget, tree);
      check_proposal(tree, facts, budget, seq.back(), cached, target.n_cached());
      if (policy) policy->prune(tree, cached, prunable && facts.n_resume == 0);
    } else {
      tree.reset(seq.back());
    }
    rec.draft_ms = ms_since(t_draft);
    rec.exit_layer = facts.exit_layer;

    // Verify: one target forward, the rule picks the accepted path and the bonus token.
    // A root-only tree (nothing drafted: no room, or a budget policy chose 0) has no children
    // for the given rule to test: every lossless rule then samples the bonus from the target,
    // which the default rule does without asking for children of a kind.
    const AcceptanceRule& step_rule = rule && tree.size() > 1 ? *rule : default_rules.for_tree(tree.children);
    step_rule.check_tree(tree);
    const auto t_verify = Clock::now();
    session.verify(tree, facts, options.sampling, step_rule, rng, acc);
    rec.verify_ms = ms_since(t_verify);
    record_shape(tree, acc, rec, result);
    if (policy) policy->observe(tree, acc);
    if (tree.size() > 1) {
      rec.opt_accept_bound = root_accept_bound(tree, session.probs().first(info.vocab_size), bound_scratch, bound_tokens);
    }

    // Emit the accepted tokens and the bonus; then the drafter learns from the verification.
    stopped = emit(tree, acc, info, options, seq, rec, result);
    result.steps.push_back(rec);
    if (drafter && !stopped) drafter->observe(session.feedback(tree, acc, seq));
  }
  result.decode_ms = ms_since(t_decode);
  return result;
}

}  // namespace speclab
