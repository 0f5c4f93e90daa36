// The hardware cost model (issue 17): cost curves and their files, rooflines, projected
// speedups from records, and the "cost" budget policy's pruning / budget choice.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "drafters/registry.h"
#include "experiments/cost_model.h"
#include "experiments/cost_policy.h"
#include "experiments/decode.h"
#include "model/llama_model.h"
#include "verifiers/rules.h"
#include "experiments/projection.h"
#include "experiments/report.h"
#include "synthetic/synthetic_preset.h"
#include "tests/testing/cost_profiles.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::linear_cost_profile;

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "message: " << m << "\nwanted: " << p;
  }
}

// ---- curves ----

TEST(CostCurve, ExactAtPointsLinearBetweenAndExtrapolatedBeyond) {
  CostCurve c;
  c.n = {1, 2, 4};
  c.cached = {0, 100};
  c.ms = {1.0, 2.0, 3.0,    // L = 0
          2.0, 3.0, 5.0};   // L = 100
  EXPECT_DOUBLE_EQ(c.at(1, 0), 1.0);
  EXPECT_DOUBLE_EQ(c.at(4, 100), 5.0);
  EXPECT_DOUBLE_EQ(c.at(3, 0), 2.5);                 // between n = 2 and 4
  EXPECT_DOUBLE_EQ(c.at(2, 50), 2.5);                // between the lengths
  EXPECT_DOUBLE_EQ(c.at(6, 0), 4.0);                 // beyond n = 4: slope of the last segment
  EXPECT_DOUBLE_EQ(c.at(1, 200), 3.0);               // beyond L = 100
  EXPECT_GT(c.at(1, -1e9), 0.0);                     // never zero or negative
  CostCurve one;
  one.n = {1};
  one.cached = {0};
  one.ms = {0.7};
  EXPECT_DOUBLE_EQ(one.at(64, 1000), 0.7);           // a single point is a constant
}

TEST(CostCurve, LinearProfileIsReproducedEverywhere) {
  const CostProfile p = linear_cost_profile(0.25, 2.0, 0.01);
  for (const double n : {1.0, 3.0, 17.0, 255.0, 300.0}) {
    for (const double l : {0.0, 10.0, 700.0, 2000.0}) {
      EXPECT_NEAR(p.forward_ms(n, l), 2.0 + 0.25 * (n - 1) + 0.01 * l, 1e-9) << n << " " << l;
    }
  }
}

// ---- profile files ----

TEST(CostProfileFile, RoundTripsThroughJson) {
  CostProfile p = linear_cost_profile(0.5, 1.0, 0.0, "host_2t");
  p.draft = linear_cost_profile(0.1).target;
  p.machine = {{"cpu", "x"}, {"threads", 2}};
  p.drafters = {{"ngram", {{"propose_ms", 0.01}}}};
  p.command = "speclab profile ...";
  const CostProfile q = parse_cost_profile(cost_profile_json(p), "mem");
  EXPECT_EQ(q.name, "host_2t");
  EXPECT_EQ(q.target.n, p.target.n);
  EXPECT_EQ(q.target.cached, p.target.cached);
  EXPECT_EQ(q.target.ms, p.target.ms);
  EXPECT_EQ(q.draft.ms, p.draft.ms);
  EXPECT_EQ(q.machine, p.machine);
  EXPECT_EQ(q.drafters, p.drafters);
  EXPECT_EQ(q.command, p.command);
}

nlohmann::json good_profile() { return cost_profile_json(linear_cost_profile(0.5)); }

