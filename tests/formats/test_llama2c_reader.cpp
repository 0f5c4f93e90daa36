// llama2.c checkpoint reader: round trips of random synthetic models through every version,
// the real stories260K files, and the model_loader dispatch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "formats/llama2c_weights.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/model_writers.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

using testing::named_tensors;
using testing::ScopedTempDir;

struct Shape {
  const char* label;
  std::int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
  bool tied;
  int group_size;  // for version 2: must divide every matrix size
};

const Shape kShapes[] = {
    {"gqa_tied", 16, 40, 2, 4, 2, 32, 8, true, 16},
    {"mha_untied_odd_hidden", 32, 37, 3, 4, 4, 50, 16, false, 32},
    {"mqa_untied_odd_vocab", 24, 61, 1, 3, 1, 17, 5, false, 8},
};

LlamaWeights make_weights(const Shape& s, std::uint64_t seed) {
  ModelInfo info = synthetic_info(s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.vocab, s.seq);
  info.tied_classifier = s.tied;
  return random_llama_weights(info, seed);
}

void expect_same_shape(const ModelInfo& a, const ModelInfo& b) {
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.hidden_dim, b.hidden_dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_seq_len, b.max_seq_len);
  EXPECT_EQ(a.tied_classifier, b.tied_classifier);
}

void expect_llama2c_conventions(const ModelInfo& m, const std::string& path) {
  EXPECT_EQ(m.source, path);
  EXPECT_EQ(m.rope_style, RopeStyle::kInterleaved);
  EXPECT_FLOAT_EQ(m.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(m.norm_eps, 1e-5f);
  EXPECT_EQ(m.bos_id, 1);
  EXPECT_EQ(m.eos_ids, std::vector<Token>{2});
  EXPECT_EQ(m.arch, "llama");
}

void expect_exact(const LlamaWeights& want, const LlamaWeights& got) {
  const auto a = named_tensors(want), b = named_tensors(got);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].values, b[i].values) << a[i].name;
  }
}

// llama2.c Q8_0 bound: per group, |x - q * s| <= s / 2 with s = max|x| / 127 (plus fp32 rounding).
void expect_q80_close(const LlamaWeights& want, const LlamaWeights& got, int group_size) {
  const auto a = named_tensors(want), b = named_tensors(got);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t t = 0; t < a.size(); ++t) {
    const auto& x = a[t].values;
    const auto& y = b[t].values;
    ASSERT_EQ(x.size(), y.size()) << a[t].name;
    const bool is_norm = a[t].name.find("norm") != std::string::npos;
    if (x.empty()) continue;  // tied classifier
    if (is_norm) {
      EXPECT_EQ(x, y) << a[t].name << " (norms stay fp32)";
      continue;
    }
    ASSERT_EQ(x.size() % group_size, 0u);
    bool any_error = false;
    for (std::size_t g = 0; g < x.size() / group_size; ++g) {
      float amax = 0;
      for (int i = 0; i < group_size; ++i) amax = std::max(amax, std::fabs(x[g * group_size + i]));
      const float bound = amax / 127.0f * 0.5f * (1 + 1e-5f) + 1e-12f;
      for (int i = 0; i < group_size; ++i) {
        const float e = std::fabs(x[g * group_size + i] - y[g * group_size + i]);
        any_error |= e > 0;
        ASSERT_LE(e, bound) << a[t].name << " element " << g * group_size + i;
      }
    }
    EXPECT_TRUE(any_error) << a[t].name << ": quantization left no error at all (suspicious)";
  }
}

// One round trip: a shape of kShapes and a llama2.c version.
struct RoundTrip {
  int shape_index;
  int version;
  std::string name() const { return std::string(kShapes[shape_index].label) + "_v" + std::to_string(version); }
};
// gtest prints the parameter in test listings (and ctest shows it).
void PrintTo(const RoundTrip& r, std::ostream* os) { *os << kShapes[r.shape_index].label << " v" << r.version; }

std::vector<RoundTrip> all_round_trips() {
  std::vector<RoundTrip> out;
  for (int s = 0; s < 3; ++s) {
    for (int v = 0; v < 3; ++v) out.push_back({s, v});
  }
  return out;
}

class Llama2cRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(Llama2cRoundTrip, LoadsWhatWasWritten) {
  const auto [shape_index, version] = GetParam();
  const Shape& s = kShapes[shape_index];
  const LlamaWeights w = make_weights(s, 100 + shape_index);
  ScopedTempDir tmp;
  const std::string path = tmp.path(std::string(s.label) + ".bin");
  testing::write_llama2c(w, path, version, s.group_size);
  const LlamaWeights got = load_llama2c(path);
  expect_same_shape(w.info, got.info);
  expect_llama2c_conventions(got.info, path);
  EXPECT_EQ(got.info.format, "llama2c-v" + std::to_string(version));
  EXPECT_EQ(got.info.weight_dtype, version == 2 ? "q8_0" : "f32");
  EXPECT_EQ(got.classifier.empty(), s.tied);
  if (version == 2) {
    expect_q80_close(w, got, s.group_size);
  } else {
    expect_exact(w, got);
  }
  // The content-sniffing loader gives the same result.
  const LlamaWeights via_loader = load_weights(path);
  expect_exact(got, via_loader);
}

INSTANTIATE_TEST_SUITE_P(AllShapesAllVersions, Llama2cRoundTrip, ::testing::ValuesIn(all_round_trips()),
                         [](const ::testing::TestParamInfo<RoundTrip>& info) { return info.param.name(); });

