// Per-sequence and per-step records of an experiment, their CSV files, and the aggregate
// reports computed from them.
//
// summary / by_depth / by_rank / by_category / accept_hist are PURE functions of the sequence
// and step records (plus the model label), and a run writes them from the records as read back from its own
// sequences.csv / steps.csv. `speclab merge` does the same with the shards' rows, so a merged
// grid gives byte-identical CSVs to a single run.
//
// A sequence is one (unit, config, turn): every user turn of a multi-turn question is decoded
// as its own sequence (turn 1 = the first). Row order: sequences by (unit, config, turn), steps
// by (unit, config, turn, step). Summary groups =
// (config, temperature) in order of config index, then of first appearance of the temperature
// in unit order. Config 0 is the autoregressive baseline (drafter "none", rule "none",
// budget 0).
//
// Each file's schema (column names and order, each column's number format, which columns are
// timing, legacy columns that older files may lack) is declared once, as a column table in
// report.cpp; the writers, the parsers and is_timing_column() all derive from those tables.
// Timing columns (names ending in _ms, _per_s, _per_step, or "speedup"; checked at compile time)
// are the only ones that vary between runs of the same spec and seed.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "base/types.h"

namespace speclab {

struct CostProfile;  // experiments/cost_model.h

struct SequenceRow {
  std::int32_t unit = 0;          // index of (repetition, temperature, seed, prompt)
  std::int32_t config = 0;        // 0 = autoregressive baseline
  std::int32_t rep = 0;
  std::string prompt_set, prompt_id, category;
  std::int32_t turn = 1;          // user turn of a multi-turn question (1 = the first)
  double temperature = 0.0;
  std::int32_t top_k = 0;
  double top_p = 1.0;
  std::uint64_t seed = 0;
  std::string drafter, params, rule;  // rule: resolved name ("none" for the baseline)
  bool lossless = true;
  std::int32_t budget = 0, depth_cap = 0;
  // "fixed": every step drafts within `budget`; "cost": `budget` is a maximum and each step's
  // tree size maximises expected tokens per unit time (experiments/cost_policy.h).
  std::string budget_policy = "fixed";
  std::int32_t prompt_tokens = 0, new_tokens = 0, target_forwards = 0;
  std::int64_t drafted_tokens = 0, accepted_tokens = 0;
  std::string stop;               // max_tokens, eos, bos, context_full
  std::string tokens_hash;        // FNV-1a 64 of the generated ids, 16 hex digits
  double prefill_ms = 0, decode_ms = 0, draft_ms = 0, verify_ms = 0;
  // Per cost profile (ReportSet::projections, in order): the sequence's projected decode time
  // and that of autoregressive decoding of the same tokens (experiments/projection.h). Written
  // as projected_speedup_<name> = ar / spec; not read back (derived from the records).
  std::vector<double> projected_ar_ms, projected_spec_ms;
};

struct StepRow {
  std::int32_t unit = 0, config = 0, step = 0;
  std::int32_t turn = 1;          // the sequence's turn (a sequence = unit, config, turn)
  std::int32_t n_drafted = 0, tree_depth = 0, n_accepted = 0, n_emitted = 0;
  Token bonus = -1;
  std::vector<std::int32_t> drafted_by_depth;   // [tree_depth]
  std::vector<std::int32_t> accepted_rank;      // [n_accepted] sibling rank along the path
  double draft_ms = 0, verify_ms = 0;
  std::int32_t exit_layer = 0;   // early-exit drafters' exit layer (0 = none; absent in old CSVs)
  // Best depth-1 acceptance any lossless rule could reach on the step's root children
  // (experiments/decode.h StepRecord::opt_accept_bound); NaN = none (no children; old CSVs).
  double opt_accept_bound = std::numeric_limits<double>::quiet_NaN();
};

struct SummaryRow {
  std::string model;
  std::int32_t config = 0;
  std::string drafter, params, rule;
  bool lossless = true;
  std::int32_t budget = 0, depth_cap = 0;
  std::string budget_policy = "fixed";
  double temperature = 0;
  std::int32_t top_k = 0;
  double top_p = 1;
  std::int32_t n_sequences = 0;
  std::int64_t new_tokens = 0, target_forwards = 0, drafted_tokens = 0, accepted_tokens = 0;
  double tau = 0, alpha = 0;
  double tokens_per_s = 0, ar_tokens_per_s = 0, speedup = 0;
  double draft_ms_per_step = 0, verify_ms_per_step = 0;
  std::string matches_ar;          // "true" / "false" at temperature 0, else "na"
  // Per cost profile: sum of the sequences' projected AR time / sum of their projected time.
  std::vector<double> projected_speedup;
};

struct DepthRow {
  std::int32_t config = 0;
  std::string drafter, params, rule;
  std::int32_t budget = 0, depth_cap = 0;
  std::string budget_policy = "fixed";
  double temperature = 0;
  std::int32_t depth = 0;            // 1 = children of the root
  std::int64_t drafted_nodes = 0;    // nodes at this depth over all steps
  std::int64_t trees_reaching = 0;   // steps whose tree reaches this depth
  std::int64_t cond_trials = 0;      // ... and whose accepted path reached depth - 1
  std::int64_t accepted = 0;         // steps whose accepted path reached this depth
  double accept_rate = 0;            // accepted / trees_reaching
  double cond_accept_rate = 0;       // accepted / cond_trials
  // Depth 1 only: mean over the trees reaching depth 1 of the step's opt_accept_bound (an upper
  // bound on accept_rate for sampled root children, p(candidates) = the optimum for fixed ones);
  // NaN at deeper depths and when no step has one.
  double opt_accept_bound = std::numeric_limits<double>::quiet_NaN();
};

struct RankRow {
  std::int32_t config = 0;
  std::string drafter, params, rule;
  std::int32_t budget = 0, depth_cap = 0;
  std::string budget_policy = "fixed";
  double temperature = 0;
  std::int32_t rank = 0;             // sibling rank (0 = the drafter's first choice)
  std::int64_t accepted_nodes = 0;   // accepted path nodes of this rank
  double share = 0;                  // accepted_nodes / all accepted nodes of the group
};

// by_category.csv: one row per (config, temperature, category) plus one with category
// "overall" (all categories; its numbers equal summary.csv's). Sequences of every turn count.
struct CategoryRow {
  std::int32_t config = 0;
  std::string drafter, params, rule;
  bool lossless = true;
  std::int32_t budget = 0, depth_cap = 0;
  std::string budget_policy = "fixed";
  double temperature = 0;
  std::string category;              // a prompt category, or "overall"
  std::int32_t n_sequences = 0;
  std::int64_t new_tokens = 0, target_forwards = 0, drafted_tokens = 0, accepted_tokens = 0;
  std::int64_t drafting_steps = 0;   // steps that drafted at least one token (vLLM's num_drafts)
  double tau = 0;                    // new_tokens / target_forwards (Spec-Bench's #MAT)
  double alpha = 0;                  // accepted_tokens / drafted_tokens
  double mean_accept_len = 0;        // 1 + accepted_tokens / drafting_steps (vLLM); 0 without drafts
  double tokens_per_s = 0, ar_tokens_per_s = 0, speedup = 0;  // baseline: same temperature and category
  std::string matches_ar;            // as summary.csv, over the category's sequences
  std::vector<double> projected_speedup;  // as summary.csv, over the category's sequences
};

// accept_hist.csv: per (config, temperature) the steps that accepted exactly n_accepted draft
// tokens (bonus excluded), for n_accepted = 0 .. the group's largest (zero counts included).
struct AcceptHistRow {
  std::int32_t config = 0;
  std::string drafter, params, rule;
  std::int32_t budget = 0, depth_cap = 0;
  std::string budget_policy = "fixed";
  double temperature = 0;
  std::int32_t n_accepted = 0;
  std::int64_t steps = 0;            // steps of the group that accepted n_accepted draft tokens
  std::int64_t drafting_steps = 0;   // ... of which drafted at least one token
  double share = 0;                  // steps / all steps of the group
};

// FNV-1a 64 over the ids as 4 little-endian bytes each; 16 lowercase hex digits.
std::string tokens_hash(const std::vector<Token>& tokens);

// True iff `name` is a timing column of one of the report files (false for names in no schema).
bool is_timing_column(std::string_view name);

// CSV text (RFC 4180 quoting, header line first, '\n' line ends). Lists inside a cell are
// ';'-separated.
std::string sequences_csv(const std::vector<SequenceRow>& rows);
std::string steps_csv(const std::vector<StepRow>& rows, const std::vector<SequenceRow>& seqs);
// The same without the header line (what append_records adds to an existing file).
std::string sequences_csv_body(const std::vector<SequenceRow>& rows);
std::string steps_csv_body(const std::vector<StepRow>& rows, const std::vector<SequenceRow>& seqs);
// Projected columns: one projected_speedup_<name> per entry of `projections` after the schema's
// (issue 17); the parsers accept and skip such trailing columns.
std::string sequences_csv_projected(const std::vector<SequenceRow>& rows, const std::vector<std::string>& projections);
std::string summary_csv_projected(const std::vector<SummaryRow>& rows, const std::vector<std::string>& projections);
std::string by_category_csv_projected(const std::vector<CategoryRow>& rows,
                                      const std::vector<std::string>& projections);
std::string summary_csv(const std::vector<SummaryRow>& rows);
std::string by_depth_csv(const std::vector<DepthRow>& rows);
std::string by_rank_csv(const std::vector<RankRow>& rows);
std::string by_category_csv(const std::vector<CategoryRow>& rows);
std::string accept_hist_csv(const std::vector<AcceptHistRow>& rows);

// Parse what the writers above wrote. The header must be the schema's columns in order; a legacy
// column (steps.csv: exit_layer, opt_accept_bound; both files: turn) may be absent, as in files
// written before it existed, and then takes its legacy default (exit_layer 0, turn 1). steps.csv's
// columns copied from the sequence (rep, prompt_set, ..., temperature) must be present but are
// not read back. Throws Error naming
// `source`, the line and the column for a missing, misplaced or unexpected column, a short row,
// a bad number (incl. out of range for the field), or (steps) list lengths that disagree with
// tree_depth / n_accepted.
std::vector<SequenceRow> parse_sequences_csv(const std::string& text, const std::string& source);
std::vector<StepRow> parse_steps_csv(const std::string& text, const std::string& source);
std::vector<SummaryRow> parse_summary_csv(const std::string& text, const std::string& source);
std::vector<DepthRow> parse_by_depth_csv(const std::string& text, const std::string& source);
std::vector<RankRow> parse_by_rank_csv(const std::string& text, const std::string& source);
std::vector<CategoryRow> parse_by_category_csv(const std::string& text, const std::string& source);
std::vector<AcceptHistRow> parse_accept_hist_csv(const std::string& text, const std::string& source);

// Sorts into canonical order (see file comment).
void sort_rows(std::vector<SequenceRow>& seqs, std::vector<StepRow>& steps);

std::vector<SummaryRow> summarize(const std::vector<SequenceRow>& seqs, const std::string& model);
std::vector<DepthRow> acceptance_by_depth(const std::vector<SequenceRow>& seqs,
                                          const std::vector<StepRow>& steps);
std::vector<RankRow> acceptance_by_rank(const std::vector<SequenceRow>& seqs,
                                        const std::vector<StepRow>& steps);
// Groups in summary order; within a group the categories in order of first appearance in the
// (sorted) sequences, then "overall".
std::vector<CategoryRow> summarize_by_category(const std::vector<SequenceRow>& seqs,
                                               const std::vector<StepRow>& steps);
std::vector<AcceptHistRow> acceptance_histogram(const std::vector<SequenceRow>& seqs,
                                                const std::vector<StepRow>& steps);

// A generic CSV table (for merge and tests): header + rows of cells. Throws Error naming
// `source` for unbalanced quotes or rows of the wrong width.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::int32_t column(std::string_view name) const;  // -1 if absent
};
CsvTable parse_csv(const std::string& text, const std::string& source);

