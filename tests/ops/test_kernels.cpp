// Every kernel in ops/ against its naive double-precision twin (ops/reference.h), plus the
// properties the project relies on: a row's result does not depend on how many rows are in
// the call or on the thread count, aliasing works where documented, and the final norm +
// classifier gives bit-identical logits wherever it is called (LlamaModel's exit, a fresh exit
// adapter, ops::norm_classifier).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "base/rng.h"
#include "heads/head_net.h"
#include "model/llama_model.h"
#include "ops/classifier.h"
#include "ops/dot.h"
#include "ops/matmul.h"
#include "ops/reference.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax.h"
#include "synthetic/synthetic_weights.h"

namespace speclab {
namespace {

std::vector<float> random_vec(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * static_cast<float>(2.0 * rng.uniform() - 1.0);
  return v;
}

// |a - b| <= tol * (1 + |b|) element-wise.
void expect_close(std::span<const float> got, std::span<const double> want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::abs(got[i] - want[i]), tol * (1.0 + std::abs(want[i]))) << what << " [" << i << "]";
  }
}

bool bit_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Ops, DotMatchesReferenceForEveryTailLength) {
  for (int n : {1, 7, 8, 9, 15, 16, 17, 64, 100}) {
    const auto a = random_vec(n, 1 + n), b = random_vec(n, 100 + n);
    EXPECT_NEAR(dot(a.data(), b.data(), n), reference::dot(a.data(), b.data(), n), 1e-5 * n) << n;
  }
}

TEST(Ops, MatmulMatchesReferenceAndRowsAreIndependentOfBatchAndThreads) {
  for (const auto& [n_out, n_in] : {std::pair{5, 3}, {17, 33}, {64, 64}, {130, 96}}) {
    const int n = 11;
    const auto x = random_vec(static_cast<std::size_t>(n) * n_in, 2), w = random_vec(static_cast<std::size_t>(n_out) * n_in, 3),
               bias = random_vec(n_out, 4);
    std::vector<float> y(static_cast<std::size_t>(n) * n_out), y2(y.size()), row(n_out);
    matmul(x.data(), n, w.data(), n_out, n_in, bias.data(), y.data(), 1);
    expect_close(y, reference::matmul(x.data(), n, w.data(), n_out, n_in, bias.data()), 1e-5, "matmul");
    matmul(x.data(), n, w.data(), n_out, n_in, bias.data(), y2.data(), 2);
    EXPECT_TRUE(bit_equal(y, y2)) << "thread count changed the result";
    for (int t = 0; t < n; ++t) {
      matmul(x.data() + static_cast<std::size_t>(t) * n_in, 1, w.data(), n_out, n_in, bias.data(), row.data(), 1);
      EXPECT_TRUE(bit_equal(row, std::span<const float>(y).subspan(static_cast<std::size_t>(t) * n_out, n_out)))
          << "row " << t << " alone differs from the batch (n_out " << n_out << ")";
    }
  }
}

TEST(Ops, RmsNormMatchesReferenceAliasesAndIsRowIndependent) {
  const int n = 5, d = 37;
  const auto x = random_vec(static_cast<std::size_t>(n) * d, 5, 3.0f), g = random_vec(d, 6);
  std::vector<float> out(x.size());
  rms_norm(x.data(), g.data(), n, d, 1e-5f, out.data());
  expect_close(out, reference::rms_norm(x.data(), g.data(), n, d, 1e-5), 1e-6, "rms_norm");
  std::vector<float> in_place = x;
  rms_norm(in_place.data(), g.data(), n, d, 1e-5f, in_place.data());
  EXPECT_TRUE(bit_equal(in_place, out));
  std::vector<float> row(d);
  rms_norm(x.data() + 3 * d, g.data(), 1, d, 1e-5f, row.data());
  EXPECT_TRUE(bit_equal(row, std::span<const float>(out).subspan(3 * d, d)));
}

