// CSV schemas, quoting, parsing errors, and the aggregate reports on hand-made records whose
// numbers are worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "base/error.h"
#include "experiments/plots.h"
#include "experiments/report.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

std::vector<std::string> header_of(const std::string& csv) { return parse_csv(csv, "t").header; }

// The first line of a CSV text.
std::string first_line(const std::string& csv) { return csv.substr(0, csv.find('\n')); }
// The second line (the first row).
std::string second_line(const std::string& csv) {
  const std::size_t start = csv.find('\n') + 1;
  return csv.substr(start, csv.find('\n', start) - start);
}

// The documented headers (README "Outputs"), spelled out so that a schema change is deliberate.
TEST(Report, HeadersAreTheDocumentedOnes) {
  EXPECT_EQ(first_line(summary_csv({})),
            "model,config,drafter,params,rule,lossless,budget,depth_cap,budget_policy,temperature,top_k,top_p,n_sequences,"
            "new_tokens,target_forwards,tau,drafted_tokens,accepted_tokens,alpha,tokens_per_s,ar_tokens_per_s,"
            "speedup,draft_ms_per_step,verify_ms_per_step,matches_ar");
  EXPECT_EQ(first_line(sequences_csv({})),
            "unit,config,rep,prompt_set,prompt_id,turn,category,temperature,top_k,top_p,seed,drafter,params,rule,"
            "lossless,budget,depth_cap,budget_policy,prompt_tokens,new_tokens,target_forwards,drafted_tokens,accepted_tokens,"
            "stop,tokens_hash,prefill_ms,decode_ms,draft_ms,verify_ms");
  EXPECT_EQ(first_line(steps_csv({}, {})),
            "unit,config,rep,prompt_set,prompt_id,turn,drafter,params,rule,budget,depth_cap,budget_policy,temperature,step,"
            "n_drafted,tree_depth,n_accepted,n_emitted,bonus,drafted_by_depth,accepted_rank,draft_ms,verify_ms,"
            "exit_layer,opt_accept_bound");
  EXPECT_EQ(first_line(by_depth_csv({})),
            "config,drafter,params,rule,budget,depth_cap,budget_policy,temperature,depth,drafted_nodes,trees_reaching,"
            "cond_trials,accepted,accept_rate,cond_accept_rate,opt_accept_bound");
  EXPECT_EQ(first_line(by_rank_csv({})),
            "config,drafter,params,rule,budget,depth_cap,budget_policy,temperature,rank,accepted_nodes,share");
  EXPECT_EQ(first_line(by_category_csv({})),
            "config,drafter,params,rule,lossless,budget,depth_cap,budget_policy,temperature,category,n_sequences,new_tokens,"
            "target_forwards,tau,drafted_tokens,accepted_tokens,alpha,drafting_steps,mean_accept_len,tokens_per_s,"
            "ar_tokens_per_s,speedup,matches_ar");
  EXPECT_EQ(first_line(accept_hist_csv({})),
            "config,drafter,params,rule,budget,depth_cap,budget_policy,temperature,n_accepted,steps,drafting_steps,share");
  EXPECT_EQ(summary_csv({}), first_line(summary_csv({})) + "\n");  // header only, '\n' line end
}

// Rows where every field has its own value, exactly representable at its column's precision.
SequenceRow distinct_sequence() {
  SequenceRow r;
  r.unit = 3;
  r.config = 2;
  r.rep = 1;
  r.prompt_set = "stories";
  r.prompt_id = "s-07";
  r.category = "a, \"b\"";
  r.turn = 2;
  r.temperature = 0.7;
  r.top_k = 40;
  r.top_p = 0.95;
  r.seed = 18446744073709551615ULL;
  r.drafter = "ngram";
  r.params = "max_n=3,min_n=1";
  r.rule = "greedy";
  r.lossless = false;
  r.budget = 16;
  r.depth_cap = 5;
  r.budget_policy = "cost";
  r.prompt_tokens = 12;
  r.new_tokens = 34;
  r.target_forwards = 9;
  r.drafted_tokens = 5000000000LL;
  r.accepted_tokens = 21;
  r.stop = "eos";
  r.tokens_hash = "0123456789abcdef";
  r.prefill_ms = 1.25;
  r.decode_ms = 2.5;
  r.draft_ms = 0.375;
  r.verify_ms = 1234.0625;
  return r;
}

StepRow distinct_step() {
  StepRow r;
  r.unit = 3;
  r.config = 2;
  r.turn = 2;
  r.step = 4;
  r.n_drafted = 6;
  r.tree_depth = 3;
  r.n_accepted = 2;
  r.n_emitted = 3;
  r.bonus = 77;
  r.drafted_by_depth = {3, 2, 1};
  r.accepted_rank = {1, 0};
  r.draft_ms = 0.125;
  r.verify_ms = 10.5;
  r.exit_layer = 8;
  r.opt_accept_bound = 0.8125;
  return r;
}

SummaryRow distinct_summary() {
  SummaryRow r;
  r.model = "synthetic model (a, b)";
  r.config = 2;
  r.drafter = "ngram";
  r.params = "max_n=3";
  r.rule = "greedy";
  r.lossless = true;
  r.budget = 16;
  r.depth_cap = 5;
  r.budget_policy = "cost";
  r.temperature = 1.5;
  r.top_k = 40;
  r.top_p = 0.9;
  r.n_sequences = 7;
  r.new_tokens = 6000000000LL;
  r.target_forwards = 300;
  r.tau = 2.125;
  r.drafted_tokens = 400;
  r.accepted_tokens = 175;
  r.alpha = 0.4375;
  r.tokens_per_s = 1234.5;
  r.ar_tokens_per_s = 617.25;
  r.speedup = 1.875;
  r.draft_ms_per_step = 0.03125;
  r.verify_ms_per_step = 0.5;
  r.matches_ar = "na";
  return r;
}

