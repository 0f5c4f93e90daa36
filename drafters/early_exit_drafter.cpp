#include "drafters/early_exit_drafter.h"

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "base/error.h"
#include "ops/sampling.h"

namespace speclab {

namespace {

// Top probability of softmax(logits) (temperature 1) and log of the softmax at `token`.
struct ExitStats {
  float top_prob;
  float log_prob_token;
};

ExitStats exit_stats(std::span<const float> logits, Token token) {
  float mx = logits[0];
  for (float v : logits) mx = std::max(mx, v);
  double z = 0.0;
  for (float v : logits) z += std::exp(static_cast<double>(v) - mx);
  return {static_cast<float>(1.0 / z),
          static_cast<float>(static_cast<double>(logits[token]) - mx - std::log(z))};
}

}  // namespace

std::shared_ptr<const HeadNet> load_exit_adapters(const std::string& dir,
                                                  std::shared_ptr<const LlamaWeights> weights,
                                                  std::string_view drafter) {
  if (dir.empty()) fail("drafter {}: adapters = '': must name a heads directory", drafter);
  if (!weights) {
    fail("drafter {}: adapters = {}: exit adapters need the target's weights (final norm + "
         "classifier, fingerprint check): only a Llama-family target has them",
         drafter, dir);
  }
  std::shared_ptr<const HeadNet> net;
  try {
    net = std::make_shared<const HeadNet>(load_heads(dir, std::move(weights)));
  } catch (const Error& e) {
    fail("drafter {}: adapters = {}: {}", drafter, dir, e.what());
  }
  if (net->config().kind != HeadKind::kExitAdapter) {
    fail("drafter {}: adapters = {}: heads of kind {}: need exit-adapter heads (speclab "
         "train-heads --kind exit-adapter)",
         drafter, dir, to_string(net->config().kind));
  }
  return net;
}

ExitChainEngine::ExitChainEngine(const ModelInfo& target, std::shared_ptr<const HeadNet> adapters)
    : info_(target), adapters_(std::move(adapters)) {
  if (!adapters_) return;
  const HeadConfig& c = adapters_->config();
  if (c.kind != HeadKind::kExitAdapter) {
    fail("drafter early-exit: heads of kind {} given as exit adapters: need exit-adapter heads",
         to_string(c.kind));
  }
  const ModelInfo& t = adapters_->target().info;
  if (c.dim != info_.dim || c.vocab != info_.vocab_size || t.n_layers != info_.n_layers) {
    fail("drafter early-exit: exit adapters for a target with dim {}, vocab {}, {} layers ({}): "
         "the drafter's target {} has dim {}, vocab {}, {} layers",
         c.dim, c.vocab, t.n_layers, t.source, info_.source, info_.dim, info_.vocab_size,
         info_.n_layers);
  }
  adapter_of_.assign(static_cast<std::size_t>(std::max(info_.n_layers, 0)), -1);
  for (std::int32_t l = 1; l < info_.n_layers; ++l) adapter_of_[l] = adapters_->adapter_index(l);
  adapter_logits_.resize(info_.vocab_size);
  head_scratch_.a.reserve(info_.dim);
  head_scratch_.b.reserve(info_.dim);
}

std::span<const float> ExitChainEngine::hidden(std::int32_t r, std::int32_t l) const {
  SPECLAB_ASSERT(r >= 0 && r < n_run_ && l >= 1 && l < exit_layer_);
  const std::size_t dim = info_.dim;
  return std::span<const float>(hidden_).subspan(
      (static_cast<std::size_t>(r) * info_.n_layers + l) * dim, dim);
}

std::span<const std::int32_t> ExitChainEngine::selectors(std::int32_t e, bool keep_hidden) const {
  const std::span<const std::int32_t> all = selectors_[e];  // 1..e
  const bool adapted = adapter_of(e) >= 0;
  if (keep_hidden) return adapted ? all : all.first(e - 1);
  return adapted ? all.subspan(e - 1, 1) : all.first(0);
}

void ExitChainEngine::reserve(std::int32_t max_d, bool keep_hidden) {
  const std::int32_t n_layers = info_.n_layers;
  const std::size_t dim = info_.dim;
  if (fwd_.size() != static_cast<std::size_t>(n_layers)) {
    fwd_.resize(n_layers);
    selectors_.resize(n_layers);
    for (std::int32_t e = 1; e < n_layers; ++e) {
      for (std::int32_t l = 1; l <= e; ++l) selectors_[e].push_back(l);
    }
  }
  for (std::int32_t e = 1; e < n_layers; ++e) {
    if (adapter_of(e) < 0) fwd_[e].logits.reserve(info_.vocab_size);
    const std::size_t n_sel = selectors(e, keep_hidden).size();
    if (fwd_[e].hidden.size() < n_sel) {
      fwd_[e].hidden.resize(n_sel);
      for (auto& h : fwd_[e].hidden) h.reserve(dim);
    }
  }
  if (keep_hidden && hidden_.size() < static_cast<std::size_t>(max_d) * n_layers * dim) {
    hidden_.resize(static_cast<std::size_t>(max_d) * n_layers * dim);
  }
  reserved_d_ = std::max(reserved_d_, max_d);
}

DraftFacts ExitChainEngine::draft(const DraftContext& ctx, const DraftBudget& budget,
                            const ExitRound& round, DraftTree& out) {
  if (ctx.target == nullptr) {
    fail("drafter early-exit: no target in the draft context: self-speculative drafters need "
         "the target model (the decode loop passes it)");
  }
  const std::int32_t n_layers = info_.n_layers;
  if (round.exit_layer < 1 || round.exit_layer >= n_layers) {
    fail("drafter early-exit: exit = {}: must be in [1, n_layers = {})", round.exit_layer,
         n_layers);
  }
  SPECLAB_ASSERT(round.max_d >= 1);
  LanguageModel& target = *ctx.target;
  const std::int32_t vocab = info_.vocab_size;
  const bool greedy = ctx.sampling->greedy();
  out.reset(ctx.tokens.back(), greedy ? ChildSampling::kDeterministic : ChildSampling::kIidSampled,
            greedy ? 0 : vocab);
  n_run_ = 0;
  exit_layer_ = round.exit_layer;
  std::int32_t d = std::min(round.max_d, budget.max_nodes);
  if (budget.max_depth > 0) d = std::min(d, budget.max_depth);
  if (d <= 0) return {};

  const std::int32_t E = round.exit_layer;
  const bool hidden_short =
      round.keep_hidden &&
      hidden_.size() < static_cast<std::size_t>(d) * n_layers * static_cast<std::size_t>(info_.dim);
  if (fwd_.size() != static_cast<std::size_t>(n_layers) || d > reserved_d_ || hidden_short) {
    reserve(std::max(d, reserved_d_), round.keep_hidden);
  }
  // The tree's arrays hold reserved_d_ + 1 nodes from the first round on.
  const std::size_t nodes = static_cast<std::size_t>(reserved_d_) + 1;
  out.token.reserve(nodes);
  out.parent.reserve(nodes);
  out.depth.reserve(nodes);
  out.score.reserve(nodes);
  out.q_token.reserve(nodes);
  if (!greedy) out.q.reserve(nodes * vocab);
  const std::size_t dim = info_.dim;
  ForwardOutput& fwd = fwd_[E];
  const std::int32_t adapter = adapter_of(E);
  const std::span<const std::int32_t> sel = selectors(E, round.keep_hidden);
  const std::int32_t n_before = target.n_cached();
  Token tok = ctx.tokens.back();
  std::int32_t pos = static_cast<std::int32_t>(ctx.tokens.size()) - 1;
  std::int32_t node = 0;
  float score = 0.0f;
  for (std::int32_t k = 1; k <= d; ++k) {
    // Run the newest tree row (root, then each drafted token) through the first E layers.
    ForwardBatch batch;
    batch.tokens = std::span<const Token>(&tok, 1);
    batch.positions = std::span<const std::int32_t>(&pos, 1);
    // With an adapter: no logits (the classifier runs once, in the adapter), the residual
    // after E layers instead (the last selector).
    batch.all_logits = adapter < 0;
    batch.exit_layer = E;
    batch.hidden_layers = sel;
    target.forward(batch, fwd);
    if (round.keep_hidden) {
      for (std::int32_t l = 1; l < E; ++l) {
        std::copy_n(fwd.hidden[l - 1].begin(), dim,
                    hidden_.begin() + (static_cast<std::size_t>(n_run_) * n_layers + l) * dim);
      }
    }
    ++n_run_;
    std::span<const float> logits;
    if (adapter >= 0) {
      adapters_->logits(adapter, fwd.hidden[sel.size() - 1], {}, 1, adapter_logits_,
                        head_scratch_);
      logits = adapter_logits_;
    } else {
      logits = fwd.row(0);
    }
    Token x;
    float qx = 1.0f;
    if (greedy) {
      x = argmax(logits);
    } else {
      logits_to_probs(logits, *ctx.sampling, out.q_row_mut(node), scratch_);
      x = sample_from(out.q_row(node), *ctx.rng);
      qx = out.q_row(node)[x];
    }
    const ExitStats st = exit_stats(logits, x);
    if (k > 1 && st.top_prob < round.threshold) break;  // low confidence: stop drafting here
    score += greedy ? st.log_prob_token : std::log(std::max(qx, 1e-30f));
    node = out.add(x, node, score, qx);
    tok = x;
    ++pos;
  }
  if (!round.kv_reuse) target.truncate(n_before);
  return DraftFacts{round.kv_reuse ? n_run_ : 0, E};
}

namespace {

constexpr DrafterKey kEarlyExitKeys[] = {
    {"exit", "1", "exit layer E the chain is drafted at, in [1, n_layers)"},
    {"d", "4", "tokens drafted per step at most, in [1, 64]"},
    {"threshold", "0", "stop drafting below this top probability of the exit distribution, in [0, 1]"},
    {"kv_reuse", "1", "1|0: the verifier resumes the drafted rows from layer E instead of recomputing"},
    {"adapters", "", "DIR: exit adapters trained for the target (train-heads --kind exit-adapter)",
     OptionalFile::kHeadsDir},
};

const EarlyExitOptions& early_exit_options_of(const DrafterOptions& o) {
  return std::any_cast<const EarlyExitOptions&>(o);
}

std::unique_ptr<Drafter> make_early_exit(const DrafterOptions& options, const DrafterEnv& env) {
  SPECLAB_ASSERT(env.target != nullptr);
  const EarlyExitOptions& o = early_exit_options_of(options);
  std::shared_ptr<const HeadNet> adapters;
  if (!o.adapters.empty()) adapters = load_exit_adapters(o.adapters, env.target_weights, "early-exit");
  return std::make_unique<EarlyExitDrafter>(*env.target, o, std::move(adapters));
}

}  // namespace

EarlyExitOptions early_exit_options(ParamReader& r, const ModelInfo& target) {
  EarlyExitOptions o;
  if (target.n_layers < 2) {
    r.problem(fmt::format("drafter early-exit: target {} has n_layers = {}: early exit needs at least 2",
                          target.source, target.n_layers));
    return o;
  }
  o.exit_layer = r.get_int("exit", 1, 1, target.n_layers - 1);
  o.draft_len = r.get_int("d", 4, 1, 64);
  o.threshold = r.get_double("threshold", 0.0, 0.0, 1.0);
  o.kv_reuse = r.get_bool("kv_reuse", true);
  o.adapters = r.get_string("adapters", "");
  return o;
}

const DrafterKind& early_exit_drafter_kind() {
  static const DrafterKind kind{
      .name = "early-exit",
      .summary = "LayerSkip self-speculation: the target's first E layers draft a chain, verified with KV reuse",
      .keys = kEarlyExitKeys,
      .parse = [](ParamReader& r, const DrafterEnv& env) -> DrafterOptions {
        SPECLAB_ASSERT(env.target != nullptr);
        return early_exit_options(r, *env.target);
      },
      // Cheap to build without adapters; building checks the exit layer against the adapters.
      .check = [](const DrafterOptions& o, const DrafterEnv& env) { make_early_exit(o, env); },
      .make = make_early_exit,
      // As ExitChainEngine::draft: argmax chains when greedy, else drawn from the exit's q.
      .children = [](const DrafterOptions&, const SamplingParams& s) {
        return s.greedy() ? ChildSampling::kDeterministic : ChildSampling::kIidSampled;
      },
  };
  return kind;
}

EarlyExitDrafter::EarlyExitDrafter(const ModelInfo& target, EarlyExitOptions options,
                                   std::shared_ptr<const HeadNet> adapters)
    : opt_(std::move(options)), engine_(target, std::move(adapters)) {
  if (opt_.exit_layer < 1 || opt_.exit_layer >= target.n_layers) {
    fail("drafter early-exit: exit = {}: must be in [1, n_layers = {})", opt_.exit_layer,
         target.n_layers);
  }
  if (opt_.draft_len < 1) fail("drafter early-exit: d = {}: must be >= 1", opt_.draft_len);
  if (!(opt_.threshold >= 0.0 && opt_.threshold <= 1.0)) {
    fail("drafter early-exit: threshold = {}: must be in [0, 1]", opt_.threshold);
  }
  if (!opt_.adapters.empty() && engine_.adapters() == nullptr) {
    fail("drafter early-exit: adapters = {}: not loaded (build the drafter with make_drafter and "
         "the target's weights in DrafterEnv)",
         opt_.adapters);
  }
  if (engine_.adapters() != nullptr && engine_.adapter_of(opt_.exit_layer) < 0) {
    const auto& layers = engine_.adapters()->config().exit_layers;
    fail("drafter early-exit: exit = {}: the exit adapters{}{} have no adapter for layer {} "
         "(adapted layers: {})",
         opt_.exit_layer, opt_.adapters.empty() ? "" : " in ", opt_.adapters, opt_.exit_layer,
         fmt::join(layers, ", "));
  }
}

DraftFacts EarlyExitDrafter::propose(const DraftContext& ctx, const DraftBudget& budget,
                               DraftTree& out) {
  return engine_.draft(ctx, budget,
                       ExitRound{opt_.exit_layer, opt_.draft_len, opt_.threshold, opt_.kv_reuse, false}, out);
}

}  // namespace speclab