TEST(Llama2cReader, WriterMatchesLlama2cExportLayoutByHand) {
  // A 1-layer model whose every value is distinct: check a few absolute v1 offsets by hand so
  // that writer and reader cannot agree on a wrong layout.
  ModelInfo info = synthetic_info(4, 6, 1, 2, 1, 3, 2);
  LlamaWeights w = random_llama_weights(info, 5);
  const auto bytes = testing::llama2c_bytes(w, 1);
  auto f32_at = [&](std::size_t off) {
    float v;
    std::memcpy(&v, bytes.data() + off, 4);
    return v;
  };
  std::uint32_t magic;
  std::memcpy(&magic, bytes.data(), 4);
  EXPECT_EQ(magic, 0x616b3432u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 4), "24ka");
  // v1: attn_norm (4), ffn_norm (4), final_norm (4), token_embedding (12), wq (16), ...
  EXPECT_EQ(f32_at(256), w.layers[0].attn_norm[0]);
  EXPECT_EQ(f32_at(256 + 4 * 4), w.layers[0].ffn_norm[0]);
  EXPECT_EQ(f32_at(256 + 8 * 4), w.final_norm[0]);
  EXPECT_EQ(f32_at(256 + 12 * 4), w.token_embedding.to_f32()[0]);
  EXPECT_EQ(f32_at(256 + 24 * 4), w.layers[0].wq.to_f32()[0]);
  // v0: header 28 bytes then the embedding, then attn_norm.
  const auto b0 = testing::llama2c_bytes(w, 0);
  float e0, n0;
  std::memcpy(&e0, b0.data() + 28, 4);
  std::memcpy(&n0, b0.data() + 28 + 12 * 4, 4);
  EXPECT_EQ(e0, w.token_embedding.to_f32()[0]);
  EXPECT_EQ(n0, w.layers[0].attn_norm[0]);
}

TEST(Llama2cReader, RealStories260KVersion0) {
  const std::string path = testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(path);
  const LlamaWeights w = load_llama2c(path);
  EXPECT_EQ(w.info.dim, 64);
  EXPECT_EQ(w.info.hidden_dim, 172);
  EXPECT_EQ(w.info.n_layers, 5);
  EXPECT_EQ(w.info.n_heads, 8);
  EXPECT_EQ(w.info.n_kv_heads, 4);
  EXPECT_EQ(w.info.head_dim, 8);
  EXPECT_EQ(w.info.vocab_size, 512);
  EXPECT_EQ(w.info.max_seq_len, 512);
  EXPECT_TRUE(w.info.tied_classifier);
  EXPECT_EQ(w.info.format, "llama2c-v0");
  EXPECT_EQ(w.info.weight_dtype, "f32");
  expect_llama2c_conventions(w.info, path);
  // Trained RMSNorm gains are finite and not all equal to the init value 1.
  bool all_one = true;
  for (float g : w.final_norm) {
    ASSERT_TRUE(std::isfinite(g));
    all_one &= g == 1.0f;
  }
  EXPECT_FALSE(all_one);
  // Re-export as v0 and v1 and read back: identical weights.
  ScopedTempDir tmp;
  for (int version : {0, 1}) {
    const std::string p = tmp.path("re" + std::to_string(version) + ".bin");
    testing::write_llama2c(w, p, version);
    expect_exact(w, load_llama2c(p));
  }
}

TEST(Llama2cReader, RealStories260KQ80WithinToleranceOfFp32) {
  const std::string fp32_path = testing::model_path("stories260K.bin");
  const std::string q80_path = testing::model_path("stories260K_q80.bin");
  SPECLAB_REQUIRE_MODEL(fp32_path);
  SPECLAB_REQUIRE_MODEL(q80_path);
  const LlamaWeights f = load_llama2c(fp32_path);
  const LlamaWeights q = load_weights(q80_path);
  EXPECT_EQ(q.info.format, "llama2c-v2");
  EXPECT_EQ(q.info.weight_dtype, "q8_0");
  expect_same_shape(f.info, q.info);
  // The shared file was exported with group size 32 (header field), not 64.
  expect_q80_close(f, q, 32);
  // Our writer reproduces llama2.c's quantizer: re-quantizing the fp32 model gives bit-identical
  // dequantized values (checks the int8-then-scales-per-tensor layout too).
  ScopedTempDir tmp;
  testing::write_llama2c(f, tmp.path("q.bin"), 2, 32);
  const LlamaWeights mine = load_llama2c(tmp.path("q.bin"));
  const auto a = named_tensors(q), b = named_tensors(mine);
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::size_t n_diff = 0;
    for (std::size_t j = 0; j < a[i].values.size(); ++j) {
      n_diff += a[i].values[j] != b[i].values[j];
    }
    EXPECT_EQ(n_diff, 0u) << a[i].name;
  }
}

TEST(ModelLoader, DirectoryGoesToHfLoaderWhichNeedsConfig) {
  ScopedTempDir tmp;
  try {
    load_weights(tmp.dir());
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.dir()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("config.json is missing"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(detect_model_file(tmp.dir()), ModelFileKind::kHuggingFaceDir);
}

TEST(ModelLoader, SharedPointerHoldsTheSameWeights) {
  const LlamaWeights w = make_weights(kShapes[0], 9);
  ScopedTempDir tmp;
  testing::write_llama2c(w, tmp.path("m.bin"), 1);
  const auto shared = load_weights_shared(tmp.path("m.bin"));
  ASSERT_NE(shared, nullptr);
  expect_exact(w, *shared);
  EXPECT_EQ(detect_model_file(tmp.path("m.bin")), ModelFileKind::kLlama2c);
}

}  // namespace
}  // namespace speclab
