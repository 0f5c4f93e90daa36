#include "experiments/spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "experiments/decode.h"
#include "formats/model_loader.h"
#include "model/llama_model.h"
#include "tokenizers/chat_template.h"
#include "drafters/drafter_params.h"
#include "drafters/registry.h"
#include "verifiers/rules.h"

namespace speclab {

namespace {
constexpr double kMaxTemperature = 100.0;     // beyond it sampling is uniform to float precision
constexpr std::int32_t kMaxRepetitions = 10000;
}  // namespace

namespace {

using nlohmann::json;

// Reads typed fields from a JSON object, recording problems instead of throwing.
class FieldReader {
 public:
  FieldReader(const json& j, std::string source, std::vector<std::string>& problems)
      : j_(j), source_(std::move(source)), problems_(problems) {}

  void problem(const std::string& key, const std::string& what) {
    const bool is_value = what.rfind("= ", 0) == 0;  // "key = value: rule" vs "key: rule"
    problems_.push_back(fmt::format("{}: {}{}{}", source_, key, is_value ? " " : ": ", what));
  }

  void get_string(const char* key, std::string& out) {
    if (!j_.contains(key)) return;
    if (!j_[key].is_string()) return problem(key, fmt::format("= {}: must be a string", json_excerpt(j_[key])));
    out = j_[key].get<std::string>();
  }
  void get_int(const char* key, std::int32_t& out) {
    if (!j_.contains(key)) return;
    if (!j_[key].is_number_integer()) {
      return problem(key, fmt::format("= {}: must be an integer", json_excerpt(j_[key])));
    }
    if (j_[key].is_number_unsigned() && j_[key].get<std::uint64_t>() > INT32_MAX) {
      return problem(key, fmt::format("= {}: out of range", json_excerpt(j_[key])));
    }
    const long long v = j_[key].get<long long>();
    if (v < INT32_MIN || v > INT32_MAX) return problem(key, fmt::format("= {}: out of range", v));
    out = static_cast<std::int32_t>(v);
  }
  void get_double(const char* key, double& out) {
    if (!j_.contains(key)) return;
    if (!j_[key].is_number()) return problem(key, fmt::format("= {}: must be a number", json_excerpt(j_[key])));
    out = j_[key].get<double>();
  }
  // A list, or a single value taken as a one-element list.
  const json* list(const char* key) {
    if (!j_.contains(key)) return nullptr;
    tmp_ = j_[key].is_array() ? j_[key] : json::array({j_[key]});
    return &tmp_;
  }
  void get_int_list(const char* key, std::vector<std::int32_t>& out) {
    const json* l = list(key);
    if (!l) return;
    std::vector<std::int32_t> v;
    for (const auto& e : *l) {
      if (!e.is_number_integer() || (e.is_number_unsigned() && e.get<std::uint64_t>() > INT32_MAX) ||
          e.get<long long>() < INT32_MIN || e.get<long long>() > INT32_MAX) {
        return problem(key, fmt::format("= {}: must be a list of integers", json_excerpt(j_[key])));
      }
      v.push_back(static_cast<std::int32_t>(e.get<long long>()));
    }
    out = v;
  }
  void get_u64_list(const char* key, std::vector<std::uint64_t>& out) {
    const json* l = list(key);
    if (!l) return;
    std::vector<std::uint64_t> v;
    for (const auto& e : *l) {
      if (!e.is_number_integer() || (e.is_number_integer() && !e.is_number_unsigned() && e.get<long long>() < 0)) {
        return problem(key, fmt::format("= {}: must be a list of non-negative integers", json_excerpt(j_[key])));
      }
      v.push_back(e.get<std::uint64_t>());
    }
    out = v;
  }
  void get_double_list(const char* key, std::vector<double>& out) {
    const json* l = list(key);
    if (!l) return;
    std::vector<double> v;
    for (const auto& e : *l) {
      if (!e.is_number()) return problem(key, fmt::format("= {}: must be a list of numbers", json_excerpt(j_[key])));
      v.push_back(e.get<double>());
    }
    out = v;
  }
  void get_string_list(const char* key, std::vector<std::string>& out) {
    const json* l = list(key);
    if (!l) return;
    std::vector<std::string> v;
    for (const auto& e : *l) {
      if (!e.is_string()) return problem(key, fmt::format("= {}: must be a list of strings", json_excerpt(j_[key])));
      v.push_back(e.get<std::string>());
    }
    out = v;
  }

