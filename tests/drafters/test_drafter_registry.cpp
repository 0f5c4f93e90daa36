// The drafter registry (drafters/registry.h): every kind is described completely (docs for
// every key, defaults that parse, the table the README shows), validation lists every problem
// of a spec, unknown names list the known ones, the cross-prompt state flag and the optional
// file keys are what the runner relies on.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "drafters/registry.h"
#include "experiments/runner.h"
#include "heads/head_net.h"
#include "synthetic/synthetic_preset.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string no_tokenizer(const std::string&, const std::string&, std::int32_t) {
  throw Error("no tokenizer in this test");
}

// A Llama target with 4 layers (every exit layer key has room) and its weights.
struct Target {
  std::shared_ptr<const LlamaWeights> w = std::make_shared<const LlamaWeights>(
      random_llama_weights(synthetic_info(32, 64, 4, 4, 2, 60, 512), 5));
  DrafterEnv env(const std::string& draft_model = "") const {
    DrafterEnv e;
    e.target = &w->info;
    e.target_weights = w;
    e.draft_model_path = draft_model;
    return e;
  }
};

const DrafterKey* key_of(const DrafterKind& k, std::string_view name) {
  for (const DrafterKey& key : k.keys) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

TEST(DrafterRegistry, EveryKindHasANameSummaryAndFunctions) {
  std::set<std::string_view> names;
  for (const DrafterKind* k : drafter_kinds()) {
    ASSERT_NE(k, nullptr);
    EXPECT_TRUE(names.insert(k->name).second) << "duplicate " << k->name;
    EXPECT_FALSE(is_autoregressive(k->name)) << k->name;
    EXPECT_FALSE(k->summary.empty()) << k->name;
    EXPECT_TRUE(k->parse && k->check && k->make && k->children) << k->name;
    EXPECT_EQ(find_drafter_kind(k->name), k);
  }
  EXPECT_EQ(find_drafter_kind("none"), nullptr);
  EXPECT_EQ(find_drafter_kind("telepathy"), nullptr);
  EXPECT_TRUE(is_autoregressive("none"));
  EXPECT_TRUE(is_autoregressive("ar"));
  const auto all = drafter_names();
  EXPECT_EQ(all.front(), "none");
  EXPECT_EQ(all.size(), drafter_kinds().size() + 1);
}

TEST(DrafterRegistry, EveryKeyHasADocAndAValidUniqueName) {
  const std::regex key_re("[a-z0-9_]+");
  for (const DrafterKind* k : drafter_kinds()) {
    EXPECT_FALSE(k->keys.empty()) << k->name;
    std::set<std::string_view> seen;
    for (const DrafterKey& key : k->keys) {
      EXPECT_TRUE(std::regex_match(std::string(key.name), key_re)) << k->name << ": " << key.name;
      EXPECT_TRUE(seen.insert(key.name).second) << k->name << ": " << key.name << " twice";
      EXPECT_GE(key.doc.size(), 10u) << k->name << ": " << key.name << " has no doc";
      EXPECT_EQ(key.doc.find('\n'), std::string_view::npos) << k->name << ": " << key.name;
    }
  }
}

// Every key given its documented default is a valid spec, and reads that default: the reader
// asserts that the table's default equals the code's (a mismatch aborts this test).
TEST(DrafterRegistry, DocumentedDefaultsAreValidValues) {
  const Target t;
  const DrafterEnv env = t.env("draft.bin");
  for (const DrafterKind* k : drafter_kinds()) {
    std::map<std::string, std::string> required;
    if (key_of(*k, "heads")) required["heads"] = "DIR";
    if (key_of(*k, "parts")) required["parts"] = "ngram+sam";
    {
      const DrafterParams p(std::string(k->name), required);
      ParamReader r(p, k->keys);
      k->parse(r, env);
      EXPECT_TRUE(r.problems().empty()) << p.to_string() << ": " << r.problems().front();
    }
    for (const DrafterKey& key : k->keys) {
      if (key.default_value.empty()) continue;
      auto values = required;
      values[std::string(key.name)] = std::string(key.default_value);
      const DrafterParams p(std::string(k->name), values);
      ParamReader r(p, k->keys);
      k->parse(r, env);
      EXPECT_TRUE(r.problems().empty()) << p.to_string() << ": " << r.problems().front();
    }
  }
}

TEST(DrafterRegistry, HelpListsEveryDrafterAndKey) {
  const std::string help = drafter_help();
  for (const DrafterKind* k : drafter_kinds()) {
    EXPECT_NE(help.find("  " + std::string(k->name) + " "), std::string::npos) << k->name;
    for (const DrafterKey& key : k->keys) {
      EXPECT_NE(help.find(std::string(key.doc)), std::string::npos) << k->name << ": " << key.name;
    }
  }
}

TEST(DrafterRegistry, ValidationListsEveryProblemAtOnce) {
  const Target t;
  const DrafterEnv env = t.env();
  // Two bad values and an unknown key: three problems, one line each.
  const auto problems = drafter_spec_problems(DrafterParams::parse("ngram:min_n=0,order=sideways,colour=red"), env);
  ASSERT_EQ(problems.size(), 3u);
  const std::string msg = error_of([&] { validate_drafter_spec("ngram:min_n=0,order=sideways,colour=red", env); });
  for (const char* part : {"3 problems", "\n  drafter ngram: colour = red: unknown key (known keys: min_n, max_n, "
                                         "max_matches, order)",
                           "\n  drafter ngram: min_n = 0: must be in [1, 16]",
                           "\n  drafter ngram: order = sideways: must be one of recent|frequent"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in:\n" << msg;
  }
  // make_drafter reports the same problems.
  EXPECT_EQ(error_of([&] { make_drafter("ngram:min_n=0,order=sideways,colour=red", env); }), msg);
  // Every kind: two bad keys give two problems.
  for (const DrafterKind* k : drafter_kinds()) {
    const std::string spec = std::string(k->name) + ":bogus_a=1,bogus_b=2";
    const auto ps = drafter_spec_problems(DrafterParams::parse(spec), env);
    std::int32_t unknown = 0;
    for (const auto& p : ps) unknown += p.find("unknown key") != std::string::npos;
    EXPECT_EQ(unknown, 2) << spec;
  }
  // A single problem keeps its text as is.
  EXPECT_EQ(error_of([&] { validate_drafter_spec("recycling:k=0", env); }),
            "drafter recycling: k = 0: must be in [1, 256]");
  // Autoregressive decoding takes no keys.
  EXPECT_TRUE(drafter_spec_problems(DrafterParams::parse("none"), env).empty());
  EXPECT_EQ(make_drafter("ar", env), nullptr);
  EXPECT_NE(error_of([&] { validate_drafter_spec("none:k=1", env); }).find("unknown key"), std::string::npos);
}

TEST(DrafterRegistry, RunnerListsEveryProblemOfADrafterSpecOnItsOwnLine) {
  testing::ScopedTempDir tmp;
  const std::string prompts = tmp.path("p.jsonl");
  std::ofstream(prompts) << "{\"id\": \"a\", \"prompt\": \"abcabc\"}\n";
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {prompts};
  s.drafters = {{"ngram:min_n=0,order=sideways", {}, false}, {"aded:top_c=0", {}, false}};
  const std::string msg = error_of([&] { prepare_experiment(s, no_tokenizer); });
  for (const char* part : {"3 problems", "\n  drafters[0] = 'ngram:min_n=0,order=sideways': drafter ngram: min_n = 0",
                           "\n  drafters[0] = 'ngram:min_n=0,order=sideways': drafter ngram: order = sideways",
                           "\n  drafters[1] = 'aded:top_c=0': drafter aded: top_c = 0"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in:\n" << msg;
  }
}

TEST(DrafterRegistry, UnknownDrafterListsTheKnownNames) {
  const Target t;
  const std::string msg = error_of([&] { validate_drafter_spec("telepathy:k=1", t.env()); });
  EXPECT_NE(msg.find("drafter 'telepathy': unknown: known drafters are none, "), std::string::npos) << msg;
  for (const auto& name : drafter_names()) EXPECT_NE(msg.find(name), std::string::npos) << name;
  EXPECT_EQ(error_of([&] { make_drafter("telepathy", t.env()); }).find("drafter 'telepathy': unknown"), 0u);
}

// The runner's state policy reaches exactly the kinds with cross-prompt state, through their
// state=cold|warm key.
TEST(DrafterRegistry, CrossPromptStateFlag) {
  std::set<std::string_view> stateful;
  for (const DrafterKind* k : drafter_kinds()) {
    const DrafterKey* state = key_of(*k, "state");
    if (k->cross_prompt_state) {
      stateful.insert(k->name);
      ASSERT_NE(state, nullptr) << k->name << " keeps state across prompts but has no state key";
      EXPECT_EQ(state->default_value, "cold") << k->name;
      EXPECT_NE(state->doc.find("cold|warm"), std::string_view::npos) << k->name;
    } else {
      EXPECT_EQ(state, nullptr) << k->name << " has a state key but no cross-prompt state";
    }
  }
  EXPECT_EQ(stateful, (std::set<std::string_view>{"recycling", "aded", "sam", "suffix", "hybrid"}));

  testing::ScopedTempDir tmp;
  const std::string prompts = tmp.path("p.jsonl");
  std::ofstream(prompts) << "{\"id\": \"a\", \"prompt\": \"abcabc\"}\n";
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {prompts};
  s.state = "warm";
  s.budgets = {4};
  s.max_new_tokens = 2;
  for (const DrafterKind* k : drafter_kinds()) {
    if (k->name == "hybrid") {
      s.drafters.push_back({"hybrid:parts=ngram+sam", {}, false});  // parts= is required
    } else if (k->cross_prompt_state || k->name == "ngram" || k->name == "del") {
      s.drafters.push_back({std::string(k->name), {}, false});
    }
  }
  const PreparedExperiment exp = prepare_experiment(s, no_tokenizer);
  ASSERT_EQ(exp.configs.size(), s.drafters.size() + 1);
  for (std::size_t i = 1; i < exp.configs.size(); ++i) {
    const Configuration& c = exp.configs[i];
    const bool has_state = find_drafter_kind(c.drafter)->cross_prompt_state;
    const std::string given = c.drafter == "hybrid" ? "parts=ngram+sam," : "";
    EXPECT_EQ(c.params, has_state ? given + "state=warm" : "") << c.drafter;
    EXPECT_EQ(c.drafter_spec, has_state ? c.drafter + ":" + given + "state=warm" : c.drafter);
  }
}

TEST(DrafterRegistry, OptionalFileKeys) {
  std::map<std::string, std::string> files;  // "kind.key" -> kind of file
  for (const DrafterKind* k : drafter_kinds()) {
    for (const DrafterKey& key : k->keys) {
      if (key.file == OptionalFile::kNone) continue;
      files[std::string(k->name) + "." + std::string(key.name)] = key.file == OptionalFile::kModelFile ? "model" : "heads";
    }
  }
  EXPECT_EQ(files, (std::map<std::string, std::string>{{"draft-model.model", "model"},
                                                        {"medusa.heads", "heads"},
                                                        {"hydra.heads", "heads"},
                                                        {"eagle.heads", "heads"},
                                                        {"early-exit.adapters", "heads"},
                                                        {"del.adapters", "heads"}}));

  testing::ScopedTempDir tmp;
  const Target t;
  const std::string draft = tmp.path("draft.bin");
  auto note = [&](const std::string& spec, const std::string& env_model = "") {
    return missing_optional_file(DrafterParams::parse(spec), t.env(env_model));
  };
  // Draft model: the key, else the env's path; missing or unnamed -> a note.
  EXPECT_EQ(note("draft-model"), "draft model '' not found");
  EXPECT_EQ(note("draft-model:model=" + draft), "draft model '" + draft + "' not found");
  EXPECT_EQ(note("draft-model", draft), "draft model '" + draft + "' not found");
  std::ofstream(draft) << "x";
  EXPECT_EQ(note("draft-model:model=" + draft), "");
  EXPECT_EQ(note("draft-model", draft), "");
  EXPECT_EQ(note("draft-model:model=" + tmp.path("other.bin"), draft), "draft model '" + tmp.path("other.bin") + "' not found");
  // Heads directories need heads.json and heads.safetensors.
  const std::string heads = tmp.path("heads");
  for (const std::string& spec : {"medusa:heads=" + heads, "hydra:heads=" + heads, "del:adapters=" + heads,
                                 "early-exit:adapters=" + heads}) {
    std::filesystem::remove_all(heads);
    EXPECT_EQ(note(spec), "no trained heads in '" + heads + "' (heads.json missing; run speclab train-heads)") << spec;
    std::filesystem::create_directories(heads);
    std::ofstream(heads + "/heads.json") << "{}";
    EXPECT_EQ(note(spec), "no trained heads in '" + heads + "' (heads.safetensors missing; run speclab train-heads)")
        << spec;
    std::ofstream(heads + "/heads.safetensors") << "x";
    EXPECT_EQ(note(spec), "") << spec;
  }
  // An EAGLE head directory needs eagle.json and eagle.safetensors, or (a published checkpoint)
  // config.json and model.safetensors or a pickle file (which loading then refuses by name); a
  // random head needs none.
  const std::string eagle = tmp.path("eagle");
  const std::string layouts =
      "; an EAGLE head directory holds eagle.json and eagle.safetensors, or a published EAGLE checkpoint's "
      "config.json and model.safetensors)";
  EXPECT_EQ(note("eagle:heads=" + eagle), "no EAGLE head in '" + eagle + "' (eagle.json or config.json missing" + layouts);
  std::filesystem::create_directories(eagle);
  std::ofstream(eagle + "/eagle.json") << "{}";
  EXPECT_EQ(note("eagle:heads=" + eagle), "no EAGLE head in '" + eagle + "' (eagle.safetensors missing" + layouts);
  std::ofstream(eagle + "/eagle.safetensors") << "x";
  EXPECT_EQ(note("eagle:heads=" + eagle), "");
  const std::string published = tmp.path("published");
  std::filesystem::create_directories(published);
  std::ofstream(published + "/config.json") << "{}";
  EXPECT_EQ(note("eagle:heads=" + published),
            "no EAGLE head in '" + published + "' (model.safetensors missing" + layouts);
  std::ofstream(published + "/pytorch_model.bin") << "x";
  EXPECT_EQ(note("eagle:heads=" + published), "");
  std::filesystem::remove(published + "/pytorch_model.bin");
  std::ofstream(published + "/model.safetensors") << "x";
  EXPECT_EQ(note("eagle:heads=" + published), "");
  EXPECT_EQ(note("eagle:random_seed=1"), "");
  // No file keys given, or kinds without file keys: nothing to skip for.
  for (const char* spec : {"del", "early-exit", "ngram", "recycling:load=/nonexistent", "telepathy"}) {
    EXPECT_EQ(note(spec), "") << spec;
  }
}

// The README's drafter table ("### Drafters" in README.md) lists every registered drafter and
// every one of its keys, and nothing else.
TEST(DrafterRegistry, ReadmeTableListsEveryDrafterAndKey) {
  std::ifstream in(std::string(SPECLAB_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in) << "README.md not found";
  std::string line;
  bool in_section = false;
  std::map<std::string, std::string> rows;  // drafter -> parameters cell
  while (std::getline(in, line)) {
    if (line.rfind("### ", 0) == 0) in_section = line.rfind("### Drafters", 0) == 0;
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    // Cells between unescaped '|': "", "`name`", "what", "parameters", "".
    std::vector<std::string> cells(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) {
        cells.emplace_back();
      } else {
        cells.back() += line[i];
      }
    }
    ASSERT_EQ(cells.size(), 5u) << line;
    const std::string name = cells[1].substr(2, cells[1].size() - 4);  // " `name` "
    rows[name] = cells[3];
  }
  ASSERT_FALSE(rows.empty()) << "no drafter table under ### Drafters";
  for (const auto& name : drafter_names()) EXPECT_TRUE(rows.count(name)) << name << " is not in the README table";
  for (const auto& [name, cell] : rows) {
    const auto names = drafter_names();
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name << " in the README is not registered";
    const DrafterKind* k = find_drafter_kind(name);
    if (k == nullptr) continue;
    for (const DrafterKey& key : k->keys) {
      const std::regex key_re("(^|[^a-z0-9_])" + std::string(key.name) + "=");
      EXPECT_TRUE(std::regex_search(cell, key_re)) << "README: drafter " << name << " does not list key " << key.name;
    }
  }
}

}  // namespace
}  // namespace speclab
