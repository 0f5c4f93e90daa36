// The streaming GGUF writer (formats/gguf_writer.h) and the random-model files written with it
// (formats/random_gguf.h): what is written reads back through our GGUF parser and loader, the
// bytes do not depend on block size or thread count, and failures name the tensor or the path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "base/error.h"
#include "formats/gguf_container.h"
#include "formats/gguf_writer.h"
#include "formats/model_loader.h"
#include "formats/random_gguf.h"
#include "model/llama_model.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/decode_lossless.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::ScopedTempDir;

float value(std::size_t tensor, std::int64_t row, std::int64_t col) {
  return std::sin(0.37f * float(tensor + 1) + 0.11f * float(row) + 0.013f * float(col * col));
}

struct Spec {
  const char* name;
  std::int64_t rows, cols;
  DType type;
};
const Spec kSpecs[] = {{"norm", 0, 5, DType::kF32},
                       {"a.f16", 3, 7, DType::kF16},
                       {"b.bf16", 2, 9, DType::kBF16},
                       {"c.q8_0", 4, 64, DType::kQ8_0},
                       {"d.q4_k", 3, 256, DType::kQ4_K},
                       {"e.q6_k", 2, 512, DType::kQ6_K}};

GgufWriter demo_writer() {
  GgufWriter w;
  w.set_string("general.architecture", "demo");
  w.set_u32("demo.count", 7);
  w.set_f32("demo.eps", 0.25f);
  w.set_string_array("demo.names", {"x", "", "zz"});
  w.set_f32_array("demo.scores", {1.5f, -2.0f});
  w.set_i32_array("demo.ids", {-3, 4});
  for (const Spec& s : kSpecs) w.add_tensor(s.name, s.rows, s.cols, s.type);
  return w;
}

void fill_demo(const GgufWriter& w, std::size_t t, std::int64_t row0, std::int64_t n,
               std::uint8_t* dst) {
  std::vector<float> row(static_cast<std::size_t>(w.cols(t)));
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t c = 0; c < w.cols(t); ++c) row[std::size_t(c)] = value(t, row0 + r, c);
    quantize_row(w.type(t), row.data(), dst + std::size_t(r) * w.row_bytes(t), w.cols(t));
  }
}

std::vector<std::uint8_t> demo_bytes(std::size_t block_bytes) {
  const GgufWriter w = demo_writer();
  std::vector<std::uint8_t> out;
  w.write([&](const std::uint8_t* d, std::size_t n) { out.insert(out.end(), d, d + n); },
          [&](std::size_t t, std::int64_t r, std::int64_t n, std::uint8_t* dst) {
            EXPECT_LE(std::size_t(n) * w.row_bytes(t), std::max(block_bytes, w.row_bytes(t)));
            fill_demo(w, t, r, n, dst);
          },
          block_bytes);
  EXPECT_EQ(out.size(), w.file_size());
  return out;
}

TEST(GgufWriter, WritesMetadataAndTensorsThatOurParserReadsBack) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("demo.gguf");
  const GgufWriter w = demo_writer();
  w.write_file(path, [&](std::size_t t, std::int64_t r, std::int64_t n, std::uint8_t* dst) {
    fill_demo(w, t, r, n, dst);
  });
  EXPECT_EQ(testing::read_bytes(path).size(), w.file_size());

  const GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_string("general.architecture"), "demo");
  EXPECT_EQ(f.get_uint("demo.count"), 7u);
  EXPECT_EQ(f.get_float("demo.eps"), 0.25);
  EXPECT_EQ(f.get_string_array("demo.names"), (std::vector<std::string>{"x", "", "zz"}));
  EXPECT_EQ(f.get_float_array("demo.scores"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.get_int_array("demo.ids"), (std::vector<std::int32_t>{-3, 4}));
  ASSERT_EQ(f.tensors().size(), std::size(kSpecs));
  for (std::size_t t = 0; t < std::size(kSpecs); ++t) {
    const Spec& s = kSpecs[t];
    const auto* info = f.find_tensor(s.name);
    ASSERT_NE(info, nullptr) << s.name;
    EXPECT_EQ(info->offset % 32, 0u) << s.name;
    EXPECT_EQ(info->type, std::uint32_t(dtype_traits(s.type).ggml_id)) << s.name;
    const std::int64_t rows = s.rows == 0 ? 1 : s.rows;
    const std::vector<std::uint64_t> dims =
        s.rows == 0 ? std::vector<std::uint64_t>{std::uint64_t(s.cols)}
                    : std::vector<std::uint64_t>{std::uint64_t(s.cols), std::uint64_t(s.rows)};
    EXPECT_EQ(info->dims, dims);
    const std::vector<float> got = f.read_tensor_f32(*info, std::uint64_t(rows * s.cols));
    std::vector<float> row(std::size_t(s.cols)), want(std::size_t(s.cols));
    std::vector<std::uint8_t> enc(dtype_row_bytes(s.type, s.cols));
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < s.cols; ++c) row[std::size_t(c)] = value(t, r, c);
      quantize_row(s.type, row.data(), enc.data(), s.cols);
      dequantize_row(s.type, enc.data(), want.data(), s.cols);
      for (std::int64_t c = 0; c < s.cols; ++c) {
        ASSERT_EQ(got[std::size_t(r * s.cols + c)], want[std::size_t(c)]) << s.name << " " << r << "," << c;
      }
    }
  }
}

