#include "experiments/decode.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "base/error.h"
#include "verifiers/rules.h"
#include "verifiers/tree_verifier.h"

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
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void check_prompt(const ModelInfo& info, std::span<const Token> prompt, std::int32_t capacity) {
  if (prompt.empty()) fail("prompt: empty: it needs at least one token (e.g. BOS)");
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= info.vocab_size) {
      fail("prompt: token {} at index {}: must be in [0, vocab_size = {})", prompt[i], i,
           info.vocab_size);
    }
  }
  if (static_cast<std::int64_t>(prompt.size()) > capacity) {
    fail("prompt: {} tokens: does not fit the context of {} positions", prompt.size(), capacity);
  }
}

// Sibling rank of node `node`: its index among its parent's children (tree index order).
std::int32_t sibling_rank(const DraftTree& tree, std::int32_t node) {
  std::int32_t rank = 0;
  for (std::int32_t j = node - 1; j > tree.parent[node]; --j) rank += tree.parent[j] == tree.parent[node];
  return rank;
}

}  // namespace

DecodeResult decode(LanguageModel& target, Drafter* drafter, const AcceptanceRule* rule,
                    std::span<const Token> prompt, const DecodeOptions& options) {
  const ModelInfo& info = target.info();
  const std::int32_t capacity = info.max_seq_len;
  options.sampling.validate();
  if (options.max_new_tokens < 0) fail("max_new_tokens = {}: must be >= 0", options.max_new_tokens);
  if (options.budget.max_nodes < 0) fail("budget = {}: must be >= 0", options.budget.max_nodes);
  check_prompt(info, prompt, capacity);

  DecodeResult result;
  result.tokens.reserve(options.max_new_tokens);
  result.steps.reserve(options.max_new_tokens);
  std::vector<Token> seq(prompt.begin(), prompt.end());
  seq.reserve(prompt.size() + options.max_new_tokens + options.budget.max_nodes + 1);

  Rng rng(options.seed);
  Rng draft_rng = rng.split();
  TreeVerifier verifier;
  DraftTree tree;
  Acceptance acc;
  acc.path.reserve(options.budget.max_nodes + 1);

  // Prefill everything but the last prompt token: that one is the first step's root.
  target.truncate(0);
  const auto t_prefill = Clock::now();
  const DrafterNeeds needs = drafter ? drafter->needs() : DrafterNeeds{};
  // Final-normed target hidden state of the last cached token (DraftContext::hidden).
  std::vector<float> root_hidden;
  root_hidden.reserve(info.dim);
  if (prompt.size() > 1) {
    std::vector<std::int32_t> pos(prompt.size() - 1);
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<std::int32_t>(i);
    ForwardBatch batch;
    batch.tokens = prompt.first(prompt.size() - 1);
    batch.positions = pos;
    batch.all_logits = false;
    static constexpr std::int32_t kFinal[] = {kFinalNormedHidden};
    if (needs.target_hidden) batch.hidden_layers = kFinal;
    ForwardOutput out;
    target.forward(batch, out);
    if (needs.target_hidden) {
      const std::size_t last = (prompt.size() - 2) * static_cast<std::size_t>(info.dim);
      root_hidden.assign(out.hidden[0].begin() + last, out.hidden[0].begin() + last + info.dim);
    }
  }
  if (drafter) drafter->begin(prompt);
  result.prefill_ms = ms_since(t_prefill);

  std::unique_ptr<AcceptanceRule> auto_rules[3];  // per ChildSampling, made on first use
  const TreeVerifier::Wants wants{needs.target_hidden, needs.target_layer_hidden};
  const auto t_decode = Clock::now();
  std::int32_t n_new = 0;
  while (n_new < options.max_new_tokens) {
    // The root occupies one slot; drafts must fit in what is left of the context.
    const std::int32_t room = capacity - target.n_cached() - 1;
    if (room < 0) {
      result.stop = StopReason::kContextFull;
      break;
    }
    StepRecord rec;
    rec.step = static_cast<std::int32_t>(result.steps.size());

    const auto t_draft = Clock::now();
    DraftBudget budget = options.budget;
    budget.max_nodes = std::min(budget.max_nodes, room);
    if (drafter && budget.max_nodes > 0) {
      const std::int32_t n_before = target.n_cached();
      DraftContext ctx{seq, &options.sampling, &draft_rng, root_hidden,
                       needs.self_speculative ? &target : nullptr};
      drafter->propose(ctx, budget, tree);
      SPECLAB_ASSERT(tree.size() >= 1 && tree.token[0] == seq.back());
      SPECLAB_ASSERT(tree.n_resume >= 0 && tree.n_resume <= tree.size());
      SPECLAB_ASSERT(target.n_cached() == n_before + tree.n_resume);
      SPECLAB_ASSERT(tree.size() - 1 <= budget.max_nodes);
      SPECLAB_ASSERT(budget.max_depth == 0 || tree.max_depth() <= budget.max_depth);
    } else {
      tree.reset(seq.back());
    }
    rec.draft_ms = ms_since(t_draft);
    const AcceptanceRule* step_rule = rule;
    if (!step_rule) {
      auto& slot = auto_rules[static_cast<int>(tree.children)];
      if (!slot) slot = make_rule(default_rule_for(tree.children, options.sampling.greedy()));
      step_rule = slot.get();
    }
    step_rule->check_tree(tree);

    const auto t_verify = Clock::now();
    verifier.verify(target, tree, options.sampling, *step_rule, rng, wants, acc);
    if (needs.target_hidden) {
      const auto h = verifier.hidden().subspan(
          static_cast<std::size_t>(acc.path.back()) * info.dim, info.dim);
      root_hidden.assign(h.begin(), h.end());
    }
    rec.verify_ms = ms_since(t_verify);

    rec.n_drafted = tree.size() - 1;
    rec.exit_layer = tree.draft_exit_layer;
    rec.tree_depth = tree.max_depth();
    rec.n_accepted = acc.n_accepted();
    rec.bonus = acc.bonus;
    rec.drafted_by_depth.assign(rec.tree_depth, 0);
    for (std::int32_t i = 1; i < tree.size(); ++i) ++rec.drafted_by_depth[tree.depth[i] - 1];
    rec.accepted_by_depth.assign(rec.tree_depth, 0);
    for (std::int32_t d = 0; d < rec.n_accepted; ++d) rec.accepted_by_depth[d] = 1;
    for (std::size_t k = 1; k < acc.path.size(); ++k) {
      rec.accepted_rank.push_back(sibling_rank(tree, acc.path[k]));
    }

    // Emit accepted tokens then the bonus, honouring stop conditions token by token.
    bool stopped = false;
    auto emit = [&](Token t) {
      if (stopped) return;
      if (options.stop_at_bos && t == info.bos_id) {
        result.stop = StopReason::kBos;
        stopped = true;
        return;
      }
      if (options.stop_at_eos && info.is_eos(t)) {
        result.stop = StopReason::kEos;
        stopped = true;
        return;
      }
      seq.push_back(t);
      result.tokens.push_back(t);
      ++rec.n_emitted;
      ++n_new;
      if (n_new >= options.max_new_tokens) {
        result.stop = StopReason::kMaxTokens;
        stopped = true;
      }
    };
    for (std::size_t k = 1; k < acc.path.size(); ++k) emit(tree.token[acc.path[k]]);
    emit(acc.bonus);
    result.steps.push_back(std::move(rec));
    if (stopped) break;

    if (drafter) {
      StepFeedback fb;
      fb.tree = &tree;
      fb.acceptance = &acc;
      fb.vocab = verifier.vocab();
      fb.logits = verifier.logits();
      fb.hidden_dim = info.dim;
      fb.hidden = verifier.hidden();
      fb.layer_hidden = verifier.layer_hidden();
      fb.tokens = seq;
      drafter->observe(fb);
    }
  }
  result.decode_ms = ms_since(t_decode);
  return result;
}

}  // namespace speclab
