#include "experiments/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_preset.h"
#include "tokenizers/byte_tokenizer.h"
#include "tokenizers/tokenizer_loader.h"
#include "drafters/registry.h"
#include "experiments/decode.h"
#include "verifiers/rules.h"

namespace speclab {

namespace {

using nlohmann::json;

constexpr std::int32_t kDryRunTokens = 4;

// Applies the spec's state policy to drafters with cross-prompt state (DrafterKind::
// cross_prompt_state: a state=cold|warm key), unless set explicitly.
DrafterParams with_state_policy(const DrafterParams& p, const std::string& state) {
  const DrafterKind* kind = find_drafter_kind(p.drafter());
  if (kind != nullptr && kind->cross_prompt_state && !p.has("state")) {
    auto values = p.values();
    values["state"] = state;
    return DrafterParams(p.drafter(), values);
  }
  return p;
}

std::string params_of(const DrafterParams& p) {
  const std::string s = p.to_string();
  const auto colon = s.find(':');
  return colon == std::string::npos ? std::string() : s.substr(colon + 1);
}

std::string temperature_text(double t) { return fmt::format("{}", t); }

SamplingParams sampling_for(const ExperimentSpec& spec, double temperature) {
  SamplingParams s;
  s.temperature = static_cast<float>(temperature);
  s.top_k = spec.top_k;
  s.top_p = static_cast<float>(spec.top_p);
  return s;
}

void load_model(PreparedExperiment& exp, const TokenizerResolver& resolve_tokenizer,
                std::vector<std::string>& problems) {
  const ExperimentSpec& spec = exp.spec;
  if (spec.model.empty() || spec.model == "synthetic") {
    exp.synthetic = true;
    exp.model_label = synthetic_preset_label();
    exp.weights = std::make_shared<const LlamaWeights>(synthetic_preset_weights());
    if (spec.tokenizer.empty()) {
      exp.tokenizer = std::make_unique<ByteTokenizer>(exp.weights->info.vocab_size);
      exp.tokenizer_label = "byte tokenizer (synthetic)";
    }
  } else if (!std::filesystem::exists(spec.model)) {
    problems.push_back(fmt::format("model = {}: file not found", spec.model));
    return;
  } else {
    try {
      exp.weights = load_weights_shared(spec.model);
      exp.model_label = std::filesystem::path(spec.model).filename().string();
    } catch (const Error& e) {
      problems.push_back(fmt::format("model = {}: {}", spec.model, e.what()));
      return;
    }
  }
  const std::int32_t vocab = exp.weights->info.vocab_size;
  if (!exp.tokenizer && spec.tokenizer == "bytes") {
    try {
      exp.tokenizer = std::make_unique<ByteTokenizer>(vocab);
      exp.tokenizer_label = "byte tokenizer";
    } catch (const Error& e) {
      problems.push_back(fmt::format("tokenizer = bytes: {}", e.what()));
      return;
    }
  }
  if (!exp.tokenizer) {
    try {
      const std::string path = exp.synthetic ? spec.tokenizer : resolve_tokenizer(spec.model, spec.tokenizer, vocab);
      exp.tokenizer = load_tokenizer(path);
      exp.tokenizer_label = path;
    } catch (const Error& e) {
      problems.push_back(fmt::format("tokenizer: {}", e.what()));
      return;
    }
  }
  if (exp.tokenizer->vocab_size() != vocab) {
    problems.push_back(fmt::format("tokenizer {}: vocab_size = {}: must equal the model's vocab_size = {}",
                                   exp.tokenizer_label, exp.tokenizer->vocab_size(), vocab));
    exp.tokenizer.reset();
    return;
  }
  if (spec.threads >= 1 && spec.threads <= 1024) exp.target = std::make_unique<LlamaModel>(exp.weights, spec.threads);
}

void load_prompt_sets(PreparedExperiment& exp, std::vector<std::string>& problems) {
  for (const auto& path : exp.spec.prompts) {
    try {
      auto set = load_prompts(path);
      if (exp.spec.max_prompts > 0 && static_cast<std::int32_t>(set.size()) > exp.spec.max_prompts) {
        set.resize(exp.spec.max_prompts);
      }
      const bool dup = std::any_of(exp.prompts.begin(), exp.prompts.end(),
                                   [&](const Prompt& q) { return q.set == set.front().set; });
      if (dup) {
        problems.push_back(fmt::format("prompts: {}: a prompt set named '{}' is already listed", path, set.front().set));
        continue;
      }
      for (auto& p : set) exp.prompts.push_back(std::move(p));
    } catch (const Error& e) {
      problems.push_back(fmt::format("prompts: {}", e.what()));
    }
  }
}

void build_configs(PreparedExperiment& exp, const DrafterEnv& env, std::vector<std::string>& problems) {
  const ExperimentSpec& spec = exp.spec;
  exp.configs.push_back(Configuration{});  // 0 = baseline
  for (std::size_t i = 0; i < spec.drafters.size(); ++i) {
    const DrafterEntry& d = spec.drafters[i];
    DrafterParams params;
    try {
      params = with_state_policy(DrafterParams::parse(d.spec), spec.state);
    } catch (const Error& e) {
      problems.push_back(fmt::format("drafters[{}] = '{}': {}", i, d.spec, e.what()));
      continue;
    }
    if (d.optional) {  // a draft model, trained heads or exit adapters not there (yet)
      const std::string missing = missing_optional_file(params, env);
      if (!missing.empty()) {
        exp.notes.push_back(fmt::format("skipping optional drafter '{}': {}", d.spec, missing));
        continue;
      }
    }
    const std::string full = params.to_string();
    const std::vector<std::string> drafter_problems = drafter_spec_problems(params, env);
    for (const auto& p : drafter_problems) problems.push_back(fmt::format("drafters[{}] = '{}': {}", i, d.spec, p));
    if (!drafter_problems.empty()) continue;
    const auto& rules = d.rules.empty() ? spec.rules : d.rules;
    for (const auto& rule : rules) {
      for (auto budget : spec.budgets) {
        for (auto depth : spec.depths) {
          Configuration c;
          c.index = static_cast<std::int32_t>(exp.configs.size());
          c.drafter = params.drafter();
          c.drafter_spec = full;
          c.params = params_of(params);
          c.rule_spec = rule;
          c.budget = budget;
          c.depth_cap = depth;
          exp.configs.push_back(std::move(c));
        }
      }
    }
  }
}

// Resolves "auto" from the drafter registry (the kind of trees the drafter proposes at each
// temperature) and dry-runs each (drafter spec, rule, temperature) once on the first prompt, so
// that a rule which cannot verify the drafter's trees fails before the real run.
void resolve_and_dry_run(PreparedExperiment& exp, const DrafterEnv& env, std::vector<std::string>& problems) {
  const ExperimentSpec& spec = exp.spec;
  const std::size_t n_temps = spec.temperatures.size();
  exp.resolved_rule.assign(exp.configs.size(), std::vector<std::string>(n_temps, "none"));
  const std::vector<Token>& prompt = exp.prompt_tokens.at(0);
  const std::int32_t max_budget = *std::max_element(spec.budgets.begin(), spec.budgets.end());
  std::map<std::tuple<std::string, std::string, std::size_t>, std::string> done;  // -> resolved rule ("" = failed)
  for (auto& c : exp.configs) {
    if (c.index == 0) continue;
    for (std::size_t ti = 0; ti < n_temps; ++ti) {
      const auto key = std::make_tuple(c.drafter_spec, c.rule_spec, ti);
      auto it = done.find(key);
      if (it == done.end()) {
        const double temp = spec.temperatures[ti];
        std::string resolved;
        try {
          const SamplingParams sampling = sampling_for(spec, temp);
          resolved = c.rule_spec == "auto"
                         ? default_rule_for(drafter_child_sampling(c.drafter_spec, env, sampling), sampling.greedy())
                         : c.rule_spec;
          auto drafter = make_drafter(c.drafter_spec, env);
          SPECLAB_ASSERT(drafter != nullptr);
          auto rule = make_rule(resolved);
          DecodeOptions opt;
          opt.sampling = sampling;
          opt.max_new_tokens = kDryRunTokens;
          opt.budget = DraftBudget{max_budget, 0};
          decode(*exp.target, drafter.get(), rule.get(), prompt, opt);
        } catch (const Error& e) {
          problems.push_back(fmt::format("drafter '{}' with rule '{}' at temperature {}: {}", c.drafter_spec,
                                         c.rule_spec, temperature_text(temp), e.what()));
          resolved.clear();
        }
        it = done.emplace(key, resolved).first;
      }
      exp.resolved_rule[c.index][ti] = it->second;
    }
  }
}

void build_units(PreparedExperiment& exp) {
  const ExperimentSpec& spec = exp.spec;
  std::int32_t u = 0;
  for (std::int32_t rep = 0; rep < spec.repetitions; ++rep) {
    for (double t : spec.temperatures) {
      for (std::uint64_t seed : spec.seeds) {
        for (std::size_t p = 0; p < exp.prompts.size(); ++p) {
          exp.units.push_back(Unit{u++, rep, static_cast<std::int32_t>(p), t, seed});
        }
      }
    }
  }
}

}  // namespace

ShardSelection parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  ShardSelection s;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("");
    std::size_t a = 0, b = 0;
    s.index = std::stoi(text.substr(0, slash), &a);
    s.count = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    fail("shard = '{}': must be I/N with integers 0 <= I < N", text);
  }
  if (s.count < 1 || s.index < 0 || s.index >= s.count) {
    fail("shard = '{}': must be I/N with 0 <= I < N", text);
  }
  return s;
}

