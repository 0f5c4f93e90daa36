// The typed matmul (ops/matmul.h) against its reference twin, for every weight type and every
// ISA this CPU runs: values, batch independence (a row's result does not depend on how many
// rows are in the batch), thread independence, and for integer types identical results across
// ISAs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/rng.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/weight_matrix.h"

namespace speclab {
namespace {

std::vector<float> normal(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(scale * rng.normal());
  return v;
}

bool integer_type(DType t) { return t != DType::kF32 && t != DType::kF16 && t != DType::kBF16; }

// The activation quantisation the kernels apply for integer types, as values: per block of 32,
// d = max|x| / 127 and x' = d * round(x / d) (ops/matmul.h).
std::vector<double> quantised_activations(const float* x, int n_in) {
  std::vector<double> out(static_cast<std::size_t>(n_in));
  for (int b = 0; b < n_in / 32; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float d = amax / 127.0f;
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; ++j) {
      out[32 * b + j] = static_cast<double>(d) * std::nearbyint(x[32 * b + j] * id);
    }
  }
  return out;
}

// Reference: double-precision dot of the dequantised weights with x (integer types: with x as
// the kernels quantise it). Returns y[n, rows] and the scale sum |w||x| per output for the
// tolerance.
void reference(const WeightMatrix& w, const std::vector<float>& x, int n,
               std::vector<double>& y, std::vector<double>& mag) {
  const int rows = static_cast<int>(w.rows()), cols = static_cast<int>(w.cols());
  const std::vector<float> wf = w.to_f32();
  y.assign(static_cast<std::size_t>(n) * rows, 0.0);
  mag.assign(y.size(), 0.0);
  for (int t = 0; t < n; ++t) {
    std::vector<double> xt(x.begin() + t * cols, x.begin() + (t + 1) * cols);
    if (integer_type(w.dtype())) xt = quantised_activations(x.data() + t * cols, cols);
    for (int r = 0; r < rows; ++r) {
      double s = 0, m = 0;
      for (int k = 0; k < cols; ++k) {
        s += static_cast<double>(wf[r * cols + k]) * xt[k];
        m += std::fabs(static_cast<double>(wf[r * cols + k]) * xt[k]);
      }
      y[t * rows + r] = s;
      mag[t * rows + r] = m;
    }
  }
}

std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(i)) out.push_back(i);
  }
  return out;
}

// Every ISA must provide every type listed here (a missing kernel throws and fails the test).
const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                        DType::kQ8_0F, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K,
                        DType::kQ5_K,  DType::kQ6_K};

struct Shape {
  int rows, cols;
};

// Row counts that exercise partial row blocks (16) and groups (4); column counts that are whole
// blocks of every type (256), and for float types one with a SIMD tail (100). The 32-element
// integer types also get rows that end in a partial group of 8 blocks (96 = 3 blocks, 352 = 8 + 3:
// the q4_0 / q4_1 kernels work in groups of 8 blocks).
std::vector<Shape> shapes_for(DType t) {
  if (dtype_traits(t).block_elems == 256) return {{37, 256}, {5, 512}};
  if (integer_type(t)) return {{37, 96}, {21, 256}, {13, 352}};
  return {{37, 100}, {21, 256}, {3, 7}};
}

TEST(MatmulTypes, MatchesTheReferenceForEveryTypeAndIsa) {
  for (DType t : kTypes) {
    for (const Shape s : shapes_for(t)) {
      const WeightMatrix w32 = WeightMatrix::from_f32(s.rows, s.cols, normal(s.rows * s.cols, 7));
      const WeightMatrix w = w32.converted(t);
      for (int n : {1, 2, 3, 4, 5, 9, 17}) {  // 9, 17: wide tiles and their remainders
        const std::vector<float> x = normal(static_cast<std::size_t>(n) * s.cols, 11 + n);
        std::vector<double> ref, mag;
        reference(w, x, n, ref, mag);
        for (Isa isa : isas()) {
          std::vector<float> y(static_cast<std::size_t>(n) * s.rows, -1.0f);
          matmul(x.data(), n, w, nullptr, y.data(), 1, nullptr, isa);
          for (std::size_t i = 0; i < y.size(); ++i) {
            // fp32 accumulation of up to 512 products: relative error ~ 1e-6 of sum |w x|.
            ASSERT_NEAR(y[i], ref[i], 2e-5 * mag[i] + 1e-6)
                << dtype_name(t) << " " << isa_name(isa) << " " << s.rows << "x" << s.cols
                << " n=" << n << " i=" << i;
          }
        }
      }
    }
  }
}

