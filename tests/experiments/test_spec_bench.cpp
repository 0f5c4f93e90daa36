// Spec-Bench prompt sets (experiments/prompts.h: question_id / category / turns), the first N
// questions of each category, chat-templated prompts in experiments (spec chat_template, the
// model directory's template, --chat-template none) and an end-to-end `speclab run` on a small
// random-weight Hugging Face directory with a real tokenizer.json (SmolLM2) and a
// tokenizer_config.json carrying one of the shared real templates.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "experiments/prompts.h"
#include "experiments/report.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/cli_runner.h"
#include "tests/testing/data_dir.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/models_dir.h"
#include "tokenizers/chat_template.h"
#include "tokenizers/tokenizer_loader.h"

namespace {

using speclab::Error;
using speclab::Prompt;
using speclab::testing::q;
using speclab::testing::run;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = ::testing::TempDir() + "/spec_bench_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(SpecBenchPrompts, TurnsCategoriesAndErrors) {
  TempDir tmp;
  speclab::testing::write_text_file(tmp.path("q.jsonl"),
      R"({"question_id": 81, "category": "writing", "turns": ["Write.", "Rewrite it."], "reference": ["x"]}
{"question_id": 82, "category": "writing", "turns": ["Again."]}

{"question_id": "q3", "category": "math", "turns": ["1+1?"]}
)");
  const std::vector<Prompt> p = speclab::load_prompts(tmp.path("q.jsonl"));
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].set, "q");
  EXPECT_EQ(p[0].id, "81");
  EXPECT_EQ(p[0].category, "writing");
  EXPECT_EQ(p[0].text, "Write.");
  EXPECT_EQ(p[0].turns, (std::vector<std::string>{"Write.", "Rewrite it."}));
  EXPECT_EQ(p[2].id, "q3");
  EXPECT_EQ(p[2].turns.size(), 1u);
  // Plain prompts keep working and have one turn.
  speclab::testing::write_text_file(tmp.path("plain.jsonl"), R"({"id": 1, "prompt": "Once"})" "\n");
  const auto plain = speclab::load_prompts(tmp.path("plain.jsonl"));
  EXPECT_EQ(plain[0].turns, (std::vector<std::string>{"Once"}));
  EXPECT_EQ(plain[0].category, "plain");
  // First N of each category, file order.
  const auto first = speclab::first_per_category(p, 1);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].id, "81");
  EXPECT_EQ(first[1].id, "q3");
  EXPECT_EQ(speclab::first_per_category(p, 0).size(), 3u);
  // Errors name the file, line and rule.
  struct Bad {
    std::string line, message;
  };
  for (const Bad& b : {Bad{R"({"question_id": 1, "category": "c", "turns": []})", "q.jsonl:1: field 'turns' of question 1: must be a non-empty list"},
                       Bad{R"({"question_id": 1, "category": "c", "turns": ["a", ""]})", "q.jsonl:1: turns[1] of question 1"},
                       Bad{R"({"question_id": 1, "category": "c", "turns": [3]})", "q.jsonl:1: turns[0] of question 1"},
                       Bad{R"({"question_id": 1, "turns": ["a"]})", "q.jsonl:1: field 'category' of question 1: missing"},
                       Bad{R"({"question_id": 1.5, "category": "c", "turns": ["a"]})", "q.jsonl:1: field 'question_id' = 1.5"},
                       Bad{R"({"question_id": 1, "category": "c", "turns": ["a"], "extra": 1})", "q.jsonl:1: field 'extra': unknown"},
                       Bad{R"({"turns": ["a"], "category": "c"})", "q.jsonl:1: field 'question_id': missing"}}) {
    speclab::testing::write_text_file(tmp.path("q.jsonl"), b.line + "\n");
    try {
      speclab::load_prompts(tmp.path("q.jsonl"));
      ADD_FAILURE() << "accepted " << b.line;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
    }
  }
}

TEST(SpecBenchPrompts, SharedQuestionFile) {
  const std::string path = speclab::testing::data_path("spec_bench/question.jsonl");
  SPECLAB_REQUIRE_DATA(path);
  const auto all = speclab::load_prompts(path);
  ASSERT_EQ(all.size(), 480u);
  std::map<std::string, int> per_category;
  int two_turn = 0;
  for (const auto& p : all) {
    ++per_category[p.category];
    two_turn += p.turns.size() == 2;
  }
  EXPECT_EQ(per_category.size(), 13u);
  EXPECT_EQ(per_category["writing"], 10);
  EXPECT_EQ(per_category["rag"], 80);
  EXPECT_EQ(two_turn, 80);
  const auto first = speclab::first_per_category(all, 2);
  EXPECT_EQ(first.size(), 26u);
  EXPECT_EQ(first[0].id, "81");
  EXPECT_EQ(first[1].id, "82");
}

// A random-weight HF directory with SmolLM2's tokenizer.json and a tokenizer_config.json holding
// the shared Qwen2.5 template (ChatML, whose special tokens SmolLM2's vocabulary has).
struct HfChatModel {
  std::string dir;
  std::string template_path;
};

bool make_hf_chat_model(const TempDir& tmp, HfChatModel& m) {
  const std::string tok = speclab::testing::model_path("tokenizers/smollm2-tokenizer.json");
  m.template_path = speclab::testing::data_path("chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja");
  if (!fs::exists(tok) || !fs::exists(m.template_path)) return false;
  m.dir = tmp.path("hf");
  const speclab::ModelInfo info = speclab::synthetic_info(16, 32, 1, 2, 2, 49152, 4096);
  speclab::testing::write_hf_directory(speclab::random_llama_weights(info, 7), m.dir);
  fs::copy_file(tok, m.dir + "/tokenizer.json", fs::copy_options::overwrite_existing);
  nlohmann::json cfg;
  cfg["bos_token"] = nullptr;
  cfg["eos_token"] = "<|im_end|>";
  cfg["chat_template"] = read_file(m.template_path);
  speclab::testing::write_text_file(m.dir + "/tokenizer_config.json", cfg.dump(1));
  return true;
}

