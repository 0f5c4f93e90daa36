#include "drafters/del_drafter.h"

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "base/error.h"
#include "ops/classifier.h"
#include "ops/sampling.h"
#include "drafters/recycling_drafter.h"

namespace speclab {

DelOptions del_options(const DrafterParams& p, const ModelInfo& target) {
  p.check_known(
      {"max_d", "threshold", "decay", "layers", "alpha0", "head_cost", "kv_reuse", "adapters"});
  if (target.n_layers < 2) {
    fail("drafter del: target {} has n_layers = {}: early exit needs at least 2", target.source,
         target.n_layers);
  }
  DelOptions o;
  o.max_d = p.get_int("max_d", o.max_d, 1, 64);
  o.threshold = p.get_double("threshold", o.threshold, 0.0, 1.0);
  o.decay = p.get_double("decay", o.decay, 0.0, 0.999999);
  o.alpha0 = p.get_double("alpha0", o.alpha0, 0.0, 1.0);
  o.head_cost = p.get_double("head_cost", o.head_cost, 0.0, 1000.0);
  o.kv_reuse = p.get_bool("kv_reuse", true);
  o.adapters = p.get_string("adapters", "");
  if (p.has("layers")) {
    const std::string v = p.get_string("layers", "");
    o.layers = parse_branching(v, "drafter del: layers");
    for (std::int32_t l : o.layers) {
      if (l >= target.n_layers) {
        p.fail_value("layers", v, fmt::format("every layer must be in [1, n_layers = {})",
                                              target.n_layers));
      }
    }
  }
  return o;
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

void DelDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  choice_ = choose_exit(alpha_, n_layers_, opt_.max_d, candidates_, opt_.head_cost);
  engine_.draft(ctx, budget,
                ExitRound{choice_.exit_layer, choice_.draft_len, opt_.threshold, opt_.kv_reuse,
                          /*keep_hidden=*/true},
                out);
  proposed_ = true;
}

Token DelDrafter::shadow_token(std::span<const float> h, std::int32_t layer) {
  if (const std::int32_t a = engine_.adapter_of(layer); a >= 0) {
    engine_.adapters()->logits(a, h, {}, 1, logits_, head_scratch_);
    return argmax(logits_);
  }
  // The target's own final norm + classifier (ops/classifier.h): bit-identical to what an
  // early-exit forward of LlamaModel at this layer computes for the same residual.
  const ModelInfo& m = weights_->info;
  norm_classifier(h.data(), 1, m.dim, weights_->final_norm.data(), m.norm_eps, weights_->classifier_matrix().data(),
                  m.vocab_size, normed_.data(), logits_.data(), 1);
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