DepthRow distinct_depth() {
  DepthRow r;
  r.config = 2;
  r.drafter = "ngram";
  r.params = "max_n=3";
  r.rule = "greedy";
  r.budget = 16;
  r.depth_cap = 5;
  r.budget_policy = "cost";
  r.temperature = 0.25;
  r.depth = 3;
  r.drafted_nodes = 40;
  r.trees_reaching = 30;
  r.cond_trials = 20;
  r.accepted = 10;
  r.accept_rate = 0.3125;
  r.cond_accept_rate = 0.5;
  r.opt_accept_bound = 0.6875;
  return r;
}

RankRow distinct_rank() {
  RankRow r;
  r.config = 2;
  r.drafter = "ngram";
  r.params = "max_n=3";
  r.rule = "greedy";
  r.budget = 16;
  r.depth_cap = 6;
  r.budget_policy = "cost";
  r.temperature = 0.25;
  r.rank = 1;
  r.accepted_nodes = 9;
  r.share = 0.1875;
  return r;
}

CategoryRow distinct_category() {
  CategoryRow r;
  r.config = 2;
  r.drafter = "ngram";
  r.params = "max_n=3";
  r.rule = "greedy";
  r.lossless = false;
  r.budget = 16;
  r.depth_cap = 5;
  r.budget_policy = "cost";
  r.temperature = 0.25;
  r.category = "math, \"hard\"";
  r.n_sequences = 7;
  r.new_tokens = 6000000000LL;
  r.target_forwards = 300;
  r.tau = 2.125;
  r.drafted_tokens = 400;
  r.accepted_tokens = 175;
  r.alpha = 0.4375;
  r.drafting_steps = 250;
  r.mean_accept_len = 1.7;
  r.tokens_per_s = 1234.5;
  r.ar_tokens_per_s = 617.25;
  r.speedup = 1.875;
  r.matches_ar = "true";
  return r;
}

AcceptHistRow distinct_hist() {
  AcceptHistRow r;
  r.config = 2;
  r.drafter = "ngram";
  r.params = "max_n=3";
  r.rule = "greedy";
  r.budget = 16;
  r.depth_cap = 6;
  r.budget_policy = "cost";
  r.temperature = 0.25;
  r.n_accepted = 3;
  r.steps = 9;
  r.drafting_steps = 8;
  r.share = 0.1875;
  return r;
}

// The exact text of one row of each file: column order, quoting and each column's number format
// ("{}" shortest round-trip for parameters, fixed digits per measured column) are part of the format.
TEST(Report, RowTextIsExact) {
  EXPECT_EQ(second_line(sequences_csv({distinct_sequence()})),
            "3,2,1,stories,s-07,2,\"a, \"\"b\"\"\",0.7,40,0.95,18446744073709551615,ngram,\"max_n=3,min_n=1\",greedy,"
            "false,16,5,cost,12,34,9,5000000000,21,eos,0123456789abcdef,1.2500,2.5000,0.3750,1234.0625");
  EXPECT_EQ(second_line(steps_csv({distinct_step()}, {distinct_sequence()})),
            "3,2,1,stories,s-07,2,ngram,\"max_n=3,min_n=1\",greedy,16,5,cost,0.7,4,6,3,2,3,77,3;2;1,1;0,0.1250,10.5000,8,0.812500");
  EXPECT_EQ(second_line(summary_csv({distinct_summary()})),
            "\"synthetic model (a, b)\",2,ngram,max_n=3,greedy,true,16,5,cost,1.5,40,0.9,7,6000000000,300,2.125000,400,"
            "175,0.437500,1234.50,617.25,1.8750,0.03125,0.50000,na");
  EXPECT_EQ(second_line(by_depth_csv({distinct_depth()})),
            "2,ngram,max_n=3,greedy,16,5,cost,0.25,3,40,30,20,10,0.312500,0.500000,0.687500");
  EXPECT_EQ(second_line(by_rank_csv({distinct_rank()})), "2,ngram,max_n=3,greedy,16,6,cost,0.25,1,9,0.187500");
  EXPECT_EQ(second_line(by_category_csv({distinct_category()})),
            "2,ngram,max_n=3,greedy,false,16,5,cost,0.25,\"math, \"\"hard\"\"\",7,6000000000,300,2.125000,400,175,"
            "0.437500,250,1.700000,1234.50,617.25,1.8750,true");
  EXPECT_EQ(second_line(accept_hist_csv({distinct_hist()})), "2,ngram,max_n=3,greedy,16,6,cost,0.25,3,9,8,0.187500");
  // Fixed columns round (tau: 6 digits, tokens_per_s: 2); parameters print the shortest text.
  SummaryRow s = distinct_summary();
  s.tau = 2.0 / 3.0;
  s.tokens_per_s = 1.0 / 3.0;
  s.temperature = 0.1 + 0.2;
  EXPECT_NE(second_line(summary_csv({s})).find(",0.30000000000000004,"), std::string::npos);
  EXPECT_NE(second_line(summary_csv({s})).find(",0.666667,"), std::string::npos);
  EXPECT_NE(second_line(summary_csv({s})).find(",0.33,"), std::string::npos);
}