TEST(CostProfileFile, BadFieldsAreErrorsNamingFileAndField) {
  auto bad = [](const std::function<void(nlohmann::json&)>& edit, const std::vector<std::string>& parts) {
    nlohmann::json j = good_profile();
    edit(j);
    expect_error([&] { parse_cost_profile(j, "p.json"); }, parts);
  };
  bad([](auto& j) { j.erase("target"); }, {"p.json", "'target' missing"});
  bad([](auto& j) { j["format"] = "other"; }, {"p.json", "format", "speclab-profile"});
  bad([](auto& j) { j["version"] = 2; }, {"p.json", "version"});
  bad([](auto& j) { j["name"] = "Has Space"; }, {"p.json", "name", "a-z"});
  bad([](auto& j) { j["name"] = ""; }, {"name"});
  bad([](auto& j) { j["kind"] = "guess"; }, {"kind", "measured"});
  bad([](auto& j) { j["extra"] = 1; }, {"'extra'", "unknown"});
  bad([](auto& j) { j["target"]["n"] = {1, 4, 2}; }, {"target.n[2]", "strictly increasing"});
  bad([](auto& j) { j["target"]["n"] = {0, 1}; }, {"target.n[0]"});
  bad([](auto& j) { j["target"]["cached"] = {-1, 5}; }, {"target.cached[0]"});
  bad([](auto& j) { j["target"]["ms"].erase(1); }, {"target.ms", "rows"});
  bad([](auto& j) { j["target"]["ms"][0].erase(0); }, {"target.ms[0]", "numbers"});
  bad([](auto& j) { j["target"]["ms"][1][3] = -1.0; }, {"target.ms[1][3]"});
  bad([](auto& j) { j["target"]["ms"][1][3] = "fast"; }, {"target.ms[1][3]"});
  bad([](auto& j) { j["target"]["bogus"] = 1; }, {"target.bogus", "unknown"});
  bad([](auto& j) { j["target"]["n"] = std::vector<int>(65, 1); }, {"target.n", "1 to 64"});
  bad([](auto& j) { j["machine"] = 3; }, {"machine"});
  bad([](auto& j) { j["draft"] = nlohmann::json::array(); }, {"draft"});
}

nlohmann::json a100() {
  return {{"format", "speclab-hardware"}, {"version", 1}, {"name", "a100"}, {"source", "datasheet"},
          {"memory_bandwidth_gb_s", 2000.0}, {"peak_tflops", {{"default", 300.0}, {"f32", 20.0}}},
          {"overhead_ms", 0.1}, {"overhead_per_layer_ms", 0.01}};
}

TEST(Hardware, BadDescriptionsAreErrors) {
  auto bad = [](const std::function<void(nlohmann::json&)>& edit, const std::vector<std::string>& parts) {
    nlohmann::json j = a100();
    edit(j);
    expect_error([&] { parse_hardware(j, "hw.json"); }, parts);
  };
  bad([](auto& j) { j.erase("memory_bandwidth_gb_s"); }, {"hw.json", "memory_bandwidth_gb_s"});
  bad([](auto& j) { j["memory_bandwidth_gb_s"] = 0; }, {"memory_bandwidth_gb_s"});
  bad([](auto& j) { j["peak_tflops"] = nlohmann::json::object(); }, {"peak_tflops"});
  bad([](auto& j) { j["peak_tflops"]["q9_9"] = 1.0; }, {"peak_tflops.q9_9", "unknown weight type"});
  bad([](auto& j) { j["overhead_ms"] = -1; }, {"overhead_ms"});
  bad([](auto& j) { j["color"] = "green"; }, {"'color'", "unknown"});
  HardwareDescription hw = parse_hardware(a100(), "hw.json");
  EXPECT_DOUBLE_EQ(hw.peak_for("f32"), 20.0);
  EXPECT_DOUBLE_EQ(hw.peak_for("q4_k"), 300.0);
  hw.peak_tflops.erase("default");
  expect_error([&] { hw.peak_for("q4_k"); }, {"peak_tflops", "q4_k"});
}

// A stories110M-like shape with round numbers, to check the formula by hand.
ModelShape hand_shape() {
  ModelShape s;
  s.dtype = "f16";
  s.n_layers = 10;
  s.n_heads = 8;
  s.head_dim = 64;
  s.weight_bytes = 200e6;
  s.matrix_elements = 100e6;
  s.kv_bytes_per_position = 10 * 2 * 8 * 64 * 4;  // 40960
  return s;
}

