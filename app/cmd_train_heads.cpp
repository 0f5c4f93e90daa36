// speclab train-heads: self-distillation training of Medusa / Hydra heads or exit adapters on a
// frozen target (heads/head_trainer.h), written as DIR/heads.safetensors + DIR/heads.json, or of
// an EAGLE head (heads/eagle_trainer.h, --kind eagle), written as DIR/eagle.safetensors +
// DIR/eagle.json.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/cli.h"
#include "base/error.h"
#include "base/input_file.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "tokenizers/tokenizer_loader.h"
#include "experiments/prompts.h"
#include "heads/distill_data.h"
#include "heads/eagle_head.h"
#include "heads/eagle_trainer.h"
#include "heads/head_net.h"
#include "heads/head_trainer.h"

namespace speclab::cli {
namespace {

// Why the heads in `dir` cannot stand for the heads this command would train ("" = they can):
// they must load for `target` (both files present and well-formed, fingerprint matching) and
// record the same kind, head count, blocks, exit layers and training settings.
std::string reuse_problem(const std::string& dir, const std::shared_ptr<const LlamaWeights>& target,
                          const HeadConfig& want, const nlohmann::json& settings) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "heads.json", ec)) return "no heads.json there yet";
  HeadNet have;
  try {
    have = load_heads(dir, target);
  } catch (const Error& e) {
    return fmt::format("existing heads do not load for this model: {}", e.what());
  }
  const HeadConfig& c = have.config();
  if (c.kind != want.kind || c.n_heads != want.n_heads || c.n_blocks != want.n_blocks ||
      c.exit_layers != want.exit_layers) {
    return fmt::format("existing heads are {} x {} heads, {} blocks; asked for {} x {}, {} blocks", to_string(c.kind),
                       c.n_heads, c.n_blocks, to_string(want.kind), want.n_heads, want.n_blocks);
  }
  for (const auto& [key, value] : settings.items()) {
    if (!c.training.contains(key) || c.training[key] != value) {
      return fmt::format("existing heads were trained with {} = {}, asked for {}", key,
                         c.training.contains(key) ? c.training[key].dump() : std::string("(unrecorded)"),
                         value.dump());
    }
  }
  return "";
}

// The same for an EAGLE head in `dir` (DIR/eagle.json + DIR/eagle.safetensors).
std::string eagle_reuse_problem(const std::string& dir, const LlamaWeights& target, const nlohmann::json& settings) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "eagle.json", ec)) return "no eagle.json there yet";
  EagleWeights have;
  try {
    have = load_eagle_head(dir, target);
  } catch (const Error& e) {
    return fmt::format("the existing EAGLE head does not load for this model: {}", e.what());
  }
  const nlohmann::json& t = have.config.training;
  for (const auto& [key, value] : settings.items()) {
    if (!t.contains(key) || t[key] != value) {
      return fmt::format("the existing EAGLE head was trained with {} = {}, asked for {}", key,
                         t.contains(key) ? t[key].dump() : std::string("(unrecorded)"), value.dump());
    }
  }
  return "";
}

