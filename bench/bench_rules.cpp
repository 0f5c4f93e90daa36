// Acceptance rule cost per decoding step: trees of 8-128 nodes, vocab 32000 target rows (and q
// rows for the rules that need them). The target rows are fixed per benchmark; q is a noisy copy
// of p (so some drafts are accepted, some rejected); draft tokens are sampled from q.
//   ./build/bench_rules --benchmark_filter=.   (time per accept() call, in microseconds)
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "base/rng.h"
#include "ops/sampling.h"
#include "trees/choices.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

constexpr std::int32_t kVocab = 32000;

const char* const kRules[] = {"greedy", "speculative", "multi-iid", "deterministic",
                              "without-replacement", "typical"};

struct Setup {
  DraftTree tree;
  std::vector<float> p;
};

Setup make_setup(const std::string& rule, std::int32_t n_nodes) {
  Rng rng(42);
  const ChildSampling kind = rule == "speculative" || rule == "multi-iid"
                                 ? ChildSampling::kIidSampled
                             : rule == "without-replacement" ? ChildSampling::kWithoutReplacement
                                                             : ChildSampling::kDeterministic;
  // Shape: a chain for `speculative`, else a breadth-first {4,2,2,...} template.
  std::vector<std::int32_t> branching(128, rule == "speculative" ? 1 : 2);
  if (rule != "speculative") branching[0] = 4;
  const TreeTemplate t = cut_to_budget(template_from_branching(
                                           std::span<const std::int32_t>(branching).first(
                                               rule == "speculative" ? 128 : 7)),
                                       DraftBudget{n_nodes - 1, 0});
  Setup s;
  const bool need_q = kind != ChildSampling::kDeterministic;
  s.tree.reset(1, kind, need_q ? kVocab : 0);
  s.p.resize(static_cast<std::size_t>(t.size()) * kVocab);
  std::vector<float> logits(kVocab);
  std::vector<float> q_all(static_cast<std::size_t>(t.size()) * kVocab);  // [n, vocab]
  std::vector<std::int32_t> scratch;
  SamplingParams sp;
  sp.temperature = 1.0f;
  for (std::int32_t i = 0; i < t.size(); ++i) {
    for (float& v : logits) v = static_cast<float>(2.5 * rng.normal());
    logits_to_probs(logits, sp, std::span<float>(s.p).subspan(std::size_t(i) * kVocab, kVocab),
                    scratch);
    for (float& v : logits) v += static_cast<float>(0.7 * rng.normal());
    logits_to_probs(logits, sp, std::span<float>(q_all).subspan(std::size_t(i) * kVocab, kVocab),
                    scratch);
  }
  // Tokens: children of a template node drawn from that node's q (distinct when required).
  for (std::int32_t i = 1; i < t.size(); ++i) {
    const std::int32_t par = t.parent[i];
    const auto qrow = std::span<const float>(q_all).subspan(std::size_t(par) * kVocab, kVocab);
    Token tok;
    bool dup;
    do {
      tok = sample_from(qrow, rng);
      dup = false;
      for (std::int32_t j = 1; j < s.tree.size(); ++j) {
        dup |= s.tree.parent[j] == par && s.tree.token[j] == tok;
      }
    } while (dup && kind == ChildSampling::kWithoutReplacement);
    s.tree.add(tok, par);
  }
  if (need_q) s.tree.q = q_all;
  return s;
}

void BM_Rule(benchmark::State& state) {
  const std::string rule_name = kRules[state.range(0)];
  const auto n_nodes = static_cast<std::int32_t>(state.range(1));
  const Setup s = make_setup(rule_name, n_nodes);
  const auto rule = make_rule(rule_name, {});
  rule->check_tree(s.tree);
  Rng rng(7);
  Acceptance acc;
  acc.path.reserve(256);
  double accepted = 0;
  for (auto _ : state) {
    rule->accept(s.tree, TargetRows{kVocab, s.p}, rng, acc);
    benchmark::DoNotOptimize(acc.bonus);
    accepted += acc.n_accepted();
  }
  state.SetLabel(rule_name + " nodes=" + std::to_string(s.tree.size()));
  state.counters["accepted"] = benchmark::Counter(accepted, benchmark::Counter::kAvgIterations);
}

void rule_args(benchmark::internal::Benchmark* b) {
  for (int r = 0; r < 6; ++r) {
    for (int n : {8, 32, 128}) b->Args({r, n});
  }
}

BENCHMARK(BM_Rule)->Apply(rule_args)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace speclab

BENCHMARK_MAIN();
