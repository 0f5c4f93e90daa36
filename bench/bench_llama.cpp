// LlamaModel throughput on in-memory random models, per weight type (issue 20):
//   shape 0: stories110M (dim 768, hidden 2048, 12 layers, 12 heads, vocab 32000; 110M params)
//   shape 1: the 1B class (dim 2048, hidden 8192, 16 layers, 32 heads, 8 KV heads, vocab 32000:
//            Llama-3.2-1B / TinyLlama-shaped; 1.1B params, 4.4 GB in f32, 0.6 GB in q4_k)
// Weight types (third argument): 0 f32, 1 f16, 2 bf16, 3 q8_0, 4 q4_0, 5 q4_k, 6 q6_k, 7 q4_1,
// 8 q5_k (random fp32 weights quantised with our own quantisers, convert_weights).
//   BM_MemoryBandwidth/threads     parallel sums over a 1 GiB array, with and without software
//                                  prefetch (best of 6 passes): the machine's read bandwidth, GB/s.
//   BM_Decode/threads/type/shape   single-token forwards at positions 128..383 (truncate back to
//                                  128 at 384): tokens/s, weight_MB (resident), and bw_fraction =
//                                  weight bytes x tokens/s / memory bandwidth (goal >= 0.8), the
//                                  bandwidth measured just before and after the run (the higher).
//   BM_TreeForward/threads/n/type/shape  one forward of an n-node random tree (all n rows of
//                                  logits) on top of 128 cached tokens: ms, and x_n1 = time /
//                                  time of one single-token forward (goal: n = 16 within 2.5x).
// Run: ./build/bench_llama [--benchmark_filter=...]. Measure on an idle machine: with 2 cores, a
// 2-thread run shares its cores with anything else running and every OpenMP barrier (~5 per
// layer) then waits for a descheduled thread, which inflates times many-fold. The figures are in
// the README (Performance), with the CPU they were measured on.

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "model/prefill.h"
#include "ops/matmul.h"
#include "base/rng.h"
#include "synthetic/synthetic_weights.h"