// Distillation data for the trainers: continuations the target samples from a prompt set, or a
// corpus cut into chunks.
DistillData make_distill_data(const cxxopts::ParseResult& r, const std::string& model_path,
                              const std::shared_ptr<const LlamaWeights>& weights, const DistillOptions& dopt,
                              const std::string& source, int threads, double* seconds) {
  const ModelInfo& info = weights->info;
  const auto tok = load_model_tokenizer(r, model_path, info);
  LlamaModel target(weights, threads, dopt.max_len);
  DistillData data;
  const auto t0 = std::chrono::steady_clock::now();
  if (r.count("corpus")) {
    const std::vector<Token> toks = tok->encode(read_input_file(source, kMaxTextInputBytes, "a corpus"), true);
    std::cerr << fmt::format("train-heads: corpus {} = {} tokens\n", source, toks.size());
    data = distill_from_corpus(target, toks, dopt, &std::cerr);
  } else {
    std::vector<std::vector<Token>> prompts;
    for (const Prompt& p : load_prompts(source)) prompts.push_back(tok->encode(p.text, true));
    data = distill_from_prompts(target, prompts, dopt, &std::cerr);
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << fmt::format("train-heads: {} sequences, {} positions recorded in {:.1f} s\n", data.seqs.size(),
                           data.n_positions(), *seconds);
  return data;
}

// The distillation flags (validated for the model); `layers`: residual layers to record.
DistillOptions distill_options(const cxxopts::ParseResult& r, std::uint64_t seed, std::vector<std::int32_t> layers,
                               const ModelInfo& info) {
  DistillOptions d;
  d.samples_per_prompt = r["samples-per-prompt"].as<int>();
  d.max_len = r["max-len"].as<int>();
  d.temperature = r["data-temperature"].as<float>();
  d.teacher_top = r["teacher-top"].as<int>();
  d.layers = std::move(layers);
  d.seed = seed;
  d.validate(info);
  return d;
}

// The data settings both trainers record (and --reuse compares).
nlohmann::json data_settings(const cxxopts::ParseResult& r, const DistillOptions& dopt, const std::string& source) {
  return {{"data_source", source},
          {"data_mode", r.count("corpus") ? "corpus" : "sampled continuations"},
          {"samples_per_prompt", dopt.samples_per_prompt},
          {"max_len", dopt.max_len},
          {"data_temperature", dopt.temperature},
          {"teacher_top", dopt.teacher_top}};
}

template <class T>
T opt_or(const cxxopts::ParseResult& r, const char* name, T fallback) {
  return r.count(name) ? r[name].as<T>() : fallback;
}

// --feature-layers: absent = an unfused (EAGLE-1/2) head; "eagle3" = EAGLE-3's low / mid / high
// layers 2, L/2, L-3 (they must be three distinct layers in [1, L]); else a comma list of
// residual layers in [0, L] and "final" (the final-normed state).
std::vector<std::int32_t> feature_layers_flag(const cxxopts::ParseResult& r, std::int32_t n_layers) {
  if (!r.count("feature-layers")) return {};
  const std::string text = r["feature-layers"].as<std::string>();
  std::vector<std::int32_t> out;
  if (text == "eagle3") {
    out = {2, n_layers / 2, n_layers - 3};
    if (out[0] >= out[1] || out[1] >= out[2] || out[0] < 1 || out[2] > n_layers) {
      throw UsageError(fmt::format("--feature-layers eagle3 = layers 2, L/2, L-3 = {}, {}, {} of a {}-layer target: "
                                   "not three distinct layers; give them, e.g. --feature-layers 1,{},{}",
                                   out[0], out[1], out[2], n_layers, std::max(1, n_layers / 2), n_layers));
    }
    return out;
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "final") {
      out.push_back(kFinalNormedHidden);
      continue;
    }
    const std::vector<std::int32_t> v = parse_int_list(item, "feature-layers");
    if (v.size() != 1 || v[0] < 0 || v[0] > n_layers) {
      throw UsageError(fmt::format("--feature-layers = '{}': '{}': must be a layer in [0, {}] (residual after that "
                                   "many layers), 'final' or the word eagle3",
                                   text, item, n_layers));
    }
    out.push_back(v[0]);
  }
  if (out.empty()) throw UsageError(fmt::format("--feature-layers = '{}': empty list", text));
  for (std::size_t i = 0; i < out.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (out[i] == out[j]) throw UsageError(fmt::format("--feature-layers = '{}': layer {} appears twice", text, out[i]));
    }
  }
  if (out.size() > static_cast<std::size_t>(EagleConfig::kMaxFeatureLayers)) {
    throw UsageError(fmt::format("--feature-layers = '{}': {} layers: at most {}", text, out.size(),
                                 EagleConfig::kMaxFeatureLayers));
  }
  return out;
}

