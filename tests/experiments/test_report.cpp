// CSV schemas, quoting, parsing errors, and the aggregate reports on hand-made records whose
// numbers are worked out by hand.
#include <gtest/gtest.h>

#include "base/error.h"
#include "experiments/report.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

std::vector<std::string> header_of(const std::string& csv) { return parse_csv(csv, "t").header; }

TEST(Report, CsvSchemas) {
  EXPECT_EQ(header_of(summary_csv({})),
            (std::vector<std::string>{"model", "config", "drafter", "params", "rule", "lossless", "budget",
                                      "depth_cap", "temperature", "top_k", "top_p", "n_sequences", "new_tokens",
                                      "target_forwards", "tau", "drafted_tokens", "accepted_tokens", "alpha",
                                      "tokens_per_s", "ar_tokens_per_s", "speedup", "draft_ms_per_step",
                                      "verify_ms_per_step", "matches_ar"}));
  EXPECT_EQ(header_of(sequences_csv({})),
            (std::vector<std::string>{"unit", "config", "rep", "prompt_set", "prompt_id", "category",
                                      "temperature", "top_k", "top_p", "seed", "drafter", "params", "rule",
                                      "lossless", "budget", "depth_cap", "prompt_tokens", "new_tokens",
                                      "target_forwards", "drafted_tokens", "accepted_tokens", "stop",
                                      "tokens_hash", "prefill_ms", "decode_ms", "draft_ms", "verify_ms"}));
  EXPECT_EQ(header_of(steps_csv({}, {})),
            (std::vector<std::string>{"unit", "config", "rep", "prompt_set", "prompt_id", "drafter", "params",
                                      "rule", "budget", "depth_cap", "temperature", "step", "n_drafted",
                                      "tree_depth", "n_accepted", "n_emitted", "bonus", "drafted_by_depth",
                                      "accepted_rank", "draft_ms", "verify_ms", "exit_layer"}));
  EXPECT_EQ(header_of(by_depth_csv({})),
            (std::vector<std::string>{"config", "drafter", "params", "rule", "budget", "depth_cap", "temperature",
                                      "depth", "drafted_nodes", "trees_reaching", "cond_trials", "accepted",
                                      "accept_rate", "cond_accept_rate"}));
  EXPECT_EQ(header_of(by_rank_csv({})),
            (std::vector<std::string>{"config", "drafter", "params", "rule", "budget", "depth_cap", "temperature",
                                      "rank", "accepted_nodes", "share"}));
  for (const char* t : {"prefill_ms", "decode_ms", "tokens_per_s", "ar_tokens_per_s", "speedup",
                        "draft_ms_per_step", "verify_ms"}) {
    EXPECT_TRUE(is_timing_column(t)) << t;
  }
  for (const char* t : {"tau", "alpha", "new_tokens", "matches_ar", "params"}) EXPECT_FALSE(is_timing_column(t)) << t;
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
  // before it existed) still parses, with exit_layer 0.
  steps[1].exit_layer = 3;
  const std::string text = steps_csv(steps, seqs);
  EXPECT_EQ(parse_steps_csv(text, "mem")[1].exit_layer, 3);
  std::string old;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    old += line.substr(0, line.rfind(',')) + "\n";
    start = end + 1;
  }
  const auto old_back = parse_steps_csv(old, "old");
  ASSERT_EQ(old_back.size(), 3u);
  EXPECT_EQ(old_back[1].exit_layer, 0);
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
  for (const char* f : {"summary.csv", "steps.csv", "by_depth.csv", "by_rank.csv"}) {
    EXPECT_FALSE(read_text_file(tmp.path(f)).empty()) << f;
  }
}

}  // namespace
}  // namespace speclab