TEST(Roofline, MemoryBoundForFewTokensComputeBoundForMany) {
  const HardwareDescription hw = parse_hardware(a100(), "hw");
  const ModelShape s = hand_shape();
  // n = 1, L = 1000: bytes = 200e6 + 1001 * 40960; flops = 2e8 + 4 * 1001 * 10 * 512.
  const double bytes = 200e6 + 1001.0 * 40960, flops = 2e8 + 4.0 * 1001 * 10 * 512;
  const double overhead = 0.1 + 10 * 0.01;
  EXPECT_NEAR(roofline_ms(hw, s, 1, 1000), 1e3 * bytes / 2000e9 + overhead, 1e-12);
  EXPECT_GT(bytes / 2000e9, flops / 300e12);
  // n = 4096: compute bound.
  const double n = 4096, ctx = 4096;
  const double flops_n = n * 2e8 + n * 4 * ctx * 10 * 512, bytes_n = 200e6 + ctx * 40960;
  EXPECT_GT(flops_n / 300e12, bytes_n / 2000e9);
  EXPECT_NEAR(roofline_ms(hw, s, 4096, 0), 1e3 * flops_n / 300e12 + overhead, 1e-9);
  // The profile tabulates the same function.
  const CostProfile p = roofline_profile(hw, s, default_profile_sizes(), {0, 512}, "m");
  EXPECT_EQ(p.kind, "roofline");
  EXPECT_DOUBLE_EQ(p.forward_ms(16, 512), roofline_ms(hw, s, 16, 512));
}

TEST(Roofline, ModelShapeCountsTheStreamedMatrices) {
  const LlamaWeights w = synthetic_preset_weights();
  const ModelShape s = model_shape(w, KvCacheType::kF16);
  double bytes = 0, elems = 0;
  for (const auto& [name, m] : w.matrices()) {
    if (name == "token_embedding" && !w.info.tied_classifier) continue;  // a lookup, not streamed
    bytes += double(m->n_bytes());
    elems += double(m->size());
  }
  EXPECT_DOUBLE_EQ(s.weight_bytes, bytes);
  EXPECT_DOUBLE_EQ(s.matrix_elements, elems);
  EXPECT_DOUBLE_EQ(s.kv_bytes_per_position, 2.0 * w.info.n_layers * w.info.n_kv_heads * w.info.head_dim * 2);
  EXPECT_EQ(s.dtype, "f32");
}

TEST(CostProfileFile, LoadsProfilesAndHardwareAndRefusesOthers) {
  testing::ScopedTempDir tmp;
  const ModelShape s = hand_shape();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(tmp.path(name)) << text;
    return tmp.path(name);
  };
  const CostProfile hw = load_cost_profile(write("hw.json", a100().dump()), s, 2048, "m");
  EXPECT_EQ(hw.name, "a100");
  EXPECT_EQ(hw.kind, "roofline");
  EXPECT_EQ(hw.target.n, default_profile_sizes());
  EXPECT_EQ(hw.target.cached, default_profile_lengths(2048));
  const CostProfile p = load_cost_profile(write("p.json", good_profile().dump()), s, 2048, "m");
  EXPECT_EQ(p.name, "linear");
  expect_error([&] { load_cost_profile(write("x.json", "{\"format\": 3}"), s, 2048, "m"); }, {"x.json", "format"});
  expect_error([&] { load_cost_profile(write("y.json", "[1,"), s, 2048, "m"); }, {"y.json"});
  expect_error([&] { load_cost_profile(tmp.dir(), s, 2048, "m"); }, {tmp.dir()});
  expect_error([&] { load_cost_profile(tmp.path("missing.json"), s, 2048, "m"); }, {"missing.json"});
  nlohmann::json no_peak = a100();
  no_peak["peak_tflops"] = {{"f32", 1.0}};
  expect_error([&] { load_cost_profile(write("np.json", no_peak.dump()), s, 2048, "m"); }, {"f16", "default"});
}

TEST(CostProfileFile, DefaultLengthsFitTheContext) {
  EXPECT_EQ(default_profile_lengths(4096), (std::vector<std::int32_t>{32, 128, 512, 2048, 3840}));
  EXPECT_EQ(default_profile_lengths(512), (std::vector<std::int32_t>{32, 128, 256}));
  EXPECT_EQ(default_profile_lengths(100), (std::vector<std::int32_t>{0}));
}

// ---- projection ----

// One sequence per config of one unit: config 0 (baseline) and config 1 with the given trees.
// Every step's verify_ms is exactly the profile's time; decode_ms adds host_ms per step.
struct Records {
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
};