namespace {

void replace_all(std::string& text, const std::string& key, const std::string& value) {
  for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + value.size())) {
    text.replace(pos, key.size(), value);
  }
}

// In drafter specs and the draft-model path: "{model_dir}" stands for the target model's
// directory, "{model_stem}" for its file name without extension (stories260K.bin ->
// stories260K), so heads trained per model can live in results/heads/{model_stem}-medusa.
std::string expand_model_dir(std::string text, const std::string& model) {
  const std::string dir = std::filesystem::path(model).parent_path().string();
  replace_all(text, "{model_dir}", dir.empty() ? "." : dir);
  replace_all(text, "{model_stem}", std::filesystem::path(model).stem().string());
  return text;
}

}  // namespace

PreparedExperiment prepare_experiment(const ExperimentSpec& spec_in, const TokenizerResolver& resolve_tokenizer) {
  PreparedExperiment exp;
  ExperimentSpec spec = spec_in;
  spec.draft_model = expand_model_dir(spec.draft_model, spec.model);
  for (auto& d : spec.drafters) d.spec = expand_model_dir(d.spec, spec.model);
  exp.spec = spec;
  std::vector<std::string> problems = spec_problems(spec, "spec");
  load_prompt_sets(exp, problems);
  load_model(exp, resolve_tokenizer, problems);
  if (exp.target) {
    const std::int32_t ctx = exp.weights->info.max_seq_len;
    for (const auto& p : exp.prompts) {
      std::vector<Token> ids = exp.tokenizer->encode(p.text, true);
      if (static_cast<std::int32_t>(ids.size()) + 1 >= ctx) {
        problems.push_back(fmt::format("prompts: {} id '{}': {} tokens do not fit the context of {} tokens",
                                       p.set, p.id, ids.size(), ctx));
      }
      exp.prompt_tokens.push_back(std::move(ids));
    }
  }
  DrafterEnv env;
  if (exp.weights) env.target = &exp.weights->info;
  env.target_weights = exp.weights;
  env.draft_model_path = spec.draft_model;
  env.n_threads = spec.threads;
  build_configs(exp, env, problems);
  throw_if_problems(problems);
  SPECLAB_ASSERT(exp.target && !exp.prompts.empty());
  resolve_and_dry_run(exp, env, problems);
  throw_if_problems(problems);
  build_units(exp);
  return exp;
}

