#include "drafters/del_drafter.h"

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "base/error.h"
#include "ops/classifier.h"
#include "ops/sampling.h"
#include "drafters/recycling_drafter.h"

namespace speclab {

namespace {

constexpr DrafterKey kDelKeys[] = {
    {"max_d", "6", "longest chain per step, in [1, 64]"},
    {"threshold", "0.3", "stop drafting below this top probability of the exit distribution, in [0, 1]"},
    {"decay", "0.9", "weight of the old per-layer acceptance estimate per comparison, in [0, 1)"},
    {"layers", "", "candidate exit layers, e.g. 1-2-3 (default: all, or all adapted layers)"},
    {"alpha0", "0.9", "prior acceptance alpha_l = alpha0 * l / n_layers, in [0, 1]"},
    {"head_cost", "0", "classifier cost in layers in the TPL formula, >= 0"},
    {"kv_reuse", "1", "1|0: the verifier resumes the drafted rows from layer E instead of recomputing"},
    {"adapters", "", "DIR: exit adapters trained for the target (train-heads --kind exit-adapter)",
     OptionalFile::kHeadsDir},
};

const DelOptions& del_options_of(const DrafterOptions& o) { return std::any_cast<const DelOptions&>(o); }

std::unique_ptr<Drafter> make_del(const DrafterOptions& options, const DrafterEnv& env) {
  const DelOptions& o = del_options_of(options);
  std::shared_ptr<const HeadNet> adapters;
  if (!o.adapters.empty() && env.target_weights) adapters = load_exit_adapters(o.adapters, env.target_weights, "del");
  return std::make_unique<DelDrafter>(env.target_weights, o, std::move(adapters));
}

}  // namespace

DelOptions del_options(ParamReader& r, const ModelInfo& target) {
  const DrafterParams& p = r.params();
  DelOptions o;
  if (target.n_layers < 2) {
    r.problem(fmt::format("drafter del: target {} has n_layers = {}: early exit needs at least 2", target.source,
                          target.n_layers));
    return o;
  }
  o.max_d = r.get_int("max_d", o.max_d, 1, 64);
  o.threshold = r.get_double("threshold", o.threshold, 0.0, 1.0);
  o.decay = r.get_double("decay", o.decay, 0.0, 0.999999);
  o.alpha0 = r.get_double("alpha0", o.alpha0, 0.0, 1.0);
  o.head_cost = r.get_double("head_cost", o.head_cost, 0.0, 1000.0);
  o.kv_reuse = r.get_bool("kv_reuse", true);
  o.adapters = r.get_string("adapters", "");
  if (p.has("layers")) {
    const std::string v = r.get_string("layers", "");
    r.attempt([&] { o.layers = parse_branching(v, "drafter del: layers"); });
    for (std::int32_t l : o.layers) {
      if (l >= target.n_layers) {
        r.problem("layers", v, fmt::format("every layer must be in [1, n_layers = {})", target.n_layers));
        break;
      }
    }
  }
  return o;
}

const DrafterKind& del_drafter_kind() {
  static const DrafterKind kind{
      .name = "del",
      .summary = "DEL: early-exit chains at the exit layer and length maximising tokens per layer, from shadow tokens",
      .keys = kDelKeys,
      .parse = [](ParamReader& r, const DrafterEnv& env) -> DrafterOptions {
        SPECLAB_ASSERT(env.target != nullptr);
        return del_options(r, *env.target);
      },
      // Cheap to build without adapters; building checks the weights, layers and adapters.
      .check = [](const DrafterOptions& o, const DrafterEnv& env) { make_del(o, env); },
      .make = make_del,
      // As the early-exit engine: argmax chains when greedy, else drawn from the exit's q.
      .children = [](const DrafterOptions&, const SamplingParams& s) {
        return s.greedy() ? ChildSampling::kDeterministic : ChildSampling::kIidSampled;
      },
  };
  return kind;
}

DelDrafter::DelDrafter(std::shared_ptr<const LlamaWeights> weights, DelOptions options,
                       std::shared_ptr<const HeadNet> adapters)
    : weights_(std::move(weights)),
      opt_(std::move(options)),
      engine_(weights_ ? weights_->info : ModelInfo{}, weights_ ? std::move(adapters) : nullptr) {
  if (!weights_) {
    fail("drafter del: no target weights: DEL computes shadow tokens with the target's final "
         "norm and classifier (needs a Llama-family target)");
  }
  const ModelInfo& m = weights_->info;
  n_layers_ = m.n_layers;
  if (n_layers_ < 2) fail("drafter del: n_layers = {}: early exit needs at least 2", n_layers_);
  if (opt_.max_d < 1) fail("drafter del: max_d = {}: must be >= 1", opt_.max_d);
  if (!(opt_.decay >= 0.0 && opt_.decay < 1.0)) {
    fail("drafter del: decay = {}: must be in [0, 1)", opt_.decay);
  }
  if (!(opt_.threshold >= 0.0 && opt_.threshold <= 1.0)) {
    fail("drafter del: threshold = {}: must be in [0, 1]", opt_.threshold);
  }
  if (!(opt_.head_cost >= 0.0)) fail("drafter del: head_cost = {}: must be >= 0", opt_.head_cost);
  if (!(opt_.alpha0 >= 0.0 && opt_.alpha0 <= 1.0)) {
    fail("drafter del: alpha0 = {}: must be in [0, 1]", opt_.alpha0);
  }
  const HeadNet* net = engine_.adapters();
  if (!opt_.adapters.empty() && net == nullptr) {
    fail("drafter del: adapters = {}: not loaded (build the drafter with make_drafter and the "
         "target's weights in DrafterEnv)",
         opt_.adapters);
  }
  candidates_ = opt_.layers;
  if (candidates_.empty()) {
    // Default: every layer, or with adapters every adapted layer.
    for (std::int32_t l = 1; l < n_layers_; ++l) {
      if (net == nullptr || engine_.adapter_of(l) >= 0) candidates_.push_back(l);
    }
  } else if (net != nullptr) {
    for (std::int32_t l : candidates_) {
      if (l >= 1 && l < n_layers_ && engine_.adapter_of(l) < 0) {
        fail("drafter del: layers: layer {} has no exit adapter{}{} (adapted layers: {}): list "
             "only adapted layers, or omit layers to use all of them",
             l, opt_.adapters.empty() ? "" : " in ", opt_.adapters,
             fmt::join(net->config().exit_layers, ", "));
      }
    }
  }
  std::sort(candidates_.begin(), candidates_.end());
  candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
  for (std::int32_t l : candidates_) {
    if (l < 1 || l >= n_layers_) {
      fail("drafter del: layers: layer {}: must be in [1, n_layers = {})", l, n_layers_);
    }
  }
  alpha_.assign(n_layers_ - 1, 0.0);
  engine_.reserve(opt_.max_d, /*keep_hidden=*/true);
  normed_.resize(m.dim);
  logits_.resize(m.vocab_size);
  head_scratch_.a.reserve(m.dim);
  head_scratch_.b.reserve(m.dim);
  begin({});
}

void DelDrafter::begin(std::span<const Token> prompt) {
  for (std::int32_t l = 1; l < n_layers_; ++l) alpha_[l - 1] = opt_.alpha0 * l / n_layers_;
  proposed_ = false;
}

DraftFacts DelDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  choice_ = choose_exit(alpha_, n_layers_, opt_.max_d, candidates_, opt_.head_cost);
  proposed_ = true;
  return engine_.draft(ctx, budget,
                       ExitRound{choice_.exit_layer, choice_.draft_len, opt_.threshold, opt_.kv_reuse,
                                 /*keep_hidden=*/true},
                       out);
}