// The timing columns of each file: the only ones that may differ between runs of one spec.
TEST(Report, TimingColumnsOfEachFile) {
  auto timing_of = [](const std::string& csv) {
    std::vector<std::string> out;
    for (const auto& name : header_of(csv)) {
      if (is_timing_column(name)) out.push_back(name);
    }
    return out;
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(timing_of(summary_csv({})),
            (Names{"tokens_per_s", "ar_tokens_per_s", "speedup", "draft_ms_per_step", "verify_ms_per_step"}));
  EXPECT_EQ(timing_of(sequences_csv({})), (Names{"prefill_ms", "decode_ms", "draft_ms", "verify_ms"}));
  EXPECT_EQ(timing_of(steps_csv({}, {})), (Names{"draft_ms", "verify_ms"}));
  EXPECT_EQ(timing_of(by_depth_csv({})), Names{});
  EXPECT_EQ(timing_of(by_rank_csv({})), Names{});
  EXPECT_EQ(timing_of(by_category_csv({})), (Names{"tokens_per_s", "ar_tokens_per_s", "speedup"}));
  EXPECT_EQ(timing_of(accept_hist_csv({})), Names{});
}

// Field-by-field equality of parsed rows (every member of each row type).
void expect_same(const SequenceRow& a, const SequenceRow& b) {
  EXPECT_EQ(a.unit, b.unit);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.rep, b.rep);
  EXPECT_EQ(a.prompt_set, b.prompt_set);
  EXPECT_EQ(a.prompt_id, b.prompt_id);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.turn, b.turn);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.top_k, b.top_k);
  EXPECT_EQ(a.top_p, b.top_p);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.drafter, b.drafter);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.lossless, b.lossless);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.depth_cap, b.depth_cap);
  EXPECT_EQ(a.budget_policy, b.budget_policy);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.new_tokens, b.new_tokens);
  EXPECT_EQ(a.target_forwards, b.target_forwards);
  EXPECT_EQ(a.drafted_tokens, b.drafted_tokens);
  EXPECT_EQ(a.accepted_tokens, b.accepted_tokens);
  EXPECT_EQ(a.stop, b.stop);
  EXPECT_EQ(a.tokens_hash, b.tokens_hash);
  EXPECT_EQ(a.prefill_ms, b.prefill_ms);
  EXPECT_EQ(a.decode_ms, b.decode_ms);
  EXPECT_EQ(a.draft_ms, b.draft_ms);
  EXPECT_EQ(a.verify_ms, b.verify_ms);
}

void expect_same(const StepRow& a, const StepRow& b) {
  EXPECT_EQ(a.unit, b.unit);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.turn, b.turn);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.n_drafted, b.n_drafted);
  EXPECT_EQ(a.tree_depth, b.tree_depth);
  EXPECT_EQ(a.n_accepted, b.n_accepted);
  EXPECT_EQ(a.n_emitted, b.n_emitted);
  EXPECT_EQ(a.bonus, b.bonus);
  EXPECT_EQ(a.drafted_by_depth, b.drafted_by_depth);
  EXPECT_EQ(a.accepted_rank, b.accepted_rank);
  EXPECT_EQ(a.draft_ms, b.draft_ms);
  EXPECT_EQ(a.verify_ms, b.verify_ms);
  EXPECT_EQ(a.exit_layer, b.exit_layer);
  if (!(std::isnan(a.opt_accept_bound) && std::isnan(b.opt_accept_bound))) EXPECT_EQ(a.opt_accept_bound, b.opt_accept_bound);
}

void expect_same(const SummaryRow& a, const SummaryRow& b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.drafter, b.drafter);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.lossless, b.lossless);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.depth_cap, b.depth_cap);
  EXPECT_EQ(a.budget_policy, b.budget_policy);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.top_k, b.top_k);
  EXPECT_EQ(a.top_p, b.top_p);
  EXPECT_EQ(a.n_sequences, b.n_sequences);
  EXPECT_EQ(a.new_tokens, b.new_tokens);
  EXPECT_EQ(a.target_forwards, b.target_forwards);
  EXPECT_EQ(a.drafted_tokens, b.drafted_tokens);
  EXPECT_EQ(a.accepted_tokens, b.accepted_tokens);
  EXPECT_EQ(a.tau, b.tau);
  EXPECT_EQ(a.alpha, b.alpha);
  EXPECT_EQ(a.tokens_per_s, b.tokens_per_s);
  EXPECT_EQ(a.ar_tokens_per_s, b.ar_tokens_per_s);
  EXPECT_EQ(a.speedup, b.speedup);
  EXPECT_EQ(a.draft_ms_per_step, b.draft_ms_per_step);
  EXPECT_EQ(a.verify_ms_per_step, b.verify_ms_per_step);
  EXPECT_EQ(a.matches_ar, b.matches_ar);
}

void expect_same(const DepthRow& a, const DepthRow& b) {
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.drafter, b.drafter);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.depth_cap, b.depth_cap);
  EXPECT_EQ(a.budget_policy, b.budget_policy);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.depth, b.depth);
  EXPECT_EQ(a.drafted_nodes, b.drafted_nodes);
  EXPECT_EQ(a.trees_reaching, b.trees_reaching);
  EXPECT_EQ(a.cond_trials, b.cond_trials);
  EXPECT_EQ(a.accepted, b.accepted);
  EXPECT_EQ(a.accept_rate, b.accept_rate);
  EXPECT_EQ(a.cond_accept_rate, b.cond_accept_rate);
  if (!(std::isnan(a.opt_accept_bound) && std::isnan(b.opt_accept_bound))) EXPECT_EQ(a.opt_accept_bound, b.opt_accept_bound);
}

void expect_same(const RankRow& a, const RankRow& b) {
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.drafter, b.drafter);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.depth_cap, b.depth_cap);
  EXPECT_EQ(a.budget_policy, b.budget_policy);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_EQ(a.accepted_nodes, b.accepted_nodes);
  EXPECT_EQ(a.share, b.share);
}

void expect_same(const CategoryRow& a, const CategoryRow& b) {
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.drafter, b.drafter);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.lossless, b.lossless);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.depth_cap, b.depth_cap);
  EXPECT_EQ(a.budget_policy, b.budget_policy);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.n_sequences, b.n_sequences);
  EXPECT_EQ(a.new_tokens, b.new_tokens);
  EXPECT_EQ(a.target_forwards, b.target_forwards);
  EXPECT_EQ(a.tau, b.tau);
  EXPECT_EQ(a.drafted_tokens, b.drafted_tokens);
  EXPECT_EQ(a.accepted_tokens, b.accepted_tokens);
  EXPECT_EQ(a.alpha, b.alpha);
  EXPECT_EQ(a.drafting_steps, b.drafting_steps);
  EXPECT_EQ(a.mean_accept_len, b.mean_accept_len);
  EXPECT_EQ(a.tokens_per_s, b.tokens_per_s);
  EXPECT_EQ(a.ar_tokens_per_s, b.ar_tokens_per_s);
  EXPECT_EQ(a.speedup, b.speedup);
  EXPECT_EQ(a.matches_ar, b.matches_ar);
}

