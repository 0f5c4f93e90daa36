// speclab profile: measures this machine's cost curve (experiments/cost_model.h) for a model:
// the median time of one verification step (TreeVerifier::verify: forward of a tree of n
// tokens on a cache of L tokens, target distributions, greedy acceptance, cache compaction) for
// every (n, L) of the grid, the same for a draft model's forward, and optionally the per-step
// propose / observe cost of drafters; writes a profile JSON (--out).
//
// Measurement. The cache is filled once with random tokens to the largest L; from the longest
// to the shortest L, the sizes are timed rep by rep (so drift hits every size alike), `reps`
// times each, and the median kept. A tree of n tokens is a chain (the ancestor mask of a chain costs what any tree
// of n rows costs: every row attends to the cache plus at most n rows).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "base/error.h"
#include "base/rng.h"
#include "drafters/registry.h"
#include "experiments/cost_model.h"
#include "experiments/decode.h"
#include "experiments/report.h"
#include "formats/model_loader.h"
#include "model/llama_model.h"
#include "ops/matmul.h"
#include "tokenizers/tokenizer_loader.h"
#include "verifiers/rules.h"
#include "verifiers/tree_verifier.h"

namespace speclab::cli {

namespace {

// The one-token decode layout of each resident weight type, e.g. "q8_0:rows+f16:groups" (it is
// chosen per type and ISA: ops/matmul.h resolve_decode_layout).
std::string decode_layouts(const LlamaWeights& w) {
  std::string out;
  for (DType t : w.resident_dtype_list()) {
    out += fmt::format("{}{}:{}", out.empty() ? "" : "+", dtype_name(t),
                       decode_layout_name(resolve_decode_layout(DecodeLayout::kAuto, t)));
  }
  return out;
}

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median verification-step times of `model` over the grid.
CostCurve measure_curve(LlamaModel& model, const std::vector<std::int32_t>& sizes,
                        const std::vector<std::int32_t>& lengths, int reps, std::uint64_t seed, const char* what) {
  const ModelInfo& info = model.info();
  Rng rng(seed);
  auto random_token = [&] { return static_cast<Token>(rng.next_u64() % static_cast<std::uint64_t>(info.vocab_size)); };
  // Fill the cache to the largest length (chunks of 64 tokens).
  model.truncate(0);
  ForwardOutput out;
  std::vector<Token> toks;
  std::vector<std::int32_t> pos;
  const std::int32_t fill = lengths.back();
  for (std::int32_t at = 0; at < fill;) {
    const std::int32_t n = std::min(64, fill - at);
    toks.resize(n);
    pos.resize(n);
    for (std::int32_t i = 0; i < n; ++i) {
      toks[i] = random_token();
      pos[i] = at + i;
    }
    ForwardBatch b;
    b.tokens = toks;
    b.positions = pos;
    b.all_logits = false;
    model.forward(b, out);
    at += n;
  }
  TreeVerifier verifier;
  const auto rule = make_rule("greedy");
  SamplingParams greedy;
  Acceptance acc;
  DraftTree tree;
  std::vector<std::vector<double>> samples(lengths.size() * sizes.size());
  const std::int32_t total = reps * static_cast<std::int32_t>(samples.size());
  std::int32_t done = 0;
  // Longest cache first (truncating only shortens it); at each length the sizes are swept
  // rep by rep.
  for (std::size_t li = lengths.size(); li-- > 0;) {
    for (int rep = 0; rep < reps; ++rep) {
      for (std::size_t ni = 0; ni < sizes.size(); ++ni) {
        tree.reset(random_token());
        for (std::int32_t i = 1; i < sizes[ni]; ++i) tree.add(random_token(), i - 1);
        // One untimed step of the same size first: a run's consecutive steps have similar
        // sizes, so its caches are warm for them (timing n = 1 right after n = 256 is not).
        model.truncate(lengths[li]);
        verifier.verify(model, tree, 0, greedy, *rule, rng, TreeVerifier::Wants{}, acc);
        model.truncate(lengths[li]);
        const auto t0 = Clock::now();
        verifier.verify(model, tree, 0, greedy, *rule, rng, TreeVerifier::Wants{}, acc);
        samples[li * sizes.size() + ni].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        ++done;
      }
    }
    std::fprintf(stderr, "\r%s: %d/%d steps timed", what, done, total);
  }
  std::fputc('\n', stderr);
  model.truncate(0);
  CostCurve c;
  c.n = sizes;
  c.cached = lengths;
  for (const auto& s : samples) c.ms.push_back(median(s));
  return c;
}

}  // namespace

int cmd_profile(int argc, char** argv) {
  cxxopts::Options opts("speclab profile",
                        "Measure this machine's verification cost curve for a model (JSON for --profile)");
  opts.add_options()
      ("model", "Target model: llama2.c .bin, .gguf or Hugging Face directory", cxxopts::value<std::string>())
      ("tokenizer", "With --drafters: encode --prompt with this tokenizer (without it the drafters decode from random token ids)", cxxopts::value<std::string>())
      ("prompt", "With --drafters and --tokenizer: the prompt text the drafters decode from", cxxopts::value<std::string>()->default_value("Once upon a time, there was a little girl named Lily. She loved to play outside."))
      ("draft-model", "Also measure this draft model's forward (the profile's \"draft\" curve)", cxxopts::value<std::string>()->default_value(""))
      ("drafters", "Also measure these drafters' per-step propose / observe cost (comma-separated specs)", cxxopts::value<std::string>()->default_value(""))
      ("drafter-budget", "Budget of the drafter measurement", cxxopts::value<int>()->default_value("16"))
      ("threads", "Threads for the models", cxxopts::value<int>()->default_value("1"))
      ("ctx", "Context (KV cache slots; default: min(model maximum, 4096))", cxxopts::value<int>())
      ("dtype", "Target weights: stored, or converted at load (f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k)", cxxopts::value<std::string>()->default_value("stored"))
      ("draft-dtype", "The same for the draft model", cxxopts::value<std::string>()->default_value("stored"))
      ("kv-dtype", "KV cache: f32 or f16", cxxopts::value<std::string>()->default_value("f32"))
      ("sizes", "Tree sizes n (tokens per forward), comma-separated", cxxopts::value<std::string>()->default_value("1,2,4,8,16,32,64,128,256"))
      ("cached", "Cached lengths L, comma-separated (default: 32, 128, 512, ... and ctx - the largest size)", cxxopts::value<std::string>())
      ("reps", "Timings per point (the median is kept)", cxxopts::value<int>()->default_value("5"))
      ("name", "Profile name (the report column projected_speedup_<name>)", cxxopts::value<std::string>()->default_value("host"))
      ("hardware", "Do not measure: write the roofline profile of this hardware description for the model", cxxopts::value<std::string>())
      ("out", "Output JSON file", cxxopts::value<std::string>());
  auto r = parse_or_usage(opts, argc, argv);
  const std::string model_path = required(r, "model");
  const std::string out_path = required(r, "out");
  const int threads = r["threads"].as<int>();
  if (threads < 1 || threads > 1024) throw UsageError(fmt::format("--threads = {}: must be in [1, 1024]", threads));
  const int reps = r["reps"].as<int>();
  if (reps < 1 || reps > 1000) throw UsageError(fmt::format("--reps = {}: must be in [1, 1000]", reps));
  const std::vector<std::int32_t> sizes = parse_int_list(r["sizes"].as<std::string>(), "--sizes");
  if (sizes.empty() || sizes.size() > kMaxCurvePoints) {
    throw UsageError(fmt::format("--sizes: give 1 to {} tree sizes", kMaxCurvePoints));
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1 || sizes[i] > kMaxBudgetLimit + 1 || (i > 0 && sizes[i] <= sizes[i - 1])) {
      throw UsageError(fmt::format("--sizes: {} at position {}: sizes must increase, each in [1, {}]", sizes[i], i + 1,
                                   kMaxBudgetLimit + 1));
    }
  }
  const std::string name = r["name"].as<std::string>();
  check_dtype_flags(r);
  const std::string dtype = r["dtype"].as<std::string>(), draft_dtype = r["draft-dtype"].as<std::string>();
  const KvCacheType kv_type = kv_dtype_flag(r);
  const int drafter_budget = r["drafter-budget"].as<int>();
  if (drafter_budget < 1 || drafter_budget > kMaxBudgetLimit) {
    throw UsageError(fmt::format("--drafter-budget = {}: must be in [1, {}]", drafter_budget, kMaxBudgetLimit));
  }

