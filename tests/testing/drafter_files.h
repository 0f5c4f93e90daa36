// The files every registered drafter kind may need, made for one synthetic Llama target in a
// temporary directory (removed on destruction), so any registry spec can be built in a test:
//   - a draft model file: the target's first layers as a llama2.c checkpoint (a draft that
//     agrees with the target often, like an early exit); DrafterEnv::draft_model_path, so
//     "draft-model:mode=..." needs no model= key;
//   - Medusa and Hydra heads (perturbed_heads, 3 heads): {medusa}, {hydra} in a spec;
//   - exit adapters for every layer 1 .. n_layers-1 (perturbed_adapters): {exits} in a spec;
//   - an EAGLE head (random_eagle_weights, seed 7): {eagle} in a spec.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drafters/registry.h"
#include "heads/eagle_head.h"
#include "heads/head_net.h"
#include "model/llama_weights.h"
#include "tests/testing/heads_test_util.h"
#include "tests/testing/model_writers.h"

namespace speclab::testing {

class DrafterFiles {
 public:
  // draft_layers: layers of the target the draft model keeps (1 <= draft_layers <= n_layers).
  explicit DrafterFiles(std::shared_ptr<const LlamaWeights> target, std::int32_t draft_layers = 1)
      : target_(std::move(target)),
        draft_model_(dir_.sub("draft.bin")),
        medusa_(dir_.sub("medusa")),
        hydra_(dir_.sub("hydra")),
        exits_(dir_.sub("exits")),
        eagle_(dir_.sub("eagle")) {
    LlamaWeights draft = *target_;
    draft.info.n_layers = draft_layers;
    draft.layers.resize(static_cast<std::size_t>(draft_layers));
    draft.info.source = "synthetic:draft";
    write_llama2c(draft, draft_model_, 0);
    save_heads(perturbed_heads(HeadKind::kMedusa, target_, 3, 5, 0.5), medusa_);
    save_heads(perturbed_heads(HeadKind::kHydra, target_, 3, 6, 0.5), hydra_);
    std::vector<std::int32_t> layers;
    for (std::int32_t l = 1; l < target_->info.n_layers; ++l) layers.push_back(l);
    save_heads(perturbed_adapters(target_, layers, 1, 0.5), exits_);
    save_eagle_head(random_eagle_weights(*target_, 7), eagle_);
  }

  const std::shared_ptr<const LlamaWeights>& target() const { return target_; }
  // The registry environment: the target's info and weights, the draft model file.
  DrafterEnv env() const {
    DrafterEnv e = heads_env(target_);
    e.draft_model_path = draft_model_;
    return e;
  }
  // `spec` with {medusa}, {hydra}, {exits} and {eagle} replaced by the directories.
  std::string expand(std::string spec) const {
    for (const auto& [key, path] : {std::pair<std::string, std::string>{"{medusa}", medusa_},
                                    {"{hydra}", hydra_}, {"{exits}", exits_}, {"{eagle}", eagle_}}) {
      for (auto at = spec.find(key); at != std::string::npos; at = spec.find(key)) spec.replace(at, key.size(), path);
    }
    return spec;
  }

 private:
  std::shared_ptr<const LlamaWeights> target_;
  TempDir dir_;
  std::string draft_model_, medusa_, hydra_, exits_, eagle_;
};

}  // namespace speclab::testing