void expect_same(const AcceptHistRow& a, const AcceptHistRow& b) {
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.drafter, b.drafter);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.depth_cap, b.depth_cap);
  EXPECT_EQ(a.budget_policy, b.budget_policy);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.n_accepted, b.n_accepted);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_EQ(a.drafting_steps, b.drafting_steps);
  EXPECT_EQ(a.share, b.share);
}

// Writes two rows (the distinctive one and a default one), parses them back, compares every field.
template <typename Row, typename Write, typename Parse>
void expect_round_trip(const Row& distinct, Write write, Parse parse) {
  const std::vector<Row> rows = {distinct, Row{}};
  const std::string text = write(rows);
  const std::vector<Row> back = parse(text, "mem");
  ASSERT_EQ(back.size(), 2u);
  expect_same(back[0], rows[0]);
  expect_same(back[1], rows[1]);
  EXPECT_EQ(write(back), text);
}

TEST(Report, EveryRowTypeRoundTripsFieldByField) {
  expect_round_trip(distinct_sequence(), sequences_csv, parse_sequences_csv);
  expect_round_trip(distinct_summary(), summary_csv, parse_summary_csv);
  expect_round_trip(distinct_depth(), by_depth_csv, parse_by_depth_csv);
  expect_round_trip(distinct_rank(), by_rank_csv, parse_by_rank_csv);
  expect_round_trip(distinct_category(), by_category_csv, parse_by_category_csv);
  expect_round_trip(distinct_hist(), accept_hist_csv, parse_accept_hist_csv);
  // Steps carry their sequence's identifying columns; rows of two sequences, one without a tree.
  SequenceRow other = distinct_sequence();
  other.unit = 4;
  other.drafter = "recycling";
  const std::vector<SequenceRow> seqs = {distinct_sequence(), other};
  StepRow plain;
  plain.unit = 4;
  plain.config = 2;
  plain.turn = 2;
  auto write_steps = [&](const std::vector<StepRow>& rows) { return steps_csv(rows, seqs); };
  const std::vector<StepRow> steps = {distinct_step(), plain};
  const std::string text = write_steps(steps);
  EXPECT_NE(text.find("\n4,2,1,stories,s-07,2,recycling,"), std::string::npos);
  const std::vector<StepRow> back = parse_steps_csv(text, "mem");
  ASSERT_EQ(back.size(), 2u);
  expect_same(back[0], steps[0]);
  expect_same(back[1], steps[1]);
  EXPECT_EQ(write_steps(back), text);
}

// A steps.csv from before the exit_layer column existed, as such a version wrote it.
TEST(Report, LegacyStepsWithoutExitLayerParse) {
  const std::string old =
      "unit,config,rep,prompt_set,prompt_id,drafter,params,rule,budget,depth_cap,temperature,step,n_drafted,"
      "tree_depth,n_accepted,n_emitted,bonus,drafted_by_depth,accepted_rank,draft_ms,verify_ms\n"
      "3,2,1,stories,s-07,ngram,\"max_n=3,min_n=1\",greedy,16,5,0.7,4,6,3,2,3,77,3;2;1,1;0,0.1250,10.5000\n";
  const std::vector<StepRow> back = parse_steps_csv(old, "old.csv");
  ASSERT_EQ(back.size(), 1u);
  StepRow want = distinct_step();
  want.turn = 1;        // the legacy defaults
  want.exit_layer = 0;
  want.opt_accept_bound = std::numeric_limits<double>::quiet_NaN();
  expect_same(back[0], want);
  // Written again, the file has today's schema.
  SequenceRow first_turn = distinct_sequence();
  first_turn.turn = 1;
  EXPECT_EQ(first_line(steps_csv(back, {first_turn})), first_line(steps_csv({}, {})));
}

