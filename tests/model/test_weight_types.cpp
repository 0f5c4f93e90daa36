// Issue 20 end to end: models keep their stored weight type (memory-mapped where the file allows),
// `--dtype` / `--draft-dtype` / `--kv-dtype` convert at load, `info` reports stored and resident
// types and bytes, and every type keeps the batch-independence the verifier relies on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "formats/model_loader.h"
#include "model/llama_model.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/cli_runner.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/model_writers.h"
#include "formats/safetensors.h"
#include <fstream>

namespace speclab {
namespace {

using testing::GgufTensorType;
using testing::q;
using testing::ScopedTempDir;

LlamaWeights small_model(std::uint64_t seed = 3) {
  ModelInfo info = synthetic_info(64, 128, 2, 4, 2, 96, 64);
  info.tied_classifier = false;
  return random_llama_weights(info, seed);
}

// Logits of every position of `tokens`, one forward per token (autoregressive).
std::vector<float> sequential_logits(LlamaModel& m, const std::vector<Token>& tokens) {
  std::vector<float> all;
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    ForwardBatch b;
    const Token tok[1] = {tokens[t]};
    const std::int32_t pos[1] = {static_cast<std::int32_t>(t)};
    b.tokens = tok;
    b.positions = pos;
    b.all_logits = true;
    ForwardOutput out;
    m.forward(b, out);
    all.insert(all.end(), out.logits.begin(), out.logits.end());
  }
  return all;
}

// Logits of every position in one batched forward.
std::vector<float> batched_logits(LlamaModel& m, const std::vector<Token>& tokens) {
  ForwardBatch b;
  std::vector<std::int32_t> pos;
  for (std::size_t t = 0; t < tokens.size(); ++t) pos.push_back(static_cast<std::int32_t>(t));
  b.tokens = tokens;
  b.positions = pos;
  b.all_logits = true;
  ForwardOutput out;
  m.forward(b, out);
  return out.logits;
}

const std::vector<Token> kTokens = {1, 5, 9, 33, 2, 70, 70, 12, 95, 0, 44};

TEST(WeightTypes, BatchedEqualsSequentialForEveryTypeAndKvCache) {
  const LlamaWeights base = small_model();
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
    WeightConversion conv;
    conv.dtype = t;
    auto w = std::make_shared<const LlamaWeights>(convert_weights(base, conv));
    for (KvCacheType kv : {KvCacheType::kF32, KvCacheType::kF16}) {
      LlamaModel a(w, 1, -1, kv), b(w, 2, -1, kv);
      const std::vector<float> seq = sequential_logits(a, kTokens);
      const std::vector<float> bat = batched_logits(b, kTokens);
      ASSERT_EQ(seq.size(), bat.size());
      EXPECT_EQ(std::memcmp(seq.data(), bat.data(), seq.size() * sizeof(float)), 0)
          << dtype_name(t) << " kv " << kv_cache_type_name(kv);
    }
  }
}

// Quantised weights and an f16 cache change the logits only by their rounding.
TEST(WeightTypes, ConvertedModelsStayCloseToFp32) {
  const LlamaWeights base = small_model();
  auto w32 = std::make_shared<const LlamaWeights>(base);
  LlamaModel ref(w32, 1);
  const std::vector<float> want = batched_logits(ref, kTokens);
  double scale = 0;
  for (float v : want) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  struct Case { DType t; KvCacheType kv; double tol; };
  for (const Case c : {Case{DType::kF32, KvCacheType::kF16, 0.01}, Case{DType::kF16, KvCacheType::kF32, 0.01},
                       Case{DType::kBF16, KvCacheType::kF32, 0.05}, Case{DType::kQ8_0, KvCacheType::kF32, 0.08}}) {
    WeightConversion conv;
    conv.dtype = c.t;
    LlamaModel m(std::make_shared<const LlamaWeights>(convert_weights(base, conv)), 1, -1, c.kv);
    const std::vector<float> got = batched_logits(m, kTokens);
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
    EXPECT_LT(worst, c.tol * scale) << dtype_name(c.t) << " kv " << kv_cache_type_name(c.kv);
    EXPECT_GT(worst, 0.0) << dtype_name(c.t) << ": no rounding at all is suspicious";
  }
}

TEST(WeightTypes, KvCacheBytesFollowTheType) {
  auto w = std::make_shared<const LlamaWeights>(small_model());
  const LlamaModel a(w, 1, 32, KvCacheType::kF32), b(w, 1, 32, KvCacheType::kF16);
  const std::int64_t expect = 2LL * 2 * 32 * (2 * 16) * 4;  // K+V x layers x slots x kv_dim x 4
  EXPECT_EQ(a.kv_cache_bytes(), expect);
  EXPECT_EQ(b.kv_cache_bytes(), expect / 2);
  EXPECT_EQ(kv_cache_type_from_name("f16"), KvCacheType::kF16);
  EXPECT_FALSE(kv_cache_type_from_name("f8").has_value());
}

