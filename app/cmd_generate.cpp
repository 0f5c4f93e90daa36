// speclab generate: autoregressive or speculative generation of one prompt.
// Plain output follows llama2.c's run.c: the prompt (after BOS) and the continuation, piece by
// piece, single non-printable byte pieces skipped; a newline; speed on stderr.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "base/memory_usage.h"
#include "base/error.h"
#include "tokenizers/llama2c_tokenizer.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "tokenizers/tokenizer_loader.h"
#include "drafters/registry.h"
#include "experiments/decode.h"
#include "verifiers/rules.h"

namespace speclab::cli {

namespace {

std::string pieces(const Tokenizer& tok, std::span<const Token> seq, std::size_t from) {
  std::string out;
  for (std::size_t i = std::max<std::size_t>(from, 1); i < seq.size(); ++i) {
    const std::string piece = tok.decode_token(seq[i - 1], seq[i]);
    if (is_printable_piece(piece)) out += piece;
  }
  return out;
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  cxxopts::Options opts("speclab generate", "Generate text, autoregressive or speculative");
  opts.add_options()
      ("model", "Target model: llama2.c .bin, .gguf or Hugging Face directory", cxxopts::value<std::string>())
      ("tokenizer", "Tokenizer (default: embedded, or tok<vocab>.bin / tokenizer.bin beside the model)", cxxopts::value<std::string>())
      ("prompt", "Prompt text (required, not empty; BOS is prepended)", cxxopts::value<std::string>())
      ("steps", "Total positions incl. BOS and prompt, as llama2.c -n (default 256)", cxxopts::value<int>())
      ("max-new", "New tokens to generate (instead of --steps)", cxxopts::value<int>())
      ("temperature", "0 = greedy", cxxopts::value<float>()->default_value("0"))
      ("top-k", "Keep the k most likely tokens (0 = off)", cxxopts::value<int>()->default_value("0"))
      ("top-p", "Nucleus mass (1 = off)", cxxopts::value<float>()->default_value("1"))
      ("seed", "Random seed", cxxopts::value<std::uint64_t>()->default_value("0"))
      ("threads", "Threads for the models", cxxopts::value<int>()->default_value("2"))
      ("ctx", "Context (KV cache slots) of the target (default: min(model maximum, 4096))", cxxopts::value<int>())
      ("dtype", "Store the target's matrices as TYPE at load: stored (as in the file), f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k", cxxopts::value<std::string>()->default_value("stored"))
      ("draft-dtype", "The same for a draft model", cxxopts::value<std::string>()->default_value("stored"))
      ("kv-dtype", "KV cache element type of the target: f32 or f16", cxxopts::value<std::string>()->default_value("f32"))
      ("drafter", "Drafter spec NAME[:key=value,...] (drafters and their keys below)", cxxopts::value<std::string>()->default_value(std::string(kAutoregressive)))
      ("draft-model", "Draft model file (default of a drafter's model= key)", cxxopts::value<std::string>()->default_value(""))
      ("rule", "Acceptance rule (default: the lossless rule valid for the drafter's trees)", cxxopts::value<std::string>()->default_value(""))
      ("budget", "Draft nodes per step (tree tokens verified - 1)", cxxopts::value<int>()->default_value("16"))
      ("depth", "Maximum tree depth (0 = unlimited)", cxxopts::value<int>()->default_value("0"))
      ("num-samples", "Number of samples (seeds seed, seed+1, ...)", cxxopts::value<int>()->default_value("1"))
      ("json", "One JSON object per sample on stdout");
  auto r = parse_or_usage(opts, argc, argv, drafter_help());
  const std::string model_path = required(r, "model");
  const std::string prompt_text = required(r, "prompt");
  if (prompt_text.empty()) {
    throw UsageError("--prompt = '': must not be empty (the text to continue; BOS is prepended)");
  }
  if (r.count("steps") && r.count("max-new")) throw UsageError("give at most one of --steps and --max-new");
  const int threads = r["threads"].as<int>();
  if (threads < 1 || threads > 1024) throw UsageError(fmt::format("--threads = {}: must be in [1, 1024]", threads));
  const int n_samples = r["num-samples"].as<int>();
  if (n_samples < 1 || n_samples > 100000) {
    throw UsageError(fmt::format("--num-samples = {}: must be in [1, 100000]", n_samples));
  }
  const int budget = r["budget"].as<int>();
  if (budget < 0 || budget > kMaxBudgetLimit) {
    throw UsageError(fmt::format("--budget = {}: must be in [0, {}]", budget, kMaxBudgetLimit));
  }

  DecodeOptions dopt;
  dopt.sampling.temperature = r["temperature"].as<float>();
  dopt.sampling.top_k = r["top-k"].as<int>();
  dopt.sampling.top_p = r["top-p"].as<float>();
  dopt.sampling.validate();
  dopt.budget.max_nodes = budget;
  dopt.budget.max_depth = r["depth"].as<int>();
  if (dopt.budget.max_depth < 0 || dopt.budget.max_depth > kMaxDepthLimit) {
    throw UsageError(fmt::format("--depth = {}: must be in [0, {}] (0 = unlimited)", dopt.budget.max_depth, kMaxDepthLimit));
  }
  int ctx = -1;
  if (r.count("ctx")) {
    ctx = r["ctx"].as<int>();
    if (ctx < 1) throw UsageError(fmt::format("--ctx = {}: must be >= 1", ctx));
  }
  if (r.count("max-new")) {
    const int n = r["max-new"].as<int>();
    if (n < 0 || n > kMaxNewTokensLimit) {
      throw UsageError(fmt::format("--max-new = {}: must be in [0, {}]", n, kMaxNewTokensLimit));
    }
  }

  check_dtype_flags(r);
  const std::string dtype = r["dtype"].as<std::string>(), draft_dtype = r["draft-dtype"].as<std::string>();
  const KvCacheType kv_type = kv_dtype_flag(r);

  auto weights = load_weights_shared(model_path, WeightLoadOptions{dtype, threads});
  const ModelInfo& info = weights->info;
  const auto tok = load_model_tokenizer(r, model_path, info);
  const std::vector<Token> prompt = tok->encode(prompt_text, true);
  if (prompt.empty()) fail("prompt: encodes to no tokens and the tokenizer has no BOS");
  if (ctx > info.max_seq_len) {
    fail("--ctx = {}: must be at most the model's maximum context {} ({})", ctx, info.max_seq_len, model_path);
  }
  LlamaModel target(weights, threads, ctx, kv_type);
  if (r.count("max-new")) {
    dopt.max_new_tokens = r["max-new"].as<int>();
  } else {
    int steps = r.count("steps") ? r["steps"].as<int>() : 256;
    if (steps <= 0) throw UsageError(fmt::format("--steps = {}: must be > 0", steps));
    steps = std::min(steps, target.info().max_seq_len);  // as llama2.c
    // llama2.c runs positions 0..steps-1 and prints the token chosen at each: the sequence ends
    // with steps + 1 tokens (BOS included).
    dopt.max_new_tokens = std::max<int>(0, steps + 1 - static_cast<int>(prompt.size()));
  }

  DrafterEnv env{&info, r["draft-model"].as<std::string>(), threads, weights, draft_dtype};
  const std::string drafter_spec = r["drafter"].as<std::string>();
  auto drafter = make_drafter(drafter_spec, env);
  std::unique_ptr<AcceptanceRule> rule;
  if (!r["rule"].as<std::string>().empty()) rule = make_rule(r["rule"].as<std::string>());

  const bool json = r.count("json") > 0;
  for (int s = 0; s < n_samples; ++s) {
    dopt.seed = r["seed"].as<std::uint64_t>() + static_cast<std::uint64_t>(s);
    const DecodeResult res = decode(target, drafter.get(), rule.get(), prompt, dopt);
    std::vector<Token> seq = prompt;
    seq.insert(seq.end(), res.tokens.begin(), res.tokens.end());
    std::int64_t drafted = 0, accepted = 0;
    for (const auto& st : res.steps) {
      drafted += st.n_drafted;
      accepted += st.n_accepted;
    }
    const int n_new = static_cast<int>(res.tokens.size());
    const int n_fwd = res.n_target_forwards();
    const double tau = n_fwd > 0 ? double(n_new) / n_fwd : 0.0;
    const double tps = res.decode_ms > 0 ? n_new / (res.decode_ms / 1000.0) : 0.0;
    if (json) {
      nlohmann::json j;
      j["text"] = pieces(*tok, seq, prompt.size());
      j["tokens"] = res.tokens;
      j["stats"] = {{"prompt_tokens", prompt.size()},
                    {"new_tokens", n_new},
                    {"steps", n_fwd},
                    {"tau", tau},
                    {"tokens_per_s", tps},
                    {"drafted_tokens", drafted},
                    {"accepted_tokens", accepted},
                    {"alpha", drafted > 0 ? double(accepted) / drafted : 0.0},
                    {"stop", to_string(res.stop)},
                    {"seed", dopt.seed},
                    {"drafter", drafter_spec},
                    {"rule", rule ? std::string(rule->name()) : std::string("auto")},
                    {"weight_bytes", weights->n_bytes()},
                    {"kv_cache_bytes", target.kv_cache_bytes()},
                    {"peak_rss_bytes", peak_rss_bytes()}};
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::printf("%s\n", pieces(*tok, seq, 1).c_str());
      std::fprintf(stderr,
                   "achieved tok/s: %.1f (new tokens %d, target forwards %d, tau %.3f, "
                   "acceptance %.3f)\n",
                   tps, n_new, n_fwd, tau, drafted > 0 ? double(accepted) / drafted : 0.0);
      std::fprintf(stderr, "memory: peak RSS %.1f MB (target weights %.1f MB, KV cache %.1f MB)\n",
                   peak_rss_bytes() / 1e6, double(weights->n_bytes()) / 1e6,
                   double(target.kv_cache_bytes()) / 1e6);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace speclab::cli
