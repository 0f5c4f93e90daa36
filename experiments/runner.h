// The experiment runner: turns a spec into a validated plan (everything loaded, every problem
// listed before any work starts), then runs the grid, interleaved so machine drift hits every
// configuration alike.
//
// Grid. Configurations: index 0 = the autoregressive baseline (drafter none, budget 0), then for
// each drafter entry, each of its rules ("auto" or a name), each budget, each budget policy (spec
// budget_policy: fixed, cost), each depth cap.
// Units: for rep in repetitions, temperature in temperatures, seed in seeds, prompt in prompts
// (that nesting, outermost first). Each unit runs the baseline then every configuration back to
// back on the same prompt, temperature and seed (decode seed = the unit's seed).
// Multi-turn questions (Spec-Bench / MT-bench "turns"): a unit decodes every turn of its prompt,
// turn by turn, each turn for the baseline then every configuration; each (configuration, turn)
// is one sequence (sequences.csv / steps.csv column `turn`, 1 = the first user turn). Turn k's
// prompt is turn_prompt_tokens over the answers to turns 1..k-1 (answer_text of the generated
// ids): when greedy, the baseline's answers for every configuration (all see the same
// conversation, so greedy losslessness is checked on every turn); when sampled, the
// configuration's own answers in this unit. Turn k >= 2 decodes with seed = the k-1-th output
// of Rng(unit seed). A later turn whose conversation leaves no room in the context is a
// sequence with no tokens, stop "context_full" (the first turn must fit: prepare_experiment).
// Shard I/N runs the units u with u % N == I.
//
// Rules. "auto" resolves per (configuration, temperature) to default_rule_for(kind, greedy) of
// the kind of tree the drafter proposes at that temperature, as the drafter registry states it
// (drafters/registry.h drafter_child_sampling; no proposal is run); the resolved name goes into
// the CSVs. Validation happens in two rounds, each listing all its problems in one Error: (1)
// spec values, files (prompts, model, tokenizer, draft models), drafter names/params (every
// problem of a drafter spec on its own line); (2) when round 1 is clean, a dry run of every
// (drafter spec, rule, temperature) for 4 tokens on the first prompt at the largest budget, so
// a rule invalid for a drafter's trees is reported before the real work. Optional drafters
// whose files (DrafterKey::file: draft model, heads, adapters) are missing are skipped with a
// note.
//
// Drafter state policy. One drafter object per configuration lives for the whole run.
// Drafters with cross-prompt state (DrafterKind::cross_prompt_state: tables learnt from the
// target's output) get the policy as their state= key: "cold": begin() resets per sequence;
// "warm": their tables carry across prompts in unit order (and thus differ between a sharded
// and a single run). An explicit state=... in a drafter spec wins. The resulting state appears
// in the `params` column.
//
// Model. spec.model "synthetic" (or "") builds a random LlamaModel (dim 64, 2 layers, 4 heads,
// vocab 512, context 1024, weights seed 1234, final norm scaled by 0.3 so its distributions are
// not one-hot) with the ByteTokenizer; model_label (summary.csv `model`, config.json) says
// "synthetic model". The CLI picks the model when a spec names none (env lookups stay there).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "drafters/registry.h"
#include "model/language_model.h"
#include "model/llama_weights.h"
#include "tokenizers/chat_template.h"
#include "tokenizers/tokenizer.h"
#include "experiments/cost_model.h"
#include "experiments/prompts.h"
#include "experiments/report.h"
#include "experiments/spec.h"