TEST(MatmulTypes, BiasIsAdded) {
  const WeightMatrix w = WeightMatrix::from_f32(19, 64, normal(19 * 64, 3)).converted(DType::kQ8_0);
  const std::vector<float> x = normal(2 * 64, 4), bias = normal(19, 5);
  std::vector<float> a(2 * 19), b(2 * 19);
  matmul(x.data(), 2, w, nullptr, a.data(), 1);
  matmul(x.data(), 2, w, bias.data(), b.data(), 1);
  for (int t = 0; t < 2; ++t)
    for (int r = 0; r < 19; ++r) EXPECT_EQ(b[t * 19 + r], a[t * 19 + r] + bias[r]);
}

// The property speculative decoding relies on: row t of a batch equals the same row computed
// alone or in any other batch, bit for bit, whatever the thread count.
TEST(MatmulTypes, RowsDoNotDependOnBatchOrThreads) {
  for (DType t : kTypes) {
    const Shape s = shapes_for(t)[0];
    const WeightMatrix w = WeightMatrix::from_f32(s.rows, s.cols, normal(s.rows * s.cols, 21)).converted(t);
    constexpr int kMax = 19;
    const std::vector<float> x = normal(static_cast<std::size_t>(kMax) * s.cols, 22);
    for (Isa isa : isas()) {
      std::vector<float> full(static_cast<std::size_t>(kMax) * s.rows);
      matmul(x.data(), kMax, w, nullptr, full.data(), 1, nullptr, isa);
      for (int n = 1; n <= kMax; ++n) {
        for (int threads : {1, 2}) {
          // Batch of n rows starting at row (kMax - n): must equal those rows of the full batch.
          const int off = kMax - n;
          std::vector<float> y(static_cast<std::size_t>(n) * s.rows);
          matmul(x.data() + static_cast<std::size_t>(off) * s.cols, n, w, nullptr, y.data(),
                 threads, nullptr, isa);
          ASSERT_EQ(std::memcmp(y.data(), full.data() + static_cast<std::size_t>(off) * s.rows,
                                y.size() * sizeof(float)),
                    0)
              << dtype_name(t) << " " << isa_name(isa) << " n=" << n << " threads=" << threads;
        }
      }
    }
  }
}

// A one-token product walks the rows one by one or in prefetching groups of 4 (DecodeLayout):
// both give the bits of that token's row in a batch, whatever the thread count, including rows
// past the last whole group (s.rows is not a multiple of 4 for every shape here). Large enough to
// run in parallel at 2 threads.
TEST(MatmulTypes, DecodeLayoutsGiveTheBatchBits) {
  for (DType t : kTypes) {
    const int rows = 301, cols = 1024;
    const WeightMatrix w = WeightMatrix::from_f32(rows, cols, normal(rows * cols, 23)).converted(t);
    constexpr int kBatch = 5;
    const std::vector<float> x = normal(static_cast<std::size_t>(kBatch) * cols, 24);
    for (Isa isa : isas()) {
      std::vector<float> full(static_cast<std::size_t>(kBatch) * rows);
      matmul(x.data(), kBatch, w, nullptr, full.data(), 1, nullptr, isa);
      for (DecodeLayout layout : {DecodeLayout::kRows, DecodeLayout::kGroups}) {
        for (int threads : {1, 2}) {
          for (int tok : {0, kBatch - 1}) {
            std::vector<float> y(rows);
            const MatJob job{w.view(), nullptr, y.data()};
            matmul_jobs(x.data() + static_cast<std::size_t>(tok) * cols, 1, cols, &job, 1, threads,
                        nullptr, isa, layout);
            ASSERT_EQ(std::memcmp(y.data(), full.data() + static_cast<std::size_t>(tok) * rows,
                                  y.size() * sizeof(float)),
                      0)
                << dtype_name(t) << " " << isa_name(isa) << " " << decode_layout_name(layout)
                << " threads=" << threads << " token " << tok;
          }
        }
      }
    }
  }
  for (DType t : kTypes) {
    EXPECT_EQ(resolve_decode_layout(DecodeLayout::kRows, t), DecodeLayout::kRows);
    EXPECT_EQ(resolve_decode_layout(DecodeLayout::kGroups, t), DecodeLayout::kGroups);
    EXPECT_NE(resolve_decode_layout(DecodeLayout::kAuto, t), DecodeLayout::kAuto);
  }
  if (std::getenv("SPECLAB_DECODE") == nullptr) {
    // No override: scalar walks rows; AVX2 groups the float types (their one-row tile is a
    // single FMA chain) and walks rows for the integer types.
    EXPECT_EQ(resolve_decode_layout(DecodeLayout::kAuto, DType::kF16, Isa::kScalar), DecodeLayout::kRows);
    if (isa_supported(Isa::kAvx2)) {
      for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
        EXPECT_EQ(resolve_decode_layout(DecodeLayout::kAuto, t, Isa::kAvx2), DecodeLayout::kGroups);
      }
      for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
        EXPECT_EQ(resolve_decode_layout(DecodeLayout::kAuto, t, Isa::kAvx2), DecodeLayout::kRows);
      }
    }
  }
}

