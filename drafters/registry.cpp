#include "drafters/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include "base/error.h"
#include "base/json_input.h"
#include "drafters/aded_drafter.h"
#include "drafters/del_drafter.h"
#include "drafters/draft_model_drafter.h"
#include "drafters/eagle_drafter.h"
#include "heads/eagle_checkpoint.h"
#include "drafters/early_exit_drafter.h"
#include "drafters/hybrid_drafter.h"
#include "drafters/hydra_drafter.h"
#include "drafters/lookahead_drafter.h"
#include "drafters/medusa_drafter.h"
#include "drafters/ngram_drafter.h"
#include "drafters/recycling_drafter.h"
#include "drafters/sam_drafter.h"
#include "drafters/suffix_drafter.h"

namespace speclab {

bool is_autoregressive(std::string_view name) { return name == kAutoregressive || name == "ar"; }

std::span<const DrafterKind* const> drafter_kinds() {
  static const std::array<const DrafterKind*, 13> kinds = {
      &draft_model_drafter_kind(), &ngram_drafter_kind(),   &recycling_drafter_kind(), &aded_drafter_kind(),
      &sam_drafter_kind(),         &suffix_drafter_kind(),  &early_exit_drafter_kind(), &del_drafter_kind(),
      &medusa_drafter_kind(),      &hydra_drafter_kind(),       &eagle_drafter_kind(),
      &lookahead_drafter_kind(),
      &hybrid_drafter_kind(),
  };
  return kinds;
}

const DrafterKind* find_drafter_kind(std::string_view name) {
  for (const DrafterKind* k : drafter_kinds()) {
    if (k->name == name) return k;
  }
  return nullptr;
}

std::vector<std::string> drafter_names() {
  std::vector<std::string> names = {std::string(kAutoregressive)};
  for (const DrafterKind* k : drafter_kinds()) names.emplace_back(k->name);
  return names;
}

namespace {

// A spec parsed against its kind (kind null: autoregressive).
struct DrafterPlan {
  const DrafterKind* kind = nullptr;
  DrafterOptions options;
};

// Parses `params` for its kind, appending every problem (no file access).
DrafterPlan plan_drafter(const DrafterParams& params, const DrafterEnv& env, std::vector<std::string>& problems) {
  DrafterPlan plan;
  const std::string& name = params.drafter();
  if (is_autoregressive(name)) {
    ParamReader reader(params, {});
    problems.insert(problems.end(), reader.problems().begin(), reader.problems().end());
    return plan;
  }
  plan.kind = find_drafter_kind(name);
  if (plan.kind == nullptr) {
    problems.push_back(
        fmt::format("drafter '{}': unknown: known drafters are {}", name, fmt::join(drafter_names(), ", ")));
    return plan;
  }
  ParamReader reader(params, plan.kind->keys);
  plan.options = plan.kind->parse(reader, env);
  problems.insert(problems.end(), reader.problems().begin(), reader.problems().end());
  return plan;
}

// plan_drafter, throwing every problem.
DrafterPlan checked_plan(const DrafterParams& params, const DrafterEnv& env) {
  std::vector<std::string> problems;
  DrafterPlan plan = plan_drafter(params, env, problems);
  throw_drafter_problems(params.to_string(), problems);
  return plan;
}

}  // namespace

std::vector<std::string> drafter_spec_problems(const DrafterParams& params, const DrafterEnv& env) {
  std::vector<std::string> problems;
  const DrafterPlan plan = plan_drafter(params, env, problems);
  if (problems.empty() && plan.kind != nullptr) {
    try {
      plan.kind->check(plan.options, env);
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  return problems;
}

void validate_drafter_spec(const std::string& spec, const DrafterEnv& env) {
  const DrafterParams params = DrafterParams::parse(spec);
  throw_drafter_problems(params.to_string(), drafter_spec_problems(params, env));
}

std::unique_ptr<Drafter> make_drafter(const std::string& spec, const DrafterEnv& env) {
  const DrafterPlan plan = checked_plan(DrafterParams::parse(spec), env);
  if (plan.kind == nullptr) return nullptr;
  return plan.kind->make(plan.options, env);
}

ChildSampling drafter_child_sampling(const std::string& spec, const DrafterEnv& env,
                                     const SamplingParams& sampling) {
  const DrafterParams params = DrafterParams::parse(spec);
  const DrafterPlan plan = checked_plan(params, env);
  if (plan.kind == nullptr) fail("drafter {}: autoregressive decoding proposes no trees", params.drafter());
  return plan.kind->children(plan.options, sampling);
}

namespace {

// Whether `path` exists. A path the system cannot look up (a name longer than NAME_MAX, a part
// that is not a directory, no permission) is missing too, and `why` says why: the throwing
// std::filesystem::exists would let a filesystem_error escape for such a spec (found by
// fuzz/fuzz_drafter_spec.cpp).
bool path_exists(const std::filesystem::path& path, std::string& why) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) why = fmt::format(": {}", ec.message());
  return exists && !ec;
}

}  // namespace

std::string missing_optional_file(const DrafterParams& params, const DrafterEnv& env) {
  namespace fs = std::filesystem;
  std::string why;
  const DrafterKind* kind = find_drafter_kind(params.drafter());
  if (kind == nullptr) return "";
  for (const DrafterKey& key : kind->keys) {
    switch (key.file) {
      case OptionalFile::kNone: break;
      case OptionalFile::kModelFile: {
        const std::string path = params.get_string(key.name, env.draft_model_path);
        if (path.empty() || !path_exists(path, why)) {
          return fmt::format("draft model '{}' not found{}", quote_untrusted(path), why);
        }
        break;
      }
      case OptionalFile::kHeadsDir: {
        const std::string dir = params.get_string(key.name, "");
        if (dir.empty()) break;
        // Both files: a heads.json without its weights (e.g. a record copied without the ignored
        // heads.safetensors) is "not trained here", not a broken experiment.
        for (const char* file : {"heads.json", "heads.safetensors"}) {
          if (!path_exists(fs::path(dir) / file, why)) {
            return fmt::format("no trained heads in '{}' ({} missing{}; run speclab train-heads)",
                               quote_untrusted(dir), file, why);
          }
        }
        break;
      }
      case OptionalFile::kEagleDir: {
        const std::string dir = params.get_string(key.name, "");
        if (dir.empty()) break;
        if (const std::string m = missing_eagle_files(dir); !m.empty()) {
          return fmt::format(
              "no EAGLE head in '{}' ({}; an EAGLE head directory holds eagle.json and eagle.safetensors, or a "
              "published EAGLE checkpoint's config.json and model.safetensors)",
              quote_untrusted(dir), m);
        }
        break;
      }
    }
  }
  return "";
}

std::string drafter_help() {
  std::string out = fmt::format("Drafters (--drafter NAME[:key=value,...]; {} = autoregressive):\n", kAutoregressive);
  for (const DrafterKind* k : drafter_kinds()) {
    out += fmt::format("  {:<12} {}\n", k->name, k->summary);
    for (const DrafterKey& key : k->keys) {
      const std::string spelled =
          key.default_value.empty() ? std::string(key.name) : fmt::format("{}={}", key.name, key.default_value);
      out += fmt::format("      {:<22} {}\n", spelled, key.doc);
    }
  }
  return out;
}

}  // namespace speclab