 private:
  const json& j_;
  std::string source_;
  std::vector<std::string>& problems_;
  json tmp_;
};

std::string param_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();  // numbers (and lists such as Medusa choices) in JSON spelling
}

void parse_drafters(const json& j, const std::string& source, ExperimentSpec& spec,
                    std::vector<std::string>& problems) {
  if (!j.contains("drafters")) return;
  const json list = j["drafters"].is_array() ? j["drafters"] : json::array({j["drafters"]});
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    const std::string where = fmt::format("{}: drafters[{}]", source, i);
    DrafterEntry d;
    if (e.is_string()) {
      d.spec = e.get<std::string>();
    } else if (e.is_object()) {
      for (const auto& [key, value] : e.items()) {
        if (key != "name" && key != "params" && key != "rules" && key != "optional") {
          problems.push_back(fmt::format("{}: key '{}': unknown (known: name, params, rules, optional)", where, key));
        }
      }
      if (!e.contains("name") || !e["name"].is_string()) {
        problems.push_back(fmt::format("{}: name: missing or not a string", where));
        continue;
      }
      d.spec = e["name"].get<std::string>();
      if (e.contains("params")) {
        if (!e["params"].is_object()) {
          problems.push_back(fmt::format("{}: params = {}: must be an object", where, json_excerpt(e["params"])));
        } else {
          std::vector<std::string> kv;
          for (const auto& [key, value] : e["params"].items()) kv.push_back(key + "=" + param_text(value));
          if (!kv.empty()) d.spec += ":" + fmt::format("{}", fmt::join(kv, ","));
        }
      }
      if (e.contains("rules")) {
        FieldReader r(e, where, problems);
        r.get_string_list("rules", d.rules);
      }
      if (e.contains("optional")) {
        if (!e["optional"].is_boolean()) {
          problems.push_back(fmt::format("{}: optional = {}: must be true or false", where, json_excerpt(e["optional"])));
        } else {
          d.optional = e["optional"].get<bool>();
        }
      }
    } else {
      problems.push_back(fmt::format("{} = {}: must be a drafter spec string or an object", where, json_excerpt(e)));
      continue;
    }
    spec.drafters.push_back(std::move(d));
  }
}

}  // namespace

