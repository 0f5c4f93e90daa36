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
#include <tuple>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/registry.h"
#include "experiments/decode.h"
#include "experiments/prompts.h"
#include "experiments/report.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/cli_runner.h"
#include "tests/testing/data_dir.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/models_dir.h"
#include "tokenizers/byte_tokenizer.h"
#include "tokenizers/chat_template.h"
#include "tokenizers/tokenizer_loader.h"
#include "verifiers/rules.h"

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
                       Bad{R"({"turns": ["a"], "category": "c"})", "q.jsonl:1: field 'question_id': missing"},
                       Bad{R"({"question_id": 7, "category": "overall", "turns": ["a"]})",
                           "q.jsonl:1: category 'overall' of id '7': reserved (by_category.csv's row over all categories)"}}) {
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
  // 2 questions x 13 categories x (baseline + ngram), the 16 MT-bench ones with two turns.
  ASSERT_EQ(seqs.size(), (26u + 16u) * 2u);
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
  for (const auto& s : seqs) {
    if (s.turn == 1) {
      EXPECT_EQ(s.prompt_tokens, want.at(s.prompt_id)) << s.prompt_id;
    } else {
      EXPECT_GT(s.prompt_tokens, want.at(s.prompt_id)) << s.prompt_id;
    }
  }
  // Greedy speculative output equals the baseline's, on both turns.
  std::map<std::tuple<int, int, int>, std::string> hash;
  for (const auto& s : seqs) hash[{s.unit, s.config, s.turn}] = s.tokens_hash;
  for (const auto& s : seqs) {
    EXPECT_EQ(s.tokens_hash, hash.at(std::make_tuple(s.unit, 0, s.turn))) << s.prompt_id << " turn " << s.turn;
  }

  // --chat-template none: plain prompts with BOS.
  r = run("run " + q(spec) + " --out " + q(tmp.path("plain")) + " --no-plots --chat-template none --max-prompts 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto plain = speclab::parse_sequences_csv(read_file(tmp.path("plain/sequences.csv")), "sequences.csv");
  ASSERT_EQ(plain.size(), (13u + 8u) * 2u);
  for (const auto& p : speclab::first_per_category(speclab::load_prompts(questions), 1)) {
    for (const auto& s : plain) {
      if (s.prompt_id == p.id && s.turn == 1) {
        EXPECT_EQ(s.prompt_tokens, static_cast<std::int32_t>(tok->encode(p.text, true).size()));
      }
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


// answer_text: the generated ids as the next turn's conversation holds them.
TEST(SpecBenchTurns, AnswerTextDecodesReplacesAndStrips) {
  const speclab::ByteTokenizer tok(512);
  auto text_of = [&](const std::string& bytes, bool specials = false) {
    std::vector<speclab::Token> ids = tok.encode(bytes, false);
    if (specials) {  // BOS / EOS ids inside are skipped
      ids.insert(ids.begin() + 2, speclab::ByteTokenizer::kBos);
      ids.push_back(speclab::ByteTokenizer::kEos);
    }
    return speclab::answer_text(tok, ids);
  };
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(text_of(" \n hi \xC3 \xE2\x82 ok\t\n", true), "hi " + r + " " + r + " ok");
  EXPECT_EQ(text_of("\xF4\x90x"), r + r + "x");             // F4 90 is out of range: two subparts
  EXPECT_EQ(text_of("\xED\xA0\x80"), r + r + r);            // a surrogate
  EXPECT_EQ(text_of("\xC0\xAF"), r + r);                    // an overlong lead byte
  EXPECT_EQ(text_of("\xF0\x9F\x98\x80 a\xF0\x9F"), "\xF0\x9F\x98\x80 a" + r);  // valid, then truncated
  EXPECT_EQ(text_of("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(text_of(" \r\n "), "");
  EXPECT_EQ(speclab::answer_text(tok, {}), "");
}

std::string resolve_in_dir(const std::string& model, const std::string&, std::int32_t) { return model; }

// Multi-turn decoding end to end on the chat model: every configuration x temperature decodes
// every turn; each sequence is reproduced here by an independent decode() whose turn-2 prompt
// is the template's rendering of [user turn 1, assistant answer, user turn 2] with the
// baseline's answer when greedy and the configuration's own sample when sampled; greedy turn 2
// equals the baseline's; by_category.csv, accept_hist.csv and by_depth.csv's per-position rates
// equal what steps.csv and sequences.csv give.
TEST(SpecBenchRun, MultiTurnConversationsAndReports) {
  TempDir tmp;
  HfChatModel m;
  if (!make_hf_chat_model(tmp, m)) {
    GTEST_SKIP() << "needs ../shared/models/tokenizers/smollm2-tokenizer.json and ../shared/data "
                    "(set SPECLAB_MODELS_DIR / SPECLAB_DATA_DIR)";
  }
  const std::string questions = tmp.path("mt.jsonl");
  speclab::testing::write_text_file(questions,
      R"({"question_id": 81, "category": "writing", "turns": ["Write a haiku about the sea.", "Now make it rhyme."]}
{"question_id": 82, "category": "writing", "turns": ["Describe a cat in one line.", "Shorter, please."]}
{"question_id": 101, "category": "reasoning", "turns": ["If A > B and B > C, is A > C?", "Why?"]}
{"question_id": 300, "category": "qa", "turns": ["What is the capital of France?"]}
)");
  const std::string spec_path = tmp.path("spec.json");
  speclab::testing::write_text_file(spec_path, R"({"name": "mt", "model": ")" + m.dir + R"(", "prompts": [")" +
                                                   questions + R"("], "drafters": ["ngram:max_n=3", "recycling"],
      "budgets": [4], "temperatures": [0, 1], "seeds": [11], "max_new_tokens": 8})");
  const std::string out = tmp.path("out");
  auto r = run("run " + q(spec_path) + " --out " + q(out) + " --no-plots");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto seqs = speclab::parse_sequences_csv(read_file(out + "/sequences.csv"), "sequences.csv");
  const auto steps = speclab::parse_steps_csv(read_file(out + "/steps.csv"), "steps.csv");
  EXPECT_GE(speclab::parse_csv(read_file(out + "/steps.csv"), "steps.csv").column("turn"), 0);
  ASSERT_EQ(seqs.size(), 2u * 3u * 7u);  // temperatures x configurations x turns (2 + 2 + 2 + 1)
  using Key = std::tuple<int, int, int>;
  std::map<Key, const speclab::SequenceRow*> row;
  for (const auto& s : seqs) row[{s.unit, s.config, s.turn}] = &s;
  std::map<Key, std::int32_t> n_steps;
  for (const auto& t : steps) {
    ASSERT_TRUE(row.count({t.unit, t.config, t.turn})) << t.unit << " " << t.config << " " << t.turn;
    ++n_steps[{t.unit, t.config, t.turn}];
  }
  for (const auto& s : seqs) EXPECT_EQ(n_steps[std::make_tuple(s.unit, s.config, s.turn)], s.target_forwards);

  // Every sequence again, by hand.
  speclab::ExperimentSpec spec = speclab::load_spec(spec_path);
  auto exp = speclab::prepare_experiment(spec, resolve_in_dir);
  ASSERT_TRUE(exp.chat_template != nullptr);
  const speclab::DrafterEnv env{&exp.weights->info, exp.spec.draft_model, exp.spec.threads, exp.weights};
  int sampled_turn2_differs = 0;
  for (const auto& u : exp.units) {
    const Prompt& p = exp.prompts[u.prompt];
    const bool greedy = u.temperature == 0;
    const std::size_t ti = u.temperature == 0 ? 0 : 1;
    std::string ar_answer;
    for (const auto& c : exp.configs) {
      auto drafter = c.index == 0 ? nullptr : speclab::make_drafter(c.drafter_spec, env);
      auto rule = c.index == 0 ? nullptr : speclab::make_rule(exp.resolved_rule[c.index][ti]);
      speclab::DecodeOptions opt;
      opt.sampling.temperature = static_cast<float>(u.temperature);
      opt.sampling.top_k = exp.spec.top_k;
      opt.sampling.top_p = static_cast<float>(exp.spec.top_p);
      opt.max_new_tokens = exp.spec.max_new_tokens;
      opt.budget = speclab::DraftBudget{c.budget, c.depth_cap};
      opt.seed = u.seed;
      std::vector<speclab::Token> ids = exp.prompt_tokens[u.prompt];
      std::string answer;
      for (std::size_t turn = 0; turn < p.turns.size(); ++turn) {
        if (turn == 1) {
          const nlohmann::ordered_json messages = nlohmann::ordered_json::array(
              {{{"role", "user"}, {"content", p.turns[0]}},
               {{"role", "assistant"}, {"content", greedy ? ar_answer : answer}},
               {{"role", "user"}, {"content", p.turns[1]}}});
          ids = speclab::encode_rendering(*exp.tokenizer, exp.chat_template->render(messages, {}));
          opt.seed = speclab::Rng(u.seed).next_u64();
        }
        const auto res = speclab::decode(*exp.target, drafter.get(), rule.get(), ids, opt);
        const speclab::SequenceRow& s = *row.at({u.index, c.index, static_cast<int>(turn) + 1});
        EXPECT_EQ(s.prompt_tokens, static_cast<std::int32_t>(ids.size())) << p.id << " config " << c.index;
        EXPECT_EQ(s.tokens_hash, speclab::tokens_hash(res.tokens)) << p.id << " config " << c.index << " turn " << turn + 1;
        EXPECT_EQ(s.category, p.category);
        if (turn == 0) {
          answer = speclab::answer_text(*exp.tokenizer, res.tokens);
          if (c.index == 0) ar_answer = answer;
        }
        if (turn == 1 && greedy) {
          EXPECT_EQ(s.tokens_hash, row.at(std::make_tuple(u.index, 0, 2))->tokens_hash) << "greedy turn 2 of " << p.id;
        }
        if (turn == 1 && !greedy && c.index > 0) {
          sampled_turn2_differs += s.prompt_tokens != row.at({u.index, 0, 2})->prompt_tokens;
        }
      }
    }
  }
  RecordProperty("sampled_turn2_prompts_differing_from_baseline", sampled_turn2_differs);

  // by_category.csv from the records.
  struct Acc {
    std::int32_t n = 0;
    std::int64_t tokens = 0, forwards = 0, drafted = 0, accepted = 0, drafting = 0;
  };
  std::map<Key, std::int64_t> drafting_of;
  for (const auto& t : steps) drafting_of[{t.unit, t.config, t.turn}] += t.n_drafted > 0;
  std::map<std::tuple<int, double, std::string>, Acc> want;
  for (const auto& s : seqs) {
    for (const std::string& cat : {s.category, std::string("overall")}) {
      Acc& a = want[{s.config, s.temperature, cat}];
      ++a.n;
      a.tokens += s.new_tokens;
      a.forwards += s.target_forwards;
      a.drafted += s.drafted_tokens;
      a.accepted += s.accepted_tokens;
      a.drafting += drafting_of[{s.unit, s.config, s.turn}];
    }
  }
  const auto cats = speclab::parse_by_category_csv(read_file(out + "/by_category.csv"), "by_category.csv");
  ASSERT_EQ(cats.size(), want.size());
  ASSERT_EQ(cats.size(), 3u * 2u * 4u);  // configurations x temperatures x (3 categories + overall)
  EXPECT_EQ(cats[0].category, "writing");
  EXPECT_EQ(cats[3].category, "overall");
  for (const auto& c : cats) {
    const Acc& a = want.at({c.config, c.temperature, c.category});
    EXPECT_EQ(c.n_sequences, a.n);
    EXPECT_EQ(c.new_tokens, a.tokens);
    EXPECT_EQ(c.target_forwards, a.forwards);
    EXPECT_EQ(c.drafted_tokens, a.drafted);
    EXPECT_EQ(c.accepted_tokens, a.accepted);
    EXPECT_EQ(c.drafting_steps, a.drafting);
    EXPECT_NEAR(c.tau, double(a.tokens) / double(a.forwards), 1e-6);
    EXPECT_NEAR(c.alpha, a.drafted ? double(a.accepted) / double(a.drafted) : 0.0, 1e-6);
    EXPECT_NEAR(c.mean_accept_len, a.drafting ? 1.0 + double(a.accepted) / double(a.drafting) : 0.0, 1e-6);
    if (c.config == 0) {
      EXPECT_EQ(c.speedup, 1.0);
    }
    EXPECT_EQ(c.matches_ar, c.config != 0 && c.temperature == 0 ? "true" : "na") << c.category;
  }
  for (const auto& s : speclab::parse_summary_csv(read_file(out + "/summary.csv"), "summary.csv")) {
    const auto it = std::find_if(cats.begin(), cats.end(), [&](const speclab::CategoryRow& c) {
      return c.config == s.config && c.temperature == s.temperature && c.category == "overall";
    });
    ASSERT_NE(it, cats.end());
    EXPECT_EQ(it->tau, s.tau);
    EXPECT_EQ(it->alpha, s.alpha);
    EXPECT_EQ(it->n_sequences, s.n_sequences);
    EXPECT_EQ(it->matches_ar, s.matches_ar);
  }

  // accept_hist.csv from steps.csv: every n_accepted from 0 to the largest, zero counts included.
  std::map<std::pair<int, double>, std::vector<std::int64_t>> hist, drafting_hist;
  std::map<Key, double> temperature_of;
  for (const auto& s : seqs) temperature_of[{s.unit, s.config, s.turn}] = s.temperature;
  for (const auto& t : steps) {
    auto& h = hist[{t.config, temperature_of.at({t.unit, t.config, t.turn})}];
    auto& d = drafting_hist[{t.config, temperature_of.at({t.unit, t.config, t.turn})}];
    if (h.size() <= static_cast<std::size_t>(t.n_accepted)) {
      h.resize(t.n_accepted + 1, 0);
      d.resize(t.n_accepted + 1, 0);
    }
    ++h[t.n_accepted];
    d[t.n_accepted] += t.n_drafted > 0;
  }
  const auto hrows = speclab::parse_accept_hist_csv(read_file(out + "/accept_hist.csv"), "accept_hist.csv");
  std::size_t n_rows = 0;
  for (const auto& [key, h] : hist) n_rows += h.size();
  ASSERT_EQ(hrows.size(), n_rows);
  for (const auto& h : hrows) {
    const auto& want_h = hist.at({h.config, h.temperature});
    ASSERT_LT(static_cast<std::size_t>(h.n_accepted), want_h.size());
    EXPECT_EQ(h.steps, want_h[h.n_accepted]);
    EXPECT_EQ(h.drafting_steps, drafting_hist.at(std::make_pair(h.config, h.temperature))[h.n_accepted]);
    std::int64_t total = 0;
    for (auto n : want_h) total += n;
    EXPECT_NEAR(h.share, double(h.steps) / double(total), 1e-6);
  }

  // Per-position acceptance (vLLM): by_depth.csv accept_rate = accepted at depth k / steps that
  // drafted depth k.
  std::map<std::tuple<int, double, int>, std::pair<std::int64_t, std::int64_t>> pos;  // (accepted, drafted)
  for (const auto& t : steps) {
    for (int k = 1; k <= t.tree_depth; ++k) {
      auto& a = pos[{t.config, temperature_of.at({t.unit, t.config, t.turn}), k}];
      a.first += t.n_accepted >= k;
      ++a.second;
    }
  }
  const auto depth = speclab::parse_by_depth_csv(read_file(out + "/by_depth.csv"), "by_depth.csv");
  ASSERT_EQ(depth.size(), pos.size());
  for (const auto& d : depth) {
    const auto& a = pos.at({d.config, d.temperature, d.depth});
    EXPECT_EQ(d.accepted, a.first);
    EXPECT_EQ(d.trees_reaching, a.second);
    EXPECT_NEAR(d.accept_rate, double(a.first) / double(a.second), 1e-6);
  }
}

// A later turn whose conversation no longer fits the context is a sequence without tokens
// (stop context_full), not an error; the reports still come out.
TEST(SpecBenchTurns, LaterTurnOutgrowingTheContext) {
  TempDir tmp;
  const std::string questions = tmp.path("long.jsonl");
  speclab::testing::write_text_file(questions,
      R"({"question_id": 1, "category": "writing", "turns": ["the cat sat. the cat", "and then the cat sat again on the mat"]}
)");
  speclab::ExperimentSpec spec;
  spec.model = "synthetic";
  spec.prompts = {questions};
  spec.drafters = {{"ngram", {}, false}};
  spec.budgets = {4};
  spec.temperatures = {0.0};
  spec.max_new_tokens = 16;
  spec.ctx = 40;  // turn 1: 21 tokens; turn 2: 21 + answer + 41 > 40
  auto exp = speclab::prepare_experiment(spec, resolve_in_dir);
  auto rec = speclab::run_experiment(exp, {}, nullptr);
  ASSERT_EQ(rec.sequences.size(), 4u);
  for (const auto& s : rec.sequences) {
    if (s.turn == 1) {
      EXPECT_GT(s.new_tokens, 0);
      continue;
    }
    EXPECT_EQ(s.stop, "context_full");
    EXPECT_EQ(s.new_tokens, 0);
    EXPECT_EQ(s.target_forwards, 0);
    EXPECT_GE(s.prompt_tokens + 1, 40);
  }
  const auto reports = speclab::write_reports(tmp.path("out"), rec.sequences, rec.steps, exp.model_label);
  ASSERT_EQ(reports.by_category.size(), 4u);  // 2 configurations x (writing + overall)
  EXPECT_EQ(reports.by_category[0].n_sequences, 2);
  EXPECT_EQ(reports.summary[1].matches_ar, "true");
}

}  // namespace
