// The kernels of ops/ against their naive double-precision twins (ops/reference.h), at the
// shapes of a stories15M / stories110M step: matmul (classifier-sized and layer-sized, 1 and 16
// rows), rms_norm, softmax over a 1024-slot score row, RoPE of a 12-head row, and the final
// norm + classifier. bytes_per_second is the weight stream of the product.
//   ./build/bench_ops --benchmark_filter=.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "base/rng.h"
#include "ops/classifier.h"
#include "ops/matmul.h"
#include "ops/reference.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax.h"

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
