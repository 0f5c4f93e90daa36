// The experiment runner end to end on the synthetic model (a small random LlamaModel, byte
// tokenizer) with the ngram, recycling and draft-model drafters: greedy outputs match the
// baseline, same spec + seed gives identical CSVs (timing columns aside), merge(shards) equals a
// single run, and the summary agrees with numbers recomputed from steps.csv. One test runs on
// the real stories260K when present.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "synthetic/synthetic_weights.h"
#include "experiments/report.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "formats/model_loader.h"
#include "heads/head_net.h"
#include "tests/testing/model_writers.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

std::string no_tokenizer(const std::string&, const std::string&, std::int32_t) {
  throw Error("no tokenizer in this test");
}

// A spec on the synthetic model with two prompt sets and a real draft-model file.
ExperimentSpec small_spec(const testing::ScopedTempDir& tmp) {
  const std::string a = tmp.path("copy.jsonl"), b = tmp.path("story.jsonl");
  write_text_file(a,
                  "{\"id\": \"c1\", \"prompt\": \"the cat sat. the cat sat. the cat sat. the\", \"category\": \"repeat\"}\n"
                  "{\"id\": \"c2\", \"prompt\": \"1, 2, 3, 1, 2, 3, 1, 2,\", \"category\": \"pattern\"}\n");
  write_text_file(b, "{\"id\": \"s1\", \"prompt\": \"Once upon a time\"}\n");
  const std::string draft = tmp.path("draft.bin");
  if (!std::filesystem::exists(draft)) {
    testing::write_llama2c(random_llama_weights(synthetic_info(32, 64, 1, 2, 2, 512, 1024), 7), draft, 0);
  }
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {a, b};
  s.draft_model = draft;
  s.drafters = {{"ngram", {}, false}, {"recycling", {}, false}, {"draft-model:mode=topk", {}, false}};
  s.budgets = {4, 12};
  s.temperatures = {0.0, 1.0};
  s.seeds = {3};
  s.max_new_tokens = 20;
  return s;
}

void run_to(const ExperimentSpec& spec, const std::string& dir, ShardSelection shard = {}) {
  auto exp = prepare_experiment(spec, no_tokenizer);
  std::filesystem::create_directories(dir);
  write_text_file(dir + "/config.json", experiment_config(exp, shard, BuildInfo{}).dump(2));
  auto rec = run_experiment(exp, shard, nullptr);
  write_reports(dir, std::move(rec.sequences), std::move(rec.steps), exp.model_label);
}

// The CSV with timing columns removed.
std::string untimed(const std::string& path) {
  const CsvTable t = parse_csv(read_text_file(path), path);
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (!is_timing_column(t.header[i])) out += cells[i] + "|";
    }
    out += "\n";
  };
  line(t.header);
  for (const auto& r : t.rows) line(r);
  return out;
}

const char* kCsvs[] = {"summary.csv", "sequences.csv", "steps.csv",      "by_depth.csv",
                       "by_rank.csv", "by_category.csv", "accept_hist.csv"};

TEST(Runner, GridShapeAndGreedyMatchesBaseline) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = small_spec(tmp);
  auto exp = prepare_experiment(spec, no_tokenizer);
  EXPECT_TRUE(exp.synthetic);
  ASSERT_EQ(exp.configs.size(), 1u + 3 * 2);
  EXPECT_EQ(exp.units.size(), 3u * 2);
  EXPECT_EQ(exp.configs[3].params, "state=cold");  // recycling gets the cold state policy
  EXPECT_EQ(exp.resolved_rule[1][0], "greedy");
  EXPECT_EQ(exp.resolved_rule[1][1], "deterministic");
  auto rec = run_experiment(exp, {}, nullptr);
  EXPECT_EQ(rec.sequences.size(), exp.units.size() * exp.configs.size());
  const auto summary = summarize(rec.sequences, exp.model_label);
  ASSERT_EQ(summary.size(), exp.configs.size() * 2);
  std::int64_t accepted = 0;
  for (const auto& r : summary) {
    EXPECT_NE(r.model.find("synthetic model"), std::string::npos);
    if (r.config == 0) {
      EXPECT_EQ(r.matches_ar, "na");
      EXPECT_NEAR(r.tau, 1.0, 1e-12);
    } else if (r.temperature == 0) {
      EXPECT_EQ(r.matches_ar, "true") << r.drafter << " budget " << r.budget;
    } else {
      EXPECT_EQ(r.matches_ar, "na");
    }
    EXPECT_LE(r.accepted_tokens, r.drafted_tokens);
    accepted += r.accepted_tokens;
  }
  EXPECT_GT(accepted, 0);  // the copy prompts make lookup drafters accept something
}