// GGUF and safetensors matrices are views into the file's memory map, in the file's type, and
// give exactly the logits of the same weights converted in memory.
TEST(WeightTypes, FilesAreMappedInTheirStoredType) {
  ScopedTempDir tmp;
  const LlamaWeights base = small_model(9);
  struct G { GgufTensorType file; DType t; };
  for (const G g : {G{GgufTensorType::kF32, DType::kF32}, G{GgufTensorType::kF16, DType::kF16},
                    G{GgufTensorType::kBF16, DType::kBF16}, G{GgufTensorType::kQ8_0, DType::kQ8_0}}) {
    const std::string path = tmp.path(std::string("m_") + std::string(dtype_name(g.t)) + ".gguf");
    testing::write_gguf(base, path, g.file);
    const auto loaded = load_weights_shared(path);
    EXPECT_EQ(loaded->resident_dtypes(), dtype_name(g.t));
    EXPECT_EQ(loaded->info.weight_dtype, dtype_name(g.t));
    for (const auto& [name, m] : loaded->matrices()) {
      EXPECT_TRUE(m->is_mapped()) << name;
      EXPECT_EQ(m->dtype(), g.t) << name;
    }
    // Same bytes as converting in memory (the GGUF writer's q8_0 is ggml's reference quantiser,
    // ours rounds the same way).
    WeightConversion conv;
    conv.dtype = g.t;
    const LlamaWeights mem = convert_weights(base, conv);
    if (g.t != DType::kQ8_0) {
      EXPECT_TRUE(loaded->layers[1].w2 == mem.layers[1].w2) << dtype_name(g.t);
    }
    // The mapped model computes exactly what the same matrices held in memory compute.
    LlamaWeights copy = *loaded;
    for (auto& L : copy.layers) L.wq = WeightMatrix::from_bytes(L.wq.dtype(), L.wq.rows(), L.wq.cols(),
                                                                std::vector<std::uint8_t>(L.wq.data(), L.wq.data() + L.wq.n_bytes()));
    LlamaModel from_file(loaded, 1), from_mem(std::make_shared<const LlamaWeights>(copy), 1);
    EXPECT_EQ(batched_logits(from_file, kTokens), batched_logits(from_mem, kTokens)) << dtype_name(g.t);
  }
  // A Hugging Face directory of bf16 safetensors: bf16 matrices mapped from the shard.
  testing::HfWriteOptions opts;
  opts.dtype = SafetensorsDtype::kBF16;
  testing::write_hf_directory(base, tmp.path("hf"), opts);
  const auto hf = load_weights_shared(tmp.path("hf"));
  EXPECT_EQ(hf->resident_dtypes(), "bf16");
  EXPECT_TRUE(hf->layers[0].wq.is_mapped());
}

TEST(WeightTypes, LoadOptionsConvertAndReportBadNames) {
  ScopedTempDir tmp;
  const LlamaWeights base = small_model(4);
  testing::write_gguf(base, tmp.path("m.gguf"), GgufTensorType::kF32);
  const auto q = load_weights_shared(tmp.path("m.gguf"), WeightLoadOptions{"q8_0", 2});
  EXPECT_EQ(q->resident_dtypes(), "q8_0");
  EXPECT_EQ(q->info.weight_dtype, "f32");  // the stored type of the file
  EXPECT_LT(q->n_bytes(), load_weights_shared(tmp.path("m.gguf"))->n_bytes() / 3);
  EXPECT_EQ(check_weight_dtype("stored", "--dtype"), "");
  EXPECT_NE(check_weight_dtype("q9", "--dtype").find("--dtype = q9: unknown weight type"), std::string::npos);
  EXPECT_NE(check_weight_dtype("q8_0f", "--dtype"), "");  // internal repacking, not selectable
  EXPECT_THROW(load_weights_shared(tmp.path("m.gguf"), WeightLoadOptions{"f8", 1}), Error);
}