Token DelDrafter::shadow_token(std::span<const float> h, std::int32_t layer) {
  if (const std::int32_t a = engine_.adapter_of(layer); a >= 0) {
    engine_.adapters()->logits(a, h, {}, 1, logits_, head_scratch_);
    return argmax(logits_);
  }
  // The target's own final norm + classifier (ops/classifier.h): bit-identical to what an
  // early-exit forward of LlamaModel at this layer computes for the same residual.
  const ModelInfo& m = weights_->info;
  norm_classifier(h.data(), 1, m.dim, weights_->final_norm.data(), m.norm_eps,
                  weights_->classifier_matrix(), normed_.data(), logits_.data(), 1);
  return argmax(logits_);
}

void DelDrafter::observe(const StepFeedback& fb) {
  const bool proposed = proposed_;
  proposed_ = false;
  if (fb.layer_hidden.size() != static_cast<std::size_t>(n_layers_ - 1)) return;  // not given
  const DraftTree& tree = *fb.tree;
  const auto& path = fb.acceptance->path;
  const std::size_t dim = weights_->info.dim;
  for (std::size_t k = 0; k < path.size(); ++k) {
    const std::int32_t row = path[k];
    const Token emitted = k + 1 < path.size() ? tree.token[path[k + 1]] : fb.acceptance->bonus;
    for (std::int32_t l = 1; l < n_layers_; ++l) {
      std::span<const float> h =
          std::span<const float>(fb.layer_hidden[l - 1]).subspan(row * dim, dim);
      if (std::isnan(h[0])) {
        // Resumed row below its resume depth: use the draft forward's residual of that row.
        if (!proposed || row >= engine_.n_run() || l >= engine_.exit_layer()) continue;
        h = engine_.hidden(row, l);
      }
      const double match = shadow_token(h, l) == emitted ? 1.0 : 0.0;
      alpha_[l - 1] = opt_.decay * alpha_[l - 1] + (1.0 - opt_.decay) * match;
    }
  }
}

}  // namespace speclab
