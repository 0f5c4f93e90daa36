// Interrupt and resume of experiments (runner.h run_into_directory): a run stopped between units
// leaves whole units on disk and says so in config.json; --resume runs only the missing units,
// and the final CSVs equal an uninterrupted run's apart from timing columns. Torn appends (a
// process killed while writing) are dropped on resume; resuming a different experiment or a
// warm-state one is refused; merge refuses unfinished shards.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <tuple>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "experiments/report.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

std::string no_tokenizer(const std::string&, const std::string&, std::int32_t) {
  throw Error("no tokenizer in this test");
}

// Synthetic model, 3 prompts in 2 sets, greedy and sampled, ngram + recycling (cold): 6 units x
// 3 configurations.
ExperimentSpec resume_spec(const testing::ScopedTempDir& tmp) {
  const std::string a = tmp.path("copy.jsonl"), b = tmp.path("story.jsonl");
  if (!std::filesystem::exists(a)) {
    write_text_file(a,
                    "{\"id\": \"c1\", \"prompt\": \"the cat sat. the cat sat. the cat sat. the\"}\n"
                    "{\"id\": \"c2\", \"prompt\": \"1, 2, 3, 1, 2, 3, 1, 2,\", \"category\": \"pattern\"}\n");
    write_text_file(b, "{\"id\": \"s1\", \"prompt\": \"Once upon a time, \\\"quoted\\\", there\"}\n");
  }
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {a, b};
  s.drafters = {{"ngram", {}, false}, {"recycling", {}, false}};
  s.budgets = {6};
  s.temperatures = {0.0, 1.0};
  s.seeds = {5};
  s.max_new_tokens = 16;
  return s;
}

// Runs (or resumes) `spec` into `dir` in a fresh PreparedExperiment, as a new process would;
// stops before unit `stop_after` + 1 when stop_after >= 0.
DirectoryRunResult run_dir(const ExperimentSpec& spec, const std::string& dir, bool resume, int stop_after = -1,
                           ShardSelection shard = {}) {
  auto exp = prepare_experiment(spec, no_tokenizer);
  const std::int64_t n_configs = static_cast<std::int64_t>(exp.configs.size());
  std::int64_t sequences = 0;
  DirectoryRunOptions opt;
  opt.resume = resume;
  opt.progress = [&](std::int64_t done, std::int64_t) { sequences = done; };
  if (stop_after >= 0) opt.stop_requested = [&] { return sequences >= stop_after * n_configs; };
  return run_into_directory(exp, shard, dir, BuildInfo{}, opt);
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

void expect_same_results(const std::string& a, const std::string& b) {
  for (const char* f : kCsvs) EXPECT_EQ(untimed(a + "/" + f), untimed(b + "/" + f)) << f;
}

nlohmann::json config_of(const std::string& dir) { return nlohmann::json::parse(read_text_file(dir + "/config.json")); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Resume, InterruptedThenResumedEqualsUninterrupted) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = resume_spec(tmp);
  const DirectoryRunResult full = run_dir(spec, tmp.path("full"), false);
  EXPECT_TRUE(full.complete);
  EXPECT_EQ(full.units_total, 6);
  EXPECT_EQ(full.units_run, 6);
  EXPECT_EQ(config_of(tmp.path("full"))["status"], "complete");

  const std::string dir = tmp.path("part");
  const DirectoryRunResult stopped = run_dir(spec, dir, false, 2);
  EXPECT_FALSE(stopped.complete);
  EXPECT_EQ(stopped.units_done, 2);
  EXPECT_EQ(stopped.units_run, 2);
  // Consistent files: whole units, config.json says interrupted, summary of the finished units.
  auto cfg = config_of(dir);
  EXPECT_EQ(cfg["status"], "interrupted");
  EXPECT_EQ(cfg["units_done"], 2);
  EXPECT_EQ(cfg["units_total"], 6);
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  read_records(dir, seqs, steps);
  ASSERT_EQ(seqs.size(), 2u * 3u);
  EXPECT_EQ(seqs.back().unit, 1);
  const auto summary = parse_summary_csv(read_text_file(dir + "/summary.csv"), "summary");
  ASSERT_FALSE(summary.empty());
  EXPECT_EQ(summary[0].n_sequences, 2);  // config 0 at temperature 0: units 0 and 1

  const DirectoryRunResult resumed = run_dir(spec, dir, true);
  EXPECT_TRUE(resumed.complete);
  EXPECT_EQ(resumed.previous_status, "interrupted");
  EXPECT_EQ(resumed.units_kept, 2);
  EXPECT_EQ(resumed.units_run, 4);
  EXPECT_TRUE(resumed.dropped_units.empty());
  expect_same_results(tmp.path("full"), dir);
  cfg = config_of(dir);
  EXPECT_EQ(cfg["status"], "complete");
  EXPECT_EQ(cfg["units_done"], 6);
  ASSERT_EQ(cfg["history"].size(), 2u);
  EXPECT_EQ(cfg["history"][0]["status"], "interrupted");
  EXPECT_EQ(cfg["history"][1]["resume"], true);
  EXPECT_EQ(cfg["history"][1]["units_run"], 4);

  // Resuming a complete run runs nothing and leaves the same results.
  const DirectoryRunResult again = run_dir(spec, dir, true);
  EXPECT_TRUE(again.complete);
  EXPECT_EQ(again.units_run, 0);
  expect_same_results(tmp.path("full"), dir);

  // Stopped before the first unit, then resumed twice, with another thread count (allowed).
  const std::string dir0 = tmp.path("zero");
  EXPECT_EQ(run_dir(spec, dir0, false, 0).units_done, 0);
  EXPECT_EQ(parse_sequences_csv(read_text_file(dir0 + "/sequences.csv"), "s").size(), 0u);
  EXPECT_EQ(run_dir(spec, dir0, true, 3).units_done, 3);
  ExperimentSpec threaded = spec;
  threaded.threads = 2;
  EXPECT_TRUE(run_dir(threaded, dir0, true).complete);
  expect_same_results(tmp.path("full"), dir0);
}