// Expects `message` to contain `part`.
void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nwanted: " << part;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// `text` with the first occurrence of `from` replaced by `to` (which must occur).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(Report, MalformedFilesNameTheColumn) {
  const std::string seqs = sequences_csv({distinct_sequence()});
  const std::string steps = steps_csv({distinct_step()}, {distinct_sequence()});
  const std::string summary = summary_csv({distinct_summary()});
  auto seq_error = [&](const std::string& text) { return error_of([&] { parse_sequences_csv(text, "s.csv"); }); };
  auto step_error = [&](const std::string& text) { return error_of([&] { parse_steps_csv(text, "t.csv"); }); };
  // Header (files with no rows): a missing column, a misplaced one, an extra one; in steps.csv a
  // missing column that is not legacy, and one of the sequence's columns (checked, not read).
  const std::string seq_header = first_line(seqs) + "\n", step_header = first_line(steps) + "\n";
  expect_contains(seq_error(replaced(seq_header, ",rep,", ",")), "s.csv: header: column 'rep' missing");
  expect_contains(seq_error(replaced(seq_header, "unit,config,", "config,unit,")),
                  "s.csv: header: column 1 is 'config' where the schema has 'unit'");
  expect_contains(seq_error(replaced(seq_header, "verify_ms\n", "verify_ms,extra\n")),
                  "s.csv: header: unexpected column 'extra'");
  expect_contains(step_error(replaced(step_header, ",bonus,", ",")), "t.csv: header: column 'bonus' missing");
  expect_contains(step_error(replaced(step_header, ",temperature,", ",")),
                  "t.csv: header: column 'temperature' missing");
  expect_contains(step_error(replaced(step_header, ",opt_accept_bound\n", ",opt_accept_bound,extra\n")),
                  "t.csv: header: unexpected column 'extra'");
  // Cells of each kind.
  expect_contains(seq_error(replaced(seqs, ",0.7,40,", ",warm,40,")),
                  "s.csv:2: column 'temperature' = 'warm': not a number");
  expect_contains(seq_error(replaced(seqs, ",0.7,40,", ",0.7,4x,")), "s.csv:2: column 'top_k' = '4x': not an integer");
  expect_contains(seq_error(replaced(seqs, ",0.7,40,", ",0.7,4294967296,")),
                  "s.csv:2: column 'top_k' = '4294967296': out of range for a 32-bit integer");
  expect_contains(seq_error(replaced(seqs, ",18446744073709551615,", ",-1,")),
                  "s.csv:2: column 'seed' = '-1': not a non-negative integer");
  expect_contains(seq_error(replaced(seqs, ",false,", ",no,")),
                  "s.csv:2: column 'lossless' = 'no': must be true or false");
  expect_contains(seq_error(replaced(seqs, ",5000000000,", ",,")),
                  "s.csv:2: column 'drafted_tokens' = '': not an integer");
  expect_contains(seq_error(replaced(seqs, ",1.2500,", ",1.25ms,")),
                  "s.csv:2: column 'prefill_ms' = '1.25ms': not a number");
  expect_contains(step_error(replaced(steps, ",3;2;1,", ",3;two;1,")),
                  "t.csv:2: column 'drafted_by_depth' = '3;two;1': not a ';'-separated list of integers");
  expect_contains(step_error(replaced(steps, ",10.5000,8,", ",10.5000,eight,")),
                  "t.csv:2: column 'exit_layer' = 'eight': not an integer");
  expect_contains(step_error(replaced(steps, ",3;2;1,", ",3;2,")),
                  "t.csv:2: drafted_by_depth / accepted_rank lengths disagree with tree_depth = 3");
  expect_contains(error_of([&] { parse_summary_csv(replaced(summary, ",2.125000,", ",tau,"), "u.csv"); }),
                  "u.csv:2: column 'tau' = 'tau': not a number");
  expect_contains(error_of([&] { parse_by_rank_csv("config,drafter\n1,x\n", "r.csv"); }),
                  "r.csv: header: column 'params' missing");
  // The row number counts the header as line 1.
  std::string two = sequences_csv({distinct_sequence(), distinct_sequence()});
  two.insert(two.find('\n', two.find('\n') + 1) + 1, "x");
  expect_contains(seq_error(two), "s.csv:3: column 'unit' = 'x3': not an integer");
}

TEST(Report, TokensHashIsFnv1a64) {
  EXPECT_EQ(tokens_hash({}), "cbf29ce484222325");  // the FNV-1a 64 offset basis
  // One token 0x61 ('a' as the first byte, then three zero bytes), computed by hand from the
  // FNV-1a definition: h = (h ^ byte) * 0x100000001b3 per byte.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t b : {0x61, 0, 0, 0}) h = (h ^ b) * 0x100000001b3ULL;
  EXPECT_EQ(tokens_hash({0x61}), fmt::format("{:016x}", h));
  EXPECT_NE(tokens_hash({1, 2}), tokens_hash({2, 1}));
}

SequenceRow seq(int unit, int config, double temp, int new_tokens, int forwards, int drafted, int accepted,
                const std::string& hash, double decode_ms) {
  SequenceRow s;
  s.unit = unit;
  s.config = config;
  s.temperature = temp;
  s.prompt_set = "set";
  s.prompt_id = fmt::format("p{}", unit);
  s.category = "cat, with \"quotes\"";
  s.drafter = config == 0 ? "none" : "ngram";
  s.params = config == 0 ? "" : "max_n=3,min_n=1";
  s.rule = config == 0 ? "none" : "greedy";
  s.budget = config == 0 ? 0 : 8;
  s.new_tokens = new_tokens;
  s.target_forwards = forwards;
  s.drafted_tokens = drafted;
  s.accepted_tokens = accepted;
  s.stop = "max_tokens";
  s.tokens_hash = hash;
  s.decode_ms = decode_ms;
  s.draft_ms = 1.0;
  s.verify_ms = 2.0;
  return s;
}

TEST(Report, SequencesRoundTripThroughCsv) {
  std::vector<SequenceRow> rows = {seq(0, 0, 0, 10, 10, 0, 0, "aa", 5.0), seq(0, 1, 0, 10, 4, 12, 6, "aa", 2.5)};
  rows[1].seed = 18446744073709551615ULL;
  rows[1].temperature = 0.7;
  const auto back = parse_sequences_csv(sequences_csv(rows), "mem");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].category, rows[1].category);
  EXPECT_EQ(back[1].params, "max_n=3,min_n=1");
  EXPECT_EQ(back[1].seed, rows[1].seed);
  EXPECT_EQ(back[1].temperature, 0.7);
  EXPECT_EQ(sequences_csv(back), sequences_csv(rows));
}