namespace speclab {
namespace {

constexpr std::int32_t kPrefix = 128;
constexpr std::int32_t kWindowEnd = 384;

constexpr DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                            DType::kQ4_K, DType::kQ6_K, DType::kQ4_1, DType::kQ5_K};

// The fp32 model of a shape (generated once), and one converted copy (the last type asked for:
// keeps memory to fp32 + one type).
std::shared_ptr<const LlamaWeights> model(int shape, int type) {
  static std::shared_ptr<const LlamaWeights> base[2];
  static std::shared_ptr<const LlamaWeights> converted;
  static int converted_key = -1;
  if (!base[shape]) {
    base[1 - shape].reset();  // one shape at a time
    converted.reset();
    converted_key = -1;
    ModelInfo info = shape == 0 ? synthetic_info(768, 2048, 12, 12, 12, 32000, 1024)
                                : synthetic_info(2048, 8192, 16, 32, 8, 32000, 1024);
    info.source = shape == 0 ? "synthetic:stories110M-shaped" : "synthetic:1B-shaped";
    base[shape] = std::make_shared<const LlamaWeights>(random_llama_weights(info, 42));
  }
  if (kTypes[type] == DType::kF32) return base[shape];
  const int key = shape * 100 + type;
  if (converted_key != key) {
    converted.reset();
    WeightConversion conv;
    conv.dtype = kTypes[type];
    conv.n_threads = 2;
    converted = std::make_shared<const LlamaWeights>(convert_weights(*base[shape], conv));
    converted_key = key;
  }
  return converted;
}

// The machine's read bandwidth in bytes/s: the best of 3 passes of each of two parallel sums
// over a 1 GiB float array, one relying on the hardware prefetchers alone and one also issuing
// software prefetches into L2 8 KiB ahead (as the kernels do: on an AMD EPYC Zen 4 it read up
// to 1.5x faster than the plain sum, which then understated what the machine can stream).
// Measured afresh on every call: on a shared VM it moves by +-20% within minutes, and 2-thread
// figures are bimodal (about 33 or 50 GB/s on a Zen 4 VM, presumably as the two vCPUs share one
// physical core or not), so each decode benchmark measures it around its own run.
double memory_bandwidth(int n_threads) {
  const std::size_t n = (std::size_t(1) << 30) / sizeof(float);
  static std::vector<float> a;  // allocated and first-touched once
  if (a.empty()) {
    a.resize(n);
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<float>(i & 7);
  }
  double best = 0.0;
  for (int rep = 0; rep < 6; ++rep) {
    const bool soft_prefetch = rep % 2 == 1;
    const auto t0 = std::chrono::steady_clock::now();
    float sum = 0.0f;
    const float* data = a.data();
    // 64 independent partial sums per thread (vectorized by the compiler): bandwidth-bound.
#pragma omp parallel num_threads(n_threads) reduction(+ : sum)
    {
      float acc[64] = {};
#pragma omp for schedule(static)
      for (std::size_t i = 0; i < n; i += 64) {
        if (soft_prefetch) {
          // 2048 floats = 8 KiB ahead, locality 2 = into L2 (prefetcht1); a hint past the end
          // never faults.
          __builtin_prefetch(data + i + 2048, 0, 2);
          __builtin_prefetch(data + i + 2048 + 16, 0, 2);
          __builtin_prefetch(data + i + 2048 + 32, 0, 2);
          __builtin_prefetch(data + i + 2048 + 48, 0, 2);
        }
        for (int j = 0; j < 64; ++j) acc[j] += data[i + j];
      }
      for (float v : acc) sum += v;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(sum);
    best = std::max(best, n * sizeof(float) / s);
  }
  return best;
}

// A random kPrefix-token context in the model's cache.
void prefill_random(LlamaModel& model, Rng& rng) {
  std::vector<Token> tokens(kPrefix);
  for (Token& t : tokens) t = static_cast<Token>(rng.below(32000));
  ForwardOutput out;
  prefill(model, tokens, {}, out);
}

void BM_MemoryBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  double bw = 0.0;
  for (auto _ : state) bw = memory_bandwidth(threads);
  state.counters["GB_per_s"] = bw / 1e9;
}

// One single-token forward at the next position; returns its wall time in seconds.
double decode_one(LlamaModel& model, Token token, ForwardOutput& out) {
  if (model.n_cached() >= kWindowEnd) model.truncate(kPrefix);
  const std::int32_t pos = model.n_cached();
  ForwardBatch b;
  b.tokens = std::span<const Token>(&token, 1);
  b.positions = std::span<const std::int32_t>(&pos, 1);
  const auto t0 = std::chrono::steady_clock::now();
  model.forward(b, out);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_Decode(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const int type = static_cast<int>(state.range(1)), shape = static_cast<int>(state.range(2));
  const auto w = model(shape, type);
  state.SetLabel(std::string(dtype_name(kTypes[type])) + (shape ? " 1B" : " 110M") + " decode " +
                 std::string(decode_layout_name(resolve_decode_layout(DecodeLayout::kAuto, kTypes[type]))));
  const double bw_before = memory_bandwidth(threads);
  LlamaModel model(w, threads);
  Rng rng(1);
  prefill_random(model, rng);
  ForwardOutput out;
  decode_one(model, 5, out);  // warm-up
  for (auto _ : state) {
    decode_one(model, static_cast<Token>(rng.below(32000)), out);
    benchmark::DoNotOptimize(out.logits.data());
  }
  // The denominator: the higher of the bandwidths measured just before and just after (the
  // conservative choice when the machine's state moved during the run).
  const double bw = std::max(bw_before, memory_bandwidth(threads));
  state.counters["tok_per_s"] = benchmark::Counter(double(state.iterations()),
                                                   benchmark::Counter::kIsRate);
  state.counters["weight_MB"] = w->n_bytes() / 1e6;
  state.counters["mem_GB_per_s"] = bw / 1e9;
  // bw_fraction = weight bytes * tokens/s / bandwidth = weight bytes / (seconds per token * bw).
  state.counters["bw_fraction"] = benchmark::Counter(
      double(state.iterations()) * w->n_bytes() / bw, benchmark::Counter::kIsRate);
}

void BM_TreeForward(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const int n = static_cast<int>(state.range(1));
  const int type = static_cast<int>(state.range(2)), shape = static_cast<int>(state.range(3));
  const auto w = model(shape, type);
  state.SetLabel(std::string(dtype_name(kTypes[type])) + (shape ? " 1B" : " 110M"));
  LlamaModel model(w, threads);
  Rng rng(2);
  prefill_random(model, rng);
  // Random tree: parent of node i uniform in [0, i); mask = ancestors; position = 128 + depth.
  std::vector<Token> tokens(n);
  std::vector<std::int32_t> parent(n, -1), depth(n, 0), pos(n);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(n) * n, 0);
  for (int i = 0; i < n; ++i) {
    tokens[i] = static_cast<Token>(rng.below(32000));
    if (i > 0) {
      parent[i] = static_cast<std::int32_t>(rng.below(i));
      depth[i] = depth[parent[i]] + 1;
    }
    pos[i] = kPrefix + depth[i];
    for (int v = i; v >= 0; v = parent[v]) mask[static_cast<std::size_t>(i) * n + v] = 1;
  }
  ForwardOutput out;
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = pos;
  b.mask = mask;
  model.forward(b, out);  // warm-up (sizes `out`)
  model.truncate(kPrefix);
  decode_one(model, tokens[0], out);
  model.truncate(kPrefix);
  // Each iteration times the n-token forward and then a 1-token forward at the same cache
  // length: interleaved, so both see the same memory bandwidth (it moves by +-20% within
  // minutes on a shared VM) and x_n1 is a ratio measured in one run.
  double total = 0.0, total1 = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    model.forward(b, out);
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    model.truncate(kPrefix);
    benchmark::DoNotOptimize(out.logits.data());
    state.PauseTiming();
    total1 += decode_one(model, tokens[0], out);
    model.truncate(kPrefix);
    state.ResumeTiming();
  }
  const double iters = std::max<double>(1, state.iterations());
  state.counters["forward_ms"] = 1e3 * total / iters;
  state.counters["n1_ms"] = 1e3 * total1 / iters;
  state.counters["x_n1"] = total / total1;
}

BENCHMARK(BM_MemoryBandwidth)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond);
// Arguments: threads, type, shape (ArgsProduct varies the first fastest: each fp32 model is
// generated once and each converted copy made once).
BENCHMARK(BM_Decode)
    ->ArgsProduct({{2, 1}, {0, 1, 2, 3, 4, 5, 6, 7, 8}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();
// Arguments: threads, tree size n, type, shape.
BENCHMARK(BM_TreeForward)
    ->ArgsProduct({{2}, {1, 2, 4, 8, 16, 32, 64}, {0, 1, 3, 5}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0)
    ->UseRealTime();

}  // namespace
}  // namespace speclab

BENCHMARK_MAIN();
