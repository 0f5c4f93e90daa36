// Issue 14's hostile inputs against the CLI: every one must end with exit 1 (bad input) or 2
// (usage error) and a message naming the file or field, never a signal, a hang, an unbounded
// allocation or a foreign exception. Each CLI call runs under `timeout 60`, so a hang fails the
// test (exit 124) instead of blocking ctest.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/cli_runner.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::q;
using testing::ScopedTempDir;

testing::RunResult run(const std::string& args) { return testing::run_under_timeout(60, args); }

// Exit code 1 and a stderr message containing every part.
void expect_fails(const testing::RunResult& r, int code, const std::vector<std::string>& parts,
                  const std::string& what) {
  EXPECT_EQ(r.code, code) << what << ": " << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << what << ": " << r.err;
  for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << what << ": '" << p << "' not in " << r.err;
  EXPECT_LT(r.err.size(), 2000u) << what << ": message too long";
}

std::string deep_json(int depth) {  // objects and arrays mixed, 100,000 levels ~ 300 KB
  std::string s;
  for (int i = 0; i < depth; ++i) s += i % 2 ? "[" : "{\"k\":";
  return s;
}

constexpr int kDeep = 100000;

LlamaWeights tiny(std::int32_t vocab = 4, std::int32_t seq = 16) {
  return random_llama_weights(synthetic_info(8, 16, 1, 2, 1, vocab, seq), 7);
}

// A valid byte-level-free BPE tokenizer.json over 4 pieces.
std::string tokenizer_json(const std::string& vocab_ids = R"("a": 0, "b": 1, "c": 2, "d": 3)") {
  return R"({"model": {"type": "BPE", "vocab": {)" + vocab_ids + R"(}, "merges": []}})";
}

TEST(HostileInputs, DeeplyNestedJsonIsRefusedInEveryReader) {
  ScopedTempDir tmp;
  const std::string deep = deep_json(kDeep);
  const std::string limit = "nested deeper than 128 levels";

  testing::write_text_file(tmp.path("tok.json"), deep);
  expect_fails(run("tokenize --tokenizer " + q(tmp.path("tok.json")) + " --text ab"), 1, {"tok.json", limit},
               "tokenizer.json");

  testing::write_text_file(tmp.path("spec.json"), deep);
  expect_fails(run("run " + q(tmp.path("spec.json")) + " --out " + q(tmp.path("out1"))), 1, {"spec.json", limit},
               "spec");

  testing::write_text_file(tmp.path("p.jsonl"), deep + "\n");
  testing::write_text_file(tmp.path("spec2.json"),
                           R"({"name": "x", "model": "synthetic", "prompts": [")" + tmp.path("p.jsonl") + R"("]})");
  expect_fails(run("run " + q(tmp.path("spec2.json")) + " --out " + q(tmp.path("out2"))), 1, {"p.jsonl:1", limit},
               "prompt JSONL");

  const LlamaWeights w = tiny();
  testing::write_hf_directory(w, tmp.path("hf"));
  testing::write_text_file(tmp.path("hf/config.json"), deep);
  expect_fails(run("info --model " + q(tmp.path("hf"))), 1, {"config.json", limit}, "config.json");

  testing::write_hf_directory(w, tmp.path("hf2"));
  testing::write_text_file(tmp.path("hf2/model.safetensors"), testing::safetensors_bytes(deep, ""));
  expect_fails(run("info --model " + q(tmp.path("hf2"))), 1, {"model.safetensors", limit}, "safetensors header");

  testing::write_llama2c(w, tmp.path("m.bin"), 0);
  testing::write_text_file(tmp.path("tok2.json"), tokenizer_json());
  std::filesystem::create_directories(tmp.path("heads"));
  testing::write_text_file(tmp.path("heads/heads.json"), deep);
  expect_fails(run("generate --model " + q(tmp.path("m.bin")) + " --tokenizer " + q(tmp.path("tok2.json")) +
                   " --prompt ab --max-new 2 --drafter medusa:heads=" + q(tmp.path("heads"))),
               1, {"heads.json", limit}, "heads.json");
}

