#include "experiments/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <tuple>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "base/rng.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_preset.h"
#include "tokenizers/byte_tokenizer.h"
#include "tokenizers/chat_template.h"
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

// The decode seed of turn `turn` (0-based) of a unit: the unit's seed for the first turn (so
// single-turn runs are what they were), then the turn-th output of Rng(seed), so that the turns
// of a conversation do not replay the same random stream.
std::uint64_t turn_seed(std::uint64_t seed, std::size_t turn) {
  if (turn == 0) return seed;
  Rng rng(seed);
  std::uint64_t x = 0;
  for (std::size_t k = 0; k < turn; ++k) x = rng.next_u64();
  return x;
}

// `s` with every ill-formed UTF-8 sequence replaced by U+FFFD, one per maximal subpart (as
// Rust's String::from_utf8_lossy, which Hugging Face tokenizers' decode uses).
std::string utf8_lossy(std::string_view s) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += s[i++];
      continue;
    }
    const std::size_t len = (c >= 0xC2 && c <= 0xDF)   ? 2
                            : (c >= 0xE0 && c <= 0xEF) ? 3
                            : (c >= 0xF0 && c <= 0xF4) ? 4
                                                       : 0;  // 0: not a lead byte
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    std::size_t j = 1;
    for (; j < len && i + j < s.size(); ++j) {
      const auto b = static_cast<unsigned char>(s[i + j]);
      unsigned char lo = 0x80, hi = 0xBF;
      if (j == 1) {
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
      }
      if (b < lo || b > hi) break;
    }
    if (j == len) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      i += j;
    }
  }
  return out;
}


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
  } else if (std::error_code ec; !std::filesystem::exists(spec.model, ec)) {
    problems.push_back(fmt::format("model = {}: file not found", spec.model));
    return;
  } else {
    try {
      exp.weights = load_weights_shared(spec.model, WeightLoadOptions{spec.dtype, spec.threads});
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
  if (spec.ctx > exp.weights->info.max_seq_len) {
    problems.push_back(fmt::format("ctx = {}: must be at most the model's maximum context {}", spec.ctx,
                                   exp.weights->info.max_seq_len));
    return;
  }
  if (spec.threads >= 1 && spec.threads <= 1024) {
    const std::optional<KvCacheType> kv = kv_cache_type_from_name(spec.kv_dtype);
    exp.target = std::make_unique<LlamaModel>(exp.weights, spec.threads, spec.ctx > 0 ? spec.ctx : -1,
                                              kv.value_or(KvCacheType::kF32));
  }
}

// Cost profiles (issue 17): measured profiles as they are, hardware descriptions as rooflines
// of the loaded model (its resident weight types, the requested context and KV type).
void load_profiles(PreparedExperiment& exp, std::vector<std::string>& problems) {
  if (exp.spec.profiles.empty()) return;
  if (!exp.weights || !exp.target) {
    problems.push_back("profiles: need the model (see the problems above)");
    return;
  }
  const auto* llama = dynamic_cast<const LlamaModel*>(exp.target.get());
  const ModelShape shape = model_shape(*exp.weights, llama ? llama->kv_type() : KvCacheType::kF32);
  for (const auto& path : exp.spec.profiles) {
    try {
      CostProfile p = load_cost_profile(path, shape, exp.target->info().max_seq_len, exp.model_label);
      const bool dup = std::any_of(exp.profiles.begin(), exp.profiles.end(),
                                   [&](const CostProfile& q) { return q.name == p.name; });
      if (dup) {
        problems.push_back(fmt::format("profiles: {}: a profile named '{}' is already listed (names become "
                                       "column names)", path, p.name));
        continue;
      }
      exp.profiles.push_back(std::move(p));
    } catch (const Error& e) {
      problems.push_back(fmt::format("profiles: {}", e.what()));
    }
  }
}

void load_prompt_sets(PreparedExperiment& exp, std::vector<std::string>& problems) {
  for (const auto& path : exp.spec.prompts) {
    try {
      auto set = first_per_category(load_prompts(path), exp.spec.max_prompts);
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

std::vector<Token> first_turn_tokens(const PreparedExperiment& exp, const Prompt& p) {
  return turn_prompt_tokens(exp, p, 0, {});
}

// The chat template of the experiment (spec.chat_template: "" = the model directory's own, if
// any; "none"; or a path). Problems are listed, not thrown.
void load_chat_template_for(PreparedExperiment& exp, std::vector<std::string>& problems) {
  const ExperimentSpec& spec = exp.spec;
  if (spec.chat_template == "none") return;
  try {
    if (!spec.chat_template.empty()) {
      exp.chat_template = std::make_shared<const ChatTemplate>(load_chat_template(spec.chat_template));
    } else if (!exp.synthetic) {
      std::error_code ec;
      if (std::filesystem::is_directory(spec.model, ec)) {
        if (auto t = load_model_chat_template(spec.model)) exp.chat_template = std::make_shared<const ChatTemplate>(std::move(*t));
      }
    }
  } catch (const Error& e) {
    problems.push_back(fmt::format("chat_template: {}", e.what()));
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
        for (const auto& policy : spec.budget_policies) {
          for (auto depth : spec.depths) {
            Configuration c;
            c.index = static_cast<std::int32_t>(exp.configs.size());
            c.drafter = params.drafter();
            c.drafter_spec = full;
            c.params = params_of(params);
            c.rule_spec = rule;
            c.budget = budget;
            c.budget_policy = policy;
            c.depth_cap = depth;
            exp.configs.push_back(std::move(c));
          }
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

std::string answer_text(const Tokenizer& tok, const std::vector<Token>& tokens) {
  const std::string text = utf8_lossy(tok.decode(tokens));
  const auto first = text.find_first_not_of(" \t\n\r\f\v");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\n\r\f\v");
  return text.substr(first, last - first + 1);
}

std::vector<Token> turn_prompt_tokens(const PreparedExperiment& exp, const Prompt& prompt, std::size_t turn,
                                      const std::vector<std::string>& answers) {
  SPECLAB_ASSERT(turn < prompt.turns.size() && answers.size() >= turn);
  if (!exp.chat_template) {
    std::string text = prompt.turns[0];
    for (std::size_t k = 1; k <= turn; ++k) text += "\n\n" + answers[k - 1] + "\n\n" + prompt.turns[k];
    return exp.tokenizer->encode(text, true);
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (std::size_t k = 0; k <= turn; ++k) {
    messages.push_back({{"role", "user"}, {"content", prompt.turns[k]}});
    if (k < turn) messages.push_back({{"role", "assistant"}, {"content", answers[k]}});
  }
  ChatRenderOptions ro;
  ro.add_generation_prompt = true;
  ro.now = chat_date(exp.spec.chat_date, "chat_date");
  return encode_rendering(*exp.tokenizer, exp.chat_template->render(messages, ro));
}

PreparedExperiment prepare_experiment(const ExperimentSpec& spec_in, const TokenizerResolver& resolve_tokenizer) {
  PreparedExperiment exp;
  ExperimentSpec spec = spec_in;
  spec.draft_model = expand_model_dir(spec.draft_model, spec.model);
  for (auto& d : spec.drafters) d.spec = expand_model_dir(d.spec, spec.model);
  exp.spec = spec;
  std::vector<std::string> problems = spec_problems(spec, "spec");
  load_prompt_sets(exp, problems);
  load_model(exp, resolve_tokenizer, problems);
  load_chat_template_for(exp, problems);
  load_profiles(exp, problems);
  if (exp.target) {
    const std::int32_t ctx = exp.target->info().max_seq_len;  // the requested context
    for (const auto& p : exp.prompts) {
      std::vector<Token> ids;
      try {
        ids = first_turn_tokens(exp, p);
      } catch (const Error& e) {
        problems.push_back(fmt::format("prompts: {} id '{}': {}", p.set, p.id, e.what()));
        continue;
      }
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
  env.draft_dtype = spec.draft_dtype;
  build_configs(exp, env, problems);
  throw_if_problems(problems);
  SPECLAB_ASSERT(exp.target && !exp.prompts.empty());
  resolve_and_dry_run(exp, env, problems);
  throw_if_problems(problems);
  build_units(exp);
  return exp;
}

RunOutcome run_experiment(PreparedExperiment& exp, ShardSelection shard, const RunControl& control) {
  SPECLAB_ASSERT(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count);
  const ExperimentSpec& spec = exp.spec;
  DrafterEnv env{&exp.weights->info, spec.draft_model, spec.threads, exp.weights, spec.draft_dtype};
  std::vector<std::unique_ptr<Drafter>> drafters(exp.configs.size());
  std::vector<std::vector<std::unique_ptr<AcceptanceRule>>> rules(exp.configs.size());
  for (const auto& c : exp.configs) {
    if (c.index == 0) continue;
    drafters[c.index] = make_drafter(c.drafter_spec, env);
    for (const auto& name : exp.resolved_rule[c.index]) rules[c.index].push_back(make_rule(name));
  }
  const std::set<std::int32_t> skip(control.skip_units.begin(), control.skip_units.end());
  RunOutcome out;
  std::vector<const Unit*> mine;
  for (const auto& u : exp.units) {
    if (u.index % shard.count != shard.index) continue;
    ++out.units_total;
    if (skip.count(u.index)) {
      ++out.units_skipped;
    } else {
      mine.push_back(&u);
    }
  }
  std::int64_t total = 0;  // sequences: configurations x turns of each unit
  for (const Unit* u : mine) {
    total += static_cast<std::int64_t>(exp.configs.size()) *
             static_cast<std::int64_t>(exp.prompts[u->prompt].turns.size());
  }
  std::int64_t done = 0;
  const std::int32_t ctx = exp.target->info().max_seq_len;
  for (const Unit* u : mine) {
    if (control.stop_requested && control.stop_requested()) {
      out.interrupted = true;
      break;
    }
    RunRecords rec;
    const std::size_t ti = static_cast<std::size_t>(
        std::find(spec.temperatures.begin(), spec.temperatures.end(), u->temperature) - spec.temperatures.begin());
    const Prompt& prompt = exp.prompts[u->prompt];
    const bool greedy = sampling_for(spec, u->temperature).greedy();
    // answers[config]: that configuration's answers to the turns so far. Turn k's prompt follows
    // the baseline's answers when greedy (every configuration then sees the same conversation,
    // so greedy losslessness is checked on every turn), else the configuration's own samples.
    std::vector<std::vector<std::string>> answers(exp.configs.size());
    std::vector<Token> later_ids;  // turn >= 2: the conversation's prompt (shared when greedy)
    // Turn by turn; within a turn the baseline, then every configuration.
    for (std::size_t slot = 0; slot < prompt.turns.size() * exp.configs.size(); ++slot) {
      const std::size_t turn = slot / exp.configs.size();
      const Configuration& c = exp.configs[slot % exp.configs.size()];
      if (turn > 0 && (!greedy || c.index == 0)) {
        try {
          later_ids = turn_prompt_tokens(exp, prompt, turn, answers[greedy ? 0 : c.index]);
        } catch (const Error& e) {
          fail("prompt {}/{} turn {} (configuration {}): {}", prompt.set, prompt.id, turn + 1, c.index, e.what());
        }
      }
      const std::vector<Token>& ids = turn == 0 ? exp.prompt_tokens[u->prompt] : later_ids;
      DecodeOptions opt;
      opt.sampling = sampling_for(spec, u->temperature);
      opt.max_new_tokens = spec.max_new_tokens;
      opt.budget = DraftBudget{c.budget, c.depth_cap};
      if (c.budget_policy == "cost") opt.cost_profile = &exp.profiles.front();
      opt.seed = turn_seed(u->seed, turn);
      const AcceptanceRule* rule = c.index == 0 ? nullptr : rules[c.index][ti].get();
      DecodeResult res;
      if (static_cast<std::int32_t>(ids.size()) + 1 >= ctx) {
        res.stop = StopReason::kContextFull;  // a later turn's conversation outgrew the context: no tokens
      } else {
        try {
          res = decode(*exp.target, drafters[c.index].get(), rule, ids, opt);
        } catch (const Error& e) {
          fail("configuration {} (drafter '{}', rule '{}', budget {}) on prompt {}/{} turn {} at temperature {}: {}",
               c.index, c.drafter_spec.empty() ? kAutoregressive : c.drafter_spec, c.rule_spec, c.budget,
               prompt.set, prompt.id, turn + 1, temperature_text(u->temperature), e.what());
        }
      }
      if (turn + 1 < prompt.turns.size() && (!greedy || c.index == 0)) {
        answers[c.index].push_back(answer_text(*exp.tokenizer, res.tokens));
      }
      SequenceRow s;
      s.unit = u->index;
      s.config = c.index;
      s.rep = u->rep;
      s.prompt_set = prompt.set;
      s.prompt_id = prompt.id;
      s.turn = static_cast<std::int32_t>(turn + 1);
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
      s.budget_policy = c.budget_policy;
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
        r.turn = s.turn;
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
        r.opt_accept_bound = st.opt_accept_bound;
        rec.steps.push_back(std::move(r));
      }
      rec.sequences.push_back(std::move(s));
      ++done;
      if (control.progress) control.progress(done, total);
    }
    ++out.units_run;
    if (control.on_unit) {
      control.on_unit(*u, std::move(rec));
    } else {
      out.records.sequences.insert(out.records.sequences.end(), std::make_move_iterator(rec.sequences.begin()),
                                   std::make_move_iterator(rec.sequences.end()));
      out.records.steps.insert(out.records.steps.end(), std::make_move_iterator(rec.steps.begin()),
                               std::make_move_iterator(rec.steps.end()));
    }
  }
  return out;
}

RunRecords run_experiment(PreparedExperiment& exp, ShardSelection shard, const ProgressFn& progress) {
  RunControl control;
  control.progress = progress;
  return run_experiment(exp, shard, control).records;
}

const Configuration* uses_warm_state(const PreparedExperiment& exp) {
  for (const auto& c : exp.configs) {
    if (c.index == 0) continue;
    const DrafterParams p = DrafterParams::parse(c.drafter_spec);
    const DrafterKind* kind = find_drafter_kind(p.drafter());
    if (kind != nullptr && kind->cross_prompt_state && p.get_string("state", "cold") == "warm") return &c;
  }
  return nullptr;
}


json experiment_config(const PreparedExperiment& exp, ShardSelection shard, const BuildInfo& build) {
  json j;
  j["schema"] = "speclab-experiment-1";
  j["spec"] = spec_to_json(exp.spec);
  j["synthetic_model"] = exp.synthetic;
  j["model"] = exp.model_label;
  const ModelInfo& mi = exp.weights->info;
  j["model_info"] = {{"format", mi.format},     {"dtype", mi.weight_dtype},
                     {"resident_dtype", exp.weights->resident_dtypes()},
                     {"weight_bytes", exp.weights->n_bytes()}, {"dim", mi.dim},
                     {"hidden_dim", mi.hidden_dim}, {"n_layers", mi.n_layers}, {"n_heads", mi.n_heads},
                     {"n_kv_heads", mi.n_kv_heads}, {"vocab_size", mi.vocab_size},
                     {"max_seq_len", mi.max_seq_len}, {"n_params", mi.n_params()}};
  j["tokenizer"] = exp.tokenizer_label;
  j["chat_template_used"] = exp.chat_template ? exp.chat_template->origin() : std::string("none");
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
    // Only when not the default, so that runs without policies keep their config.json (--resume).
    if (c.budget_policy != "fixed") cfgs.back()["budget_policy"] = c.budget_policy;
  }
  j["configurations"] = cfgs;
  if (!exp.profiles.empty()) {
    json profiles = json::array();
    for (const auto& p : exp.profiles) profiles.push_back(cost_profile_json(p));
    j["profiles"] = profiles;  // merge projects with these
  }
  json prompts = json::array();
  for (std::size_t i = 0; i < exp.prompts.size(); ++i) {
    prompts.push_back({{"set", exp.prompts[i].set},
                       {"id", exp.prompts[i].id},
                       {"category", exp.prompts[i].category},
                       {"tokens", exp.prompt_tokens[i].size()}});
    // Multi-turn questions only, so that single-turn runs keep their config.json (and --resume).
    if (exp.prompts[i].turns.size() > 1) prompts.back()["turns"] = exp.prompts[i].turns.size();
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

namespace {

constexpr const char* kStatusRunning = "running";
constexpr const char* kStatusComplete = "complete";
constexpr const char* kStatusInterrupted = "interrupted";
constexpr const char* kStatusFailed = "failed";

// The first key on which two config.json values disagree among those that define an experiment's
// results: every key of "spec" except threads ("spec.KEY"), then `keys`. False when they agree;
// else true with the key and excerpts of both values (a's in `was`, b's in `now`).
bool first_difference(const json& a, const json& b, std::initializer_list<const char*> keys, std::string& key,
                      std::string& was, std::string& now) {
  const json none;
  const json& sa = a.contains("spec") ? a["spec"] : none;
  const json& sb = b.contains("spec") ? b["spec"] : none;
  std::set<std::string> names;
  if (sa.is_object()) {
    for (auto it = sa.begin(); it != sa.end(); ++it) names.insert(it.key());
  }
  if (sb.is_object()) {
    for (auto it = sb.begin(); it != sb.end(); ++it) names.insert(it.key());
  }
  if (!sa.is_object() || !sb.is_object()) {
    if (sa != sb) {
      key = "spec";
      was = json_excerpt(sa);
      now = json_excerpt(sb);
      return true;
    }
  }
  for (const auto& n : names) {
    if (n == "threads") continue;
    const json& x = sa.contains(n) ? sa[n] : none;
    const json& y = sb.contains(n) ? sb[n] : none;
    if (x != y) {
      key = "spec." + n;
      was = json_excerpt(x);
      now = json_excerpt(y);
      return true;
    }
  }
  for (const char* k : keys) {
    const json& x = a.contains(k) ? a[k] : none;
    const json& y = b.contains(k) ? b[k] : none;
    if (x != y) {
      key = k;
      was = json_excerpt(x);
      now = json_excerpt(y);
      return true;
    }
  }
  return false;
}

json read_config_json(const std::string& path) {
  json c = parse_json(read_input_file(path), path);
  if (!c.is_object()) fail("{}: not a speclab experiment config (not a JSON object)", path);
  return c;
}

std::string status_of(const json& config, const std::string& path) {
  if (!config.contains("status")) return kStatusComplete;  // written before runs could be interrupted
  return json_string(config["status"], path, "status");
}

// Resume: the rows of DIR that form done units of this experiment's shard (see runner.h).
struct Recovered {
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  std::vector<std::int32_t> done, dropped;
};

std::string whole_lines_of(const std::string& path) {
  if (std::error_code ec; !std::filesystem::exists(path, ec)) return {};
  std::string text = read_input_file(path);
  text.resize(whole_csv_lines(text));
  return text;
}

Recovered recover_done_units(const PreparedExperiment& exp, ShardSelection shard, const std::string& dir) {
  const std::string sp = dir + "/sequences.csv", tp = dir + "/steps.csv";
  const std::string stext = whole_lines_of(sp), ttext = whole_lines_of(tp);
  std::vector<SequenceRow> seqs = stext.empty() ? std::vector<SequenceRow>{} : parse_sequences_csv(stext, sp);
  std::vector<StepRow> steps = ttext.empty() ? std::vector<StepRow>{} : parse_steps_csv(ttext, tp);
  const std::int32_t n_units = static_cast<std::int32_t>(exp.units.size());
  const std::int32_t n_configs = static_cast<std::int32_t>(exp.configs.size());
  auto in_shard = [&](std::int32_t u) { return u >= 0 && u < n_units && u % shard.count == shard.index; };
  // (unit, config, turn) -> sequence row; checked against the unit and configuration it claims.
  using Key = std::tuple<std::int32_t, std::int32_t, std::int32_t>;
  std::map<Key, const SequenceRow*> by_key;
  for (const auto& s : seqs) {
    if (!in_shard(s.unit) || s.config < 0 || s.config >= n_configs) {
      fail("--resume: {}: a row for unit {} config {}: not a unit and configuration of this experiment's shard {}/{}",
           sp, s.unit, s.config, shard.index, shard.count);
    }
    const Unit& u = exp.units[s.unit];
    const Prompt& p = exp.prompts[u.prompt];
    const Configuration& c = exp.configs[s.config];
    if (s.turn < 1 || s.turn > static_cast<std::int32_t>(p.turns.size())) {
      fail("--resume: {}: the row for unit {} config {} has turn {}: prompt {}/{} has {} turn(s)", sp, s.unit,
           s.config, s.turn, p.set, p.id, p.turns.size());
    }
    if (s.rep != u.rep || s.prompt_set != p.set || s.prompt_id != p.id || s.seed != u.seed ||
        s.temperature != u.temperature || s.drafter != c.drafter || s.params != c.params ||
        s.budget != c.budget || s.depth_cap != c.depth_cap || s.budget_policy != c.budget_policy) {
      fail("--resume: {}: the row for unit {} config {} does not describe that unit and configuration of this "
           "experiment (prompt {}/{}, seed {}, temperature {}, drafter '{}' budget {})",
           sp, s.unit, s.config, p.set, p.id, u.seed, temperature_text(u.temperature), c.drafter, c.budget);
    }
    if (!by_key.emplace(Key{s.unit, s.config, s.turn}, &s).second) {
      fail("--resume: {}: unit {} config {} turn {} appears twice", sp, s.unit, s.config, s.turn);
    }
  }
  std::map<Key, std::int32_t> n_steps;
  for (const auto& t : steps) ++n_steps[{t.unit, t.config, t.turn}];
  // A unit is done when every configuration has, for every turn of its prompt, the sequence row
  // and all its steps.
  std::set<std::int32_t> touched, done;
  for (const auto& s : seqs) touched.insert(s.unit);
  for (const auto& t : steps) touched.insert(t.unit);
  for (std::int32_t u : touched) {
    bool complete = in_shard(u);
    const std::int32_t n_turns =
        complete ? static_cast<std::int32_t>(exp.prompts[exp.units[u].prompt].turns.size()) : 0;
    for (std::int32_t c = 0; complete && c < n_configs; ++c) {
      for (std::int32_t turn = 1; complete && turn <= n_turns; ++turn) {
        const auto it = by_key.find({u, c, turn});
        const auto st = n_steps.find({u, c, turn});
        complete = it != by_key.end() && (st == n_steps.end() ? 0 : st->second) == it->second->target_forwards;
      }
    }
    if (complete) done.insert(u);
  }
  Recovered r;
  for (auto& s : seqs) {
    if (done.count(s.unit)) r.seqs.push_back(std::move(s));
  }
  for (auto& t : steps) {
    if (done.count(t.unit)) r.steps.push_back(std::move(t));
  }
  r.done.assign(done.begin(), done.end());
  for (std::int32_t u : touched) {
    if (!done.count(u)) r.dropped.push_back(u);
  }
  // Steps of a done sequence are 0..n-1 once sorted; anything else is not a file this code wrote.
  sort_rows(r.seqs, r.steps);
  for (std::size_t i = 0, k = 0; i < r.steps.size(); ++i) {
    const StepRow& a = r.steps[i];
    k = (i > 0 && r.steps[i - 1].unit == a.unit && r.steps[i - 1].config == a.config && r.steps[i - 1].turn == a.turn)
            ? k + 1
            : 0;
    if (a.step != static_cast<std::int32_t>(k)) {
      fail("--resume: {}: unit {} config {} turn {}: step {} where {} was expected (steps repeated or missing)", tp,
           a.unit, a.config, a.turn, a.step, k);
    }
  }
  return r;
}

json history_entry(const BuildInfo& build, bool resume, std::int64_t units_run, const std::string& status) {
  return {{"command", build.command},
          {"git_commit", build.git_commit},
          {"resume", resume},
          {"units_run", units_run},
          {"status", status}};
}

}  // namespace

DirectoryRunResult run_into_directory(PreparedExperiment& exp, ShardSelection shard, const std::string& dir,
                                      const BuildInfo& build, const DirectoryRunOptions& options) {
  DirectoryRunResult result;
  const std::string cpath = dir + "/config.json";
  std::int64_t shard_units = 0;
  for (const auto& u : exp.units) shard_units += u.index % shard.count == shard.index;
  json config = experiment_config(exp, shard, build);
  json history = json::array();
  RunControl control;
  control.progress = options.progress;
  control.stop_requested = options.stop_requested;
  if (options.resume) {
    if (std::error_code ec; !std::filesystem::exists(cpath, ec)) {
      fail("--resume: {}: no config.json: nothing to resume (run without --resume to start)", dir);
    }
    const json old = read_config_json(cpath);
    if (!old.contains("spec") || !old.contains("n_units") || !old.contains("configurations")) {
      fail("--resume: {}: not a speclab experiment config (missing spec/n_units/configurations)", cpath);
    }
    result.previous_status = status_of(old, cpath);
    std::string key, was, now;
    if (first_difference(old, config,
                         {"model", "model_info", "tokenizer", "configurations", "prompts", "n_units", "shard"}, key,
                         was, now)) {
      fail("--resume: {}: '{}' differs: {} there, {} now: --resume continues the same experiment (same spec, "
           "overrides, model and prompts; only threads may change)",
           cpath, key, was, now);
    }
    if (old.contains("history") && old["history"].is_array()) history = old["history"];
    Recovered r = recover_done_units(exp, shard, dir);
    result.units_kept = static_cast<std::int64_t>(r.done.size());
    result.dropped_units = r.dropped;
    if (result.units_kept < shard_units) {
      if (const Configuration* c = uses_warm_state(exp)) {
        fail("--resume: configuration {} (drafter '{}') keeps drafter state across units (state=warm): a resumed "
             "run would not reproduce an uninterrupted one; run it again without --resume (or with state=cold)",
             c->index, c->drafter_spec);
      }
    }
    control.skip_units = r.done;
    write_records(dir, std::move(r.seqs), std::move(r.steps));
  } else {
    if (std::error_code ec; std::filesystem::exists(cpath, ec)) {  // only for the message: a fresh run overwrites DIR
      try {
        result.previous_status = status_of(read_config_json(cpath), cpath);
      } catch (const Error&) {
      }
    }
    create_output_directory(dir);
    write_records(dir, {}, {});
    for (const char* f : {"summary.csv", "by_depth.csv", "by_rank.csv", "by_category.csv", "accept_hist.csv"}) {
      // an earlier run's, until rewritten
      std::error_code ec;
      std::filesystem::remove(dir + "/" + f, ec);
    }
  }
  result.units_total = shard_units;
  if (options.on_start) options.on_start(result);
  config["status"] = kStatusRunning;
  config["units_done"] = result.units_kept;
  config["units_total"] = shard_units;
  json running_history = history;
  running_history.push_back(history_entry(build, options.resume, 0, kStatusRunning));
  config["history"] = running_history;
  replace_file(cpath, config.dump(2) + "\n");

  std::int64_t units_done = result.units_kept;
  control.on_unit = [&](const Unit&, RunRecords rows) {
    append_records(dir, rows.sequences, rows.steps);
    ++units_done;
  };
  RunOutcome outcome;
  try {
    outcome = run_experiment(exp, shard, control);
  } catch (const Error& e) {
    // The finished units stay on disk (resume continues from them once the cause is fixed).
    config["status"] = kStatusFailed;
    config["units_done"] = units_done;
    config["error"] = e.what();
    history.push_back(history_entry(build, options.resume, units_done - result.units_kept, kStatusFailed));
    config["history"] = history;
    try {
      replace_file(cpath, config.dump(2) + "\n");
    } catch (const Error&) {
    }
    throw;
  }
  result.units_total = outcome.units_total;
  result.units_run = outcome.units_run;
  result.units_done = outcome.units_skipped + outcome.units_run;
  result.complete = result.units_done == result.units_total;

  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  read_records(dir, seqs, steps);
  result.reports = write_reports(dir, std::move(seqs), std::move(steps), exp.model_label, exp.profiles);
  const char* status = result.complete ? kStatusComplete : kStatusInterrupted;
  config["status"] = status;
  config["units_done"] = result.units_done;
  history.push_back(history_entry(build, options.resume, result.units_run, status));
  config["history"] = history;
  replace_file(cpath, config.dump(2) + "\n");
  return result;
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
    const json c = read_config_json(cpath);
    if (!c.contains("spec") || !c.contains("shard") || !c.contains("n_units") || !c.contains("model")) {
      fail("{}: not a speclab experiment config (missing spec/shard/n_units/model)", cpath);
    }
    if (!c["shard"].contains("index") || !c["shard"]["index"].is_number_integer() ||
        !c["shard"].contains("count") || !c["shard"]["count"].is_number_integer()) {
      fail("{}: shard = {}: not a shard of a run (already merged?)", cpath, json_excerpt(c["shard"]));
    }
    if (const std::string status = status_of(c, cpath); status != kStatusComplete) {
      fail("merge: {}: status '{}' ({} of {} units done): finish that shard first (rerun its command with "
           "--resume --out {})",
           cpath, status, c.contains("units_done") ? json_excerpt(c["units_done"]) : "?",
           c.contains("units_total") ? json_excerpt(c["units_total"]) : "?", dirs[i]);
    }
    if (i == 0) {
      first = c;
      count = c["shard"]["count"].get<std::int32_t>();
    } else {
      // Shards may run with different thread counts; everything else must agree.
      std::string key, was, now;
      if (first_difference(first, c, {"configurations", "model", "prompts", "n_units", "profiles"}, key, was,
                           now)) {
        fail("merge: {}: '{}' differs from {}/config.json ({} here, {} there): shards must come from the same "
             "experiment",
             cpath, key, dirs[0], now, was);
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
  std::set<std::tuple<std::int32_t, std::int32_t, std::int32_t>> seen;
  for (const auto& s : seqs) {
    if (!seen.insert({s.unit, s.config, s.turn}).second) {
      fail("merge: unit {} config {} turn {} appears in more than one shard", s.unit, s.config, s.turn);
    }
  }
  const std::string label = first["model"].get<std::string>();
  if (model) *model = label;
  json merged = first;
  merged["shard"] = {{"index", "merged"}, {"count", count}, {"dirs", dirs}};
  if (merged.contains("status")) {
    merged["status"] = kStatusComplete;
    merged["units_done"] = merged["n_units"];
    merged["units_total"] = merged["n_units"];
    merged.erase("history");
  }
  std::vector<CostProfile> profiles;  // the shards' (their configurations agree)
  if (const auto it = first.find("profiles"); it != first.end()) {
    if (!it->is_array() || it->size() > 16) fail("{}/config.json: profiles: must be an array of at most 16 profiles", dirs[0]);
    for (std::size_t k = 0; k < it->size(); ++k) {
      profiles.push_back(parse_cost_profile((*it)[k], fmt::format("{}/config.json: profiles[{}]", dirs[0], k)));
    }
  }
  create_output_directory(out);
  replace_file(out + "/config.json", merged.dump(2) + "\n");
  return write_reports(out, std::move(seqs), std::move(steps), label, profiles);
}

}  // namespace speclab