TEST(Report, SummaryNumbers) {
  // Two units at temperature 0, one at 1. Baseline: 10 tokens in 5 ms per unit.
  std::vector<SequenceRow> rows = {
      seq(0, 0, 0, 10, 10, 0, 0, "h0", 5.0),  seq(0, 1, 0, 10, 4, 12, 6, "h0", 2.0),
      seq(1, 0, 0, 10, 10, 0, 0, "h1", 5.0),  seq(1, 1, 0, 10, 5, 10, 5, "hX", 3.0),
      seq(2, 0, 1, 8, 8, 0, 0, "h2", 4.0),    seq(2, 1, 1, 8, 4, 8, 4, "h9", 2.0),
  };
  const auto s = summarize(rows, "m");
  ASSERT_EQ(s.size(), 4u);
  // Order: config 0 (T 0, T 1), config 1 (T 0, T 1).
  EXPECT_EQ(s[0].config, 0);
  EXPECT_EQ(s[1].temperature, 1.0);
  const SummaryRow& r = s[2];
  EXPECT_EQ(r.config, 1);
  EXPECT_EQ(r.n_sequences, 2);
  EXPECT_EQ(r.new_tokens, 20);
  EXPECT_EQ(r.target_forwards, 9);
  EXPECT_DOUBLE_EQ(r.tau, 20.0 / 9.0);
  EXPECT_EQ(r.drafted_tokens, 22);
  EXPECT_EQ(r.accepted_tokens, 11);
  EXPECT_DOUBLE_EQ(r.alpha, 0.5);
  EXPECT_DOUBLE_EQ(r.tokens_per_s, 20.0 / 0.005);
  EXPECT_DOUBLE_EQ(r.ar_tokens_per_s, 20.0 / 0.010);
  EXPECT_DOUBLE_EQ(r.speedup, 2.0);
  EXPECT_DOUBLE_EQ(r.draft_ms_per_step, 2.0 / 9.0);
  EXPECT_EQ(r.matches_ar, "false");  // unit 1 differs from its baseline
  EXPECT_EQ(s[3].matches_ar, "na");   // sampled
  EXPECT_EQ(s[0].matches_ar, "na");   // the baseline itself
  rows[3].tokens_hash = "h1";
  EXPECT_EQ(summarize(rows, "m")[2].matches_ar, "true");
}

TEST(Report, AcceptanceByDepthAndRank) {
  std::vector<SequenceRow> seqs = {seq(0, 1, 0, 6, 3, 9, 3, "h", 1.0)};
  auto step = [](int n, std::vector<std::int32_t> by_depth, std::vector<std::int32_t> ranks) {
    StepRow s;
    s.config = 1;
    s.step = n;
    s.tree_depth = static_cast<std::int32_t>(by_depth.size());
    for (auto d : by_depth) s.n_drafted += d;
    s.drafted_by_depth = by_depth;
    s.n_accepted = static_cast<std::int32_t>(ranks.size());
    s.accepted_rank = ranks;
    return s;
  };
  // Step 0: depths 1..3 (2,1,1 nodes), accepted 2 (ranks 1,0). Step 1: depths 1..2 (2,1), none
  // accepted. Step 2: depth 1 (2 nodes), accepted 1 (rank 0).
  std::vector<StepRow> steps = {step(0, {2, 1, 1}, {1, 0}), step(1, {2, 1}, {}), step(2, {2}, {0})};
  const auto d = acceptance_by_depth(seqs, steps);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].drafted_nodes, 6);
  EXPECT_EQ(d[0].trees_reaching, 3);
  EXPECT_EQ(d[0].accepted, 2);
  EXPECT_EQ(d[0].cond_trials, 3);
  EXPECT_DOUBLE_EQ(d[0].accept_rate, 2.0 / 3.0);
  EXPECT_EQ(d[1].trees_reaching, 2);
  EXPECT_EQ(d[1].cond_trials, 1);  // only step 0 accepted depth 1
  EXPECT_EQ(d[1].accepted, 1);
  EXPECT_DOUBLE_EQ(d[1].cond_accept_rate, 1.0);
  EXPECT_EQ(d[2].trees_reaching, 1);
  EXPECT_EQ(d[2].accepted, 0);
  // opt_accept_bound: depth 1 only, the mean over the steps that have one (NaN = none).
  EXPECT_TRUE(std::isnan(d[0].opt_accept_bound));
  steps[0].opt_accept_bound = 0.75;
  steps[2].opt_accept_bound = 0.5;
  const auto db = acceptance_by_depth(seqs, steps);
  EXPECT_DOUBLE_EQ(db[0].opt_accept_bound, 0.625);
  EXPECT_TRUE(std::isnan(db[1].opt_accept_bound));
  EXPECT_NE(by_depth_csv(db).find(",0.666667,0.666667,0.625000\n"), std::string::npos) << by_depth_csv(db);
  EXPECT_NE(by_depth_csv(db).find(",nan\n"), std::string::npos);
  const auto r = acceptance_by_rank(seqs, steps);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].accepted_nodes, 2);
  EXPECT_EQ(r[1].accepted_nodes, 1);
  EXPECT_DOUBLE_EQ(r[0].share, 2.0 / 3.0);
  // Steps round-trip through their CSV.
  const auto back = parse_steps_csv(steps_csv(steps, seqs), "mem");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].drafted_by_depth, (std::vector<std::int32_t>{2, 1, 1}));
  EXPECT_EQ(back[0].accepted_rank, (std::vector<std::int32_t>{1, 0}));
  EXPECT_TRUE(back[1].accepted_rank.empty());
  // exit_layer (early-exit drafters) round-trips; a steps.csv without the column (written
  // before it existed) still parses, with exit_layer 0. So does opt_accept_bound (NaN when absent).
  steps[0].opt_accept_bound = 0.8125;
  steps[1].exit_layer = 3;
  const std::string text = steps_csv(steps, seqs);
  EXPECT_EQ(parse_steps_csv(text, "mem")[1].exit_layer, 3);
  EXPECT_EQ(parse_steps_csv(text, "mem")[0].opt_accept_bound, 0.8125);
  EXPECT_TRUE(std::isnan(parse_steps_csv(text, "mem")[1].opt_accept_bound));
  std::string old;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    const std::string without_bound = line.substr(0, line.rfind(','));
    old += without_bound.substr(0, without_bound.rfind(',')) + "\n";
    start = end + 1;
  }
  const auto old_back = parse_steps_csv(old, "old");
  ASSERT_EQ(old_back.size(), 3u);
  EXPECT_EQ(old_back[1].exit_layer, 0);
  EXPECT_TRUE(std::isnan(old_back[0].opt_accept_bound));
  EXPECT_EQ(old_back[0].drafted_by_depth, (std::vector<std::int32_t>{2, 1, 1}));
}