TEST(Runner, SameSpecAndSeedGiveIdenticalCsvs) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = small_spec(tmp);
  run_to(spec, tmp.path("a"));
  run_to(spec, tmp.path("b"));
  for (const char* f : kCsvs) {
    EXPECT_EQ(untimed(tmp.path("a/") + f), untimed(tmp.path("b/") + f)) << f;
  }
  // The thread count changes nothing but timings (contract 4 of DESIGN.md).
  ExperimentSpec threaded = spec;
  threaded.threads = 2;
  run_to(threaded, tmp.path("t2"));
  for (const char* f : kCsvs) {
    EXPECT_EQ(untimed(tmp.path("a/") + f), untimed(tmp.path("t2/") + f)) << f;
  }
  // A different seed changes the sampled (temperature 1) sequences.
  ExperimentSpec other = spec;
  other.seeds = {4};
  run_to(other, tmp.path("c"));
  EXPECT_NE(untimed(tmp.path("a/sequences.csv")), untimed(tmp.path("c/sequences.csv")));
}

TEST(Runner, MergeOfShardsEqualsSingleRun) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = small_spec(tmp);
  run_to(spec, tmp.path("single"));
  run_to(spec, tmp.path("s0"), {0, 3});
  run_to(spec, tmp.path("s1"), {1, 3});
  run_to(spec, tmp.path("s2"), {2, 3});
  merge_shards({tmp.path("s2"), tmp.path("s0"), tmp.path("s1")}, tmp.path("merged"), nullptr);
  for (const char* f : kCsvs) {
    EXPECT_EQ(untimed(tmp.path("single/") + f), untimed(tmp.path("merged/") + f)) << f;
  }
  // Merging one complete run reproduces it byte for byte, timing columns included.
  merge_shards({tmp.path("single")}, tmp.path("remerged"), nullptr);
  for (const char* f : kCsvs) {
    EXPECT_EQ(read_text_file(tmp.path("single/") + f), read_text_file(tmp.path("remerged/") + f)) << f;
  }
  // Missing or repeated shards, merged outputs and non-results are errors.
  EXPECT_THROW(merge_shards({tmp.path("merged")}, tmp.path("m1"), nullptr), Error);
  EXPECT_THROW(merge_shards({tmp.path("nothing-here")}, tmp.path("m0"), nullptr), Error);
  EXPECT_THROW(merge_shards({tmp.path("s0"), tmp.path("s1")}, tmp.path("m2"), nullptr), Error);
  EXPECT_THROW(merge_shards({tmp.path("s0"), tmp.path("s0"), tmp.path("s1")}, tmp.path("m3"), nullptr), Error);
  ExperimentSpec other = spec;
  other.max_new_tokens = 10;
  run_to(other, tmp.path("o2"), {2, 3});
  EXPECT_THROW(merge_shards({tmp.path("s0"), tmp.path("s1"), tmp.path("o2")}, tmp.path("m4"), nullptr), Error);
}