// Large enough to run in parallel (>= 2^18 multiply-adds) so the thread split is exercised.
TEST(MatmulTypes, ParallelSplitGivesTheSameBits) {
  for (DType t : kTypes) {
    const int rows = 300, cols = 512, n = 8;
    const WeightMatrix w = WeightMatrix::from_f32(rows, cols, normal(rows * cols, 31)).converted(t);
    const std::vector<float> x = normal(static_cast<std::size_t>(n) * cols, 32);
    for (Isa isa : isas()) {
      std::vector<float> a(static_cast<std::size_t>(n) * rows), b(a.size());
      matmul(x.data(), n, w, nullptr, a.data(), 1, nullptr, isa);
      matmul(x.data(), n, w, nullptr, b.data(), 2, nullptr, isa);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
          << dtype_name(t) << " " << isa_name(isa);
    }
  }
}

// Integer types: exact integer block sums, then the same fp32 operations in the same order on
// every ISA, so the results are identical bit for bit (ops/matmul_kernels.h).
TEST(MatmulTypes, IntegerTypesAreIdenticalAcrossIsas) {
  for (DType t : kTypes) {
    if (!integer_type(t)) continue;
    for (const Shape s : shapes_for(t)) {
      const WeightMatrix w = WeightMatrix::from_f32(s.rows, s.cols, normal(s.rows * s.cols, 41)).converted(t);
      for (int n : {6, 19}) {  // 19: the wide tiles (8 tokens), then 4 x 4 and smaller ones
        const std::vector<float> x = normal(static_cast<std::size_t>(n) * s.cols, 42);
        std::vector<float> scalar(static_cast<std::size_t>(n) * s.rows);
        matmul(x.data(), n, w, nullptr, scalar.data(), 1, nullptr, Isa::kScalar);
        for (Isa isa : isas()) {
          std::vector<float> y(scalar.size());
          matmul(x.data(), n, w, nullptr, y.data(), 1, nullptr, isa);
          EXPECT_EQ(std::memcmp(y.data(), scalar.data(), y.size() * sizeof(float)), 0)
              << dtype_name(t) << " " << isa_name(isa) << " " << s.rows << "x" << s.cols << " n=" << n;
        }
      }
    }
  }
}

// Several jobs of different types sharing one activation (q, k, v of a mixed-precision file).
TEST(MatmulTypes, JobsOfMixedTypesShareTheActivations) {
  const int cols = 256, n = 5;
  const WeightMatrix a = WeightMatrix::from_f32(17, cols, normal(17 * cols, 51)).converted(DType::kF16);
  const WeightMatrix b = WeightMatrix::from_f32(9, cols, normal(9 * cols, 52)).converted(DType::kQ8_0);
  const WeightMatrix c = WeightMatrix::from_f32(33, cols, normal(33 * cols, 53)).converted(DType::kQ6_K);
  const std::vector<float> x = normal(static_cast<std::size_t>(n) * cols, 54);
  std::vector<float> ya(n * 17), yb(n * 9), yc(n * 33), za(ya.size()), zb(yb.size()), zc(yc.size());
  const MatJob jobs[3] = {{a.view(), nullptr, ya.data()}, {b.view(), nullptr, yb.data()},
                          {c.view(), nullptr, yc.data()}};
  MatmulScratch scratch;
  matmul_jobs(x.data(), n, cols, jobs, 3, 2, &scratch);
  matmul(x.data(), n, a, nullptr, za.data(), 1);
  matmul(x.data(), n, b, nullptr, zb.data(), 1);
  matmul(x.data(), n, c, nullptr, zc.data(), 1);
  EXPECT_EQ(ya, za);
  EXPECT_EQ(yb, zb);
  EXPECT_EQ(yc, zc);
}

TEST(MatmulTypes, IsaNamesAndSupport) {
  EXPECT_EQ(isa_name(Isa::kAvx512), "avx512");
  EXPECT_TRUE(isa_supported(Isa::kScalar));
  EXPECT_NE(resolve_isa(Isa::kAuto), Isa::kAuto);
  EXPECT_TRUE(isa_supported(resolve_isa(Isa::kAuto)));
}

}  // namespace
}  // namespace speclab