TEST(Ops, SoftmaxMatchesReferenceAndSumsToOne) {
  for (int n : {1, 2, 9, 300}) {
    auto x = random_vec(n, 7 + n, 20.0f);
    const auto want = reference::softmax(x);
    softmax_inplace(x.data(), n);
    expect_close(x, want, 1e-6, "softmax");
    double s = 0;
    for (float v : x) s += v;
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  std::vector<float> masked = {1.0f, -INFINITY, 2.0f};
  softmax_inplace(masked.data(), 3);
  EXPECT_EQ(masked[1], 0.0f);
}

TEST(Ops, RopeMatchesReferenceInBothPairingsAndKeepsNorms) {
  const int n_heads = 3, head_dim = 8, half = head_dim / 2;
  std::vector<float> inv_freq(half);
  for (int p = 0; p < half; ++p) inv_freq[p] = 1.0f / std::pow(10000.0f, 2.0f * p / head_dim);
  const std::vector<std::int32_t> positions = {0, 1, 37, 511};
  std::vector<float> cs(positions.size() * half), sn(cs.size());
  rope_tables(positions, inv_freq, cs.data(), sn.data());
  for (bool interleaved : {true, false}) {
    for (std::size_t t = 0; t < positions.size(); ++t) {
      auto row = random_vec(n_heads * head_dim, 9 + t);
      const auto want = reference::rope(row, n_heads, head_dim, interleaved, positions[t], inv_freq);
      double norm_before = 0, norm_after = 0;
      for (float v : row) norm_before += double(v) * v;
      apply_rope(row.data(), n_heads, head_dim, interleaved, cs.data() + t * half, sn.data() + t * half);
      for (float v : row) norm_after += double(v) * v;
      expect_close(row, want, 2e-4, interleaved ? "rope interleaved" : "rope half-split");
      EXPECT_NEAR(norm_after, norm_before, 1e-4 * norm_before);
      if (positions[t] == 0) {
        const auto orig = random_vec(n_heads * head_dim, 9 + t);
        EXPECT_TRUE(bit_equal(row, orig)) << "position 0 is the identity";
      }
    }
  }
}

// LlamaModel's early exit, a fresh (identity) exit adapter and ops::norm_classifier on the
// same residual give the same logits bit for bit: "a zero adapter drafts exactly the plain
// exit" holds exactly, not only while last bits never flip an argmax.
TEST(Ops, NormClassifierIsBitIdenticalToTheModelsExitAndAFreshAdapter) {
  auto w = std::make_shared<const LlamaWeights>(random_llama_weights(synthetic_info(48, 96, 3, 4, 2, 300, 64), 21));
  const ModelInfo& m = w->info;
  LlamaModel model(w, 2);
  const std::vector<Token> tokens = {1, 17, 250, 3, 99};
  const std::vector<std::int32_t> positions = {0, 1, 2, 3, 4};
  const std::int32_t exit_layer = 2;
  const std::vector<std::int32_t> hidden = {exit_layer};
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = positions;
  b.hidden_layers = hidden;
  b.exit_layer = exit_layer;
  ForwardOutput out;
  model.forward(b, out);
  const int n = static_cast<int>(tokens.size());
  std::vector<float> normed(static_cast<std::size_t>(n) * m.dim), logits(static_cast<std::size_t>(n) * m.vocab_size);
  norm_classifier(out.hidden[0].data(), n, m.dim, w->final_norm.data(), m.norm_eps, w->classifier_matrix(),
                  normed.data(), logits.data(), 1);
  EXPECT_TRUE(bit_equal(logits, out.logits)) << "ops::norm_classifier differs from LlamaModel's exit";

  HeadConfig cfg;
  cfg.kind = HeadKind::kExitAdapter;
  cfg.exit_layers = {exit_layer};
  cfg.n_heads = 1;
  const HeadNet adapter = HeadNet::init(cfg, w);
  HeadScratch scratch;
  std::vector<float> adapted(logits.size());
  adapter.logits(0, out.hidden[0], {}, n, adapted, scratch);
  EXPECT_TRUE(bit_equal(adapted, out.logits)) << "a fresh exit adapter differs from the plain exit";
}

}  // namespace
}  // namespace speclab