TEST(HostileInputs, OutOfRangeNumbersAreErrorsNamingTheFileAndField) {
  ScopedTempDir tmp;
  const LlamaWeights w = tiny();
  testing::write_llama2c(w, tmp.path("m.bin"), 0);
  struct Case {
    std::string vocab, field;
  };
  for (const Case& c : {Case{R"("a": 0, "b": 1e100, "c": 2, "d": 3)", "vocab 'b' id = 1e+100"},
                        Case{R"("a": 0, "b": 4294967297, "c": 2, "d": 3)", "vocab 'b' id = 4294967297"},
                        Case{R"("a": 0, "b": 1.5, "c": 2, "d": 3)", "vocab 'b' id = 1.5"},
                        Case{R"("a": 0, "b": 1e400, "c": 2, "d": 3)", "not valid JSON"},
                        Case{R"("a": 0, "b": 1000000, "c": 2, "d": 3)", "must be in [0, 4)"}}) {
    testing::write_text_file(tmp.path("tok.json"), tokenizer_json(c.vocab));
    expect_fails(run("tokenize --tokenizer " + q(tmp.path("tok.json")) + " --text ab"), 1, {"tok.json", c.field},
                 c.vocab);
  }
  testing::write_hf_directory(w, tmp.path("hf"));
  std::string cfg = testing::hf_config_json(w.info);
  const auto at = cfg.find("\"rms_norm_eps\"");
  ASSERT_NE(at, std::string::npos);
  cfg.insert(at, "\"rope_theta\": 1e400, ");
  testing::write_text_file(tmp.path("hf/config.json"), cfg);
  expect_fails(run("info --model " + q(tmp.path("hf"))), 1, {"config.json", "not valid JSON"}, "config 1e400");

  testing::write_hf_directory(w, tmp.path("hf2"));
  testing::write_text_file(tmp.path("hf2/model.safetensors"),
                           testing::safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}})",
                                                      std::string(4, '\0')));
  expect_fails(run("info --model " + q(tmp.path("hf2"))), 1, {"model.safetensors", "not valid JSON"},
               "safetensors 1e400");
  testing::write_text_file(tmp.path("hf2/model.safetensors"),
                           testing::safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615]}})",
                                                      std::string(4, '\0')));
  expect_fails(run("info --model " + q(tmp.path("hf2"))), 1, {"model.safetensors", "tensor x"}, "safetensors offset");
}