RunRecords run_experiment(PreparedExperiment& exp, ShardSelection shard, const ProgressFn& progress) {
  SPECLAB_ASSERT(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count);
  const ExperimentSpec& spec = exp.spec;
  DrafterEnv env{&exp.weights->info, spec.draft_model, spec.threads, exp.weights};
  std::vector<std::unique_ptr<Drafter>> drafters(exp.configs.size());
  std::vector<std::vector<std::unique_ptr<AcceptanceRule>>> rules(exp.configs.size());
  for (const auto& c : exp.configs) {
    if (c.index == 0) continue;
    drafters[c.index] = make_drafter(c.drafter_spec, env);
    for (const auto& name : exp.resolved_rule[c.index]) rules[c.index].push_back(make_rule(name));
  }
  std::vector<const Unit*> mine;
  for (const auto& u : exp.units) {
    if (u.index % shard.count == shard.index) mine.push_back(&u);
  }
  const std::int64_t total = static_cast<std::int64_t>(mine.size()) * static_cast<std::int64_t>(exp.configs.size());
  std::int64_t done = 0;
  RunRecords rec;
  for (const Unit* u : mine) {
    const std::size_t ti = static_cast<std::size_t>(
        std::find(spec.temperatures.begin(), spec.temperatures.end(), u->temperature) - spec.temperatures.begin());
    const Prompt& prompt = exp.prompts[u->prompt];
    const std::vector<Token>& ids = exp.prompt_tokens[u->prompt];
    for (const auto& c : exp.configs) {
      DecodeOptions opt;
      opt.sampling = sampling_for(spec, u->temperature);
      opt.max_new_tokens = spec.max_new_tokens;
      opt.budget = DraftBudget{c.budget, c.depth_cap};
      opt.seed = u->seed;
      const AcceptanceRule* rule = c.index == 0 ? nullptr : rules[c.index][ti].get();
      DecodeResult res;
      try {
        res = decode(*exp.target, drafters[c.index].get(), rule, ids, opt);
      } catch (const Error& e) {
        fail("configuration {} (drafter '{}', rule '{}', budget {}) on prompt {}/{} at temperature {}: {}",
             c.index, c.drafter_spec.empty() ? kAutoregressive : c.drafter_spec, c.rule_spec, c.budget, prompt.set,
             prompt.id, temperature_text(u->temperature), e.what());
      }
      SequenceRow s;
      s.unit = u->index;
      s.config = c.index;
      s.rep = u->rep;
      s.prompt_set = prompt.set;
      s.prompt_id = prompt.id;
      s.category = prompt.category;
      s.temperature = u->temperature;
      s.top_k = spec.top_k;
      s.top_p = spec.top_p;
      s.seed = u->seed;
      s.drafter = c.drafter;
      s.params = c.params;
      s.rule = exp.resolved_rule[c.index][ti];
      s.lossless = rule ? rule->lossless() : true;
      s.budget = c.budget;
      s.depth_cap = c.depth_cap;
      s.prompt_tokens = static_cast<std::int32_t>(ids.size());
      s.new_tokens = static_cast<std::int32_t>(res.tokens.size());
      s.target_forwards = res.n_target_forwards();
      s.stop = to_string(res.stop);
      s.tokens_hash = tokens_hash(res.tokens);
      s.prefill_ms = res.prefill_ms;
      s.decode_ms = res.decode_ms;
      for (std::size_t k = 0; k < res.steps.size(); ++k) {
        const StepRecord& st = res.steps[k];
        s.drafted_tokens += st.n_drafted;
        s.accepted_tokens += st.n_accepted;
        s.draft_ms += st.draft_ms;
        s.verify_ms += st.verify_ms;
        StepRow r;
        r.unit = u->index;
        r.config = c.index;
        r.step = static_cast<std::int32_t>(k);
        r.n_drafted = st.n_drafted;
        r.tree_depth = st.tree_depth;
        r.n_accepted = st.n_accepted;
        r.n_emitted = st.n_emitted;
        r.bonus = st.bonus;
        const auto by_depth = res.drafted_by_depth_of(st), ranks = res.accepted_rank_of(st);
        r.drafted_by_depth.assign(by_depth.begin(), by_depth.end());
        r.accepted_rank.assign(ranks.begin(), ranks.end());
        r.draft_ms = st.draft_ms;
        r.verify_ms = st.verify_ms;
        r.exit_layer = st.exit_layer;
        rec.steps.push_back(std::move(r));
      }
      rec.sequences.push_back(std::move(s));
      ++done;
      if (progress) progress(done, total);
    }
  }
  return rec;
}