TEST(Resume, TornAppendsAreDroppedAndRerun) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = resume_spec(tmp);
  run_dir(spec, tmp.path("full"), false);
  const std::string dir = tmp.path("torn");
  run_dir(spec, dir, false, 3);
  // Appended bodies are the full file minus its header line.
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  read_records(dir, seqs, steps);
  const std::string full_s = sequences_csv(seqs), full_t = steps_csv(steps, seqs);
  EXPECT_EQ(full_s.substr(full_s.find('\n') + 1), sequences_csv_body(seqs));
  EXPECT_EQ(full_t.substr(full_t.find('\n') + 1), steps_csv_body(steps, seqs));
  // What a kill in the middle of unit 2's append leaves: its last sequence row missing, a torn
  // line at the end of each file (no line end; one inside a quoted cell).
  std::string s = read_text_file(dir + "/sequences.csv");
  s.pop_back();
  s.resize(s.rfind('\n') + 1);
  s += "2,2,0,story,s1,story,0,0,1,5,recy";
  write_text_file(dir + "/sequences.csv", s);
  std::string t = read_text_file(dir + "/steps.csv");
  t += "3,0,0,story,s1,none,,none,0,0,1,0,0,0,0,1,17,\"a\nb";
  write_text_file(dir + "/steps.csv", t);
  EXPECT_EQ(whole_csv_lines("a,\"x\ny\"\nb,c"), 8u);
  EXPECT_EQ(whole_csv_lines("a,\"x\ny"), 0u);

  const DirectoryRunResult resumed = run_dir(spec, dir, true);
  EXPECT_TRUE(resumed.complete);
  EXPECT_EQ(resumed.units_kept, 2);
  EXPECT_EQ(resumed.dropped_units, (std::vector<std::int32_t>{2}));
  EXPECT_EQ(resumed.units_run, 4);
  expect_same_results(tmp.path("full"), dir);

  // A killed "running" process (no final config.json update) resumes the same way.
  const std::string dir2 = tmp.path("killed");
  run_dir(spec, dir2, false, 2);
  auto cfg = config_of(dir2);
  cfg["status"] = "running";
  write_text_file(dir2 + "/config.json", cfg.dump(2));
  const DirectoryRunResult r2 = run_dir(spec, dir2, true);
  EXPECT_EQ(r2.previous_status, "running");
  EXPECT_TRUE(r2.complete);
  expect_same_results(tmp.path("full"), dir2);
}