TEST(Report, ParseErrorsNameTheProblem) {
  auto msg = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg([] { parse_csv("a,b\n1\n", "x.csv"); }).find("x.csv: row 2: 1 cells, header has 2"), std::string::npos);
  EXPECT_NE(msg([] { parse_csv("a,b\n\"1,2\n", "x.csv"); }).find("unterminated"), std::string::npos);
  EXPECT_NE(msg([] { parse_sequences_csv("a,b\n1,2\n", "s.csv"); }).find("s.csv: header"), std::string::npos);
  std::string text = sequences_csv({seq(0, 0, 0, 10, 10, 0, 0, "h", 1.0)});
  text.replace(text.find(",10,10,"), 7, ",ten,10,");
  EXPECT_NE(msg([&] { parse_sequences_csv(text, "s.csv"); }).find("column 'new_tokens' = 'ten'"), std::string::npos);
}

TEST(Report, WriteReportsWritesAllFiles) {
  testing::ScopedTempDir tmp;
  std::vector<SequenceRow> seqs = {seq(1, 0, 0, 4, 4, 0, 0, "h", 1.0), seq(0, 0, 0, 4, 4, 0, 0, "g", 1.0)};
  const auto rs = write_reports(tmp.dir(), seqs, {}, "m");
  ASSERT_EQ(rs.summary.size(), 1u);
  EXPECT_EQ(rs.summary[0].n_sequences, 2);
  const auto back = parse_sequences_csv(read_text_file(tmp.path("sequences.csv")), "s");
  EXPECT_EQ(back[0].unit, 0);  // sorted
  for (const char* f : {"summary.csv", "steps.csv", "by_depth.csv", "by_rank.csv", "by_category.csv", "accept_hist.csv"}) {
    EXPECT_FALSE(read_text_file(tmp.path(f)).empty()) << f;
  }
}

// Record files from before multi-turn questions (issue 16) have no turn column: every sequence
// is turn 1, and they are written back with it.
TEST(Report, LegacyFilesWithoutTurnParse) {
  SequenceRow s = distinct_sequence();
  s.turn = 1;
  const std::string now = sequences_csv({s});
  const std::string old = replaced(replaced(now, ",prompt_id,turn,", ",prompt_id,"), ",s-07,1,", ",s-07,");
  const std::vector<SequenceRow> back = parse_sequences_csv(old, "old.csv");
  ASSERT_EQ(back.size(), 1u);
  expect_same(back[0], s);
  EXPECT_EQ(sequences_csv(back), now);
  StepRow t = distinct_step();
  t.turn = 1;
  const std::string steps_now = steps_csv({t}, {s});
  const std::string steps_old =
      replaced(replaced(steps_now, ",prompt_id,turn,", ",prompt_id,"), ",s-07,1,", ",s-07,");
  const std::vector<StepRow> steps_back = parse_steps_csv(steps_old, "old.csv");
  ASSERT_EQ(steps_back.size(), 1u);
  expect_same(steps_back[0], t);
}