void add_sequence(Records& r, const CostProfile& truth, std::int32_t config, std::int32_t prompt_tokens,
                  const std::vector<std::pair<std::int32_t, std::int32_t>>& drafted_emitted, double host_ms,
                  double machine_speed = 1.0) {
  SequenceRow s;
  s.unit = 0;
  s.config = config;
  s.prompt_tokens = prompt_tokens;
  s.stop = "max_tokens";
  double cached = prompt_tokens - 1;
  std::int32_t k = 0;
  for (const auto& [drafted, emitted] : drafted_emitted) {
    StepRow st;
    st.unit = 0;
    st.config = config;
    st.step = k++;
    st.n_drafted = drafted;
    st.n_emitted = emitted;
    st.verify_ms = truth.forward_ms(drafted + 1, cached) * machine_speed;
    st.draft_ms = host_ms;
    s.verify_ms += st.verify_ms;
    s.decode_ms += st.verify_ms + host_ms;
    s.new_tokens += emitted;
    ++s.target_forwards;
    cached += emitted;
    r.steps.push_back(st);
  }
  r.seqs.push_back(s);
}

TEST(Projection, TheHostsOwnExactProfileReproducesTheMeasuredTimes) {
  const CostProfile truth = linear_cost_profile(0.2, 1.0, 0.002, "host");
  Records r;
  add_sequence(r, truth, 0, 10, std::vector<std::pair<std::int32_t, std::int32_t>>(12, {0, 1}), 0.0);
  add_sequence(r, truth, 1, 10, {{8, 3}, {8, 1}, {4, 5}, {16, 2}, {8, 1}}, 0.05);
  project_sequences(r.seqs, r.steps, {truth});
  for (const auto& s : r.seqs) {
    ASSERT_EQ(s.projected_spec_ms.size(), 1u);
    EXPECT_NEAR(s.projected_spec_ms[0], s.decode_ms, 1e-9) << "config " << s.config;
  }
  // AR time of the same 12 tokens = the baseline's measured time.
  EXPECT_NEAR(r.seqs[1].projected_ar_ms[0], r.seqs[0].decode_ms, 1e-9);
  EXPECT_NEAR(r.seqs[0].projected_ar_ms[0], r.seqs[0].decode_ms, 1e-9);
}

TEST(Projection, AMachineTwiceAsFastEverywhereGivesTheSameSpeedup) {
  const CostProfile truth = linear_cost_profile(0.3, 1.0, 0.001, "host");
  const CostProfile fast = linear_cost_profile(0.15, 0.5, 0.0005, "fast");
  Records r;
  add_sequence(r, truth, 0, 7, std::vector<std::pair<std::int32_t, std::int32_t>>(10, {0, 1}), 0.0);
  add_sequence(r, truth, 1, 7, {{4, 2}, {4, 3}, {4, 1}, {4, 4}}, 0.1);
  project_sequences(r.seqs, r.steps, {truth, fast});
  const SequenceRow& s = r.seqs[1];
  const double measured = (s.new_tokens / s.decode_ms) / (r.seqs[0].new_tokens / r.seqs[0].decode_ms);
  EXPECT_NEAR(s.projected_ar_ms[0] / s.projected_spec_ms[0], measured, 1e-9);
  EXPECT_NEAR(s.projected_ar_ms[1] / s.projected_spec_ms[1], measured, 1e-9);
  EXPECT_NEAR(s.projected_spec_ms[1], 0.5 * s.projected_spec_ms[0], 1e-9);  // host work scaled too
}

TEST(Projection, FlatCostMachineRewardsTauAndEosCostsAStep) {
  // On a machine where a tree costs what one token costs, the projected speedup is the number
  // of tokens per step (tau), host work aside.
  const CostProfile flat = linear_cost_profile(0.0, 1.0, 0.0, "flat");
  const CostProfile truth = linear_cost_profile(1.0, 1.0, 0.0, "truth");
  Records r;
  add_sequence(r, truth, 0, 5, std::vector<std::pair<std::int32_t, std::int32_t>>(8, {0, 1}), 0.0);
  add_sequence(r, truth, 1, 5, {{6, 3}, {6, 2}, {6, 3}}, 0.0);
  r.seqs[1].stop = "eos";  // autoregressive decoding would also run the step that made EOS: 9 forwards
  project_sequences(r.seqs, r.steps, {flat});
  EXPECT_NEAR(r.seqs[1].projected_ar_ms[0] / r.seqs[1].projected_spec_ms[0], 9.0 / 3.0, 1e-9);
}

