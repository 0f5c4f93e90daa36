#include "drafters/draft_model_drafter.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>

#include "base/error.h"
#include "base/json_input.h"
#include "formats/model_loader.h"
#include "model/llama_model.h"
#include "ops/sampling.h"
#include "drafters/recycling_drafter.h"
#include "trees/tree_builders.h"

namespace speclab {

namespace {

constexpr DrafterKey kDraftModelKeys[] = {
    {"model", "", "PATH: the draft model (default: --draft-model / the spec's draft_model)",
     OptionalFile::kModelFile},
    {"mode", "chain", "chain|topk|iid|swor|dynamic|kseq: tree shape and how children are chosen"},
    {"gamma", "4", "chain and kseq modes: tokens per chain, in [1, 64]"},
    {"k", "2", "kseq mode: number of i.i.d. draft sequences, in [1, 64]"},
    {"branching", "4x2x2x1x1x1", "topk/iid/swor modes: children per node at depth 1, 2, ..."},
    {"top_k", "4", "dynamic mode: children per expanded node, in [1, 64]"},
    {"expand_top", "4", "dynamic mode: nodes expanded per depth, in [1, 64]"},
    {"depth", "6", "dynamic mode: depth when the budget has no cap, in [1, 64]"},
};

// The options and the draft model file.
struct DraftModelSpec {
  DraftModelOptions options;
  std::string model_path;
};

DraftModelSpec read_draft_model(ParamReader& r, const DrafterEnv& env) {
  DraftModelSpec s;
  DraftModelOptions& o = s.options;
  o.mode = parse_draft_model_mode(r.get_choice("mode", "chain", {"chain", "topk", "iid", "swor", "dynamic", "kseq"}));
  o.gamma = r.get_int("gamma", 4, 1, 64);
  o.k = r.get_int("k", 2, 1, 64);
  o.top_k = r.get_int("top_k", o.top_k, 1, 64);
  o.expand_top = r.get_int("expand_top", o.expand_top, 1, 64);
  o.max_depth = r.get_int("depth", o.max_depth, 1, 64);
  const std::string branching = r.get_string("branching", "4x2x2x1x1x1");
  r.attempt([&] { o.branching = parse_branching(branching, "draft-model: branching"); });
  s.model_path = r.get_string("model", env.draft_model_path);
  if (s.model_path.empty()) {
    r.problem("drafter draft-model: model: no draft model given (use --draft-model PATH or draft-model:model=PATH)");
  }
  return s;
}

const DraftModelSpec& draft_model_spec(const DrafterOptions& o) { return std::any_cast<const DraftModelSpec&>(o); }

}  // namespace

const DrafterKind& draft_model_drafter_kind() {
  static const DrafterKind kind{
      .name = "draft-model",
      .summary = "a small model with the target's vocabulary drafts; its KV cache follows the accepted path",
      .keys = kDraftModelKeys,
      .parse = [](ParamReader& r, const DrafterEnv& env) -> DrafterOptions { return read_draft_model(r, env); },
      .check =
          [](const DrafterOptions& o, const DrafterEnv&) {
            const std::string& path = draft_model_spec(o).model_path;
            // error_code: a path the system cannot look up (e.g. a name over NAME_MAX) is an Error,
            // not a filesystem_error (found by fuzz/fuzz_drafter_spec.cpp).
            std::error_code ec;
            if (!std::filesystem::exists(path, ec)) {
              fail("drafter draft-model: model = {}: file not found{}", quote_untrusted(path),
                   ec ? ": " + ec.message() : std::string());
            }
          },
      .make = [](const DrafterOptions& o, const DrafterEnv& env) -> std::unique_ptr<Drafter> {
        const DraftModelSpec& s = draft_model_spec(o);
        SPECLAB_ASSERT(env.target != nullptr);
        auto model = std::make_unique<LlamaModel>(
            load_weights_shared(s.model_path, WeightLoadOptions{env.draft_dtype, env.n_threads}),
            env.n_threads);
        return std::make_unique<DraftModelDrafter>(std::move(model), env.target->vocab_size, s.options);
      },
      // As propose(): fixed top-k candidates in topk/dynamic mode, Gumbel-top-k in swor mode,
      // i.i.d. draws (argmax chains at temperature 0) otherwise.
      .children = [](const DrafterOptions& o, const SamplingParams&) {
        switch (draft_model_spec(o).options.mode) {
          case DraftModelMode::kTopK:
          case DraftModelMode::kDynamic: return ChildSampling::kDeterministic;
          case DraftModelMode::kSwor: return ChildSampling::kWithoutReplacement;
          case DraftModelMode::kChain:
          case DraftModelMode::kIid:
          case DraftModelMode::kKSeq: break;
        }
        return ChildSampling::kIidSampled;
      },
  };
  return kind;
}

DraftModelMode parse_draft_model_mode(const std::string& s) {
  if (s == "chain") return DraftModelMode::kChain;
  if (s == "topk") return DraftModelMode::kTopK;
  if (s == "iid") return DraftModelMode::kIid;
  if (s == "swor") return DraftModelMode::kSwor;
  if (s == "dynamic") return DraftModelMode::kDynamic;
  if (s == "kseq") return DraftModelMode::kKSeq;
  fail("draft-model: mode = '{}': must be one of chain, topk, iid, swor, dynamic, kseq", s);
}

const char* to_string(DraftModelMode m) {
  switch (m) {
    case DraftModelMode::kChain: return "chain";
    case DraftModelMode::kTopK: return "topk";
    case DraftModelMode::kIid: return "iid";
    case DraftModelMode::kSwor: return "swor";
    case DraftModelMode::kDynamic: return "dynamic";
    case DraftModelMode::kKSeq: return "kseq";
  }
  return "?";
}

DraftModelDrafter::DraftModelDrafter(std::unique_ptr<LanguageModel> draft,
                                     std::int32_t target_vocab, DraftModelOptions options)
    : draft_(std::move(draft)), opt_(std::move(options)) {
  SPECLAB_ASSERT(draft_ != nullptr);
  if (draft_->info().vocab_size != target_vocab) {
    fail("draft-model: {}: vocab_size = {}: must equal the target's vocab_size = {}",
         draft_->info().source, draft_->info().vocab_size, target_vocab);
  }
  if (opt_.gamma < 1) fail("draft-model: gamma = {}: must be >= 1", opt_.gamma);
  if (opt_.k < 1) fail("draft-model: k = {}: must be >= 1", opt_.k);
  if (opt_.mode == DraftModelMode::kDynamic) {
    DynamicTreeOptions{opt_.top_k, opt_.expand_top, opt_.max_depth}.validate();
  } else if (opt_.mode != DraftModelMode::kChain && opt_.mode != DraftModelMode::kKSeq) {
    if (opt_.branching.empty()) fail("draft-model: branching: empty: give at least one depth");
    for (std::int32_t b : opt_.branching) {
      if (b < 1) fail("draft-model: branching factor {}: must be >= 1", b);
    }
  }
}

void DraftModelDrafter::begin(std::span<const Token> prompt) {
  draft_->truncate(0);
  cached_.clear();
}

void DraftModelDrafter::sync(std::span<const Token> tokens) {
  const std::size_t len = tokens.size();
  std::size_t c = 0;
  while (c < cached_.size() && c + 1 < len && cached_[c] == tokens[c]) ++c;
  draft_->truncate(static_cast<std::int32_t>(c));
  cached_.resize(c);
  const std::size_t n = len - c;
  positions_.resize(n);
  for (std::size_t i = 0; i < n; ++i) positions_[i] = static_cast<std::int32_t>(c + i);
  rows_.assign(1, static_cast<std::int32_t>(n - 1));
  ForwardBatch batch;
  batch.tokens = tokens.subspan(c);
  batch.positions = positions_;
  batch.all_logits = false;
  batch.logit_rows = rows_;
  draft_->forward(batch, fwd_);
  cached_.insert(cached_.end(), tokens.begin() + c, tokens.end());
  root_logits_.assign(fwd_.logits.begin(), fwd_.logits.end());
}

DraftFacts DraftModelDrafter::propose(const DraftContext& ctx, const DraftBudget& budget,
                                DraftTree& out) {
  const std::int32_t vocab = draft_->info().vocab_size;
  const ChildSampling kind = (opt_.mode == DraftModelMode::kTopK ||
                              opt_.mode == DraftModelMode::kDynamic)
                                 ? ChildSampling::kDeterministic
                             : opt_.mode == DraftModelMode::kSwor
                                 ? ChildSampling::kWithoutReplacement
                                 : ChildSampling::kIidSampled;
  out.reset(ctx.tokens.back(), kind, vocab);
  const std::int64_t len = static_cast<std::int64_t>(ctx.tokens.size());
  // The draft must hold the sequence plus the drafted nodes (chain: depth - 1 of them at once;
  // tree: all of them in one batch).
  if (budget.max_nodes <= 0 || len + budget.max_nodes > draft_->info().max_seq_len) return {};
  sync(ctx.tokens);
  if (opt_.mode == DraftModelMode::kChain) {
    propose_chain(ctx, budget, out);
  } else if (opt_.mode == DraftModelMode::kDynamic) {
    propose_dynamic(ctx, budget, out);
  } else if (opt_.mode == DraftModelMode::kKSeq) {
    // k sequences of equal length within the budget: branching {k', 1, ..., 1}.
    const std::int32_t k = std::min(opt_.k, budget.max_nodes);
    std::int32_t gamma = std::min(opt_.gamma, budget.max_nodes / k);
    if (budget.max_depth > 0) gamma = std::min(gamma, budget.max_depth);
    kseq_branching_.assign(gamma, 1);
    kseq_branching_[0] = k;
    propose_tree(ctx, budget, kseq_branching_, out);
  } else {
    propose_tree(ctx, budget, opt_.branching, out);
  }
  return {};
}

void DraftModelDrafter::propose_chain(const DraftContext& ctx, const DraftBudget& budget,
                                      DraftTree& out) {
  std::int32_t depth = std::min(opt_.gamma, budget.max_nodes);
  if (budget.max_depth > 0) depth = std::min(depth, budget.max_depth);
  const std::int32_t vocab = draft_->info().vocab_size;
  const bool greedy = ctx.sampling->greedy();
  std::int32_t node = 0;
  float score = 0.0f;
  std::span<const float> logits = root_logits_;
  std::int32_t pos = static_cast<std::int32_t>(ctx.tokens.size());
  for (std::int32_t d = 1; d <= depth; ++d) {
    logits_to_probs(logits, *ctx.sampling, out.q_row_mut(node), scratch_);
    const Token x = greedy ? argmax(logits) : sample_from(out.q_row(node), *ctx.rng);
    const float qx = out.q_row(node)[x];
    score += std::log(std::max(qx, 1e-30f));
    node = out.add(x, node, score, qx);
    if (d == depth) break;
    const Token tok = x;
    rows_.assign(1, 0);
    positions_.assign(1, pos++);
    ForwardBatch batch;
    batch.tokens = std::span<const Token>(&tok, 1);
    batch.positions = positions_;
    batch.all_logits = true;
    draft_->forward(batch, fwd_);
    cached_.push_back(x);
    level_logits_.assign(fwd_.logits.begin(), fwd_.logits.begin() + vocab);
    logits = level_logits_;
  }
}

void DraftModelDrafter::choose_children(const DraftContext& ctx, DraftTree& out,
                                        std::int32_t node, std::span<const float> logits,
                                        std::int32_t k, std::int32_t room) {
  const std::int32_t vocab = static_cast<std::int32_t>(logits.size());
  logits_to_probs(logits, *ctx.sampling, out.q_row_mut(node), scratch_);
  k = std::min(k, room);
  if (k <= 0) return;
  // Chosen tokens go to batch_tokens_ first: out.add() may reallocate q.
  batch_tokens_.clear();
  if (opt_.mode == DraftModelMode::kIid || opt_.mode == DraftModelMode::kKSeq) {
    for (std::int32_t j = 0; j < k; ++j) batch_tokens_.push_back(sample_from(out.q_row(node), *ctx.rng));
  } else {
    // topk: rank by draft logits; swor: Gumbel-top-k over tokens with q > 0.
    order_.resize(vocab);
    std::iota(order_.begin(), order_.end(), 0);
    keys_.resize(vocab);
    auto q = out.q_row(node);
    for (std::int32_t t = 0; t < vocab; ++t) {
      if (opt_.mode == DraftModelMode::kTopK) {
        keys_[t] = logits[t];
      } else {
        keys_[t] = q[t] > 0.0f ? std::log(static_cast<double>(q[t])) + ctx.rng->gumbel()
                               : -std::numeric_limits<double>::infinity();
      }
    }
    std::int32_t kk = std::min(k, vocab);
    if (opt_.mode == DraftModelMode::kSwor) {
      kk = std::min<std::int32_t>(kk, static_cast<std::int32_t>(
                                          std::count_if(q.begin(), q.end(), [](float v) { return v > 0.0f; })));
    }
    std::partial_sort(order_.begin(), order_.begin() + kk, order_.end(),
                      [&](std::int32_t a, std::int32_t b) {
                        return keys_[a] > keys_[b] || (keys_[a] == keys_[b] && a < b);
                      });
    batch_tokens_.assign(order_.begin(), order_.begin() + kk);
  }
  const float base = out.score[node];
  for (Token x : batch_tokens_) {
    const float qx = out.q_row(node)[x];
    out.add(x, node, base + std::log(std::max(qx, 1e-30f)), qx);
  }
}

void DraftModelDrafter::propose_tree(const DraftContext& ctx, const DraftBudget& budget,
                                     std::span<const std::int32_t> branching, DraftTree& out) {
  const std::int32_t vocab = draft_->info().vocab_size;
  std::int32_t max_depth = static_cast<std::int32_t>(branching.size());
  if (budget.max_depth > 0) max_depth = std::min(max_depth, budget.max_depth);
  const std::int32_t len = static_cast<std::int32_t>(ctx.tokens.size());
  level_nodes_.assign(1, 0);
  level_logits_.assign(root_logits_.begin(), root_logits_.end());
  for (std::int32_t d = 1; d <= max_depth; ++d) {
    next_level_.clear();
    for (std::size_t li = 0; li < level_nodes_.size(); ++li) {
      const std::int32_t room = budget.max_nodes - (out.size() - 1);
      const std::int32_t first = out.size();
      choose_children(ctx, out, level_nodes_[li],
                      std::span<const float>(level_logits_).subspan(li * vocab, vocab),
                      branching[d - 1], room);
      for (std::int32_t c = first; c < out.size(); ++c) next_level_.push_back(c);
    }
    if (next_level_.empty() || d == max_depth || out.size() - 1 >= budget.max_nodes) break;
    // One draft forward of nodes 1..n-1 (the root is cached) for the new level's logits.
    const std::int32_t n = out.size() - 1;
    batch_tokens_.assign(out.token.begin() + 1, out.token.end());
    positions_.resize(n);
    mask_.assign(static_cast<std::size_t>(n) * n, 0);
    for (std::int32_t i = 1; i <= n; ++i) {
      positions_[i - 1] = len - 1 + out.depth[i];
      for (std::int32_t a = i; a > 0; a = out.parent[a]) {
        mask_[static_cast<std::size_t>(i - 1) * n + (a - 1)] = 1;
      }
    }
    rows_.resize(next_level_.size());
    for (std::size_t r = 0; r < next_level_.size(); ++r) rows_[r] = next_level_[r] - 1;
    ForwardBatch batch;
    batch.tokens = batch_tokens_;
    batch.positions = positions_;
    batch.mask = mask_;
    batch.all_logits = false;
    batch.logit_rows = rows_;
    draft_->forward(batch, fwd_);
    draft_->truncate(len);
    level_logits_.assign(fwd_.logits.begin(), fwd_.logits.end());
    level_nodes_.swap(next_level_);
  }
}

void DraftModelDrafter::propose_dynamic(const DraftContext& ctx, const DraftBudget& budget,
                                        DraftTree& out) {
  const std::int32_t vocab = draft_->info().vocab_size;
  const std::int32_t len = static_cast<std::int32_t>(ctx.tokens.size());
  // Draft logits of `node`: the root's come from sync(); others from one forward of the path
  // root->node (the root is cached), then the cache is cut back to the sequence.
  auto candidates = [&](const DraftTree& tree, std::int32_t node, std::int32_t k,
                        std::vector<Candidate>& cands) {
    std::span<const float> logits = root_logits_;
    if (node > 0) {
      batch_tokens_.clear();
      for (std::int32_t a = node; a > 0; a = tree.parent[a]) batch_tokens_.push_back(tree.token[a]);
      std::reverse(batch_tokens_.begin(), batch_tokens_.end());
      const std::int32_t n = static_cast<std::int32_t>(batch_tokens_.size());
      positions_.resize(n);
      for (std::int32_t i = 0; i < n; ++i) positions_[i] = len + i;
      rows_.assign(1, n - 1);
      ForwardBatch batch;
      batch.tokens = batch_tokens_;
      batch.positions = positions_;
      batch.all_logits = false;
      batch.logit_rows = rows_;
      draft_->forward(batch, fwd_);
      draft_->truncate(len);
      logits = std::span<const float>(fwd_.logits).first(vocab);
    }
    // Candidates ranked by the draft's log-softmax (temperature 1: a ranking, not a sampler).
    float mx = logits[0];
    for (float v : logits) mx = std::max(mx, v);
    double z = 0.0;
    for (float v : logits) z += std::exp(double(v) - mx);
    const float log_z = static_cast<float>(mx + std::log(z));
    order_.resize(vocab);
    std::iota(order_.begin(), order_.end(), 0);
    const std::int32_t kk = std::min(k, vocab);
    std::partial_sort(order_.begin(), order_.begin() + kk, order_.end(),
                      [&](std::int32_t a, std::int32_t b) {
                        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                      });
    cands.clear();
    for (std::int32_t j = 0; j < kk; ++j) cands.push_back({order_[j], logits[order_[j]] - log_z});
  };
  build_dynamic_tree(ctx.tokens.back(), budget,
                     DynamicTreeOptions{opt_.top_k, opt_.expand_top, opt_.max_depth}, candidates,
                     out);
}

}  // namespace speclab
