// The speclab binary end to end: golden llama2.c text, speculative == autoregressive through
// the CLI, JSON output, and exit codes / messages for bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testing/models_dir.h"

namespace {

struct RunResult {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

RunResult run(const std::string& args) {
  // One file per call and process: ctest runs the tests of this file in parallel processes.
  static int n_calls = 0;
  const std::string err_file = ::testing::TempDir() + "/speclab_cli_stderr_" +
                               std::to_string(getpid()) + "_" + std::to_string(n_calls++) + ".txt";
  const std::string cmd =
      std::string(SPECLAB_BINARY_DIR) + "/speclab " + args + " 2>" + err_file;
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(err_file);
  r.err.assign(std::istreambuf_iterator<char>(f), {});
  std::remove(err_file.c_str());
  return r;
}

std::string golden_text() {
  std::ifstream f(speclab::testing::model_path("README.md"));
  std::string all((std::istreambuf_iterator<char>(f)), {});
  const std::string fence = "```\n";
  const auto a = all.find(fence);
  const auto b = all.find(fence, a + fence.size());
  return all.substr(a + fence.size(), b - a - fence.size());  // ends with "\n"
}

std::string q(const std::string& s) { return "'" + s + "'"; }

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
    for (const char* k : {"prompt_tokens", "new_tokens", "steps", "tau", "tokens_per_s"}) {
      EXPECT_TRUE(j["stats"].contains(k)) << k;
    }
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
    const auto r = run("generate --model " + q(bin) + " --drafter nosuch");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
    const auto r2 = run("generate --model " + q(bin) + " --drafter recycling:k=0");
    EXPECT_EQ(r2.code, 1);
    EXPECT_NE(r2.err.find("k"), std::string::npos) << r2.err;
    const auto r3 = run("generate --model " + q(bin) + " --drafter ngram --rule speculative --temperature 1");
    EXPECT_EQ(r3.code, 1) << r3.err;
    EXPECT_NE(r3.err.find("speculative"), std::string::npos) << r3.err;
  }
}

}  // namespace
