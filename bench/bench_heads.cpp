// Draft-head costs on a stories15M-shaped target (dim 288, vocab 32000; random weights): µs per
// propose() of the medusa and hydra drafters at budget 64 with K = 4 heads (1 and 2 threads), one head call
// (HeadNet::logits, n = 1: a [32000 x 288] classifier GEMV, 36.9 MB of fp32 read) and one
// training step of one head (forward + backward over a 64-example batch). The bytes counter of
// the head call gives the memory bandwidth it reaches (compare with bench_llama's figures).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "model/llama_model.h"
#include "base/rng.h"
#include "synthetic/synthetic_weights.h"
#include "drafters/registry.h"
#include "heads/distill_data.h"
#include "heads/head_net.h"
#include "heads/head_trainer.h"

namespace speclab {
namespace {

struct Fixture {
  std::shared_ptr<const LlamaWeights> w;
  std::string dir;
  std::vector<float> hidden;
  Fixture() {
    w = std::make_shared<const LlamaWeights>(
        random_llama_weights(synthetic_info(288, 768, 2, 6, 6, 32000, 256), 1));
    dir = (std::filesystem::temp_directory_path() / ("speclab_bench_heads_" + std::to_string(getpid()))).string();
    Rng rng(2);
    for (const HeadKind kind : {HeadKind::kMedusa, HeadKind::kHydra}) {
      HeadConfig c;
      c.kind = kind;
      c.n_heads = 4;
      HeadNet net = HeadNet::init(c, w);
      for (std::int32_t h = 0; h < 4; ++h) {
        for (auto t : net.params(h).tensors()) {
          for (std::size_t i = 0; i < t.size(); i += 7) t[i] += static_cast<float>(0.05 * rng.normal());
        }
      }
      save_heads(net, dir + "/" + std::string(to_string(kind)));
    }
    hidden.resize(288);
    for (float& x : hidden) x = static_cast<float>(rng.normal());
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_Propose(benchmark::State& state, const std::string& spec) {
  Fixture& f = fixture();
  DrafterEnv env;
  env.target = &f.w->info;
  env.target_weights = f.w;
  env.n_threads = static_cast<int>(state.range(0));
  std::string s = spec;
  s.replace(s.find("{dir}"), 5, f.dir);
  auto d = make_drafter(s, env);
  const std::vector<Token> ctx = {1, 500, 900, 77};
  d->begin(ctx);
  Rng rng(3);
  SamplingParams sp;
  DraftTree tree;
  std::int64_t nodes = 0;
  for (auto _ : state) {
    d->propose(DraftContext{ctx, &sp, &rng, f.hidden}, {64, 0}, tree);
    nodes += tree.size() - 1;
    benchmark::DoNotOptimize(tree.token.data());
  }
  state.counters["nodes"] = benchmark::Counter(static_cast<double>(nodes), benchmark::Counter::kAvgIterations);
}
BENCHMARK_CAPTURE(BM_Propose, medusa, std::string("medusa:heads={dir}/medusa"))->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Propose, hydra_dynamic, std::string("hydra:heads={dir}/hydra"))->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Propose, hydra_template, std::string("hydra:heads={dir}/hydra,tree=template"))->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

void BM_HeadCall(benchmark::State& state) {
  Fixture& f = fixture();
  const HeadNet net = load_heads(f.dir + "/medusa", f.w);
  HeadScratch s;
  const std::int32_t n = static_cast<std::int32_t>(state.range(0));
  std::vector<float> hidden(static_cast<std::size_t>(n) * 288), out(static_cast<std::size_t>(n) * 32000);
  for (std::int32_t i = 0; i < n; ++i) std::copy(f.hidden.begin(), f.hidden.end(), hidden.begin() + i * 288);
  for (auto _ : state) {
    net.logits(0, hidden, {}, n, out, s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 32000 * 288 * 4);
}
BENCHMARK(BM_HeadCall)->Arg(1)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);

void BM_TrainStep(benchmark::State& state) {
  Fixture& f = fixture();
  HeadNet net = load_heads(f.dir + "/" + (state.range(0) ? "hydra" : "medusa"), f.w);
  LlamaModel m(f.w, 1, 256);
  DistillOptions o;
  o.samples_per_prompt = 1;
  o.max_len = 96;
  o.stop_at_eos = false;
  const DistillData data = distill_from_prompts(m, {{1, 500, 900}}, o, nullptr);
  const std::vector<std::int32_t> ids = {0};
  auto ex = head_examples(net, 3, data, ids);
  ex.resize(64, ex[0]);
  HeadParams g = net.params(3);
  for (auto _ : state) {
    for (auto t : g.tensors()) std::fill(t.begin(), t.end(), 0.0f);
    benchmark::DoNotOptimize(head_loss(net, 3, data, ex, 0.5f, &g));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_TrainStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace speclab

BENCHMARK_MAIN();