TEST(Projection, ReportsGainProjectedColumnsThatParseBack) {
  const CostProfile truth = linear_cost_profile(0.2, 1.0, 0.0, "host");
  const CostProfile a100 = linear_cost_profile(0.01, 0.1, 0.0, "a100");
  Records r;
  add_sequence(r, truth, 0, 10, std::vector<std::pair<std::int32_t, std::int32_t>>(6, {0, 1}), 0.0);
  add_sequence(r, truth, 1, 10, {{4, 3}, {4, 3}}, 0.0);
  for (auto& s : r.seqs) {
    s.drafter = s.config ? "ngram" : "none";
    s.category = "c";
  }
  testing::ScopedTempDir tmp;
  const ReportSet rs = write_reports(tmp.dir(), r.seqs, r.steps, "m", {truth, a100});
  ASSERT_EQ(rs.projections, (std::vector<std::string>{"host", "a100"}));
  ASSERT_EQ(rs.summary.size(), 2u);
  EXPECT_NEAR(rs.summary[1].projected_speedup[0], rs.summary[1].speedup, 1e-9);
  EXPECT_GT(rs.summary[1].projected_speedup[1], rs.summary[1].projected_speedup[0]);  // cheap trees
  for (const char* f : {"summary.csv", "by_category.csv", "sequences.csv"}) {
    std::ifstream in(tmp.path(f));
    std::string header;
    std::getline(in, header);
    EXPECT_TRUE(header.ends_with(",projected_speedup_host,projected_speedup_a100")) << f << ": " << header;
  }
  std::vector<SequenceRow> seqs;
  std::vector<StepRow> steps;
  EXPECT_NO_THROW(read_records(tmp.dir(), seqs, steps));
  EXPECT_EQ(seqs.size(), 2u);
  EXPECT_TRUE(is_timing_column("projected_speedup_a100"));
  EXPECT_FALSE(is_timing_column("projected_speedup_"));
  // A trailing column that is not a projection is still an error.
  expect_error([] { parse_summary_csv(summary_csv({}) .substr(0, summary_csv({}).size() - 1) + ",bogus\n", "s.csv"); },
               {"s.csv", "unexpected column 'bogus'"});
}

// ---- the "cost" budget policy ----

// Root 0; depth-1 children 1, 2, 3 (ranks 0..2); 4 under 1; 5 under 4; 6 under 2.
DraftTree sample_tree(ChildSampling kind = ChildSampling::kDeterministic, std::int32_t q_vocab = 0) {
  DraftTree t;
  t.reset(7, kind, q_vocab);
  t.add(10, 0, -0.1f, 0.9f);
  t.add(11, 0, -1.0f, 0.5f);
  t.add(12, 0, -2.0f, 0.1f);
  t.add(13, 1, -0.3f, 0.8f);
  t.add(14, 4, -0.5f, 0.7f);
  t.add(15, 2, -1.5f, 0.6f);
  if (q_vocab > 0) {
    for (std::int32_t i = 0; i < t.size(); ++i) t.q_row_mut(i)[i % q_vocab] = 1.0f;
  }
  return t;
}

TEST(CostPolicy, FreeTreesAreKeptWholeLinearCostTreesAreCutToTheRoot) {
  const CostProfile flat = linear_cost_profile(0.0, 1.0, 0.0);
  CostBudgetPolicy keep(flat);
  keep.begin();
  DraftTree t = sample_tree();
  EXPECT_TRUE(keep.prune(t, 10, true));
  EXPECT_EQ(t.size(), 7);
  // Cost n times one token: with estimates <= 0.5 no node pays for itself.
  const CostProfile linear = linear_cost_profile(1.0, 1.0, 0.0);
  CostBudgetPolicy cut(linear);
  cut.begin();
  DraftTree u = sample_tree();
  EXPECT_TRUE(cut.prune(u, 10, true));
  EXPECT_EQ(u.size(), 1);
  EXPECT_EQ(u.token[0], 7);
}