  auto weights = load_weights_shared(model_path, WeightLoadOptions{dtype, threads});
  const ModelInfo& info = weights->info;
  int ctx = -1;
  if (r.count("ctx")) {
    ctx = r["ctx"].as<int>();
    if (ctx < 1 || ctx > info.max_seq_len) {
      fail("--ctx = {}: must be in [1, {}] (the model's maximum context, {})", ctx, info.max_seq_len, model_path);
    }
  }
  LlamaModel target(weights, threads, ctx, kv_type);
  const std::int32_t slots = target.info().max_seq_len;
  std::vector<std::int32_t> lengths = r.count("cached")
                                          ? parse_int_list(r["cached"].as<std::string>(), "--cached")
                                          : default_profile_lengths(slots, sizes.back());
  if (lengths.empty() || lengths.size() > kMaxCurvePoints) {
    throw UsageError(fmt::format("--cached: give 1 to {} lengths", kMaxCurvePoints));
  }
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] < 0 || (i > 0 && lengths[i] <= lengths[i - 1])) {
      throw UsageError(fmt::format("--cached: {} at position {}: lengths must increase, each >= 0", lengths[i], i + 1));
    }
  }
  if (lengths.back() + sizes.back() > slots) {
    fail("--cached {} + --sizes {} = {} tokens: more than the context of {} slots (--ctx, the model's maximum)",
         lengths.back(), sizes.back(), lengths.back() + sizes.back(), slots);
  }

  if (r.count("hardware")) {
    const std::string hw_path = r["hardware"].as<std::string>();
    const HardwareDescription hw = load_hardware(hw_path);
    CostProfile p = roofline_profile(hw, model_shape(*weights, kv_type), sizes, lengths, model_path);
    p.command = "speclab";
    for (int i = 0; i < argc; ++i) p.command += std::string(" ") + argv[i];
    replace_file(out_path, cost_profile_json(p).dump(1) + "\n");
    std::fprintf(stderr, "wrote %s (roofline of %s: n = 1: %.4f ms, n = %d: %.4f ms at L = %d)\n", out_path.c_str(),
                 hw.name.c_str(), p.target.ms[0], sizes.back(), p.target.ms[sizes.size() - 1], lengths[0]);
    return 0;
  }

  CostProfile p;
  p.name = name;
  p.kind = "measured";
  p.model = model_path;
  p.source = "measured by speclab profile on this machine (median of --reps verification steps per point)";
  p.command = "speclab";
  for (int i = 0; i < argc; ++i) p.command += std::string(" ") + argv[i];
  p.machine = {{"cpu", cpu_model_name()},
               {"isa", std::string(isa_name(resolve_isa(Isa::kAuto)))},
               {"decode_layout", decode_layouts(*weights)},
               {"threads", threads},
               {"weight_dtype", weights->resident_dtypes()},
               {"kv_dtype", std::string(kv_cache_type_name(kv_type))},
               {"ctx", slots},
               {"reps", reps}};
  p.target = measure_curve(target, sizes, lengths, reps, 1, "target");

  const std::string draft_path = r["draft-model"].as<std::string>();
  if (!draft_path.empty()) {
    auto dw = load_weights_shared(draft_path, WeightLoadOptions{draft_dtype, threads});
    LlamaModel draft(dw, threads, std::min(slots, dw->info.max_seq_len), KvCacheType::kF32);
    const std::int32_t dslots = draft.info().max_seq_len;
    std::vector<std::int32_t> dl;
    for (const auto l : lengths) {
      if (l + sizes.back() <= dslots) dl.push_back(l);
    }
    if (dl.empty()) fail("--draft-model {}: its context of {} slots fits none of the cached lengths", draft_path, dslots);
    p.draft = measure_curve(draft, sizes, dl, reps, 2, "draft model");
    p.machine["draft_model"] = draft_path;
    p.machine["draft_weight_dtype"] = dw->resident_dtypes();
  }

  const std::string drafters = r["drafters"].as<std::string>();
  if (!drafters.empty()) {
    // Each drafter decodes 64 tokens at --drafter-budget from --prompt (with --tokenizer) or a
    // random 32-token prompt; its propose cost is the median step draft_ms, its observe (+
    // bookkeeping) cost the mean of decode_ms - draft_ms - verify_ms per step.
    const std::vector<std::string> specs = split_drafters(drafters);
    std::vector<Token> prompt;
    if (r.count("tokenizer")) {
      const auto tok = load_tokenizer(r["tokenizer"].as<std::string>());
      if (tok->vocab_size() != info.vocab_size) {
        fail("--tokenizer: vocab_size = {}: must equal the model's vocab_size = {} ({})", tok->vocab_size(),
             info.vocab_size, model_path);
      }
      prompt = tok->encode(r["prompt"].as<std::string>(), true);
      if (prompt.empty()) fail("--prompt: encodes to no tokens");
      p.machine["drafter_prompt"] = r["prompt"].as<std::string>();
    } else {
      Rng rng(3);
      prompt.push_back(info.bos_id);
      for (int i = 0; i < 31; ++i) prompt.push_back(static_cast<Token>(rng.next_u64() % info.vocab_size));
      p.machine["drafter_prompt"] = "32 random token ids";
    }
    DrafterEnv env{&info, draft_path, threads, weights, draft_dtype};
    for (const auto& spec : specs) {
      auto d = make_drafter(spec, env);
      DecodeOptions o;
      o.max_new_tokens = 64;
      o.budget.max_nodes = drafter_budget;
      o.stop_at_eos = o.stop_at_bos = false;
      const DecodeResult res = decode(target, d.get(), nullptr, prompt, o);
      std::vector<double> draft;
      double other = 0;
      for (const auto& st : res.steps) {
        draft.push_back(st.draft_ms);
        other += st.draft_ms + st.verify_ms;
      }
      const double steps = std::max<double>(1.0, res.steps.size());
      p.drafters[spec] = {{"propose_ms", draft.empty() ? 0.0 : median(draft)},
                          {"observe_ms", std::max(0.0, (res.decode_ms - other) / steps)},
                          {"budget", drafter_budget}};
      std::fprintf(stderr, "drafter %s: propose %.4f ms, observe %.4f ms per step\n", spec.c_str(),
                   p.drafters[spec]["propose_ms"].get<double>(), p.drafters[spec]["observe_ms"].get<double>());
    }
  }
  // Round trip through the parser: what we write is what --profile accepts.
  const nlohmann::json j = cost_profile_json(p);
  (void)parse_cost_profile(j, out_path);
  replace_file(out_path, j.dump(1) + "\n");
  std::fprintf(stderr, "wrote %s (%zu x %zu points; n = 1: %.4f ms at L = %d)\n", out_path.c_str(), lengths.size(),
               sizes.size(), p.target.ms[0], lengths[0]);
  return 0;
}

}  // namespace speclab::cli