json experiment_config(const PreparedExperiment& exp, ShardSelection shard, const BuildInfo& build) {
  json j;
  j["schema"] = "speclab-experiment-1";
  j["spec"] = spec_to_json(exp.spec);
  j["synthetic_model"] = exp.synthetic;
  j["model"] = exp.model_label;
  const ModelInfo& mi = exp.weights->info;
  j["model_info"] = {{"format", mi.format},     {"dtype", mi.weight_dtype}, {"dim", mi.dim},
                     {"hidden_dim", mi.hidden_dim}, {"n_layers", mi.n_layers}, {"n_heads", mi.n_heads},
                     {"n_kv_heads", mi.n_kv_heads}, {"vocab_size", mi.vocab_size},
                     {"max_seq_len", mi.max_seq_len}, {"n_params", mi.n_params()}};
  j["tokenizer"] = exp.tokenizer_label;
  json cfgs = json::array();
  for (const auto& c : exp.configs) {
    cfgs.push_back({{"config", c.index},
                    {"drafter", c.drafter},
                    {"drafter_spec", c.drafter_spec.empty() ? std::string(kAutoregressive) : c.drafter_spec},
                    {"params", c.params},
                    {"rule", c.rule_spec},
                    {"resolved_rule", exp.resolved_rule[c.index]},
                    {"budget", c.budget},
                    {"depth_cap", c.depth_cap}});
  }
  j["configurations"] = cfgs;
  json prompts = json::array();
  for (std::size_t i = 0; i < exp.prompts.size(); ++i) {
    prompts.push_back({{"set", exp.prompts[i].set},
                       {"id", exp.prompts[i].id},
                       {"category", exp.prompts[i].category},
                       {"tokens", exp.prompt_tokens[i].size()}});
  }
  j["prompts"] = prompts;
  j["n_units"] = exp.units.size();
  j["n_configurations"] = exp.configs.size();
  j["unit_order"] = "rep, temperature, seed, prompt (outermost first); each unit runs config 0..n-1 back to back";
  j["shard"] = {{"index", shard.index}, {"count", shard.count}};
  j["threads"] = exp.spec.threads;
  j["seeds"] = exp.spec.seeds;
  j["notes"] = exp.notes;
  j["build"] = {{"git_commit", build.git_commit},
                {"compiler", build.compiler},
                {"cpu", build.cpu},
                {"command", build.command}};
  return j;
}