std::vector<std::string> spec_problems(const ExperimentSpec& s, const std::string& source) {
  std::vector<std::string> p;
  auto add = [&](std::string msg) { p.push_back(fmt::format("{}: {}", source, msg)); };
  if (s.name.empty()) add("name: must not be empty");
  if (s.prompts.empty()) add("prompts: at least one prompt set (JSONL file) is required");
  if (s.max_prompts < 0) add(fmt::format("max_prompts = {}: must be >= 0 (0 = all)", s.max_prompts));
  try {
    (void)chat_date(s.chat_date, "chat_date");
  } catch (const Error& e) {
    add(e.what());
  }
  if (s.budgets.empty()) add("budgets: at least one budget is required");
  for (auto b : s.budgets) {
    if (b <= 0 || b > kMaxBudgetLimit) {
      add(fmt::format("budgets: budget = {}: must be in [1, {}] (draft nodes per step)", b, kMaxBudgetLimit));
    }
  }
  if (s.depths.empty()) add("depths: at least one depth cap is required (0 = unlimited)");
  for (auto d : s.depths) {
    if (d < 0 || d > kMaxDepthLimit) {
      add(fmt::format("depths: depth = {}: must be in [0, {}] (0 = unlimited)", d, kMaxDepthLimit));
    }
  }
  if (s.temperatures.empty()) add("temperatures: at least one temperature is required");
  for (double t : s.temperatures) {
    if (!std::isfinite(t) || t < 0 || t > kMaxTemperature) {
      add(fmt::format("temperatures: temperature = {}: must be in [0, {}]", t, kMaxTemperature));
    }
  }
  if (s.top_k < 0) add(fmt::format("top_k = {}: must be >= 0 (0 = off)", s.top_k));
  if (!(s.top_p > 0.0 && s.top_p <= 1.0)) add(fmt::format("top_p = {}: must be in (0, 1]", s.top_p));
  if (s.seeds.empty()) add("seeds: at least one seed is required");
  if (s.max_new_tokens < 1 || s.max_new_tokens > kMaxNewTokensLimit) {
    add(fmt::format("max_new_tokens = {}: must be in [1, {}]", s.max_new_tokens, kMaxNewTokensLimit));
  }
  if (s.state != "cold" && s.state != "warm") add(fmt::format("state = '{}': must be cold or warm", s.state));
  if (s.threads < 1 || s.threads > 1024) add(fmt::format("threads = {}: must be in [1, 1024]", s.threads));
  if (s.repetitions < 1 || s.repetitions > kMaxRepetitions) {
    add(fmt::format("repetitions = {}: must be in [1, {}]", s.repetitions, kMaxRepetitions));
  }
  if (s.ctx < 0 || s.ctx > (1 << 22)) add(fmt::format("ctx = {}: must be in [0, 4194304] (0 = min(model maximum, 4096))", s.ctx));
  for (const auto& [value, key] : {std::pair{s.dtype, "dtype"}, std::pair{s.draft_dtype, "draft_dtype"}}) {
    const std::string problem = check_weight_dtype(value, key);
    if (!problem.empty()) add(problem);
  }
  if (!kv_cache_type_from_name(s.kv_dtype)) add(fmt::format("kv_dtype = {}: unknown KV cache type (f32, f16)", s.kv_dtype));
  if (s.budget_policies.empty()) add("budget_policy: at least one policy is required (fixed, cost)");
  for (std::size_t i = 0; i < s.budget_policies.size(); ++i) {
    const std::string& b = s.budget_policies[i];
    if (b != "fixed" && b != "cost") add(fmt::format("budget_policy = '{}': must be fixed or cost", b));
    if (std::find(s.budget_policies.begin(), s.budget_policies.begin() + i, b) != s.budget_policies.begin() + i) {
      add(fmt::format("budget_policy: '{}' listed twice", b));
    }
    if (b == "cost" && s.profiles.empty()) {
      add("budget_policy = cost: needs a cost profile (spec key profiles, or --profile): the policy "
          "weighs tree sizes by the first profile's step times");
    }
  }
  if (s.profiles.size() > 16) add(fmt::format("profiles: {} profiles: at most 16", s.profiles.size()));
  if (s.seeds.size() > static_cast<std::size_t>(kMaxRepetitions)) {
    add(fmt::format("seeds: {} seeds: at most {}", s.seeds.size(), kMaxRepetitions));
  }
  const auto known_rules = rule_names();
  auto check_rules = [&](const std::vector<std::string>& rules, const std::string& where) {
    if (rules.empty()) add(fmt::format("{}: at least one rule is required (\"auto\" = lossless default)", where));
    for (const auto& r : rules) {
      if (r != "auto" && std::find(known_rules.begin(), known_rules.end(), r) == known_rules.end()) {
        add(fmt::format("{}: rule '{}': unknown (known: auto, {})", where, r, fmt::join(known_rules, ", ")));
      }
    }
  };
  check_rules(s.rules, "rules");
  for (std::size_t i = 0; i < s.drafters.size(); ++i) {
    const auto& d = s.drafters[i];
    try {
      const auto params = DrafterParams::parse(d.spec);
      if (is_autoregressive(params.drafter())) {
        add(fmt::format("drafters[{}] = '{}': the autoregressive baseline is always run; do not list it", i, d.spec));
      }
    } catch (const Error& e) {
      add(fmt::format("drafters[{}] = '{}': {}", i, d.spec, e.what()));
    }
    if (!d.rules.empty()) check_rules(d.rules, fmt::format("drafters[{}].rules", i));
  }
  return p;
}

void throw_if_problems(const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::string msg = fmt::format("invalid experiment ({} problem{}):", problems.size(),
                                problems.size() == 1 ? "" : "s");
  for (const auto& p : problems) msg += "\n  " + p;
  throw Error(msg);
}