// --kind eagle.
int train_eagle_command(const cxxopts::ParseResult& r, const std::string& model_path, const std::string& out_dir,
                        int threads) {
  for (const char* o : {"heads", "exit-layers", "blocks"}) {
    if (r.count(o)) throw UsageError(fmt::format("--{} is not an option of --kind eagle", o));
  }
  EagleTrainOptions topt;
  topt.steps = opt_or(r, "steps", 3000);
  topt.batch = opt_or(r, "batch", 8);
  topt.lr = opt_or(r, "lr", 0.01f);
  topt.weight_decay = opt_or(r, "weight-decay", 0.0f);
  topt.teacher_weight = opt_or(r, "teacher-weight", 1.0f);
  topt.feature_weight = r["feature-weight"].as<float>();
  topt.token_weight = r["token-weight"].as<float>();
  topt.noise = r["noise"].as<float>();
  topt.clip = r["clip"].as<float>();
  topt.eval_depth = r["eval-depth"].as<int>();
  topt.ttt_steps = r["ttt-steps"].as<int>();
  topt.ttt_decay = r["ttt-decay"].as<float>();
  topt.holdout_frac = r["holdout"].as<float>();
  topt.eval_every = r["eval-every"].as<int>();
  topt.seed = r["seed"].as<std::uint64_t>();
  topt.threads = threads;
  try {
    topt.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  auto weights = load_weights_shared(model_path);
  const std::vector<std::int32_t> feature_layers = feature_layers_flag(r, weights->info.n_layers);
  std::vector<std::int32_t> record;  // residual layers the data must hold (not the final-normed state)
  for (const auto h : feature_layers) {
    if (h != kFinalNormedHidden) record.push_back(h);
  }
  const DistillOptions dopt = distill_options(r, topt.seed, record, weights->info);
  const std::string source = r.count("corpus")    ? r["corpus"].as<std::string>()
                             : r.count("prompts") ? r["prompts"].as<std::string>()
                                                  : std::string("data/stories.jsonl");
  nlohmann::json settings = {{"steps", topt.steps},
                                   {"batch", topt.batch},
                                   {"lr", topt.lr},
                                   {"weight_decay", topt.weight_decay},
                                   {"feature_weight", topt.feature_weight},
                                   {"token_weight", topt.token_weight},
                                   {"teacher_weight", topt.teacher_weight},
                                   {"noise", topt.noise},
                                   {"clip", topt.clip},
                                   {"ttt_steps", topt.ttt_steps},
                                   {"ttt_decay", topt.ttt_decay},
                                   {"feature_layers", feature_layers},
                                   {"seed", topt.seed}};
  settings.update(data_settings(r, dopt, source));
  if (r.count("reuse")) {
    const std::string why = eagle_reuse_problem(out_dir, *weights, settings);
    if (why.empty()) {
      std::cout << fmt::format("train-heads: reusing {}: its EAGLE head loads for {} and was trained with the same "
                               "settings\n",
                               out_dir, model_path);
      return 0;
    }
    std::cerr << fmt::format("train-heads: training {} ({})\n", out_dir, why);
  }
  double gen_s = 0.0;
  const DistillData data = make_distill_data(r, model_path, weights, dopt, source, threads, &gen_s);
  // Start from a random head shaped like one target layer (EagleConfig::for_target).
  EagleWeights head = random_eagle_weights(*weights, topt.seed, feature_layers);
  const EagleTrainReport rep = train_eagle(head, weights, data, topt, &std::cerr);
  auto& tr = head.config.training;
  tr.update(data_settings(r, dopt, source));
  tr["data_seconds"] = gen_s;
  tr["target"] = model_path;
  save_eagle_head(head, out_dir);
  std::cout << fmt::format("eagle head for {} written to {}\n", model_path, out_dir);
  std::cout << "depth,top1,top5,agree1,initial_top1,examples\n";
  for (std::size_t k = 0; k < rep.heldout.top1.size(); ++k) {
    std::cout << fmt::format("{},{:.4f},{:.4f},{:.4f},{:.4f},{}\n", k + 1, rep.heldout.top1[k], rep.heldout.top5[k],
                             rep.heldout.agree1[k], rep.initial.top1[k], rep.heldout.n[k]);
  }
  std::cout << fmt::format("feature_cos,{:.4f}\nfeature_smooth_l1,{:.4f}\nheldout_loss,{:.4f}\ntarget_top1,{:.4f}\n",
                           rep.heldout.feature_cos, rep.heldout.feature_l1, rep.heldout.loss, rep.target_top1);
  return 0;
}

}  // namespace