TEST(Runner, SummaryAgreesWithStepsCsv) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = small_spec(tmp);
  run_to(spec, tmp.path("r"));
  // Independent recomputation from the raw CSV text: steps.csv carries config and temperature.
  const CsvTable steps = parse_csv(read_text_file(tmp.path("r/steps.csv")), "steps");
  struct Acc {
    std::int64_t emitted = 0, forwards = 0, drafted = 0, accepted = 0;
  };
  std::map<std::pair<std::string, std::string>, Acc> acc;
  const int c_config = steps.column("config"), c_temp = steps.column("temperature");
  for (const auto& row : steps.rows) {
    Acc& a = acc[{row[c_config], row[c_temp]}];
    a.emitted += std::stoll(row[steps.column("n_emitted")]);
    a.drafted += std::stoll(row[steps.column("n_drafted")]);
    a.accepted += std::stoll(row[steps.column("n_accepted")]);
    a.forwards += 1;
  }
  const CsvTable summary = parse_csv(read_text_file(tmp.path("r/summary.csv")), "summary");
  ASSERT_EQ(summary.rows.size(), acc.size());
  for (const auto& row : summary.rows) {
    const Acc& a = acc.at({row[summary.column("config")], row[summary.column("temperature")]});
    EXPECT_EQ(std::stoll(row[summary.column("new_tokens")]), a.emitted);
    EXPECT_EQ(std::stoll(row[summary.column("target_forwards")]), a.forwards);
    EXPECT_EQ(std::stoll(row[summary.column("drafted_tokens")]), a.drafted);
    EXPECT_EQ(std::stoll(row[summary.column("accepted_tokens")]), a.accepted);
    EXPECT_NEAR(std::stod(row[summary.column("tau")]), double(a.emitted) / a.forwards, 1e-6);
    if (a.drafted > 0) {
      EXPECT_NEAR(std::stod(row[summary.column("alpha")]), double(a.accepted) / a.drafted, 1e-6);
    }
  }
  // config.json says what ran.
  const auto cfg = nlohmann::json::parse(read_text_file(tmp.path("r/config.json")));
  EXPECT_TRUE(cfg["synthetic_model"].get<bool>());
  EXPECT_EQ(cfg["configurations"].size(), 7u);
}

TEST(Runner, WarmPolicyReachesStatefulDrafters) {
  testing::ScopedTempDir tmp;
  ExperimentSpec spec = small_spec(tmp);
  spec.state = "warm";
  spec.drafters = {{"recycling", {}, false}, {"aded:state=cold", {}, false}};
  spec.budgets = {8};
  spec.temperatures = {0.0};
  auto exp = prepare_experiment(spec, no_tokenizer);
  ASSERT_EQ(exp.configs.size(), 3u);
  EXPECT_EQ(exp.configs[1].params, "state=warm");
  EXPECT_EQ(exp.configs[2].params, "state=cold");  // explicit wins
  auto rec = run_experiment(exp, {}, nullptr);
  for (const auto& r : summarize(rec.sequences, exp.model_label)) {
    if (r.config != 0) {
      EXPECT_EQ(r.matches_ar, "true") << r.drafter;
    }
  }
}

TEST(Runner, ExplicitRulesAndModelDirPlaceholder) {
  testing::ScopedTempDir tmp;
  ExperimentSpec spec = small_spec(tmp);  // also writes tmp/draft.bin
  // A target file in the same folder, byte tokenizer; the draft model found through {model_dir}.
  spec.model = tmp.path("target.bin");
  testing::write_llama2c(random_llama_weights(synthetic_info(32, 64, 2, 2, 2, 512, 256), 11), spec.model, 0);
  spec.tokenizer = "bytes";
  spec.draft_model = "{model_dir}/draft.bin";
  // A sampled chain verified by the speculative rule, and sampled-without-replacement trees
  // with the automatic rule (without-replacement at temperature 1).
  spec.drafters = {{"draft-model:mode=chain,gamma=3", {"speculative"}, false},
                   {"draft-model:mode=swor,model={model_dir}/draft.bin", {}, false}};
  spec.budgets = {6};
  auto exp = prepare_experiment(spec, no_tokenizer);
  EXPECT_FALSE(exp.synthetic);
  EXPECT_EQ(exp.spec.draft_model, tmp.path("draft.bin"));
  ASSERT_EQ(exp.configs.size(), 3u);
  EXPECT_EQ(exp.resolved_rule[1][1], "speculative");
  EXPECT_EQ(exp.resolved_rule[2][1], "without-replacement");
  auto rec = run_experiment(exp, {}, nullptr);
  for (const auto& r : summarize(rec.sequences, exp.model_label)) {
    EXPECT_EQ(r.n_sequences, 3);
    if (r.config != 0 && r.temperature == 0) {
      EXPECT_EQ(r.matches_ar, "true") << r.drafter << " " << r.params;
    }
  }
}