TEST(Resume, RefusedForAnotherExperimentOrWarmState) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = resume_spec(tmp);
  const std::string dir = tmp.path("part");
  run_dir(spec, dir, false, 2);
  const std::string before = read_text_file(dir + "/sequences.csv");
  ExperimentSpec other = spec;
  other.max_new_tokens = 12;
  std::string e = error_of([&] { run_dir(other, dir, true); });
  EXPECT_NE(e.find("'spec.max_new_tokens' differs: 16 there, 12 now"), std::string::npos) << e;
  other = spec;
  other.budgets = {6, 8};
  e = error_of([&] { run_dir(other, dir, true); });
  EXPECT_NE(e.find("'spec.budgets' differs"), std::string::npos) << e;
  e = error_of([&] { run_dir(spec, dir, true, -1, {0, 2}); });
  EXPECT_NE(e.find("'shard' differs"), std::string::npos) << e;
  EXPECT_EQ(read_text_file(dir + "/sequences.csv"), before);  // a refused resume changes nothing
  e = error_of([&] { run_dir(spec, tmp.path("nothing"), true); });
  EXPECT_NE(e.find("no config.json: nothing to resume"), std::string::npos) << e;
  std::filesystem::create_directories(tmp.path("alien"));
  write_text_file(tmp.path("alien/config.json"), "{\"name\": \"something else\"}");
  e = error_of([&] { run_dir(spec, tmp.path("alien"), true); });
  EXPECT_NE(e.find("not a speclab experiment config"), std::string::npos) << e;
  // Rows that are not this experiment's units are an error, not silently dropped.
  std::string s = before;
  const auto c2 = s.find(",c2,");
  ASSERT_NE(c2, std::string::npos);
  s.replace(c2, 4, ",cX,");
  write_text_file(dir + "/sequences.csv", s);
  e = error_of([&] { run_dir(spec, dir, true); });
  EXPECT_NE(e.find("does not describe that unit"), std::string::npos) << e;

  // Warm drafter state carries across units: the resumed run could not equal an uninterrupted one.
  ExperimentSpec warm = spec;
  warm.state = "warm";
  const std::string wdir = tmp.path("warm");
  run_dir(warm, wdir, false, 2);
  e = error_of([&] { run_dir(warm, wdir, true); });
  EXPECT_NE(e.find("configuration 2 (drafter 'recycling:state=warm')"), std::string::npos) << e;
  EXPECT_NE(e.find("state=warm"), std::string::npos) << e;
  // ... but a complete warm run may be "resumed" (nothing to run).
  run_dir(warm, wdir, false);
  EXPECT_EQ(run_dir(warm, wdir, true).units_run, 0);

  // A fresh run (no resume) over an interrupted one starts over.
  const DirectoryRunResult fresh = run_dir(spec, dir, false, 1);
  EXPECT_EQ(fresh.previous_status, "interrupted");
  EXPECT_EQ(fresh.units_done, 1);
  EXPECT_EQ(parse_sequences_csv(read_text_file(dir + "/sequences.csv"), "s").size(), 3u);
}

TEST(Resume, MergeRefusesUnfinishedShardsAndTakesResumedOnes) {
  testing::ScopedTempDir tmp;
  const ExperimentSpec spec = resume_spec(tmp);
  run_dir(spec, tmp.path("full"), false);
  run_dir(spec, tmp.path("s0"), false, 1, {0, 2});
  run_dir(spec, tmp.path("s1"), false, -1, {1, 2});
  const std::string e = error_of([&] { merge_shards({tmp.path("s0"), tmp.path("s1")}, tmp.path("m"), nullptr); });
  EXPECT_NE(e.find("status 'interrupted' (1 of 3 units done)"), std::string::npos) << e;
  EXPECT_NE(e.find("--resume"), std::string::npos) << e;
  EXPECT_TRUE(run_dir(spec, tmp.path("s0"), true, -1, {0, 2}).complete);
  merge_shards({tmp.path("s0"), tmp.path("s1")}, tmp.path("m"), nullptr);
  expect_same_results(tmp.path("full"), tmp.path("m"));
  EXPECT_EQ(config_of(tmp.path("m"))["status"], "complete");
}