// by_category.csv and accept_hist.csv on two questions: "writing" with two turns, "qa" with one.
// Config 1's turn-2 answer differs from the baseline's turn 2 (matches_ar compares turn with turn).
TEST(Report, ByCategoryAndAcceptHistNumbers) {
  auto with = [](SequenceRow s, const std::string& category, int turn) {
    s.category = category;
    s.turn = turn;
    return s;
  };
  std::vector<SequenceRow> seqs = {
      with(seq(0, 0, 0, 10, 10, 0, 0, "a1", 5.0), "writing", 1), with(seq(0, 0, 0, 6, 6, 0, 0, "a2", 3.0), "writing", 2),
      with(seq(0, 1, 0, 10, 4, 12, 6, "a1", 2.0), "writing", 1), with(seq(0, 1, 0, 6, 3, 6, 3, "XX", 1.0), "writing", 2),
      with(seq(1, 0, 0, 8, 8, 0, 0, "b1", 4.0), "qa", 1),        with(seq(1, 1, 0, 8, 4, 8, 4, "b1", 2.0), "qa", 1),
  };
  std::vector<StepRow> steps;
  auto add_steps = [&](int unit, int config, int turn, std::vector<int> drafted, std::vector<int> accepted) {
    for (std::size_t k = 0; k < drafted.size(); ++k) {
      StepRow t;
      t.unit = unit;
      t.config = config;
      t.turn = turn;
      t.step = static_cast<std::int32_t>(k);
      t.n_drafted = drafted[k];
      t.n_accepted = accepted[k];
      t.tree_depth = drafted[k];  // chains
      t.drafted_by_depth.assign(drafted[k], 1);
      t.accepted_rank.assign(accepted[k], 0);
      steps.push_back(t);
    }
  };
  add_steps(0, 0, 1, std::vector<int>(10, 0), std::vector<int>(10, 0));
  add_steps(0, 0, 2, std::vector<int>(6, 0), std::vector<int>(6, 0));
  add_steps(1, 0, 1, std::vector<int>(8, 0), std::vector<int>(8, 0));
  add_steps(0, 1, 1, {3, 3, 3, 3}, {2, 2, 1, 1});
  add_steps(0, 1, 2, {3, 3, 0}, {2, 1, 0});
  add_steps(1, 1, 1, {2, 2, 2, 2}, {1, 1, 1, 1});
  sort_rows(seqs, steps);

  const auto c = summarize_by_category(seqs, steps);
  ASSERT_EQ(c.size(), 6u);
  const std::vector<std::string> order = {"writing", "qa", "overall", "writing", "qa", "overall"};
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c[i].category, order[i]) << i;
    EXPECT_EQ(c[i].config, i < 3 ? 0 : 1) << i;
  }
  // The baseline: tau 1, no drafts, speedup 1.
  EXPECT_EQ(c[0].n_sequences, 2);
  EXPECT_DOUBLE_EQ(c[0].tau, 1.0);
  EXPECT_EQ(c[0].drafting_steps, 0);
  EXPECT_EQ(c[0].mean_accept_len, 0.0);
  EXPECT_DOUBLE_EQ(c[0].speedup, 1.0);
  EXPECT_EQ(c[0].matches_ar, "na");
  const CategoryRow& w = c[3];
  EXPECT_EQ(w.n_sequences, 2);  // both turns
  EXPECT_EQ(w.new_tokens, 16);
  EXPECT_EQ(w.target_forwards, 7);
  EXPECT_DOUBLE_EQ(w.tau, 16.0 / 7.0);
  EXPECT_EQ(w.drafted_tokens, 18);
  EXPECT_EQ(w.accepted_tokens, 9);
  EXPECT_DOUBLE_EQ(w.alpha, 0.5);
  EXPECT_EQ(w.drafting_steps, 6);  // turn 2's last step drafted nothing
  EXPECT_DOUBLE_EQ(w.mean_accept_len, 2.5);
  EXPECT_DOUBLE_EQ(w.tokens_per_s, 16.0 / 0.003);
  EXPECT_DOUBLE_EQ(w.ar_tokens_per_s, 16.0 / 0.008);
  EXPECT_DOUBLE_EQ(w.speedup, 8.0 / 3.0);
  EXPECT_EQ(w.matches_ar, "false");
  const CategoryRow& qa = c[4];
  EXPECT_EQ(qa.n_sequences, 1);
  EXPECT_DOUBLE_EQ(qa.tau, 2.0);
  EXPECT_DOUBLE_EQ(qa.mean_accept_len, 2.0);
  EXPECT_DOUBLE_EQ(qa.speedup, 2.0);
  EXPECT_EQ(qa.matches_ar, "true");
  const CategoryRow& all = c[5];
  EXPECT_EQ(all.n_sequences, 3);
  EXPECT_EQ(all.new_tokens, 24);
  EXPECT_EQ(all.drafting_steps, 10);
  EXPECT_DOUBLE_EQ(all.mean_accept_len, 1.0 + 13.0 / 10.0);
  EXPECT_DOUBLE_EQ(all.speedup, 2.4);
  // "overall" is summary.csv's row.
  const auto sum = summarize(seqs, "m");
  ASSERT_EQ(sum.size(), 2u);
  EXPECT_EQ(all.tau, sum[1].tau);
  EXPECT_EQ(all.alpha, sum[1].alpha);
  EXPECT_EQ(all.tokens_per_s, sum[1].tokens_per_s);
  EXPECT_EQ(all.speedup, sum[1].speedup);
  EXPECT_EQ(all.matches_ar, sum[1].matches_ar);
  // Turn 2 is compared with the baseline's turn 2, not its turn 1.
  seqs[3].tokens_hash = "a2";
  EXPECT_EQ(summarize_by_category(seqs, steps)[3].matches_ar, "true");
  EXPECT_EQ(summarize(seqs, "m")[1].matches_ar, "true");
  seqs[3].tokens_hash = "a1";
  EXPECT_EQ(summarize_by_category(seqs, steps)[3].matches_ar, "false");

  const auto h = acceptance_histogram(seqs, steps);
  ASSERT_EQ(h.size(), 4u);  // config 0: n_accepted 0; config 1: 0, 1, 2
  EXPECT_EQ(h[0].config, 0);
  EXPECT_EQ(h[0].steps, 24);
  EXPECT_EQ(h[0].drafting_steps, 0);
  EXPECT_DOUBLE_EQ(h[0].share, 1.0);
  const std::vector<std::int64_t> want_steps = {1, 7, 3}, want_drafting = {0, 7, 3};
  double emitted = 0, n = 0;
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(h[1 + k].n_accepted, k);
    EXPECT_EQ(h[1 + k].steps, want_steps[k]);
    EXPECT_EQ(h[1 + k].drafting_steps, want_drafting[k]);
    EXPECT_DOUBLE_EQ(h[1 + k].share, double(want_steps[k]) / 11.0);
    emitted += (k + 1) * double(h[1 + k].steps);
    n += double(h[1 + k].steps);
  }
  EXPECT_DOUBLE_EQ(emitted / n, all.tau);  // no step was cut short: tau = mean accepted + 1
  // The plot script draws both (gnuplot not needed: the script and data files are the contract).
  {
    testing::ScopedTempDir tmp;
    ReportSet rs;
    rs.summary = sum;
    rs.by_category = c;
    rs.accept_hist = h;
    const std::string gp = read_text_file(write_plot_script(tmp.dir(), rs, "m"));
    EXPECT_NE(gp.find("set output 'tau_by_category_T0.png'"), std::string::npos) << gp;
    EXPECT_NE(gp.find("set output 'accept_hist_T0.png'"), std::string::npos) << gp;
    EXPECT_EQ(read_text_file(tmp.path("plots/category_0_T0.dat")),
              "# index tau speedup category\n0 2.285714 2.666667 \"writing\"\n1 2.000000 2.000000 \"qa\"\n"
              "2 2.181818 2.400000 \"overall\"\n");
    EXPECT_EQ(read_text_file(tmp.path("plots/hist_0_T0.dat")),
              "# n_accepted share\n0 0.090909\n1 0.636364\n2 0.272727\n");
  }
  // A gap in the histogram is a row with zero steps.
  {
    std::vector<SequenceRow> one = {seq(0, 1, 0.5, 4, 2, 4, 2, "h", 1.0)};
    steps.clear();
    add_steps(0, 1, 1, {2, 2}, {0, 2});
    const auto g = acceptance_histogram(one, steps);
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g[1].n_accepted, 1);
    EXPECT_EQ(g[1].steps, 0);
    EXPECT_EQ(g[1].share, 0.0);
    EXPECT_EQ(g[2].steps, 1);
    EXPECT_EQ(g[2].temperature, 0.5);
  }
  // Steps without a sequence row are an error naming the row.
  StepRow orphan;
  orphan.unit = 9;
  orphan.turn = 2;
  steps.push_back(orphan);
  EXPECT_THROW(summarize_by_category(seqs, steps), Error);
  EXPECT_THROW(acceptance_histogram(seqs, steps), Error);
}

}  // namespace
}  // namespace speclab