TEST(Runner, OptionalHeadDraftersAndModelStemPlaceholder) {
  // Heads trained for the target live in {model_dir}/heads/{model_stem}-medusa; optional head
  // drafters whose directory has no heads.json are skipped with a note, present ones run.
  testing::ScopedTempDir tmp;
  ExperimentSpec spec = small_spec(tmp);
  spec.model = tmp.path("target.bin");
  const auto w = std::make_shared<const LlamaWeights>(
      random_llama_weights(synthetic_info(32, 64, 2, 2, 2, 512, 256), 11));
  testing::write_llama2c(*w, spec.model, 0);
  auto loaded = std::make_shared<const LlamaWeights>(load_weights(spec.model));
  save_heads(HeadNet::init(HeadConfig{.kind = HeadKind::kMedusa, .n_heads = 2}, loaded),
             tmp.path("heads/target-medusa"));
  spec.tokenizer = "bytes";
  spec.drafters = {{"medusa:heads={model_dir}/heads/{model_stem}-medusa", {}, true},
                   {"hydra:heads={model_dir}/heads/{model_stem}-hydra", {}, true}};
  spec.budgets = {6};
  spec.temperatures = {0.0};
  auto exp = prepare_experiment(spec, no_tokenizer);
  ASSERT_EQ(exp.configs.size(), 2u);  // baseline + medusa
  EXPECT_EQ(exp.configs[1].drafter, "medusa");
  ASSERT_EQ(exp.notes.size(), 1u);
  EXPECT_NE(exp.notes[0].find("target-hydra"), std::string::npos) << exp.notes[0];
  auto rec = run_experiment(exp, {}, nullptr);
  for (const auto& r : summarize(rec.sequences, exp.model_label)) {
    if (r.config != 0) EXPECT_EQ(r.matches_ar, "true") << r.drafter;
  }
  // The fresh-clone case (issue 21): a heads.json whose weights file is absent is skipped too,
  // not an error at load time.
  std::filesystem::create_directories(tmp.path("heads/target-hydra"));
  std::filesystem::copy_file(tmp.path("heads/target-medusa/heads.json"), tmp.path("heads/target-hydra/heads.json"));
  auto exp2 = prepare_experiment(spec, no_tokenizer);
  ASSERT_EQ(exp2.configs.size(), 2u);
  ASSERT_EQ(exp2.notes.size(), 1u);
  EXPECT_NE(exp2.notes[0].find("heads.safetensors missing"), std::string::npos) << exp2.notes[0];
  // Not optional: a missing heads directory is an error naming it.
  spec.drafters[1].optional = false;
  try {
    prepare_experiment(spec, no_tokenizer);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target-hydra"), std::string::npos) << e.what();
  }
}

TEST(Runner, RealStories260K) {
  const std::string model = testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(model);
  testing::ScopedTempDir tmp;
  const std::string prompts = tmp.path("p.jsonl");
  write_text_file(prompts,
                  "{\"id\": \"s\", \"prompt\": \"Once upon a time\"}\n"
                  "{\"id\": \"c\", \"prompt\": \"Lily saw a big red ball. Lily saw a big red ball. Lily saw\"}\n");
  ExperimentSpec s;
  s.model = model;
  s.prompts = {prompts};
  s.drafters = {{"ngram", {}, false}, {"recycling", {}, false}};
  s.budgets = {8};
  s.temperatures = {0.0};
  s.max_new_tokens = 48;
  auto exp = prepare_experiment(s, [](const std::string&, const std::string&, std::int32_t) {
    return testing::model_path("tok512.bin");
  });
  EXPECT_FALSE(exp.synthetic);
  EXPECT_EQ(exp.model_label, "stories260K.bin");
  auto rec = run_experiment(exp, {}, nullptr);
  for (const auto& r : summarize(rec.sequences, exp.model_label)) {
    if (r.config == 0) continue;
    EXPECT_EQ(r.matches_ar, "true") << r.drafter;
    EXPECT_GT(r.tau, 1.0) << r.drafter;  // real text repeats: some drafts are accepted
  }
}

}  // namespace
}  // namespace speclab