// Multi-turn questions (no chat template: turns and answers joined by blank lines, byte
// tokenizer): a unit holds every (configuration, turn); a unit whose turn-2 rows were not all
// written is dropped and rerun, and the resumed run and a merge of shards equal an
// uninterrupted run. Turn 2's greedy prompt is the conversation after the baseline's answer, the
// same for every configuration.
TEST(Resume, MultiTurnUnitsResumeAndMerge) {
  testing::ScopedTempDir tmp;
  ExperimentSpec spec = resume_spec(tmp);
  const std::string q = tmp.path("mt.jsonl");
  write_text_file(q,
                  "{\"question_id\": 1, \"category\": \"writing\", \"turns\": [\"the cat sat. the cat\", \"again: the cat\"]}\n"
                  "{\"question_id\": 2, \"category\": \"qa\", \"turns\": [\"1, 2, 3, 1, 2,\"]}\n"
                  "{\"question_id\": 3, \"category\": \"writing\", \"turns\": [\"a b a b a\", \"b a b\", \"more\"]}\n");
  spec.prompts = {q};
  const DirectoryRunResult full = run_dir(spec, tmp.path("full"), false);
  EXPECT_TRUE(full.complete);
  EXPECT_EQ(full.units_total, 6);  // 3 questions x 2 temperatures
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  read_records(tmp.path("full"), seqs, steps);
  ASSERT_EQ(seqs.size(), 2u * 3u * (2u + 1u + 3u));  // temperatures x configurations x turns
  std::map<std::tuple<int, int, int>, const SequenceRow*> by_key;
  for (const auto& s : seqs) by_key[{s.unit, s.config, s.turn}] = &s;
  for (const auto& s : seqs) {
    if (s.turn == 1) continue;
    const SequenceRow& earlier = *by_key.at({s.unit, s.config, s.turn - 1});
    EXPECT_GT(s.prompt_tokens, earlier.prompt_tokens) << "the conversation grows";
    if (s.temperature == 0) {
      EXPECT_EQ(s.tokens_hash, by_key.at(std::make_tuple(s.unit, 0, s.turn))->tokens_hash) << "greedy turn " << s.turn;
      EXPECT_EQ(s.prompt_tokens, by_key.at(std::make_tuple(s.unit, 0, s.turn))->prompt_tokens);
    }
  }
  for (const auto& r : parse_summary_csv(read_text_file(tmp.path("full/summary.csv")), "s")) {
    if (r.temperature == 0 && r.config != 0) {
      EXPECT_EQ(r.matches_ar, "true");
    }
  }

  // Interrupted after 2 units (run_dir stops once 3 x 3 sequences are done: unit 0 has 6, unit
  // 1 has 3), then unit 0's turn-2 sequence rows cut off (its steps stay), as a kill would.
  const std::string dir = tmp.path("part");
  EXPECT_EQ(run_dir(spec, dir, false, 3).units_done, 2);
  read_records(dir, seqs, steps);
  std::vector<SequenceRow> keep;
  for (const auto& s : seqs) {
    if (!(s.unit == 0 && s.turn > 1)) keep.push_back(s);
  }
  ASSERT_LT(keep.size(), seqs.size());
  write_text_file(dir + "/sequences.csv", sequences_csv(keep));
  const DirectoryRunResult resumed = run_dir(spec, dir, true);
  EXPECT_TRUE(resumed.complete);
  EXPECT_EQ(resumed.units_kept, 1);
  EXPECT_EQ(resumed.dropped_units, (std::vector<std::int32_t>{0}));
  expect_same_results(tmp.path("full"), dir);

  // A row claiming a turn the question does not have is an error.
  const std::string bad = tmp.path("bad");
  run_dir(spec, bad, false, 1);
  read_records(bad, seqs, steps);
  seqs[0].turn = 3;  // question 1 has two turns
  write_text_file(bad + "/sequences.csv", sequences_csv(seqs));
  const std::string e = error_of([&] { run_dir(spec, bad, true); });
  EXPECT_NE(e.find("has turn 3: prompt mt/1 has 2 turn(s)"), std::string::npos) << e;

  run_dir(spec, tmp.path("s0"), false, -1, {0, 2});
  run_dir(spec, tmp.path("s1"), false, -1, {1, 2});
  merge_shards({tmp.path("s0"), tmp.path("s1")}, tmp.path("m"), nullptr);
  expect_same_results(tmp.path("full"), tmp.path("m"));
}

}  // namespace
}  // namespace speclab