TEST(SpecBenchRun, ChatTemplatedPromptsEndToEnd) {
  TempDir tmp;
  HfChatModel m;
  const std::string questions = speclab::testing::data_path("spec_bench/question.jsonl");
  if (!make_hf_chat_model(tmp, m) || !fs::exists(questions)) {
    GTEST_SKIP() << "needs ../shared/models/tokenizers/smollm2-tokenizer.json and ../shared/data "
                    "(set SPECLAB_MODELS_DIR / SPECLAB_DATA_DIR)";
  }
  const std::string spec = tmp.path("spec.json");
  speclab::testing::write_text_file(spec, R"({"name": "sb", "model": ")" + m.dir + R"(", "prompts": [")" + questions +
                                              R"("], "max_prompts": 2, "drafters": ["ngram:max_n=3"], "budgets": [4],
      "temperatures": [0], "max_new_tokens": 6})");
  auto r = run("run " + q(spec) + " --out " + q(tmp.path("out")) + " --no-plots");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto seqs = speclab::parse_sequences_csv(read_file(tmp.path("out/sequences.csv")), "sequences.csv");
  ASSERT_EQ(seqs.size(), 26u * 2u);  // 2 questions x 13 categories x (baseline + ngram)
  std::set<std::string> categories;
  for (const auto& s : seqs) categories.insert(s.category);
  EXPECT_EQ(categories.size(), 13u);
  const auto cfg = nlohmann::json::parse(read_file(tmp.path("out/config.json")));
  EXPECT_NE(cfg["chat_template_used"].get<std::string>().find("tokenizer_config.json"), std::string::npos);

  // prompt_tokens is the length of the rendered first turn, encoded without a second BOS.
  const auto tok = speclab::load_tokenizer(m.dir);
  const auto tmpl = speclab::load_model_chat_template(m.dir);
  ASSERT_TRUE(tmpl.has_value());
  const auto prompts = speclab::first_per_category(speclab::load_prompts(questions), 2);
  std::map<std::string, std::int32_t> want;
  for (const auto& p : prompts) {
    const std::string text = tmpl->render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", p.text}}}), {});
    want[p.id] = static_cast<std::int32_t>(speclab::encode_rendering(*tok, text).size());
    EXPECT_EQ(text.rfind("<|im_start|>system\n", 0), 0u);
  }
  for (const auto& s : seqs) EXPECT_EQ(s.prompt_tokens, want.at(s.prompt_id)) << s.prompt_id;
  // Greedy speculative output equals the baseline's.
  for (std::size_t k = 0; k + 1 < seqs.size(); k += 2) EXPECT_EQ(seqs[k].tokens_hash, seqs[k + 1].tokens_hash);

  // --chat-template none: plain prompts with BOS.
  r = run("run " + q(spec) + " --out " + q(tmp.path("plain")) + " --no-plots --chat-template none --max-prompts 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto plain = speclab::parse_sequences_csv(read_file(tmp.path("plain/sequences.csv")), "sequences.csv");
  ASSERT_EQ(plain.size(), 13u * 2u);
  for (const auto& p : speclab::first_per_category(speclab::load_prompts(questions), 1)) {
    for (const auto& s : plain) {
      if (s.prompt_id == p.id) EXPECT_EQ(s.prompt_tokens, static_cast<std::int32_t>(tok->encode(p.text, true).size()));
    }
  }
  // --chat-template FILE (the gemma template here) overrides the model's.
  const std::string gemma = speclab::testing::data_path("chat_templates/google-gemma-2-2b-it.jinja");
  r = run("run " + q(spec) + " --out " + q(tmp.path("gemma")) + " --no-plots --chat-template " + q(gemma) + " --max-prompts 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(read_file(tmp.path("gemma/config.json")).find("google-gemma-2-2b-it.jinja"), std::string::npos);
  // A template that fails is listed with the prompt.
  speclab::testing::write_text_file(tmp.path("bad.jinja"), "{{ raise_exception('no') }}");
  r = run("run " + q(spec) + " --out " + q(tmp.path("bad")) + " --no-plots --chat-template " + q(tmp.path("bad.jinja")) + " --max-prompts 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bad.jinja:1: raise_exception: no"), std::string::npos) << r.err;
}

TEST(SpecBenchSpec, ParsesAndRecordsChatKeys) {
  const auto spec = speclab::load_spec(std::string(SPECLAB_SOURCE_DIR) + "/experiments/specs/spec_bench.json");
  EXPECT_EQ(spec.temperatures, (std::vector<double>{0.0}));
  EXPECT_EQ(spec.max_new_tokens, 1024);
  EXPECT_EQ(spec.chat_template, "");
  EXPECT_EQ(spec.budgets, (std::vector<std::int32_t>{10, 80}));
  const auto again = speclab::parse_spec(speclab::spec_to_json(spec).dump(), "round trip");
  EXPECT_EQ(again.chat_template, spec.chat_template);
  EXPECT_EQ(again.chat_date, "2024-07-26");
  EXPECT_THROW(speclab::parse_spec(R"({"prompts": ["p.jsonl"], "chat_date": "July"})", "s"), Error);
}

}  // namespace