namespace speclab {

struct Configuration {
  std::int32_t index = 0;
  std::string drafter{kAutoregressive};  // drafter name (the baseline: autoregressive)
  std::string drafter_spec;         // what make_drafter gets (state policy applied)
  std::string params;               // canonical "key=value,..." (may be empty)
  std::string rule_spec = "none";   // "auto", a rule name, or "none" (baseline)
  std::int32_t budget = 0, depth_cap = 0;
  std::string budget_policy = "fixed";  // "fixed" or "cost" (budget = a maximum)
};

struct Unit {
  std::int32_t index = 0, rep = 0, prompt = 0;
  double temperature = 0;
  std::uint64_t seed = 0;
};

struct ShardSelection {
  std::int32_t index = 0, count = 1;  // 0 <= index < count
};
// Parses "I/N" (0-based I). Throws Error naming the text.
ShardSelection parse_shard(const std::string& text);

struct PreparedExperiment {
  ExperimentSpec spec;
  bool synthetic = false;
  std::string model_label;          // file name of the model, or "synthetic model (...)"
  std::string tokenizer_label;
  std::shared_ptr<const LlamaWeights> weights;
  std::unique_ptr<LanguageModel> target;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<Prompt> prompts;
  std::vector<std::vector<Token>> prompt_tokens;  // the first turn's (turn_prompt_tokens)
  std::shared_ptr<const ChatTemplate> chat_template;  // null: prompts are plain text
  std::vector<Configuration> configs;
  std::vector<Unit> units;
  // resolved_rule[config][temperature index] (baseline: "none").
  std::vector<std::vector<std::string>> resolved_rule;
  std::vector<std::string> notes;   // for the user (skipped optional drafters, ...)
  // Cost profiles of spec.profiles (in order; the first is the "cost" policy's).
  std::vector<CostProfile> profiles;
};

// Finds the tokenizer of a real model: (model path, spec.tokenizer, vocab) -> path; throws Error
// naming what it tried (the CLI passes cli::resolve_tokenizer_path).
using TokenizerResolver =
    std::function<std::string(const std::string& model, const std::string& given, std::int32_t vocab)>;

// The prompt ids of turn `turn` (0-based) of `prompt`, after the model's `answers` to the
// earlier turns (answers.size() >= turn). With a chat template: the rendering of the messages
// [user turn 0, assistant answers[0], ..., user turn `turn`] with add_generation_prompt, as
// transformers' apply_chat_template, encoded without adding BOS (encode_rendering: the template
// writes bos_token where it wants it). Without one: the turns and answers joined by "\n\n",
// BOS prepended. Throws Error for template errors.
std::vector<Token> turn_prompt_tokens(const PreparedExperiment& exp, const Prompt& prompt, std::size_t turn,
                                      const std::vector<std::string>& answers);

// A model's answer as the next turn's conversation holds it: `tokens` (the generated ids; a
// stop token is not among them) decoded with special tokens skipped, every ill-formed UTF-8
// sequence replaced by U+FFFD (one per maximal subpart, as Hugging Face tokenizers decode), and
// surrounding ASCII whitespace stripped, as Spec-Bench strips its outputs.
std::string answer_text(const Tokenizer& tok, const std::vector<Token>& tokens);

// Loads the model, tokenizer, prompts and drafters, builds the grid and dry-runs every
// (drafter, rule, temperature). Throws Error listing every problem at once.
PreparedExperiment prepare_experiment(const ExperimentSpec& spec, const TokenizerResolver& resolve_tokenizer);

struct RunRecords {
  std::vector<SequenceRow> sequences;
  std::vector<StepRow> steps;
};

// done / total sequences of this call (configurations x turns of the shard's units minus skipped
// ones); called after each sequence.
using ProgressFn = std::function<void(std::int64_t done, std::int64_t total)>;

// Receives one finished unit's rows: every (configuration, turn)'s sequence row (turn, then config
// order) and steps.
using UnitSink = std::function<void(const Unit& unit, RunRecords rows)>;

// How run_experiment runs (all optional). The unit is the atomic piece: a stop request is acted
// on between units only, so every unit handed out has rows for every configuration.
struct RunControl {
  ProgressFn progress;
  // Polled before each unit: true = start no further unit (the run returns interrupted).
  std::function<bool()> stop_requested;
  // Unit indices already done (resume): not run.
  std::vector<std::int32_t> skip_units;
  // When set, each finished unit's rows go here instead of into RunOutcome::records.
  UnitSink on_unit;
};

struct RunOutcome {
  RunRecords records;              // empty when RunControl::on_unit is set
  std::int64_t units_total = 0;    // the shard's units
  std::int64_t units_skipped = 0;  // listed in skip_units
  std::int64_t units_run = 0;      // finished by this call
  bool interrupted = false;        // stopped before every unit of the shard was done
};

// Runs the shard's units in unit order. Errors during decoding are rethrown naming configuration
// and prompt. A unit's results do not depend on the units run before it in the same process,
// except for drafters with cross-prompt state under the "warm" policy (uses_warm_state).
RunOutcome run_experiment(PreparedExperiment& exp, ShardSelection shard, const RunControl& control);
// The shard's units, all rows returned.
RunRecords run_experiment(PreparedExperiment& exp, ShardSelection shard, const ProgressFn& progress);

// The first configuration whose drafter carries state across units (a cross_prompt_state drafter
// with state=warm), or null. Such a run depends on which units ran before in the same process.
const Configuration* uses_warm_state(const PreparedExperiment& exp);

struct BuildInfo {
  std::string git_commit = "unknown";
  std::string compiler;
  std::string cpu;
  std::string command;
};

// config.json: resolved spec, model/tokenizer, configurations, grid sizes, shard, build info.
nlohmann::json experiment_config(const PreparedExperiment& exp, ShardSelection shard,
                                 const BuildInfo& build);

// Runs the shard into DIR and keeps DIR consistent whenever the process stops (interrupt and
// resume):
//  1. fresh run (resume = false): DIR/sequences.csv and DIR/steps.csv start header-only and an
//     earlier run's report CSVs (summary, by_depth, by_rank, by_category, accept_hist) are removed
//     (an earlier run in DIR is overwritten, as before); with resume, see below;
//  2. config.json (experiment_config plus "status": "running", "units_done", "units_total" of
//     this shard, and "history": one entry per invocation) is written before any work;
//  3. each finished unit is appended to steps.csv then sequences.csv and fsynced
//     (append_records), so the files on disk always hold whole units, apart from a torn tail a
//     hard kill (SIGKILL, power loss) may leave, which resume discards;
//  4. stop_requested is polled between units;
//  5. at the end, complete or stopped, the seven CSVs are rewritten from the rows on disk
//     (write_reports; on a stop: the reports of the finished units) and config.json gets
//     "status": "complete" or "interrupted" with the final units_done. An Error while decoding
//     leaves "status": "failed" with "error" and the finished units (and is rethrown).
// Resume (options.resume): DIR/config.json must exist and come from the same experiment: same
// spec (apart from threads), model, model_info, tokenizer, configurations, prompts, n_units and
// shard; otherwise Error naming the first key that differs. The rows on disk are read back; a
// unit counts as done when it has a sequence row for every configuration and every turn of its
// prompt and, for each, as many step rows as target_forwards; rows of other (incomplete) units
// are dropped and both files rewritten with the done units only. Rows that belong to no unit of
// this experiment's shard, or that disagree with their unit (prompt, seed, temperature,
// configuration, a turn the prompt does not have), are an Error. Units
// not done then run as in 3-5. Refused (Error naming the configuration) when units are left to
// run and the experiment uses warm drafter state (uses_warm_state): its results would depend on
// the interruption. Resuming a complete run runs nothing and rewrites the reports.
struct DirectoryRunResult;

struct DirectoryRunOptions {
  bool resume = false;
  std::function<bool()> stop_requested;
  ProgressFn progress;
  // Called once before the first unit runs, with units_total, units_kept, dropped_units and
  // previous_status filled in (for messages).
  std::function<void(const DirectoryRunResult& start)> on_start;
};

struct DirectoryRunResult {
  bool complete = false;
  std::int64_t units_total = 0;  // the shard's units
  std::int64_t units_done = 0;   // done units on disk at the end
  std::int64_t units_kept = 0;   // done units found on resume
  std::int64_t units_run = 0;    // run by this call
  std::vector<std::int32_t> dropped_units;  // resume: incomplete units discarded (torn appends)
  std::string previous_status;   // "status" of a speclab config.json found in DIR ("" = none)
  ReportSet reports;
};

DirectoryRunResult run_into_directory(PreparedExperiment& exp, ShardSelection shard, const std::string& dir,
                                      const BuildInfo& build, const DirectoryRunOptions& options);

// Merges shard directories (each with config.json, sequences.csv, steps.csv) into `out`:
// checks the shards come from the same spec, that each is complete (config.json "status", when
// present, is "complete": an interrupted shard must be resumed first), that no unit appears
// twice, and that together they cover every unit; writes config.json (shard "merged") and the seven CSVs. Returns the
// reports (and the model label through `model`).
ReportSet merge_shards(const std::vector<std::string>& dirs, const std::string& out, std::string* model);

}  // namespace speclab
