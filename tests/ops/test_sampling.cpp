#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "base/error.h"
#include "ops/sampling.h"

namespace speclab {
namespace {

std::vector<float> probs_of(const std::vector<float>& logits, SamplingParams sp) {
  std::vector<float> probs(logits.size());
  std::vector<std::int32_t> scratch;
  logits_to_probs(logits, sp, probs, scratch);
  return probs;
}

// Reference: plain softmax in double.
std::vector<double> softmax_ref(const std::vector<float>& logits, double t) {
  double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> out(logits.size());
  double s = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) s += out[i] = std::exp((logits[i] - mx) / t);
  for (double& v : out) v /= s;
  return out;
}

TEST(Sampling, ArgmaxLowestIdOnTies) {
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax(std::vector<float>{5}), 0);
  EXPECT_EQ(argmax(std::vector<float>{-1, -1}), 0);
}

TEST(Sampling, GreedyIsOneHotAtArgmax) {
  const auto p = probs_of({0.5f, 2.0f, 2.0f, -1.0f}, SamplingParams{});
  EXPECT_EQ(p, (std::vector<float>{0, 1, 0, 0}));
}

TEST(Sampling, SoftmaxWithTemperatureMatchesReference) {
  const std::vector<float> logits = {0.1f, -2.0f, 3.0f, 1.5f, 1.5f, 0.0f};
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams sp;
    sp.temperature = t;
    const auto p = probs_of(logits, sp);
    const auto ref = softmax_ref(logits, t);
    for (std::size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], ref[i], 1e-6) << "t=" << t;
  }
}

TEST(Sampling, TopKKeepsLargestAndLowerIdsOnTies) {
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_k = 2;
  // ids 1, 2, 3 tie for 2nd place: keep id 0 (largest) and id 1 (lowest id of the tie).
  const std::vector<float> logits = {3.0f, 1.0f, 1.0f, 1.0f, 0.0f};
  const auto p = probs_of(logits, sp);
  const auto ref = softmax_ref(logits, 1.0);
  const double z = ref[0] + ref[1];
  EXPECT_NEAR(p[0], ref[0] / z, 1e-6);
  EXPECT_NEAR(p[1], ref[1] / z, 1e-6);
  EXPECT_EQ(p[2], 0.0f);
  EXPECT_EQ(p[3], 0.0f);
  EXPECT_EQ(p[4], 0.0f);
  sp.top_k = 10;  // k >= vocab: off
  const auto q = probs_of(logits, sp);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(q[i], ref[i], 1e-6);
}

TEST(Sampling, TopPSmallestPrefixWithMass) {
  SamplingParams sp;
  sp.temperature = 1.0f;
  // probs proportional to 0.5, 0.25, 0.125, 0.125
  const std::vector<float> logits = {std::log(4.0f), std::log(2.0f), 0.0f, 0.0f};
  sp.top_p = 0.75f;  // 0.5 + 0.25 reaches exactly 0.75 (or within rounding, then one more)
  auto p = probs_of(logits, sp);
  EXPECT_GT(p[0], 0.0f);
  EXPECT_GT(p[1], 0.0f);
  EXPECT_EQ(p[3], 0.0f);
  sp.top_p = 0.7f;
  p = probs_of(logits, sp);
  EXPECT_NEAR(p[0], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(p[1], 1.0 / 3.0, 1e-6);
  EXPECT_EQ(p[2], 0.0f);
  sp.top_p = 0.8f;  // needs a third token; 2 and 3 tie: the lower id is kept
  p = probs_of(logits, sp);
  EXPECT_NEAR(p[0], 0.5 / 0.875, 1e-6);
  EXPECT_GT(p[2], 0.0f);
  EXPECT_EQ(p[3], 0.0f);
  sp.top_p = 0.3f;  // the top token alone
  p = probs_of(logits, sp);
  EXPECT_EQ(p[0], 1.0f);
}

TEST(Sampling, TopKThenTopPOnRenormalizedMass) {
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_k = 2;    // keeps 0.5, 0.25 -> renormalized 2/3, 1/3
  sp.top_p = 0.6f; // 2/3 >= 0.6: only the top token
  const std::vector<float> logits = {std::log(4.0f), std::log(2.0f), 0.0f, 0.0f};
  const auto p = probs_of(logits, sp);
  EXPECT_EQ(p, (std::vector<float>{1, 0, 0, 0}));
}

TEST(Sampling, LargeVocabTopPMatchesFullSortReference) {
  Rng rng(3);
  std::vector<float> logits(5000);
  for (float& v : logits) v = static_cast<float>(3.0 * rng.normal());
  SamplingParams sp;
  sp.temperature = 0.8f;
  sp.top_p = 0.95f;
  const auto p = probs_of(logits, sp);
  const auto ref = softmax_ref(logits, sp.temperature);
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return ref[a] > ref[b]; });
  double cum = 0;
  std::size_t k = 0;
  while (cum < 0.95) cum += ref[order[k++]];
  std::size_t n_nonzero = 0;
  double sum = 0;
  for (float v : p) {
    n_nonzero += v > 0;
    sum += v;
  }
  EXPECT_NEAR(static_cast<double>(n_nonzero), static_cast<double>(k), 1.0);  // float vs double cum
  EXPECT_NEAR(sum, 1.0, 1e-5);
  for (std::size_t i = 0; i + 1 < k; ++i) EXPECT_GT(p[order[i]], 0.0f);
}

TEST(Sampling, NoAllocationWhenScratchHasCapacity) {
  std::vector<float> logits(100), probs(100);
  for (int i = 0; i < 100; ++i) logits[i] = static_cast<float>(i % 7);
  std::vector<std::int32_t> scratch;
  scratch.reserve(100);
  const auto* data = scratch.data();
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_k = 10;
  sp.top_p = 0.5f;
  logits_to_probs(logits, sp, probs, scratch);
  EXPECT_EQ(scratch.data(), data);
}

TEST(Sampling, SampleFromMatchesProbabilitiesAndGuardsLastIndex) {
  const std::vector<float> probs = {0.1f, 0.0f, 0.6f, 0.3f};
  Rng rng(11);
  std::vector<int> counts(4, 0);
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++counts[sample_from(probs, rng)];
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[0] / double(n), 0.1, 0.005);
  EXPECT_NEAR(counts[2] / double(n), 0.6, 0.005);
  // A row that sums to less than 1: the last positive index absorbs the gap; zeros are never drawn.
  const std::vector<float> short_row = {0.2f, 0.3f, 0.0f};
  for (int i = 0; i < 1000; ++i) EXPECT_NE(sample_from(short_row, rng), 2);
  // Exactly one uniform per draw.
  Rng a(5), b(5);
  sample_from(probs, a);
  b.uniform();
  EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(Sampling, ValidateRejectsBadParams) {
  SamplingParams sp;
  EXPECT_NO_THROW(sp.validate());
  sp.temperature = -1.0f;
  EXPECT_THROW(sp.validate(), Error);
  sp = {};
  sp.top_k = -2;
  EXPECT_THROW(sp.validate(), Error);
  sp = {};
  sp.top_p = 0.0f;
  EXPECT_THROW(sp.validate(), Error);
  sp.top_p = 1.5f;
  try {
    sp.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
}

}  // namespace
}  // namespace speclab
