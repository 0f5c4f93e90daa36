#include "experiments/drafter_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "base/error.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "drafters/aded_drafter.h"
#include "drafters/del_drafter.h"
#include "drafters/draft_model_drafter.h"
#include "drafters/early_exit_drafter.h"
#include "drafters/hydra_drafter.h"
#include "drafters/medusa_drafter.h"
#include "drafters/ngram_drafter.h"
#include "drafters/recycling_drafter.h"

namespace speclab {

std::vector<std::string> drafter_names() {
  return {"none", "draft-model", "ngram", "recycling", "aded", "early-exit", "del",
          "medusa", "hydra"};
}

namespace {

DraftModelOptions draft_model_options(const DrafterParams& p, std::string& model_path) {
  p.check_known({"model", "mode", "gamma", "branching", "top_k", "expand_top", "depth"});
  DraftModelOptions o;
  o.mode = parse_draft_model_mode(
      p.get_choice("mode", "chain", {"chain", "topk", "iid", "swor", "dynamic"}));
  o.gamma = p.get_int("gamma", 4, 1, 64);
  o.top_k = p.get_int("top_k", o.top_k, 1, 64);
  o.expand_top = p.get_int("expand_top", o.expand_top, 1, 64);
  o.max_depth = p.get_int("depth", o.max_depth, 1, 64);
  if (p.has("branching")) o.branching = parse_branching(p.get_string("branching", ""), "draft-model: branching");
  model_path = p.get_string("model", model_path);
  return o;
}

std::unique_ptr<Drafter> build(const DrafterParams& p, const DrafterEnv& env, bool load) {
  const std::string& name = p.drafter();
  if (name == "none" || name == "ar") {
    p.check_known({});
    return nullptr;
  }
  if (name == "ngram") return std::make_unique<NgramDrafter>(p);
  if (name == "recycling") return std::make_unique<RecyclingDrafter>(p);
  if (name == "aded") return std::make_unique<AdedDrafter>(p);
  if (name == "early-exit" || name == "del") {  // self-speculative (issue 8)
    SPECLAB_ASSERT(env.target != nullptr);
    // adapters=DIR: exit adapters loaded for the target's weights (fingerprint checked).
    if (name == "early-exit") {
      EarlyExitOptions o = early_exit_options(p, *env.target);
      std::shared_ptr<const HeadNet> adapters;
      if (!o.adapters.empty()) adapters = load_exit_adapters(o.adapters, env.target_weights, name);
      return std::make_unique<EarlyExitDrafter>(*env.target, std::move(o), std::move(adapters));
    }
    DelOptions o = del_options(p, *env.target);
    std::shared_ptr<const HeadNet> adapters;
    if (!o.adapters.empty() && env.target_weights) {
      adapters = load_exit_adapters(o.adapters, env.target_weights, name);
    }
    return std::make_unique<DelDrafter>(env.target_weights, std::move(o), std::move(adapters));
  }
  if (name == "medusa" || name == "hydra") {  // draft heads on the target (issue 7)
    const bool medusa = name == "medusa";
    const HeadKind kind = medusa ? HeadKind::kMedusa : HeadKind::kHydra;
    MedusaOptions mo = medusa ? medusa_options(p) : MedusaOptions{};
    HydraOptions ho = medusa ? HydraOptions{} : hydra_options(p);
    mo.n_threads = ho.n_threads = env.n_threads;
    const std::string& dir = medusa ? mo.heads_dir : ho.heads_dir;
    if (!load) {  // cheap checks: the target kind, the heads' directory, kind and depth
      if (!env.target_weights) {
        fail("drafter {}: {} needs a Llama target (the heads read its weights): the target's "
             "weights are not available",
             name, name);
      }
      const HeadConfig cfg = head_drafter::read_config(dir, kind, name);
      if (!medusa) check_hydra_options(ho, cfg);
      return nullptr;
    }
    HeadNet net = head_drafter::load(dir, kind, name, env.target_weights);
    if (medusa) return std::make_unique<MedusaDrafter>(std::move(net), mo);
    return std::make_unique<HydraDrafter>(std::move(net), ho);
  }
  if (name == "draft-model") {
    std::string path = env.draft_model_path;
    DraftModelOptions o = draft_model_options(p, path);
    if (path.empty()) {
      fail("drafter draft-model: model: no draft model given (use --draft-model PATH or draft-model:model=PATH)");
    }
    if (!load) {
      if (!std::filesystem::exists(path)) fail("drafter draft-model: model = {}: file not found", path);
      return nullptr;
    }
    auto w = load_weights_shared(path);
    auto m = std::make_unique<LlamaModel>(w, env.n_threads);
    SPECLAB_ASSERT(env.target != nullptr);
    return std::make_unique<DraftModelDrafter>(std::move(m), env.target->vocab_size, o);
  }
  fail("drafter '{}': unknown: known drafters are {}", name, fmt::join(drafter_names(), ", "));
}

}  // namespace

void validate_drafter_spec(const std::string& spec, const DrafterEnv& env) {
  auto p = DrafterParams::parse(spec);
  if (p.drafter() == "draft-model" || p.drafter() == "medusa" || p.drafter() == "hydra") {
    build(p, env, /*load=*/false);  // no model / heads loading
  } else {
    build(p, env, /*load=*/true);  // the training-free drafters are cheap to construct
  }
}

std::unique_ptr<Drafter> make_drafter(const std::string& spec, const DrafterEnv& env) {
  return build(DrafterParams::parse(spec), env, /*load=*/true);
}

}  // namespace speclab