ReportSet merge_shards(const std::vector<std::string>& dirs, const std::string& out, std::string* model) {
  if (dirs.empty()) fail("merge: no shard directories given");
  json first;
  std::set<std::int32_t> shard_ids;
  std::int32_t count = 0;
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const std::string cpath = dirs[i] + "/config.json";
    json c;
    try {
      c = json::parse(read_text_file(cpath));
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", cpath, e.what());
    }
    if (!c.contains("spec") || !c.contains("shard") || !c.contains("n_units") || !c.contains("model")) {
      fail("{}: not a speclab experiment config (missing spec/shard/n_units/model)", cpath);
    }
    if (!c["shard"].contains("index") || !c["shard"]["index"].is_number_integer() ||
        !c["shard"].contains("count") || !c["shard"]["count"].is_number_integer()) {
      fail("{}: shard = {}: not a shard of a run (already merged?)", cpath, c["shard"].dump());
    }
    if (i == 0) {
      first = c;
      count = c["shard"]["count"].get<std::int32_t>();
    } else {
      // Shards may run with different thread counts; everything else must agree.
      json a = c["spec"], b = first["spec"];
      a.erase("threads");
      b.erase("threads");
      if (a != b) {
        fail("merge: {}: 'spec' differs from {}/config.json: shards must come from the same experiment", cpath,
             dirs[0]);
      }
      for (const char* key : {"configurations", "model", "prompts", "n_units"}) {
        if (c[key] != first[key]) {
          fail("merge: {}: '{}' differs from {}/config.json: shards must come from the same experiment", cpath,
               key, dirs[0]);
        }
      }
      if (c["shard"]["count"].get<std::int32_t>() != count) {
        fail("merge: {}: shard count {} differs from {} in {}", cpath, c["shard"]["count"].dump(), count, dirs[0]);
      }
    }
    const std::int32_t idx = c["shard"]["index"].get<std::int32_t>();
    if (!shard_ids.insert(idx).second) fail("merge: {}: shard {}/{} given twice", cpath, idx, count);
    std::vector<SequenceRow> s;
    std::vector<StepRow> t;
    read_records(dirs[i], s, t);
    seqs.insert(seqs.end(), s.begin(), s.end());
    steps.insert(steps.end(), t.begin(), t.end());
  }
  if (static_cast<std::int32_t>(shard_ids.size()) != count) {
    std::vector<std::int32_t> missing;
    for (std::int32_t k = 0; k < count; ++k) {
      if (!shard_ids.count(k)) missing.push_back(k);
    }
    fail("merge: {} of {} shards given; missing shard(s) {}", shard_ids.size(), count, fmt::join(missing, ", "));
  }
  std::set<std::pair<std::int32_t, std::int32_t>> seen;
  for (const auto& s : seqs) {
    if (!seen.insert({s.unit, s.config}).second) {
      fail("merge: unit {} config {} appears in more than one shard", s.unit, s.config);
    }
  }
  const std::string label = first["model"].get<std::string>();
  if (model) *model = label;
  json merged = first;
  merged["shard"] = {{"index", "merged"}, {"count", count}, {"dirs", dirs}};
  std::filesystem::create_directories(out);
  write_text_file(out + "/config.json", merged.dump(2) + "\n");
  return write_reports(out, std::move(seqs), std::move(steps), label);
}

}  // namespace speclab