// Writes sequences.csv, steps.csv, summary.csv, by_depth.csv, by_rank.csv, by_category.csv and
// accept_hist.csv into `dir` from the
// records: the first two directly, the rest from those two files read back (so a single run and
// a merge of shards compute the reports from the same text). Each file is replaced atomically
// (replace_file). Returns the summary rows.
struct ReportSet {
  std::vector<SummaryRow> summary;
  std::vector<DepthRow> by_depth;
  std::vector<RankRow> by_rank;
  std::vector<CategoryRow> by_category;
  std::vector<AcceptHistRow> accept_hist;
  std::vector<std::string> projections;  // cost profile names of the projected_speedup_* columns
};
// With cost profiles, sequences.csv, summary.csv and by_category.csv gain a trailing
// projected_speedup_<name> column per profile (experiments/projection.h).
ReportSet write_reports(const std::string& dir, std::vector<SequenceRow> seqs,
                        std::vector<StepRow> steps, const std::string& model,
                        const std::vector<CostProfile>& profiles);
ReportSet write_reports(const std::string& dir, std::vector<SequenceRow> seqs,
                        std::vector<StepRow> steps, const std::string& model);

// Reads DIR/sequences.csv and DIR/steps.csv (regular files only, bounded: base/input_file.h).
void read_records(const std::string& dir, std::vector<SequenceRow>& seqs, std::vector<StepRow>& steps);