TEST(CostPolicy, PrunedTreesAreTreesWithSiblingPrefixesAndTheirRowsCarried) {
  const CostProfile p = linear_cost_profile(0.15, 1.0, 0.0);
  for (const std::int32_t q_vocab : {0, 8}) {
    CostBudgetPolicy policy(p);
    policy.begin();
    DraftTree t = sample_tree(ChildSampling::kDeterministic, q_vocab);
    const DraftTree before = t;
    ASSERT_TRUE(policy.prune(t, 0, true));
    EXPECT_NO_THROW(t.validate());
    EXPECT_GT(t.size(), 1);
    EXPECT_LT(t.size(), before.size());
    // Every kept node is a node of the original with its parent kept and its earlier siblings kept.
    std::vector<std::int32_t> orig(t.size(), -1);
    orig[0] = 0;
    for (std::int32_t i = 1; i < t.size(); ++i) {
      for (std::int32_t j = 1; j < before.size(); ++j) {
        if (before.token[j] == t.token[i]) orig[i] = j;
      }
      ASSERT_GE(orig[i], 0);
      EXPECT_EQ(before.parent[orig[i]], orig[t.parent[i]]);
      EXPECT_EQ(before.score[orig[i]], t.score[i]);
      EXPECT_EQ(before.q_token[orig[i]], t.q_token[i]);
      if (q_vocab > 0) {
        for (std::int32_t v = 0; v < q_vocab; ++v) EXPECT_EQ(before.q_row(orig[i])[v], t.q_row(i)[v]);
      }
      for (std::int32_t j = 1; j < orig[i]; ++j) {
        if (before.parent[j] == before.parent[orig[i]]) {
          EXPECT_NE(std::find(orig.begin(), orig.end(), j), orig.end()) << "earlier sibling " << j << " dropped";
        }
      }
    }
  }
}

TEST(CostPolicy, SampledTreesAndFixedTreeDraftersAreNeverPruned) {
  const CostProfile linear = linear_cost_profile(1.0, 1.0, 0.0);
  CostBudgetPolicy policy(linear);
  policy.begin();
  DraftTree sampled = sample_tree(ChildSampling::kIidSampled, 4);
  EXPECT_FALSE(policy.prune(sampled, 0, true));
  EXPECT_EQ(sampled.size(), 7);
  // From then on the budget is chosen before proposing: on a linear-cost machine, none.
  EXPECT_EQ(policy.budget(DraftBudget{16, 0}, 0, true).max_nodes, 0);
  DraftTree fixed = sample_tree();
  EXPECT_FALSE(policy.prune(fixed, 0, false));
  EXPECT_EQ(fixed.size(), 7);
  EXPECT_EQ(policy.budget(DraftBudget{16, 0}, 0, false).max_nodes, 0);
  const CostProfile flat = linear_cost_profile(0.0, 1.0, 0.0);
  CostBudgetPolicy free_trees(flat);
  free_trees.begin();
  DraftTree s2 = sample_tree(ChildSampling::kWithoutReplacement, 4);
  free_trees.prune(s2, 0, true);
  EXPECT_EQ(free_trees.budget(DraftBudget{16, 5}, 0, true).max_nodes, 5);  // up to the depth cap
  EXPECT_EQ(free_trees.budget(DraftBudget{16, 5}, 0, true).max_depth, 5);
}

TEST(CostPolicy, ProposalsFollowWhatWasKeptAndIdleStepsExplore) {
  const CostProfile linear = linear_cost_profile(1.0, 1.0, 0.0);
  CostBudgetPolicy policy(linear);
  EXPECT_EQ(policy.budget(DraftBudget{32, 0}, 0, true).max_nodes, 32);  // first step: the maximum
  DraftTree t = sample_tree();
  policy.prune(t, 0, true);
  EXPECT_EQ(t.size(), 1);
  // Nothing kept: proposals shrink to the minimum; a drafter that cannot be pruned gets 0.
  EXPECT_EQ(policy.budget(DraftBudget{32, 0}, 0, true).max_nodes, CostBudgetPolicy::kMinProposal);
  EXPECT_EQ(policy.budget(DraftBudget{2, 0}, 0, true).max_nodes, 2);
  // After kExploreAfter idle steps one node is kept, so that its estimate can move.
  for (std::int32_t k = 1; k < CostBudgetPolicy::kExploreAfter; ++k) {
    DraftTree u = sample_tree();
    policy.prune(u, 0, true);
    ASSERT_EQ(u.size(), 1) << k;
  }
  DraftTree v = sample_tree();
  policy.prune(v, 0, true);
  ASSERT_EQ(v.size(), 2);
  EXPECT_EQ(v.token[1], 10);  // the best node: depth 1, rank 0
  DraftTree w = sample_tree();
  policy.prune(w, 0, true);
  EXPECT_EQ(w.size(), 1);
  // A kept node raises the next proposal to twice the largest recent kept size (min 4).
  const CostProfile flat = linear_cost_profile(0.0, 1.0, 0.0);
  CostBudgetPolicy keep(flat);
  DraftTree x = sample_tree();
  keep.prune(x, 0, true);
  EXPECT_EQ(keep.budget(DraftBudget{32, 0}, 0, true).max_nodes, 12);
}