// Rows that are not whole blocks fall back: q8_0 where 32-blocks fit, else f16.
TEST(WeightTypes, ConversionFallsBackForRowsThatAreNotWholeBlocks) {
  ModelInfo info = synthetic_info(64, 172, 1, 4, 4, 64, 32);  // stories260K's 172-wide FFN
  const LlamaWeights base = random_llama_weights(info, 2);
  WeightConversion conv;
  conv.dtype = DType::kQ4_K;  // 256-blocks: nothing here fits
  const LlamaWeights w = convert_weights(base, conv);
  EXPECT_EQ(w.layers[0].wq.dtype(), DType::kQ8_0);  // 64 columns
  EXPECT_EQ(w.layers[0].w2.dtype(), DType::kF16);   // 172 columns
}

// ---- CLI ---------------------------------------------------------------------------------------

// A BPE tokenizer.json whose 96 pieces are the printable ASCII characters.
std::string tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int i = 0; i < 96; ++i) vocab[std::string(1, static_cast<char>(32 + i))] = i;
  return nlohmann::json{{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}}.dump();
}

TEST(WeightTypesCli, GenerateInfoAndRunTakeTheTypes) {
  ScopedTempDir tmp;
  testing::write_gguf(small_model(), tmp.path("m.gguf"), GgufTensorType::kF16);
  testing::write_text_file(tmp.path("tok.json"), tokenizer_json());
  const std::string gen = "generate --model " + q(tmp.path("m.gguf")) + " --tokenizer " + q(tmp.path("tok.json")) +
                          " --prompt ab --max-new 12 --json";
  for (const char* flags : {"", " --dtype q8_0", " --dtype bf16 --kv-dtype f16", " --kv-dtype f16"}) {
    const auto r = testing::run(gen + flags);
    EXPECT_EQ(r.code, 0) << flags << ": " << r.err;
  }
  auto bad = testing::run(gen + " --dtype q9");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--dtype = q9: unknown weight type"), std::string::npos) << bad.err;
  bad = testing::run(gen + " --kv-dtype f8");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--kv-dtype = f8"), std::string::npos) << bad.err;
  bad = testing::run(gen + " --draft-dtype nope");
  EXPECT_EQ(bad.code, 2);

  auto info = testing::run("info --json --model " + q(tmp.path("m.gguf")) + " --tokenizer " + q(tmp.path("tok.json")));
  ASSERT_EQ(info.code, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["stored_dtype"], "f16");
  EXPECT_EQ(j["resident_dtype"], "f16");
  EXPECT_GT(j["mapped_bytes"].get<std::int64_t>(), 0);
  info = testing::run("info --json --dtype q8_0 --model " + q(tmp.path("m.gguf")) + " --tokenizer " + q(tmp.path("tok.json")));
  ASSERT_EQ(info.code, 0) << info.err;
  const auto jq = nlohmann::json::parse(info.out);
  EXPECT_EQ(jq["stored_dtype"], "f16");
  EXPECT_EQ(jq["resident_dtype"], "q8_0");
  EXPECT_EQ(jq["mapped_bytes"], 0);
  EXPECT_LT(jq["resident_bytes"].get<double>(), 0.6 * j["resident_bytes"].get<double>());

  testing::write_text_file(tmp.path("p.jsonl"), "{\"id\": \"1\", \"prompt\": \"abc\"}\n");
  const std::string spec = "{\"name\": \"x\", \"model\": \"" + tmp.path("m.gguf") + "\", \"tokenizer\": \"" +
                           tmp.path("tok.json") + "\", \"prompts\": [\"" + tmp.path("p.jsonl") +
                           "\"], \"drafters\": [\"ngram\"], \"budgets\": [4], \"max_new_tokens\": 8";
  testing::write_text_file(tmp.path("s.json"), spec + ", \"dtype\": \"q8_0\", \"kv_dtype\": \"f16\"}");
  const auto run = testing::run("run " + q(tmp.path("s.json")) + " --no-plots --out " + q(tmp.path("o")));
  ASSERT_EQ(run.code, 0) << run.err;
  std::ifstream cfg(tmp.path("o/config.json"));
  const auto c = nlohmann::json::parse(cfg);
  EXPECT_EQ(c["model_info"]["resident_dtype"], "q8_0");
  EXPECT_EQ(c["spec"]["kv_dtype"], "f16");
  testing::write_text_file(tmp.path("s2.json"), spec + ", \"dtype\": \"q9\"}");
  const auto r2 = testing::run("run " + q(tmp.path("s2.json")) + " --out " + q(tmp.path("o2")));
  EXPECT_EQ(r2.code, 1);
  EXPECT_NE(r2.err.find("dtype = q9: unknown weight type"), std::string::npos) << r2.err;
  const auto r3 = testing::run("run " + q(tmp.path("s.json")) + " --kv-dtype f3 --out " + q(tmp.path("o3")));
  EXPECT_EQ(r3.code, 2) << r3.err;
}

}  // namespace
}  // namespace speclab
