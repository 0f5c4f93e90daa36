// speclab profile, and --profile / --budget-policy on speclab compare / run (issue 17), end to
// end on the synthetic preset model (written as a llama2.c file for `profile`).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "experiments/cost_model.h"
#include "experiments/report.h"
#include "synthetic/synthetic_preset.h"
#include "tests/testing/cli_runner.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::q;
using testing::run;

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class ProfileCli : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = tmp_.path("preset.bin");
    testing::write_llama2c(synthetic_preset_weights(), model_, 0);
  }
  testing::ScopedTempDir tmp_;
  std::string model_;
};

TEST_F(ProfileCli, MeasuresTheGridAndWritesAProfileThatLoads) {
  const std::string out = tmp_.path("host.json");
  const auto r = run("profile --model " + q(model_) + " --sizes 1,2,8 --cached 0,16 --reps 3 --name host_1t --out " +
                     q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  const CostProfile p = parse_cost_profile(nlohmann::json::parse(read_all(out)), out);
  EXPECT_EQ(p.name, "host_1t");
  EXPECT_EQ(p.kind, "measured");
  EXPECT_EQ(p.target.n, (std::vector<std::int32_t>{1, 2, 8}));
  EXPECT_EQ(p.target.cached, (std::vector<std::int32_t>{0, 16}));
  for (const double ms : p.target.ms) EXPECT_GT(ms, 0.0);
  EXPECT_TRUE(p.machine.contains("cpu"));
  EXPECT_EQ(p.machine["threads"], 1);
  EXPECT_NE(p.command.find("profile --model"), std::string::npos);
}

TEST_F(ProfileCli, DraftModelDraftersAndHardwareModes) {
  const std::string out = tmp_.path("p.json");
  const auto r = run("profile --model " + q(model_) + " --draft-model " + q(model_) +
                     " --drafters ngram,recycling:k=4 --drafter-budget 4 --sizes 1,4 --cached 8 --reps 1 --out " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  const CostProfile p = parse_cost_profile(nlohmann::json::parse(read_all(out)), out);
  EXPECT_EQ(p.draft.n, (std::vector<std::int32_t>{1, 4}));
  EXPECT_TRUE(p.drafters.contains("ngram"));
  EXPECT_TRUE(p.drafters.contains("recycling:k=4"));
  EXPECT_EQ(p.machine["drafter_prompt"], "32 random token ids");
  // With a tokenizer the drafters decode from text; a tokenizer of another vocabulary is refused.
  const std::string tok = testing::model_path("tok512.bin");
  if (std::filesystem::exists(tok)) {
    const std::string out2 = tmp_.path("p2.json");
    const auto t = run("profile --model " + q(model_) + " --tokenizer " + q(tok) +
                       " --drafters ngram --sizes 1 --cached 8 --reps 1 --out " + q(out2));
    ASSERT_EQ(t.code, 0) << t.err;
    EXPECT_NE(read_all(out2).find("Once upon a time"), std::string::npos);
  }
  const std::string hw = std::string(SPECLAB_SOURCE_DIR) + "/experiments/hardware/a100_sxm4_80gb.json";
  const std::string roof = tmp_.path("roof.json");
  const auto h = run("profile --model " + q(model_) + " --hardware " + q(hw) + " --out " + q(roof));
  ASSERT_EQ(h.code, 0) << h.err;
  const CostProfile rp = parse_cost_profile(nlohmann::json::parse(read_all(roof)), roof);
  EXPECT_EQ(rp.kind, "roofline");
  EXPECT_EQ(rp.name, "a100");
}

TEST_F(ProfileCli, BadFlagsAreUsageErrorsAndBadValuesErrors) {
  const std::string out = tmp_.path("x.json");
  for (const std::string bad : {" --sizes 4,2", " --sizes 0", " --cached 5,5", " --reps 0", " --threads 0",
                                " --kv-dtype f8", " --dtype q9"}) {
    const auto r = run("profile --model " + q(model_) + " --out " + q(out) + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
  }
  EXPECT_EQ(run("profile --out " + q(out)).code, 2);  // --model missing
  const auto big = run("profile --model " + q(model_) + " --cached 1000 --sizes 1,256 --out " + q(out));
  EXPECT_EQ(big.code, 1) << big.err;
  EXPECT_NE(big.err.find("context"), std::string::npos) << big.err;
  const auto name = run("profile --model " + q(model_) + " --name 'Bad Name' --sizes 1 --cached 0 --out " + q(out));
  EXPECT_EQ(name.code, 1) << name.err;
  EXPECT_NE(name.err.find("name"), std::string::npos) << name.err;
  const auto missing = run("profile --model " + q(tmp_.path("none.bin")) + " --out " + q(out));
  EXPECT_EQ(missing.code, 1) << missing.err;
}

TEST_F(ProfileCli, CompareProjectsOntoProfilesAndRunsTheCostPolicy) {
  const std::string prof = tmp_.path("host.json");
  ASSERT_EQ(run("profile --model " + q(model_) + " --sizes 1,2,4,8 --cached 0,64 --reps 1 --name host --out " + q(prof)).code, 0);
  const std::string hw = std::string(SPECLAB_SOURCE_DIR) + "/experiments/hardware/rtx3090.json";
  const std::string prompts = std::string(SPECLAB_SOURCE_DIR) + "/data/copy.jsonl";
  const std::string dir = tmp_.path("out");
  const auto r = run("compare --model synthetic --prompts " + q(prompts) +
                     " --max-prompts 1 --drafters ngram --budgets 4,8 --max-new 12 --no-plots --profile " + q(prof) +
                     " --profile " + q(hw) + " --budget-policy fixed,cost --out " + q(dir));
  ASSERT_EQ(r.code, 0) << r.err;
  const ReportSet reread{parse_summary_csv(read_all(dir + "/summary.csv"), "summary.csv")};
  // baseline + ngram x {4, 8} x {fixed, cost}
  ASSERT_EQ(reread.summary.size(), 5u);
  EXPECT_EQ(reread.summary[1].budget_policy, "fixed");
  EXPECT_EQ(reread.summary[2].budget_policy, "cost");
  for (const auto& row : reread.summary) EXPECT_EQ(row.matches_ar, row.config == 0 ? "na" : "true");
  for (const char* f : {"/summary.csv", "/by_category.csv", "/sequences.csv"}) {
    const std::string text = read_all(dir + f);
    const std::string header = text.substr(0, text.find('\n'));
    EXPECT_TRUE(header.ends_with(",projected_speedup_host,projected_speedup_rtx3090")) << f << ": " << header;
  }
  const auto config = nlohmann::json::parse(read_all(dir + "/config.json"));
  ASSERT_TRUE(config.contains("profiles"));
  EXPECT_EQ(config["profiles"].size(), 2u);
  EXPECT_EQ(config["configurations"][2]["budget_policy"], "cost");
  // Shards and merge: the merged reports project with the profiles kept in the shards' config.json.
  for (const std::string shard : {"0/2", "1/2"}) {
    const auto sh = run("compare --model synthetic --prompts " + q(prompts) +
                        " --max-prompts 2 --drafters ngram --budgets 4 --max-new 8 --no-plots --profile " + q(prof) +
                        " --budget-policy fixed,cost --shard " + shard + " --out " + q(dir + shard.substr(0, 1)));
    ASSERT_EQ(sh.code, 0) << sh.err;
  }
  const auto m = run("merge " + q(dir + "0") + " " + q(dir + "1") + " --no-plots --out " + q(dir + "m"));
  ASSERT_EQ(m.code, 0) << m.err;
  const std::string merged = read_all(dir + "m/summary.csv");
  EXPECT_TRUE(merged.substr(0, merged.find('\n')).ends_with(",projected_speedup_host")) << merged;
  EXPECT_EQ(parse_summary_csv(merged, "merged").size(), 3u);  // baseline, ngram fixed, ngram cost

  // The cost policy without a profile, and an unknown policy, are errors naming the key.
  for (const std::string flags : {std::string(" --budget-policy cost"), " --profile " + q(prof) + " --budget-policy greedy"}) {
    const auto e = run("compare --model synthetic --prompts " + q(prompts) + flags + " --out " + q(dir));
    EXPECT_EQ(e.code, 1) << flags << ": " << e.err;
    EXPECT_NE(e.err.find("budget_policy"), std::string::npos) << e.err;
  }
  // A bad profile file is an error naming it.
  const std::string bad = tmp_.path("bad.json");
  std::ofstream(bad) << R"({"format": "speclab-profile", "version": 1, "name": "x", "kind": "measured"})";
  const auto b = run("compare --model synthetic --prompts " + q(prompts) + " --max-prompts 1 --profile " + q(bad) +
                     " --out " + q(dir));
  EXPECT_EQ(b.code, 1) << b.err;
  EXPECT_NE(b.err.find("bad.json"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("target"), std::string::npos) << b.err;
}

}  // namespace
}  // namespace speclab