int cmd_train_heads(int argc, char** argv) {
  cxxopts::Options opts("speclab train-heads",
                        "Train Medusa / Hydra draft heads, early-exit adapters or an EAGLE head on a frozen "
                        "target (self-distillation on CPU)");
  opts.add_options()
      ("model", "Target model: llama2.c .bin, .gguf or Hugging Face directory", cxxopts::value<std::string>())
      ("tokenizer", "Tokenizer (default: embedded, or tok<vocab>.bin / tokenizer.bin beside the model)", cxxopts::value<std::string>())
      ("kind", "medusa | hydra | exit-adapter | eagle", cxxopts::value<std::string>()->default_value("medusa"))
      ("heads", "Number of heads K (medusa, hydra)", cxxopts::value<int>()->default_value("4"))
      ("exit-layers", "exit-adapter: layers to adapt, e.g. 1,2,3 (default: 1 .. n_layers-1)", cxxopts::value<std::string>())
      ("blocks", "Residual SiLU blocks per head (Hydra++: deeper; default 1, hydra 2)", cxxopts::value<int>())
      ("prompts", "Prompt set (JSON Lines) the target continues (default data/stories.jsonl)", cxxopts::value<std::string>())
      ("corpus", "Plain-text corpus to run the target over instead of sampling continuations", cxxopts::value<std::string>())
      ("samples-per-prompt", "Continuations sampled per prompt", cxxopts::value<int>()->default_value("128"))
      ("max-len", "Tokens per sequence (prompt included)", cxxopts::value<int>()->default_value("256"))
      ("data-temperature", "Sampling temperature of the continuations", cxxopts::value<float>()->default_value("1"))
      ("teacher-top", "Teacher distribution entries kept per position", cxxopts::value<int>()->default_value("16"))
      ("steps", "Optimiser steps (default 6000; eagle 3000)", cxxopts::value<int>())
      ("batch", "Examples per head per step (default 64; eagle: sequences per step, 8)", cxxopts::value<int>())
      ("lr", "Peak learning rate (AdamW, warm-up then cosine; default 0.01)", cxxopts::value<float>())
      ("weight-decay", "Decoupled weight decay on matrices (default 0.01, eagle 0)", cxxopts::value<float>())
      ("teacher-weight", "Weight w of the teacher KL loss: target = (1-w) onehot + w teacher "
                         "(default: 0.5 for medusa and hydra, as Hydra++; 1 for exit adapters and eagle; 0 = Medusa-1 CE only)", cxxopts::value<float>())
      ("feature-weight", "eagle: weight of the feature smooth-L1 loss", cxxopts::value<float>()->default_value("1"))
      ("token-weight", "eagle: weight of the token cross-entropy (EAGLE: 0.1)", cxxopts::value<float>()->default_value("0.5"))
      ("noise", "eagle: width of the uniform noise added to input features (EAGLE: 0.2)", cxxopts::value<float>()->default_value("0.2"))
      ("clip", "eagle: gradient-norm clip (0 = none; EAGLE: 0.5)", cxxopts::value<float>()->default_value("0.5"))
      ("eval-depth", "eagle: held-out accuracy reported for depths 1..N (own features fed back)", cxxopts::value<int>()->default_value("4"))
      ("ttt-steps", "eagle: training-time test passes (EAGLE-3 / HASS: train on the head's own fed-back features; 1 = EAGLE-1)", cxxopts::value<int>()->default_value("1"))
      ("feature-layers", "eagle: fused target features (EAGLE-3): comma list of residual layers in [0, n_layers] "
                         "and 'final', or eagle3 = layers 2, L/2, L-3 (default: the final-normed feature alone)",
       cxxopts::value<std::string>())
      ("ttt-decay", "eagle: loss weight of pass s is ttt-decay^s (EAGLE-3: 0.8)", cxxopts::value<float>()->default_value("0.8"))
      ("holdout", "Fraction of sequences held out for accuracy", cxxopts::value<float>()->default_value("0.1"))
      ("eval-every", "Progress + held-out accuracy every N steps (0 = at the end)", cxxopts::value<int>()->default_value("500"))
      ("seed", "Random seed (data sampling and mini-batches)", cxxopts::value<std::uint64_t>()->default_value("1"))
      ("threads", "Threads (target forwards; heads train in parallel)", cxxopts::value<int>()->default_value("2"))
      ("out", "Output directory for heads.safetensors + heads.json", cxxopts::value<std::string>())
      ("reuse", "Do not retrain when --out already holds heads that load for this model (weights present, "
                "fingerprint matching) and were trained with the same kind, shape and settings");
  auto r = parse_or_usage(opts, argc, argv);
  const std::string model_path = required(r, "model");
  const std::string out_dir = required(r, "out");
  if (r.count("prompts") && r.count("corpus")) throw UsageError("give at most one of --prompts and --corpus");
  const int threads = r["threads"].as<int>();
  if (threads < 1 || threads > 1024) throw UsageError(fmt::format("--threads = {}: must be in [1, 1024]", threads));
  if (r["kind"].as<std::string>() == "eagle") return train_eagle_command(r, model_path, out_dir, threads);
  for (const char* o : {"feature-weight", "token-weight", "noise", "clip", "eval-depth", "ttt-steps", "ttt-decay",
                        "feature-layers"}) {
    if (r.count(o)) throw UsageError(fmt::format("--{} is only for --kind eagle", o));
  }
  const HeadKind kind = [&] {
    try {
      return parse_head_kind(r["kind"].as<std::string>(), "--kind");
    } catch (const Error&) {
      throw UsageError(fmt::format("--kind = '{}': must be medusa, hydra, exit-adapter or eagle",
                                   r["kind"].as<std::string>()));
    }
  }();
  if (kind != HeadKind::kExitAdapter && r.count("exit-layers")) {
    throw UsageError("--exit-layers is only for --kind exit-adapter");
  }
  const int n_heads = r["heads"].as<int>();
  if (kind != HeadKind::kExitAdapter && (n_heads < 1 || n_heads > 64)) {
    throw UsageError(fmt::format("--heads = {}: must be in [1, 64]", n_heads));
  }
  const int blocks = r.count("blocks") ? r["blocks"].as<int>() : (kind == HeadKind::kHydra ? 2 : 1);
  if (blocks < 1 || blocks > 64) throw UsageError(fmt::format("--blocks = {}: must be in [1, 64]", blocks));

  TrainOptions topt;
  topt.steps = opt_or(r, "steps", 6000);
  topt.batch = opt_or(r, "batch", 64);
  topt.lr = opt_or(r, "lr", 0.01f);
  topt.weight_decay = opt_or(r, "weight-decay", 0.01f);
  topt.teacher_weight = r.count("teacher-weight") ? r["teacher-weight"].as<float>()
                        : kind == HeadKind::kExitAdapter ? 1.0f
                                                         : 0.5f;
  topt.holdout_frac = r["holdout"].as<float>();
  topt.eval_every = r["eval-every"].as<int>();
  topt.seed = r["seed"].as<std::uint64_t>();
  topt.threads = threads;
  try {
    topt.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }

  auto weights = load_weights_shared(model_path);
  const ModelInfo& info = weights->info;
  HeadConfig cfg;
  cfg.kind = kind;
  cfg.n_blocks = blocks;
  if (kind == HeadKind::kExitAdapter) {
    if (r.count("exit-layers")) {
      cfg.exit_layers = parse_int_list(r["exit-layers"].as<std::string>(), "--exit-layers");
    } else {
      for (std::int32_t l = 1; l < info.n_layers; ++l) cfg.exit_layers.push_back(l);
    }
    if (cfg.exit_layers.empty()) fail("--exit-layers: the model has {} layer(s): no exit layer to adapt", info.n_layers);
    cfg.n_heads = static_cast<std::int32_t>(cfg.exit_layers.size());
  } else {
    cfg.n_heads = n_heads;
  }
  HeadNet net = HeadNet::init(cfg, weights);

  const DistillOptions dopt = distill_options(r, topt.seed, cfg.exit_layers, info);

  const std::string source = r.count("corpus")    ? r["corpus"].as<std::string>()
                             : r.count("prompts") ? r["prompts"].as<std::string>()
                                                  : std::string("data/stories.jsonl");
  // What the heads.json of heads trained by this command records (head_trainer.cpp and below).
  nlohmann::json settings = {{"steps", topt.steps},
                                   {"batch", topt.batch},
                                   {"lr", topt.lr},
                                   {"weight_decay", topt.weight_decay},
                                   {"teacher_weight", topt.teacher_weight},
                                   {"seed", topt.seed}};
  settings.update(data_settings(r, dopt, source));
  if (r.count("reuse")) {
    const std::string why = reuse_problem(out_dir, weights, cfg, settings);
    if (why.empty()) {
      std::cout << fmt::format("train-heads: reusing {}: its heads load for {} and were trained with the same "
                               "kind, shape and settings\n",
                               out_dir, model_path);
      return 0;
    }
    std::cerr << fmt::format("train-heads: training {} ({})\n", out_dir, why);
  }

  double gen_s = 0.0;
  const DistillData data = make_distill_data(r, model_path, weights, dopt, source, threads, &gen_s);

  const TrainReport rep = train_heads(net, data, topt, &std::cerr);
  auto& tr = net.mutable_config().training;
  tr.update(data_settings(r, dopt, source));
  tr["data_seconds"] = gen_s;
  tr["target"] = model_path;
  save_heads(net, out_dir);
  std::cout << fmt::format("{} heads ({} x {} blocks) for {} written to {}\n", to_string(kind),
                           cfg.n_heads, blocks, model_path, out_dir);
  std::cout << "head,top1,top5,top10,heldout_loss,initial_top1,initial_top5\n";
  for (std::int32_t h = 0; h < cfg.n_heads; ++h) {
    const auto& a = rep.heldout.topk[h];
    std::cout << fmt::format("{},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f}\n",
                             kind == HeadKind::kExitAdapter ? fmt::format("layer{}", cfg.exit_layers[h])
                                                            : fmt::format("{}", h),
                             a[0], a[4], a[9], rep.heldout.loss[h], rep.initial.topk[h][0],
                             rep.initial.topk[h][4]);
  }
  return 0;
}

}  // namespace speclab::cli