// The record files of a run in progress (interrupt and resume, runner.h run_into_directory):
// - write_records replaces DIR/steps.csv and DIR/sequences.csv with the rows in canonical order
//   (header-only files for no rows), each atomically (replace_file);
// - append_records appends rows without a header, steps.csv first, then sequences.csv, each in
//   one write followed by fsync. A sequence row is therefore on disk only after all its steps:
//   a process killed mid-append leaves at most a torn last line (see whole_csv_lines) and
//   sequence rows missing for steps already written, never the reverse.
void write_records(const std::string& dir, std::vector<SequenceRow> seqs, std::vector<StepRow> steps);
void append_records(const std::string& dir, const std::vector<SequenceRow>& seqs, const std::vector<StepRow>& steps);

// The length of the prefix of `text` made of whole CSV lines: up to and including the last line
// end that lies outside a quoted cell (0 if there is none). What follows is a torn last line.
std::size_t whole_csv_lines(std::string_view text);

// Writes text to a file; Error naming the path on failure. Reads a whole file likewise.
void write_text_file(const std::string& path, const std::string& text);
std::string read_text_file(const std::string& path);
// Atomic replacement: writes PATH.tmp, fsyncs it and renames it over PATH, so a reader (or a
// process killed meanwhile) sees the old or the new text, never a mix. Error naming the path.
void replace_file(const std::string& path, const std::string& text);
// Appends text in one write() (retried for short writes) and fsyncs. The file must exist.
void append_file(const std::string& path, const std::string& text);

}  // namespace speclab
