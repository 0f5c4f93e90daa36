// The speclab binary end to end: golden llama2.c text, speculative == autoregressive through
// the CLI, JSON output, and exit codes / messages for bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testing/cli_runner.h"
#include "tests/testing/models_dir.h"

namespace {

using speclab::testing::golden_text;
using speclab::testing::q;
using speclab::testing::run;

TEST(Cli, GoldenGreedyTextFromLlama2cAndGguf) {
  const std::string bin = speclab::testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  const std::string expected = golden_text();
  ASSERT_GT(expected.size(), 100u);
  for (const std::string f : {"stories260K.bin", "stories260K.gguf"}) {
    const auto r = run("generate --model " + q(speclab::testing::model_path(f)) +
                       " --prompt 'Once upon a time' --steps 256");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, expected) << f;
  }
}

TEST(Cli, SpeculativeGreedyEqualsGoldenForEveryDrafter) {
  const std::string bin = speclab::testing::model_path("stories260K.bin");
  const std::string q80 = speclab::testing::model_path("stories260K_q80.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  SPECLAB_REQUIRE_MODEL(q80);
  const std::string expected = golden_text();
  for (const std::string d :
       {"ngram", "recycling", "aded", "draft-model:mode=chain,gamma=5", "draft-model:mode=topk",
        "draft-model:mode=swor", "draft-model:mode=iid",
        "draft-model:mode=dynamic,top_k=3,expand_top=3"}) {
    for (int budget : {4, 32}) {
      const auto r = run("generate --threads 1 --model " + q(bin) + " --draft-model " + q(q80) +
                         " --prompt 'Once upon a time' --steps 256 --drafter " + d +
                         " --budget " + std::to_string(budget));
      EXPECT_EQ(r.code, 0) << d << ": " << r.err;
      EXPECT_EQ(r.out, expected) << d << " budget " << budget;
    }
  }
}

TEST(Cli, JsonOutputHasTheDocumentedFields) {
  const std::string bin = speclab::testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  const auto r = run("generate --model " + q(bin) +
                     " --prompt 'Once upon a time' --max-new 20 --temperature 1 --seed 3"
                     " --num-samples 2 --drafter ngram --json");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["text"].is_string());
    EXPECT_EQ(j["tokens"].size(), 20u);
    for (const char* k : {"prompt_tokens", "new_tokens", "steps", "tau", "tokens_per_s",
                          "weight_bytes", "kv_cache_bytes", "peak_rss_bytes"}) {
      EXPECT_TRUE(j["stats"].contains(k)) << k;
    }
    // Peak RSS covers at least the KV cache and the weights (both touched while decoding...
    // the weights entirely; the KV cache only in part, so only the weights are a lower bound).
    EXPECT_GE(j["stats"]["peak_rss_bytes"].get<std::int64_t>(), j["stats"]["weight_bytes"].get<std::int64_t>());
    EXPECT_EQ(j["stats"]["new_tokens"], 20);
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST(Cli, TokenizeRoundTrip) {
  const std::string tok = speclab::testing::model_path("tok512.bin");
  SPECLAB_REQUIRE_MODEL(tok);
  const auto r = run("tokenize --tokenizer " + q(tok) + " --text 'Once upon a time' --bos");
  ASSERT_EQ(r.code, 0) << r.err;
  auto ids = nlohmann::json::parse(r.out)["ids"];
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  std::string list;
  for (size_t i = 1; i < ids.size(); ++i) list += (i > 1 ? "," : "") + std::to_string(int(ids[i]));
  const auto d = run("tokenize --tokenizer " + q(tok) + " --ids " + list);
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(nlohmann::json::parse(d.out)["text"], "Once upon a time");
}

TEST(Cli, UsageErrorsExitTwo) {
  for (const std::string args : {"", "frobnicate", "generate --prompt x", "generate --model x --bogus",
                                 "generate --model x --threads 0", "tokenize --tokenizer x"}) {
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
  }
}

TEST(Cli, BadFilesExitOneWithAMessageNamingTheFile) {
  const std::string dir = ::testing::TempDir();
  const std::string junk = dir + "/speclab_junk_model.bin";
  {
    std::ofstream f(junk, std::ios::binary);
    f << "this is not a model";
  }
  for (const std::string path : {junk, dir + "/does_not_exist.bin"}) {
    const auto r = run("info --model " + q(path));
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  }
  const std::string bin = speclab::testing::model_path("stories260K.bin");
  if (std::ifstream(bin)) {
    const auto r = run("generate --model " + q(bin) + " --prompt hi --drafter nosuch");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
    const auto r2 = run("generate --model " + q(bin) + " --prompt hi --drafter recycling:k=0");
    EXPECT_EQ(r2.code, 1);
    EXPECT_NE(r2.err.find("k"), std::string::npos) << r2.err;
    const auto r3 = run("generate --model " + q(bin) + " --prompt hi --drafter ngram --rule speculative --temperature 1");
    EXPECT_EQ(r3.code, 1) << r3.err;
    EXPECT_NE(r3.err.find("speculative"), std::string::npos) << r3.err;
  }
}

}  // namespace