TEST(GgufWriter, BytesDoNotDependOnTheBlockSize) {
  const std::vector<std::uint8_t> whole = demo_bytes(32u << 20);
  EXPECT_EQ(demo_bytes(1), whole);    // one row per block
  EXPECT_EQ(demo_bytes(300), whole);  // a few rows per block
}

TEST(GgufWriter, RefusesATypeThatCannotHoldTheRowAndNamesTheTensor) {
  GgufWriter w;
  try {
    w.add_tensor("blk.0.ffn_down.weight", 4, 100, DType::kQ4_K);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("blk.0.ffn_down.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("q4_k"), std::string::npos) << m;
    EXPECT_NE(m.find("256"), std::string::npos) << m;
    EXPECT_NE(m.find("100"), std::string::npos) << m;
  }
  EXPECT_THROW(w.add_tensor("x", 1, 32, DType::kQ8_0F), Error);  // internal type, no GGUF id
  EXPECT_THROW(w.add_tensor("x", 1, 0, DType::kF32), Error);
  EXPECT_THROW(w.add_tensor("x", -1, 8, DType::kF32), Error);
}

TEST(GgufWriter, FailedWriteNamesThePathAndLeavesNoPartialFile) {
  ScopedTempDir tmp;
  const GgufWriter w = demo_writer();
  const std::string bad = tmp.path("no-such-dir/x.gguf");
  try {
    w.write_file(bad, [](std::size_t, std::int64_t, std::int64_t, std::uint8_t*) {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
  const std::string path = tmp.path("partial.gguf");
  EXPECT_THROW(w.write_file(path,
                            [](std::size_t t, std::int64_t, std::int64_t, std::uint8_t*) {
                              if (t == 3) throw Error("generator failed");
                            }),
               Error);
  EXPECT_EQ(std::fopen(path.c_str(), "rb"), nullptr) << "partial file left behind";
}

ModelInfo small_q4k_shape() {
  ModelInfo info = synthetic_info(256, 512, 2, 4, 2, 300, 64);
  info.tied_classifier = false;
  return info;
}

TEST(RandomGguf, LoadsWithItsShapeTypeAndRowValues) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("random.gguf");
  const ModelInfo info = small_q4k_shape();
  const std::uint64_t bytes = write_random_llama_gguf(path, info, DType::kQ4_K, 7, 2);
  EXPECT_EQ(testing::read_bytes(path).size(), bytes);
  const LlamaWeights w = load_weights(path);
  EXPECT_EQ(w.info.dim, info.dim);
  EXPECT_EQ(w.info.hidden_dim, info.hidden_dim);
  EXPECT_EQ(w.info.n_layers, info.n_layers);
  EXPECT_EQ(w.info.n_heads, info.n_heads);
  EXPECT_EQ(w.info.n_kv_heads, info.n_kv_heads);
  EXPECT_EQ(w.info.vocab_size, info.vocab_size);
  EXPECT_EQ(w.info.max_seq_len, info.max_seq_len);
  EXPECT_FALSE(w.info.tied_classifier);
  for (const auto& [name, m] : w.matrices()) EXPECT_EQ(m->dtype(), DType::kQ4_K) << name;

  // Embedding row 5 (tensor 0, scale 1) and layer 0's attention norm (tensor 1, 1 +- 0.1, F32).
  std::vector<float> row(256), want(256), got(256);
  std::vector<std::uint8_t> enc(dtype_row_bytes(DType::kQ4_K, 256));
  random_gguf_row(7, 0, 5, 1.0, 0.0, row.data(), 256);
  quantize_row(DType::kQ4_K, row.data(), enc.data(), 256);
  dequantize_row(DType::kQ4_K, enc.data(), want.data(), 256);
  w.token_embedding.dequantize_row(5, got.data());
  EXPECT_EQ(got, want);
  random_gguf_row(7, 1, 0, 0.1, 1.0, row.data(), 256);
  EXPECT_EQ(w.layers[0].attn_norm, row);
  // The law: uniform with the stated mean and variance.
  double sum = 0, sq = 0;
  std::vector<float> big(100000);
  random_gguf_row(3, 2, 0, 0.5, 0.0, big.data(), std::int64_t(big.size()));
  for (float x : big) {
    EXPECT_LE(std::fabs(x), std::sqrt(3.0) * 0.5 + 1e-6);
    sum += x;
    sq += double(x) * x;
  }
  EXPECT_NEAR(sum / big.size(), 0.0, 0.01);
  EXPECT_NEAR(sq / big.size(), 0.25, 0.01);
}

TEST(RandomGguf, BytesDoNotDependOnTheThreadCount) {
  ScopedTempDir tmp;
  const ModelInfo info = small_q4k_shape();
  write_random_llama_gguf(tmp.path("1.gguf"), info, DType::kQ8_0, 11, 1);
  write_random_llama_gguf(tmp.path("2.gguf"), info, DType::kQ8_0, 11, 2);
  write_random_llama_gguf(tmp.path("3.gguf"), info, DType::kQ8_0, 12, 2);
  EXPECT_EQ(testing::read_bytes(tmp.path("1.gguf")), testing::read_bytes(tmp.path("2.gguf")));
  EXPECT_NE(testing::read_bytes(tmp.path("1.gguf")), testing::read_bytes(tmp.path("3.gguf")));
}

TEST(RandomGguf, ATypeThatCannotHoldTheShapeNamesPathAndTensor) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("bad.gguf");
  try {
    write_random_llama_gguf(path, *named_shape("stories260K"), DType::kQ4_K, 1, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("token_embd.weight"), std::string::npos) << m;
  }
  EXPECT_EQ(std::fopen(path.c_str(), "rb"), nullptr);
}

TEST(RandomGguf, NamedShapes) {
  const auto b7 = named_shape("7B");
  ASSERT_TRUE(b7.has_value());
  EXPECT_EQ(b7->dim, 4096);
  EXPECT_EQ(b7->hidden_dim, 11008);
  EXPECT_EQ(b7->n_layers, 32);
  EXPECT_FALSE(b7->tied_classifier);
  EXPECT_NEAR(double(b7->n_params()), 6.74e9, 0.01e9);  // Llama-2-7B: 6.74 B parameters
  ASSERT_TRUE(named_shape("1b").has_value());
  EXPECT_EQ(named_shape("1b")->n_kv_heads, 8);
  EXPECT_EQ(named_shape("stories110m")->dim, 768);
  EXPECT_FALSE(named_shape("13B").has_value());
}

TEST(RandomGguf, GreedySpeculativeOutputOnTheFileEqualsAutoregressive) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("random.gguf");
  write_random_llama_gguf(path, small_q4k_shape(), DType::kQ4_K, 5, 2);
  const auto w = load_weights_shared(path);
  LlamaModel target(w, 2);
  testing::expect_greedy_lossless(target, "ngram", {{1, 17, 99, 3}, {1, 5, 6, 7, 5, 6, 7}}, 16);
}

}  // namespace
}  // namespace speclab