TEST(CostPolicy, ChainBudgetsExploreToo) {
  const CostProfile linear = linear_cost_profile(1.0, 1.0, 0.0);
  CostBudgetPolicy policy(linear);
  DraftTree s = sample_tree(ChildSampling::kIidSampled, 4);
  policy.prune(s, 0, true);
  std::int32_t explored = 0;
  for (std::int32_t k = 0; k < 3 * (CostBudgetPolicy::kExploreAfter + 1); ++k) {
    explored += policy.budget(DraftBudget{16, 0}, 0, true).max_nodes;
  }
  EXPECT_EQ(explored, 3);  // budget 1 every kExploreAfter + 1 steps, 0 otherwise
}

TEST(CostPolicy, CalibratesOnAcceptedPathsAndForgetsPerSequence) {
  const CostProfile p = linear_cost_profile(0.1, 1.0, 0.0);
  CostBudgetPolicy policy(p);
  policy.begin();
  const double prior = policy.accept_estimate(1, 0);
  EXPECT_DOUBLE_EQ(prior, 0.5);
  EXPECT_DOUBLE_EQ(policy.accept_estimate(1, 1), 0.25);
  const DraftTree t = sample_tree();
  Acceptance acc;
  acc.path = {0, 1, 4};  // depth-1 rank 0 and depth-2 rank 0 accepted, 5 rejected
  for (int k = 0; k < 10; ++k) policy.observe(t, acc);
  // Depth 1 rank 0: 10 hits of 10 trials (+ prior 1 of 2) = 11 / 12.
  EXPECT_NEAR(policy.accept_estimate(1, 0), 11.0 / 12.0, 1e-12);
  EXPECT_NEAR(policy.accept_estimate(1, 1), 0.5 / 12.0, 1e-12);   // tried, never accepted
  EXPECT_NEAR(policy.accept_estimate(3, 0), 1.0 / 12.0, 1e-12);   // node 5: tried under accepted 4
  EXPECT_DOUBLE_EQ(policy.accept_estimate(2, 1), 0.25);            // node 6's parent was rejected: no trial
  policy.begin();
  EXPECT_DOUBLE_EQ(policy.accept_estimate(1, 0), 0.5);
}

}  // namespace
}  // namespace speclab

namespace speclab {
namespace {

// Regression (found on the default comparison): when the policy gives a sampled drafter budget
// 0, the root-only tree must not be checked against the configuration's rule for sampled
// children (multi-iid refused "deterministic" children and the run stopped).
TEST(CostPolicy, ABudgetOfZeroWorksWithAnExplicitSampledRule) {
  auto weights = std::make_shared<const LlamaWeights>(synthetic_preset_weights());
  LlamaModel target(weights, 1);
  DrafterEnv env;
  env.target = &weights->info;
  env.target_weights = weights;
  const auto drafter = make_drafter("del", env);
  const auto rule = make_rule("multi-iid");
  const CostProfile linear = linear_cost_profile(1.0, 1.0, 0.0);
  DecodeOptions opt;
  opt.sampling.temperature = 1.0f;
  opt.max_new_tokens = 24;
  opt.stop_at_bos = opt.stop_at_eos = false;
  opt.budget.max_nodes = 8;
  opt.cost_profile = &linear;
  const std::vector<Token> prompt = {1, 40, 41, 42, 43};
  DecodeResult r;
  ASSERT_NO_THROW(r = decode(target, drafter.get(), rule.get(), prompt, opt));
  EXPECT_EQ(r.tokens.size(), 24u);
  std::int32_t root_only = 0;
  for (const auto& s : r.steps) root_only += s.n_drafted == 0;
  EXPECT_GT(root_only, 0) << "the policy never chose budget 0: the regression is not exercised";
}

}  // namespace
}  // namespace speclab
