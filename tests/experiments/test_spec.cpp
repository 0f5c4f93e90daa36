// Experiment spec parsing and validation: every problem listed at once, with field and value;
// prompt-set parsing; shard syntax; prepare_experiment's file / drafter / rule checks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "experiments/prompts.h"
#include "tokenizers/byte_tokenizer.h"
#include "experiments/report.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string no_tokenizer(const std::string&, const std::string&, std::int32_t) {
  throw Error("no tokenizer in this test");
}

TEST(Spec, ParsesAllKeysAndRoundTrips) {
  const std::string text = R"({
    "name": "t", "model": "synthetic", "prompts": ["a.jsonl", "b.jsonl"], "max_prompts": 3,
    "drafters": ["ngram:max_n=4", {"name": "recycling", "params": {"k": 4, "state": "warm"},
                 "rules": ["greedy"]}, {"name": "draft-model", "optional": true}],
    "rules": ["auto", "deterministic"], "budgets": [4, 8], "depths": [0, 3],
    "temperatures": [0, 0.7], "top_k": 10, "top_p": 0.9, "seeds": [1, 2],
    "max_new_tokens": 16, "state": "warm", "threads": 2, "repetitions": 3, "ctx": 64})";
  const ExperimentSpec s = parse_spec(text, "t.json");
  EXPECT_EQ(s.prompts, (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  ASSERT_EQ(s.drafters.size(), 3u);
  EXPECT_EQ(s.drafters[0].spec, "ngram:max_n=4");
  EXPECT_EQ(s.drafters[1].spec, "recycling:k=4,state=warm");
  EXPECT_EQ(s.drafters[1].rules, (std::vector<std::string>{"greedy"}));
  EXPECT_TRUE(s.drafters[2].optional);
  EXPECT_EQ(s.budgets, (std::vector<std::int32_t>{4, 8}));
  EXPECT_EQ(s.depths, (std::vector<std::int32_t>{0, 3}));
  EXPECT_EQ(s.temperatures, (std::vector<double>{0, 0.7}));
  EXPECT_EQ(s.seeds, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(s.top_k, 10);
  EXPECT_DOUBLE_EQ(s.top_p, 0.9);
  EXPECT_EQ(s.state, "warm");
  EXPECT_EQ(s.repetitions, 3);
  EXPECT_EQ(s.ctx, 64);
  // The resolved form reads back to the same spec.
  const ExperimentSpec back = parse_spec(spec_to_json(s).dump(), "dump");
  EXPECT_EQ(spec_to_json(back), spec_to_json(s));
}

TEST(Spec, ListsEveryProblemAtOnce) {
  const std::string text = R"({
    "prompts": ["a.jsonl"], "budgets": [8, 0, -2], "temperatures": [-1], "rules": ["auto", "bogus"],
    "state": "lukewarm", "threads": 0, "colour": "red", "max_new_tokens": 0, "top_p": 1.5,
    "drafters": ["ngram", {"name": "aded", "extra": 1}, 42]})";
  const std::string msg = error_of([&] { parse_spec(text, "bad.json"); });
  EXPECT_NE(msg.find("11 problems"), std::string::npos) << msg;
  for (const char* part : {"budget = 0: must be in [1, 4096]", "budget = -2: must be in [1, 4096]", "temperature = -1",
                           "rule 'bogus': unknown", "state = 'lukewarm'", "threads = 0", "key 'colour': unknown",
                           "max_new_tokens = 0", "top_p = 1.5", "key 'extra': unknown", "drafters[2] = 42"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in:\n" << msg;
  }
  EXPECT_NE(msg.find("bad.json"), std::string::npos);
}

TEST(Spec, RejectsBadTypesAndJson) {
  EXPECT_NE(error_of([] { parse_spec("{", "x.json"); }).find("x.json: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { parse_spec("[1]", "x.json"); }).find("must be a JSON object"), std::string::npos);
  const std::string msg = error_of([] { parse_spec(R"({"prompts": "p.jsonl", "budgets": ["8"]})", "x.json"); });
  EXPECT_NE(msg.find("budgets = [\"8\"]: must be a list of integers"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse_spec(R"({"budgets": [8]})", "x.json"); }).find("prompts: at least one"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_spec("/nonexistent/spec.json"); }).find("/nonexistent/spec.json"), std::string::npos);
}

TEST(Prompts, LoadsAndRejectsBadLines) {
  testing::ScopedTempDir tmp;
  const std::string good = tmp.path("set1.jsonl");
  write_text_file(good, "{\"id\": \"a\", \"prompt\": \"hello\"}\n\n{\"id\": 7, \"prompt\": \"x\", \"category\": \"c\"}\n");
  const auto p = load_prompts(good);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].set, "set1");
  EXPECT_EQ(p[0].category, "set1");
  EXPECT_EQ(p[1].id, "7");
  EXPECT_EQ(p[1].category, "c");
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"{\"id\": \"a\"}\n", ":1: field 'prompt': missing"},
      {"{\"prompt\": \"p\"}\n", ":1: field 'id': missing"},
      {"{\"id\": \"a\", \"prompt\": \"p\"}\n{\"id\": \"a\", \"prompt\": \"q\"}\n", ":2: id 'a': duplicate"},
      {"{\"id\": \"a\", \"prompt\": \"p\"}\nnot json\n", ":2: not valid JSON"},
      {"{\"id\": \"a\", \"prompt\": \"p\", \"lang\": \"en\"}\n", "field 'lang': unknown"},
      {"{\"id\": \"a\", \"prompt\": \"\"}\n", "must not be empty"},
      {"\n", "no prompts"},
  };
  for (const auto& c : cases) {
    const std::string path = tmp.path("bad.jsonl");
    write_text_file(path, c.text);
    const std::string msg = error_of([&] { load_prompts(path); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.text << " -> " << msg;
  }
  EXPECT_NE(error_of([] { load_prompts("/nonexistent/p.jsonl"); }).find("/nonexistent/p.jsonl"), std::string::npos);
}

TEST(Prompts, ByteTokenizerRoundTrips) {
  ByteTokenizer tok(512);
  const auto ids = tok.encode("Hi!", true);
  EXPECT_EQ(ids, (std::vector<Token>{1, 3 + 'H', 3 + 'i', 3 + '!'}));
  EXPECT_EQ(tok.decode(ids), "Hi!");
  EXPECT_THROW(ByteTokenizer(100), Error);
}

TEST(Shard, Parses) {
  const auto s = parse_shard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  for (const char* bad : {"5/5", "-1/3", "1", "a/b", "1/0", "1/2x"}) {
    EXPECT_THROW(parse_shard(bad), Error) << bad;
  }
}

TEST(Prepare, ListsFileAndDrafterProblemsBeforeAnyWork) {
  testing::ScopedTempDir tmp;
  const std::string prompts = tmp.path("p.jsonl");
  write_text_file(prompts, "{\"id\": \"a\", \"prompt\": \"abcabcabcabcabc\"}\n");
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {prompts, tmp.path("missing.jsonl")};
  s.drafters = {{"ngram:max_n=3,colour=red", {}, false},
                {"telepathy", {}, false},
                {"recycling:k=0", {}, false},
                {"draft-model:model=/nonexistent/d.bin", {}, false}};
  s.budgets = {8, -1};
  const std::string msg = error_of([&] { prepare_experiment(s, no_tokenizer); });
  for (const char* part : {"missing.jsonl", "colour", "telepathy", "recycling:k=0", "/nonexistent/d.bin",
                           "budget = -1", "6 problems"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in:\n" << msg;
  }
}

TEST(Prepare, MissingModelIsAProblem) {
  testing::ScopedTempDir tmp;
  const std::string prompts = tmp.path("p.jsonl");
  write_text_file(prompts, "{\"id\": \"a\", \"prompt\": \"abc\"}\n");
  ExperimentSpec s;
  s.model = tmp.path("nope.bin");
  s.prompts = {prompts};
  s.drafters = {{"ngram", {}, false}};
  const std::string msg = error_of([&] { prepare_experiment(s, no_tokenizer); });
  EXPECT_NE(msg.find("nope.bin: file not found"), std::string::npos) << msg;
}

TEST(Prepare, RuleInvalidForDrafterFailsInTheDryRun) {
  testing::ScopedTempDir tmp;
  const std::string prompts = tmp.path("p.jsonl");
  write_text_file(prompts, "{\"id\": \"a\", \"prompt\": \"abcabcabcabcabcabcabc\"}\n");
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {prompts};
  // ngram proposes deterministic (lookup) trees without q rows: `speculative` cannot verify
  // them, at any temperature.
  s.drafters = {{"ngram", {"speculative"}, false}, {"recycling", {"auto"}, false}};
  s.temperatures = {0.0, 1.0};
  s.max_new_tokens = 8;
  const std::string msg = error_of([&] { prepare_experiment(s, no_tokenizer); });
  EXPECT_NE(msg.find("drafter 'ngram' with rule 'speculative' at temperature 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("drafter 'ngram' with rule 'speculative' at temperature 1"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("recycling"), std::string::npos) << msg;
}

}  // namespace
}  // namespace speclab