TEST(HostileInputs, FifosAndDevicesAreRefusedWithoutBlocking) {
  ScopedTempDir tmp;
  const std::string fifo = tmp.path("model.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_fails(run("info --model " + q(fifo)), 1, {fifo, "is a FIFO, expected a regular file"}, "FIFO model");
  expect_fails(run("generate --model " + q(fifo) + " --prompt a --max-new 1"), 1, {fifo, "FIFO"}, "FIFO generate");
  const LlamaWeights w = tiny();
  testing::write_llama2c(w, tmp.path("m.bin"), 0);
  expect_fails(run("generate --model " + q(tmp.path("m.bin")) + " --tokenizer /dev/zero --prompt a --max-new 1"), 1,
               {"/dev/zero", "character device"}, "/dev/zero tokenizer");
  expect_fails(run("tokenize --tokenizer " + q(fifo) + " --text a"), 1, {fifo, "FIFO"}, "FIFO tokenizer");
  expect_fails(run("run " + q(fifo) + " --out " + q(tmp.path("o"))), 1, {fifo, "FIFO"}, "FIFO spec");
}

TEST(HostileInputs, HugeHeaderContextDoesNotSizeTheKvCache) {
  ScopedTempDir tmp;
  LlamaWeights w = tiny(256, 16);
  w.info.max_seq_len = 4194304;  // a 20 KB file claiming 4M positions
  testing::write_llama2c(w, tmp.path("m.bin"), 0);
  const auto loaded = load_weights_shared(tmp.path("m.bin"));
  ASSERT_EQ(loaded->info.max_seq_len, 4194304);
  const LlamaModel model(loaded, 1);
  EXPECT_EQ(model.capacity(), LlamaModel::kDefaultContext);
  EXPECT_EQ(model.info().max_seq_len, LlamaModel::kDefaultContext);
  EXPECT_EQ(LlamaModel(loaded, 1, 32).info().max_seq_len, 32);
  EXPECT_THROW(LlamaModel(loaded, 1, 4194305), Error);

  std::string pieces = R"("a": 0, "b": 1)";
  for (int i = 2; i < 256; ++i) pieces += fmt::format(R"(, "t{}": {})", i, i);
  testing::write_text_file(tmp.path("tok.json"), tokenizer_json(pieces));
  const std::string base = "generate --model " + q(tmp.path("m.bin")) + " --tokenizer " + q(tmp.path("tok.json"));
  // Greedy from "aa" on this random model reaches the context without emitting BOS or EOS.
  auto r = run(base + " --prompt aa --max-new 100 --ctx 8 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["stats"]["stop"], "context_full");
  // 8 cached positions; the token chosen at the last one is emitted but never cached.
  EXPECT_EQ(j["stats"]["prompt_tokens"].get<int>() + j["stats"]["new_tokens"].get<int>(), 8 + 1);
  expect_fails(run(base + " --prompt ab --ctx 0"), 2, {"--ctx = 0"}, "ctx 0");
  expect_fails(run(base + " --prompt ab --ctx 5000000"), 1, {"--ctx = 5000000", "maximum context"}, "ctx too big");
}

TEST(HostileInputs, ExperimentsSizeTheCacheByTheirCtx) {
  ScopedTempDir tmp;
  testing::write_text_file(tmp.path("p.jsonl"), "{\"id\": \"1\", \"prompt\": \"ab\"}\n");
  const std::string base = "{\"name\": \"x\", \"model\": \"synthetic\", \"prompts\": [\"" + tmp.path("p.jsonl") +
                           "\"], \"drafters\": [\"ngram\"], \"budgets\": [4], \"max_new_tokens\": 100";
  testing::write_text_file(tmp.path("s.json"), base + ", \"ctx\": 16}");
  const auto r = run("run " + q(tmp.path("s.json")) + " --no-plots --out " + q(tmp.path("o")));
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(tmp.path("o/sequences.csv"));
  const std::string csv((std::istreambuf_iterator<char>(f)), {});
  // The synthetic model's maximum is 1024 positions; ctx 16 stops both sequences there.
  std::size_t n_full = 0;
  for (std::size_t at = csv.find("context_full"); at != std::string::npos; at = csv.find("context_full", at + 1)) ++n_full;
  EXPECT_EQ(n_full, 2u) << csv;
  testing::write_text_file(tmp.path("s2.json"), base + ", \"ctx\": 2000}");
  expect_fails(run("run " + q(tmp.path("s2.json")) + " --out " + q(tmp.path("o2"))), 1,
               {"ctx = 2000: must be at most the model's maximum context 1024"}, "ctx above the model");
  testing::write_text_file(tmp.path("s3.json"), base + ", \"ctx\": -1}");
  expect_fails(run("run " + q(tmp.path("s3.json")) + " --out " + q(tmp.path("o3"))), 1, {"ctx = -1"}, "negative ctx");
  expect_fails(run("run " + q(tmp.path("s.json")) + " --ctx -5 --out " + q(tmp.path("o4"))), 2, {"ctx = -5"}, "--ctx");
}

TEST(HostileInputs, OutOfRangeCountsAreRangeErrors) {
  ScopedTempDir tmp;
  const LlamaWeights w = tiny();
  testing::write_llama2c(w, tmp.path("m.bin"), 0);
  testing::write_text_file(tmp.path("tok.json"), tokenizer_json());
  const std::string base = "generate --model " + q(tmp.path("m.bin")) + " --tokenizer " + q(tmp.path("tok.json"));
  expect_fails(run(base + " --prompt ab --max-new 2147483647"), 2, {"--max-new = 2147483647", "must be in [0, "},
               "max-new");
  expect_fails(run(base + " --prompt ab --budget 2147483647"), 2, {"--budget = 2147483647"}, "budget");
  expect_fails(run(base + " --prompt ab --depth 99999"), 2, {"--depth = 99999"}, "depth");
  expect_fails(run(base + " --prompt ''"), 2, {"--prompt", "must not be empty"}, "empty prompt");
  expect_fails(run(base), 2, {"--prompt"}, "missing prompt");

  testing::write_text_file(tmp.path("p.jsonl"), "{\"id\": \"1\", \"prompt\": \"ab\"}\n");
  const std::string prompts = "\"prompts\": [\"" + tmp.path("p.jsonl") + "\"]";
  for (const auto& [field, msg] : std::vector<std::pair<std::string, std::string>>{
           {"\"budgets\": [2147483647]", "budgets: budget = 2147483647: must be in [1, 4096]"},
           {"\"budgets\": [4294967297]", "budgets = [4294967297]: must be a list of integers"},
           {"\"depths\": [100000]", "depths: depth = 100000"},
           {"\"max_new_tokens\": 2147483647", "max_new_tokens = 2147483647: must be in [1, 1048576]"},
           {"\"repetitions\": 1000000000", "repetitions = 1000000000"},
           {"\"max_new_tokens\": 18446744073709551615", "max_new_tokens = 18446744073709551615: out of range"},
           {"\"temperatures\": [1e300]", "temperature = 1e+300"}}) {
    testing::write_text_file(tmp.path("s.json"), "{\"name\": \"x\", \"model\": \"synthetic\", " + prompts + ", " + field + "}");
    expect_fails(run("run " + q(tmp.path("s.json")) + " --out " + q(tmp.path("o"))), 1, {"s.json", msg}, field);
  }
  testing::write_text_file(tmp.path("s.json"), "{\"name\": \"x\", \"model\": \"synthetic\", " + prompts + "}");
  expect_fails(run("run " + q(tmp.path("s.json")) + " --max-new 2147483647 --out " + q(tmp.path("o"))), 2,
               {"max_new_tokens = 2147483647"}, "run --max-new");
}

}  // namespace
}  // namespace speclab
