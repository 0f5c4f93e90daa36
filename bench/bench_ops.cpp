// The kernels of ops/ against their naive double-precision twins (ops/reference.h), at the
// shapes of a stories15M / stories110M step: matmul (classifier-sized and layer-sized, 1 and 16
// rows), rms_norm, softmax over a 1024-slot score row, RoPE of a 12-head row, and the final
// norm + classifier. bytes_per_second is the weight stream of the product.
//   ./build/bench_ops --benchmark_filter=.
//
// Typed matmul (BM_MatmulType/<type>/n/rows/cols/threads): weights stored as f16, q8_0, q4_0,
// q4_1, q4_k, q5_k, q6_k; n = 1, 16, 64 activation rows against a 2048x2048 and an 8192x2048
// matrix (the 1B shape's projections); bytes_per_second = the stored weight bytes per call. The
// types of one (shape, n) are registered next to each other so that a run interleaves them.
// Those matrices stay in the 260 MB L3 cache of the benchmark machine; BM_MatmulTypeStream
// cycles through copies of the 8192x2048 matrix totalling >= 1 GiB so every call streams its
// weights from DRAM (the decode regime of a model larger than the cache).
//   ./build/bench_ops --benchmark_filter='BM_MatmulType'
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "ops/classifier.h"
#include "ops/matmul.h"
#include "ops/reference.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax.h"
#include "ops/weight_matrix.h"