// `speclab run SPEC --max-prompts/--budgets/--temperatures/--max-new` override the spec (the
// test command's short fresh-clone run of the main job relies on it); bad overrides exit 2.
TEST(Cli, RunOverridesTheSpecsSizes) {
  const std::string dir = ::testing::TempDir() + "/speclab_cli_run_" + std::to_string(getpid());
  const std::string spec = dir + ".json";
  {
    std::ofstream f(spec);
    f << R"({"model": "synthetic", "prompts": [")" << SPECLAB_SOURCE_DIR
      << R"(/data/copy.jsonl"], "drafters": ["ngram"], "budgets": [8, 16], "temperatures": [0, 1],
             "max_new_tokens": 64})";
  }
  const auto r = run("run " + q(spec) + " --no-plots --max-prompts 2 --budgets 4 --temperatures 0 --max-new 8 --out " +
                     q(dir));
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream s(dir + "/summary.csv");
  std::string header, line;
  std::getline(s, header);
  int rows = 0;
  while (std::getline(s, line)) {
    ++rows;
    // budget, depth_cap, budget_policy, temperature, top_k, top_p, n_sequences (README: CSV schema); the
    // baseline's budget is 0. --max-prompts 2 takes the first 2 of each category: copy.jsonl
    // has two (pattern, repeat), so 4 sequences.
    const bool baseline = line.find(",none,") != std::string::npos;
    EXPECT_NE(line.find(baseline ? ",0,0,fixed,0,0,1,4," : ",4,0,fixed,0,0,1,4,"), std::string::npos) << line;
  }
  EXPECT_EQ(rows, 2) << "baseline + ngram at budget 4, greedy only";
  for (const std::string bad : {" --budgets 0", " --max-new 0", " --max-prompts -1", " --temperatures x"}) {
    const auto b = run("run " + q(spec) + " --no-plots --out " + q(dir) + bad);
    EXPECT_EQ(b.code, 2) << bad << ": " << b.err;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove(spec);
}

// `--rule greedy` with --temperature > 0 would not sample from the target: exit 1 naming the rule
// and the temperature (it used to run and report lossless=true).
TEST(Cli, GreedyRuleWithASampledTargetIsRefused) {
  const std::string bin = speclab::testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(bin);
  const auto r = run("generate --model " + q(bin) + " --prompt hi --max-new 4 --temperature 1 --rule greedy");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("rule greedy: temperature = 1"), std::string::npos) << r.err;
  EXPECT_EQ(run("generate --model " + q(bin) + " --prompt hi --max-new 4 --temperature 0 --rule greedy").code, 0);
}

TEST(Cli, SynthModelWritesALoadableFileAndReportsBadArguments) {
  const std::string dir = ::testing::TempDir() + "/speclab_synth_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string out = dir + "/m.gguf";
  auto r = run("synth-model --shape stories110M --dim 256 --hidden 512 --layers 1 --heads 4"
               " --vocab 300 --ctx 64 --dtype q4_k --out " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("q4_k"), std::string::npos) << r.out;
  r = run("info --json --model " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["dim"], 256);
  EXPECT_EQ(j["n_layers"], 1);
  EXPECT_EQ(j["vocab_size"], 300);
  EXPECT_EQ(j["resident_dtype"], "q4_k");
  // Every matrix read in place; only the fp32 norm gains (2 per layer + the final one) copied.
  EXPECT_EQ(j["resident_bytes"].get<std::int64_t>() - j["mapped_bytes"].get<std::int64_t>(),
            4 * 256 * 3);
  // Unknown shape / type: usage errors (exit 2); a type the shape cannot hold: exit 1 naming
  // the tensor, and no file is left.
  EXPECT_EQ(run("synth-model --shape 13B --out " + q(dir + "/x.gguf")).code, 2);
  EXPECT_EQ(run("synth-model --dtype q3_k --out " + q(dir + "/x.gguf")).code, 2);
  EXPECT_EQ(run("synth-model --shape stories260K").code, 2);  // no --out
  r = run("synth-model --shape stories260K --dtype q4_k --out " + q(dir + "/x.gguf"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("token_embd.weight"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.gguf"));
  std::filesystem::remove_all(dir);
}