ExperimentSpec parse_spec(const std::string& json_text, const std::string& source) {
  const json j = parse_json(json_text, source);
  if (!j.is_object()) fail("{}: an experiment spec must be a JSON object", source);
  static const std::set<std::string> kKeys = {
      "name", "model", "tokenizer", "draft_model", "prompts", "max_prompts", "drafters", "rules",
      "budgets", "depths", "temperatures", "top_k", "top_p", "seeds", "seed", "max_new_tokens",
      "state", "threads", "repetitions", "ctx", "comment", "chat_template", "chat_date", "dtype", "draft_dtype", "kv_dtype",
      "profiles", "budget_policy"};
  std::vector<std::string> problems;
  for (const auto& [key, value] : j.items()) {
    if (!kKeys.count(key)) {
      problems.push_back(fmt::format("{}: key '{}': unknown (known: {})", source, key, fmt::join(kKeys, ", ")));
    }
  }
  ExperimentSpec s;
  FieldReader r(j, source, problems);
  r.get_string("name", s.name);
  r.get_string("model", s.model);
  r.get_string("tokenizer", s.tokenizer);
  r.get_string("draft_model", s.draft_model);
  r.get_string_list("prompts", s.prompts);
  r.get_int("max_prompts", s.max_prompts);
  r.get_string("chat_template", s.chat_template);
  r.get_string("chat_date", s.chat_date);
  parse_drafters(j, source, s, problems);
  r.get_string_list("rules", s.rules);
  r.get_int_list("budgets", s.budgets);
  r.get_int_list("depths", s.depths);
  r.get_double_list("temperatures", s.temperatures);
  r.get_int("top_k", s.top_k);
  r.get_double("top_p", s.top_p);
  if (j.contains("seed") && j.contains("seeds")) problems.push_back(fmt::format("{}: seed, seeds: give one of them", source));
  r.get_u64_list("seed", s.seeds);
  r.get_u64_list("seeds", s.seeds);
  r.get_int("max_new_tokens", s.max_new_tokens);
  r.get_string("state", s.state);
  r.get_int("threads", s.threads);
  r.get_int("repetitions", s.repetitions);
  r.get_int("ctx", s.ctx);
  r.get_string("dtype", s.dtype);
  r.get_string("draft_dtype", s.draft_dtype);
  r.get_string("kv_dtype", s.kv_dtype);
  r.get_string_list("profiles", s.profiles);
  if (j.contains("budget_policy") && j["budget_policy"].is_string()) {
    s.budget_policies = {j["budget_policy"].get<std::string>()};
  } else {
    r.get_string_list("budget_policy", s.budget_policies);
  }
  for (auto& p : spec_problems(s, source)) problems.push_back(std::move(p));
  throw_if_problems(problems);
  return s;
}

ExperimentSpec load_spec(const std::string& path) {
  return parse_spec(read_input_file(path, kMaxTextInputBytes, "an experiment spec"), path);
}

nlohmann::json spec_to_json(const ExperimentSpec& s) {
  json j;
  j["name"] = s.name;
  j["model"] = s.model;
  j["tokenizer"] = s.tokenizer;
  j["draft_model"] = s.draft_model;
  j["prompts"] = s.prompts;
  j["max_prompts"] = s.max_prompts;
  j["chat_template"] = s.chat_template;
  j["chat_date"] = s.chat_date;
  json ds = json::array();
  for (const auto& d : s.drafters) {
    // The spec string stays one piece ("name" may carry ":key=value,..."): parse_spec reads it back.
    json e;
    e["name"] = d.spec;
    if (!d.rules.empty()) e["rules"] = d.rules;
    e["optional"] = d.optional;
    ds.push_back(e);
  }
  j["drafters"] = ds;
  j["rules"] = s.rules;
  j["budgets"] = s.budgets;
  j["depths"] = s.depths;
  j["temperatures"] = s.temperatures;
  j["top_k"] = s.top_k;
  j["top_p"] = s.top_p;
  j["seeds"] = s.seeds;
  j["max_new_tokens"] = s.max_new_tokens;
  j["state"] = s.state;
  j["threads"] = s.threads;
  j["repetitions"] = s.repetitions;
  j["ctx"] = s.ctx;
  j["dtype"] = s.dtype;
  j["draft_dtype"] = s.draft_dtype;
  j["kv_dtype"] = s.kv_dtype;
  // Only when not the defaults, so that the config.json of runs made before these keys existed
  // still matches (--resume, merge).
  if (!s.profiles.empty()) j["profiles"] = s.profiles;
  if (s.budget_policies != std::vector<std::string>{"fixed"}) j["budget_policy"] = s.budget_policies;
  return j;
}

}  // namespace speclab