namespace speclab {
namespace {

std::vector<float> random_vec(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(2.0 * rng.uniform() - 1.0);
  return v;
}

// args: rows n, n_out, n_in, threads
void BM_Matmul(benchmark::State& st) {
  const int n = st.range(0), n_out = st.range(1), n_in = st.range(2), threads = st.range(3);
  const auto x = random_vec(static_cast<std::size_t>(n) * n_in, 1), w = random_vec(static_cast<std::size_t>(n_out) * n_in, 2);
  std::vector<float> y(static_cast<std::size_t>(n) * n_out);
  for (auto _ : st) {
    matmul(x.data(), n, w.data(), n_out, n_in, nullptr, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(w.size()) * 4);
}
BENCHMARK(BM_Matmul)->Args({1, 768, 768, 1})->Args({16, 768, 768, 1})->Args({1, 32000, 288, 1})
    ->Args({1, 32000, 288, 2})->Args({16, 32000, 288, 2})->Unit(benchmark::kMicrosecond);

constexpr DType kBenchTypes[] = {DType::kF32, DType::kF16, DType::kBF16,  DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
                                 DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// One random matrix per (type, rows, cols), quantised once.
const WeightMatrix& bench_matrix(DType t, int rows, int cols) {
  static std::vector<std::pair<std::tuple<int, int, int>, WeightMatrix>> cache;
  const auto key = std::make_tuple(static_cast<int>(t), rows, cols);
  for (auto& [k, m] : cache) {
    if (k == key) return m;
  }
  auto w = WeightMatrix::from_f32(rows, cols, random_vec(static_cast<std::size_t>(rows) * cols, 2));
  cache.emplace_back(key, w.converted(t));
  return cache.back().second;
}

void BM_MatmulType(benchmark::State& st, DType t, int n, int rows, int cols, int threads) {
  const WeightMatrix& w = bench_matrix(t, rows, cols);
  const auto x = random_vec(static_cast<std::size_t>(n) * cols, 1);
  std::vector<float> y(static_cast<std::size_t>(n) * rows);
  MatmulScratch scratch;
  for (auto _ : st) {
    matmul(x.data(), n, w, nullptr, y.data(), threads, &scratch);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(w.n_bytes()));
  st.counters["tokens_per_s"] = benchmark::Counter(static_cast<double>(n) * st.iterations(),
                                                   benchmark::Counter::kIsRate);
}

// Copies of one matrix totalling >= 1 GiB, used in turn: the weights come from DRAM.
void BM_MatmulTypeStream(benchmark::State& st, DType t, int n, int rows, int cols, int threads) {
  const WeightMatrix& w0 = bench_matrix(t, rows, cols);
  const std::size_t copies = ((std::size_t(1) << 30) + w0.n_bytes() - 1) / w0.n_bytes();
  std::vector<WeightMatrix> ws;
  for (std::size_t i = 0; i < copies; ++i) {
    ws.push_back(WeightMatrix::from_bytes(
        t, rows, cols, std::vector<std::uint8_t>(w0.data(), w0.data() + w0.n_bytes())));
  }
  const auto x = random_vec(static_cast<std::size_t>(n) * cols, 1);
  std::vector<float> y(static_cast<std::size_t>(n) * rows);
  MatmulScratch scratch;
  std::size_t i = 0;
  for (auto _ : st) {
    matmul(x.data(), n, ws[i], nullptr, y.data(), threads, &scratch);
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % copies;
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(w0.n_bytes()));
}

const bool kTypedRegistered = [] {
  const int shapes[][2] = {{2048, 2048}, {8192, 2048}, {2048, 8192}, {8192, 512}};
  for (const auto& sh : shapes) {
    for (int n : {1, 16, 64}) {
      for (DType t : kBenchTypes) {
        const std::string name = fmt::format("BM_MatmulType/{}/{}/{}/{}/1", dtype_name(t), n, sh[0], sh[1]);
        benchmark::RegisterBenchmark(name.c_str(), BM_MatmulType, t, n, sh[0], sh[1], 1)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  for (int n : {1, 16}) {
    for (int threads : {1, 2}) {
      for (DType t : kBenchTypes) {
        const std::string name = fmt::format("BM_MatmulTypeStream/{}/{}/8192/2048/{}", dtype_name(t), n, threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_MatmulTypeStream, t, n, 8192, 2048, threads)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  return true;
}();

void BM_MatmulReference(benchmark::State& st) {
  const int n = st.range(0), n_out = st.range(1), n_in = st.range(2);
  const auto x = random_vec(static_cast<std::size_t>(n) * n_in, 1), w = random_vec(static_cast<std::size_t>(n_out) * n_in, 2);
  for (auto _ : st) benchmark::DoNotOptimize(reference::matmul(x.data(), n, w.data(), n_out, n_in, nullptr));
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(w.size()) * 4);
}
BENCHMARK(BM_MatmulReference)->Args({1, 768, 768})->Unit(benchmark::kMicrosecond);

void BM_RmsNorm(benchmark::State& st) {
  const int n = st.range(0), d = st.range(1);
  const auto x = random_vec(static_cast<std::size_t>(n) * d, 3), g = random_vec(d, 4);
  std::vector<float> out(x.size());
  for (auto _ : st) {
    rms_norm(x.data(), g.data(), n, d, 1e-5f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_RmsNorm)->Args({1, 768})->Args({16, 768})->Args({1, 2048});

void BM_RmsNormReference(benchmark::State& st) {
  const int n = st.range(0), d = st.range(1);
  const auto x = random_vec(static_cast<std::size_t>(n) * d, 3), g = random_vec(d, 4);
  for (auto _ : st) benchmark::DoNotOptimize(reference::rms_norm(x.data(), g.data(), n, d, 1e-5));
}
BENCHMARK(BM_RmsNormReference)->Args({1, 768});

void BM_Softmax(benchmark::State& st) {
  const auto x0 = random_vec(st.range(0), 5);
  std::vector<float> x = x0;
  for (auto _ : st) {
    x = x0;
    softmax_inplace(x.data(), static_cast<int>(x.size()));
    benchmark::DoNotOptimize(x.data());
  }
}
BENCHMARK(BM_Softmax)->Arg(64)->Arg(1024);

void BM_SoftmaxReference(benchmark::State& st) {
  const auto x = random_vec(st.range(0), 5);
  for (auto _ : st) benchmark::DoNotOptimize(reference::softmax(x));
}
BENCHMARK(BM_SoftmaxReference)->Arg(1024);

void BM_Rope(benchmark::State& st) {
  const int n_heads = 12, head_dim = 64, half = head_dim / 2;
  std::vector<float> inv_freq(half), cs(half), sn(half);
  for (int p = 0; p < half; ++p) inv_freq[p] = 1.0f / std::pow(10000.0f, 2.0f * p / head_dim);
  const std::int32_t pos = 300;
  rope_tables(std::span<const std::int32_t>(&pos, 1), inv_freq, cs.data(), sn.data());
  auto row = random_vec(n_heads * head_dim, 6);
  for (auto _ : st) {
    apply_rope(row.data(), n_heads, head_dim, true, cs.data(), sn.data());
    benchmark::DoNotOptimize(row.data());
  }
}
BENCHMARK(BM_Rope);

void BM_NormClassifier(benchmark::State& st) {
  const int n = st.range(0), vocab = 32000, dim = 288;
  const auto x = random_vec(static_cast<std::size_t>(n) * dim, 7), g = random_vec(dim, 8),
             w = random_vec(static_cast<std::size_t>(vocab) * dim, 9);
  std::vector<float> normed(x.size()), logits(static_cast<std::size_t>(n) * vocab);
  for (auto _ : st) {
    norm_classifier(x.data(), n, dim, g.data(), 1e-5f, w.data(), vocab, normed.data(), logits.data(), 1);
    benchmark::DoNotOptimize(logits.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(w.size()) * 4);
}
BENCHMARK(BM_NormClassifier)->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace speclab

BENCHMARK_MAIN();
