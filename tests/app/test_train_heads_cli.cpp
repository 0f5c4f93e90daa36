// `speclab train-heads` end to end on stories260K (skipped when absent): a short run writes
// heads.safetensors + heads.json with the documented fields; generate with the trained heads
// (medusa, hydra, early-exit and del with adapters) prints the llama2.c golden text; usage errors
// exit 2, bad files and heads for another model exit 1 with a message naming the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/cli_runner.h"

namespace speclab::testing {
namespace {

namespace fs = std::filesystem;

std::string out_dir(const std::string& name) {
  const fs::path p = fs::path(::testing::TempDir()) / ("speclab_train_cli_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  return p.string();
}

const std::string kQuick = " --steps 60 --samples-per-prompt 1 --max-len 96 --eval-every 30 --threads 2";

TEST(TrainHeadsCli, TrainsAndTheHeadsDecodeTheGoldenText) {
  const std::string bin = model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  const std::string prompts = std::string(SPECLAB_SOURCE_DIR) + "/data/stories.jsonl";
  const std::string expected = golden_text();
  struct Case {
    std::string kind, flags, drafter;
  };
  for (const Case& c : {Case{"medusa", "--heads 3", "medusa:heads="},
                        Case{"hydra", "--heads 3", "hydra:heads="},
                        Case{"exit-adapter", "--exit-layers 2,4", "early-exit:exit=4,d=3,adapters="},
                        Case{"exit-adapter", "--exit-layers 2,4", "del:adapters="}}) {
    const std::string dir = out_dir(c.kind);
    const auto r = run("train-heads --model " + q(bin) + " --kind " + c.kind + " " + c.flags +
                       " --prompts " + q(prompts) + kQuick + " --out " + q(dir));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("held-out"), std::string::npos) << r.err;            // progress
    EXPECT_NE(r.out.find("head,top1,top5,top10"), std::string::npos) << r.out;  // CSV summary
    std::ifstream jf(dir + "/heads.json");
    const nlohmann::json j = nlohmann::json::parse(jf);
    EXPECT_EQ(j["kind"], c.kind);
    EXPECT_EQ(j["dim"], 64);
    EXPECT_EQ(j["vocab"], 512);
    EXPECT_EQ(j["target_fingerprint"].get<std::string>().size(), 16u);
    EXPECT_EQ(j["topk_accuracy"].size(), j["n_heads"].get<std::size_t>());
    EXPECT_EQ(j["training"]["steps"], 60);
    EXPECT_GT(j["training"]["train_positions"].get<int>(), 100);
    EXPECT_TRUE(fs::exists(dir + "/heads.safetensors"));
    for (int budget : {4, 32}) {
      const auto g = run("generate --threads 1 --model " + q(bin) + " --prompt 'Once upon a time' --steps 256 --drafter " +
                         c.drafter + q(dir) + " --budget " + std::to_string(budget));
      EXPECT_EQ(g.code, 0) << c.drafter << ": " << g.err;
      EXPECT_EQ(g.out, expected) << c.drafter << " budget " << budget;
    }
    fs::remove_all(dir);
  }
}

// --kind eagle: eagle.safetensors + eagle.json with the training record; the eagle drafter
// decodes the golden text with it (dynamic tree and chain); --reuse skips an identical retrain.
TEST(TrainHeadsCli, TrainsAnEagleHeadThatDecodesTheGoldenText) {
  const std::string bin = model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  const std::string prompts = std::string(SPECLAB_SOURCE_DIR) + "/data/stories.jsonl";
  const std::string dir = out_dir("eagle");
  const std::string train = "train-heads --reuse --model " + q(bin) + " --kind eagle --batch 2 --prompts " + q(prompts) +
                            kQuick + " --out " + q(dir);
  auto r = run(train);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("held-out"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("depth,top1,top5,agree1"), std::string::npos) << r.out;
  std::ifstream jf(dir + "/eagle.json");
  const nlohmann::json j = nlohmann::json::parse(jf);
  EXPECT_EQ(j["dim"], 64);
  EXPECT_EQ(j["vocab"], 512);
  EXPECT_EQ(j["training"]["steps"], 60);
  EXPECT_EQ(j["training"]["heldout_top1_by_depth"].size(), 4u);
  EXPECT_GT(j["training"]["heldout_top1_by_depth"][0].get<double>(), 0.02);  // chance: 1/512
  EXPECT_TRUE(fs::exists(dir + "/eagle.safetensors"));
  const std::string expected = golden_text();
  for (const std::string drafter : {"eagle:heads=" + q(dir), "eagle:tree=chain,depth=4,heads=" + q(dir)}) {
    for (int budget : {4, 32}) {
      const auto g = run("generate --threads 1 --model " + q(bin) + " --prompt 'Once upon a time' --steps 256 --drafter " +
                         drafter + " --budget " + std::to_string(budget));
      EXPECT_EQ(g.code, 0) << drafter << ": " << g.err;
      EXPECT_EQ(g.out, expected) << drafter << " budget " << budget;
    }
  }
  r = run(train);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("reusing"), std::string::npos) << r.out;
  r = run(train + " --token-weight 0.3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("token_weight"), std::string::npos) << r.err;
  // A fused (EAGLE-3-style) head over layers 1, 3 and the final-normed state, with the
  // training-time test: recorded in eagle.json, lossless; --reuse sees the other layers.
  const std::string fused = train + " --feature-layers 1,3,final --ttt-steps 2";
  r = run(fused);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("feature_layers"), std::string::npos) << "retrained for the other layers: " << r.err;
  std::ifstream jf2(dir + "/eagle.json");
  const nlohmann::json j2 = nlohmann::json::parse(jf2);
  EXPECT_EQ(j2["feature_layers"], nlohmann::json({1, 3, -1}));
  const auto g = run("generate --threads 1 --model " + q(bin) + " --prompt 'Once upon a time' --steps 256 --drafter " +
                     "eagle:heads=" + q(dir) + " --budget 32");
  EXPECT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(g.out, expected) << "fused eagle";
  r = run(fused);
  EXPECT_NE(r.out.find("reusing"), std::string::npos) << r.out;
  // EAGLE-3's own rule (layers 2, L/2, L-3) has no three distinct layers in a 5-layer model.
  r = run(train + " --feature-layers eagle3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not three distinct layers"), std::string::npos) << r.err;
  r = run(train + " --feature-layers 1,6");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'6': must be a layer in [0, 5]"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(TrainHeadsCli, UsageAndInputErrors) {
  const std::string bin = model_path("stories260K.bin");
  const std::string dir = out_dir("errors");
  // Usage errors: exit 2 before any file is read.
  for (const std::string args : {"train-heads --model x", "train-heads --out d", "train-heads --model x --out d --kind nope",
                                 "train-heads --model x --out d --kind eagle --heads 3",
                                 "train-heads --model x --out d --kind eagle --noise -1",
                                 "train-heads --model x --out d --kind medusa --noise 0.1",
                                 "train-heads --model x --out d --kind hydra --feature-layers 1",
                                 "train-heads --model x --out d --heads 0", "train-heads --model x --out d --steps -1",
                                 "train-heads --model x --out d --lr 0", "train-heads --model x --out d --prompts a --corpus b",
                                 "train-heads --model x --out d --kind medusa --exit-layers 1"}) {
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << args;
  }
  EXPECT_EQ(run("train-heads --model /nonexistent.bin --out " + q(dir)).code, 1);
  SPECLAB_REQUIRE_MODEL(bin);
  auto r = run("train-heads --model " + q(bin) + " --prompts /nonexistent.jsonl --out " + q(dir));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent.jsonl"), std::string::npos) << r.err;
  r = run("train-heads --model " + q(bin) + " --kind exit-adapter --exit-layers 5 --out " + q(dir));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("exit_layers entry 5"), std::string::npos) << r.err;
  // Heads trained for stories260K used with its Q8_0 version: a different target.
  const std::string q80 = model_path("stories260K_q80.bin");
  SPECLAB_REQUIRE_MODEL(q80);
  const std::string prompts = std::string(SPECLAB_SOURCE_DIR) + "/data/stories.jsonl";
  ASSERT_EQ(run("train-heads --model " + q(bin) + " --prompts " + q(prompts) + kQuick + " --out " + q(dir)).code, 0);
  r = run("generate --model " + q(q80) + " --tokenizer " + q(model_path("tok512.bin")) +
          " --prompt hi --max-new 4 --drafter medusa:heads=" + q(dir));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("trained for target"), std::string::npos) << r.err;
  r = run("generate --model " + q(bin) + " --prompt hi --max-new 4 --drafter hydra:heads=" + q(dir));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("medusa"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// --reuse (scripts/heads.sh, issue 21): heads are reused only when they load for this model and
// were trained with the same settings; a heads.json without its weights, heads of another
// target, or other settings are retrained.
TEST(TrainHeadsCli, ReuseOnlyHeadsThatLoadForThisModelWithTheSameSettings) {
  const std::string bin = model_path("stories260K.bin");
  const std::string q80 = model_path("stories260K_q80.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  SPECLAB_REQUIRE_MODEL(q80);
  const std::string prompts = std::string(SPECLAB_SOURCE_DIR) + "/data/stories.jsonl";
  const std::string dir = out_dir("reuse");
  const std::string train = "train-heads --reuse --kind medusa --heads 2 --prompts " + q(prompts) + kQuick + " --out " + q(dir);
  const auto trained = [&](const RunResult& r) { return r.out.find("head,top1") != std::string::npos; };
  auto r = run(train + " --model " + q(bin));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(trained(r)) << r.out;
  const auto mtime = fs::last_write_time(dir + "/heads.safetensors");
  r = run(train + " --model " + q(bin));  // same model, same settings: nothing to do
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(trained(r)) << r.out;
  EXPECT_NE(r.out.find("reusing"), std::string::npos) << r.out;
  EXPECT_EQ(fs::last_write_time(dir + "/heads.safetensors"), mtime);
  r = run(train + " --model " + q(bin) + " --lr 0.02");  // other settings
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(trained(r)) << r.out;
  EXPECT_NE(r.err.find("lr"), std::string::npos) << r.err;
  r = run(train + " --model " + q(q80) + " --tokenizer " + q(model_path("tok512.bin")));  // another target
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(trained(r)) << r.out;
  EXPECT_NE(r.err.find("trained for target"), std::string::npos) << r.err;
  fs::remove(dir + "/heads.safetensors");  // a fresh clone: heads.json without its weights
  r = run(train + " --model " + q(q80) + " --tokenizer " + q(model_path("tok512.bin")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(trained(r)) << r.out;
  EXPECT_NE(r.err.find("heads.safetensors"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/heads.safetensors"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace speclab::testing
