// LlamaModels whose matrices are stored in the 4/5/6-bit types (convert_weights of random
// weights to q4_0, q4_1, q4_k, q5_k, q6_k: embedding, projections and classifier) keep the
// property speculative decoding relies on: greedy speculative output is token-identical to
// autoregressive output (tests/testing/decode_lossless.h, through the real decode loop). The
// tree forwards of verification run the typed kernels with n > 1 rows while autoregressive
// decoding runs them with n = 1, so this fails if a row's result depends on the batch. Checked
// with the model's default ISA and 1 and 2 threads; the kernels of every ISA are compared bit for
// bit in tests/ops/test_matmul_types.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "model/llama_weights.h"
#include "ops/quant.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/decode_lossless.h"

namespace speclab::testing {
namespace {

// dim 256, hidden 512 (multiples of the K-quants' 256-element super-blocks), 2 layers, 4 heads
// (head_dim 64), 2 KV heads, vocab 256, an untied classifier.
std::shared_ptr<const LlamaWeights> quantised_weights(DType t) {
  ModelInfo info = synthetic_info(256, 512, 2, 4, 2, 256, 256);
  info.tied_classifier = false;
  const LlamaWeights w32 = random_llama_weights(info, 91);
  WeightConversion conv;
  conv.dtype = t;
  return std::make_shared<const LlamaWeights>(convert_weights(w32, conv));
}

const std::vector<std::vector<Token>>& prompts() {
  static const std::vector<std::vector<Token>> p = {
      {1, 17, 99, 3}, {1, 5, 6, 7, 5, 6, 7, 5, 6}, {1}};
  return p;
}

class QuantisedModel : public ::testing::TestWithParam<DType> {};

TEST_P(QuantisedModel, StoresEveryMatrixInTheType) {
  const auto w = quantised_weights(GetParam());
  for (const auto& [name, m] : w->matrices()) EXPECT_EQ(m->dtype(), GetParam()) << name;
}

TEST_P(QuantisedModel, GreedySpeculativeOutputEqualsAutoregressive) {
  const auto w = quantised_weights(GetParam());
  std::int64_t accepted = 0;
  // Self-speculation from the first layer (its trees are partly accepted, so verification
  // forwards carry several tokens) on 1 thread, prompt lookup (deep chains on repetitive text) on
  // 2 threads.
  const std::pair<const char*, int> runs[] = {{"early-exit:exit=1,d=3", 1}, {"ngram", 2}};
  for (const auto& [spec, threads] : runs) {
    LlamaModel target(w, threads);
    const LosslessStats s = expect_greedy_lossless(target, spec, prompts(), 20);
    accepted += s.accepted;
    std::printf("%s %s threads=%d: accepted %lld, target forwards %lld (autoregressive %lld)\n",
                std::string(dtype_name(GetParam())).c_str(), spec, threads,
                static_cast<long long>(s.accepted), static_cast<long long>(s.target_forwards),
                static_cast<long long>(s.ar_forwards));
  }
  // Not vacuous: some drafts were accepted, so multi-token verification rows were used.
  EXPECT_GT(accepted, 0) << dtype_name(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Types, QuantisedModel,
                         ::testing::Values(DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ5_K,
                                           DType::kQ6_K),
                         [](const ::testing::TestParamInfo<DType>& i) {
                           return std::string(dtype_name(i.param));
                         });

}  // namespace
}  // namespace speclab::testing
