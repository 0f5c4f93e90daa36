// GGUF container parser and llama loader: metadata of every value type, tensor round trips in
// F32/F16/BF16/Q8_0 on random synthetic models, and the real stories260K.gguf (bit-identical to
// stories260K.bin).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "base/error.h"
#include "formats/gguf_container.h"
#include "formats/gguf_weights.h"
#include "base/half.h"
#include "formats/llama2c_weights.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/model_writers.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

using testing::ByteWriter;
using testing::GgufTensorType;
using testing::named_tensors;
using testing::ScopedTempDir;

struct Shape {
  const char* label;
  std::int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
  bool tied;
};

// Q8_0 needs ne[0] (dim for most matrices, hidden for w2, n_heads*head_dim for wo) % 32 == 0.
const Shape kQuantShapes[] = {
    {"gqa_tied", 32, 64, 2, 4, 2, 40, 16, true},
    {"mha_untied", 64, 96, 1, 2, 2, 33, 8, false},
};
const Shape kOddShapes[] = {
    {"odd_hidden_untied", 24, 37, 2, 3, 1, 19, 7, false},
    {"odd_vocab_tied", 16, 44, 3, 4, 2, 11, 9, true},
};

LlamaWeights make_weights(const Shape& s, std::uint64_t seed) {
  ModelInfo info = synthetic_info(s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.vocab, s.seq);
  info.tied_classifier = s.tied;
  info.rope_theta = 500000.0f;
  info.norm_eps = 1e-6f;
  info.bos_id = 3;
  info.eos_ids = {4};
  return random_llama_weights(info, seed);
}

// Largest allowed |x - y| for one value x stored as `type` (y decoded), given the block max.
float tolerance(GgufTensorType type, float x, float block_amax) {
  switch (type) {
    case GgufTensorType::kF32: return 0.0f;
    case GgufTensorType::kF16: return std::fabs(x) * 0x1p-11f + 0x1p-25f;  // half ulp (+subnormal)
    case GgufTensorType::kBF16: return std::fabs(x) * 0x1p-8f + 0x1p-133f;
    case GgufTensorType::kQ8_0:
      // |x - q d| <= d/2 with d = amax/127, plus |q| <= 127 times the f16 rounding of d.
      return block_amax / 127.0f * (0.5f + 127.0f * 0x1p-11f) * (1 + 1e-5f) + 1e-12f;
  }
  return 0.0f;
}

void expect_close(const LlamaWeights& want, const LlamaWeights& got, GgufTensorType type) {
  const auto a = named_tensors(want), b = named_tensors(got);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t t = 0; t < a.size(); ++t) {
    const auto& x = a[t].values;
    const auto& y = b[t].values;
    ASSERT_EQ(x.size(), y.size()) << a[t].name;
    const bool is_norm = a[t].name.find("norm") != std::string::npos;
    const GgufTensorType tt = is_norm ? GgufTensorType::kF32 : type;
    float max_err = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      float amax = 0;
      if (tt == GgufTensorType::kQ8_0) {
        const std::size_t b0 = i / 32 * 32;
        for (std::size_t j = b0; j < b0 + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
      }
      const float e = std::fabs(x[i] - y[i]);
      max_err = std::max(max_err, e);
      ASSERT_LE(e, tolerance(tt, x[i], amax)) << a[t].name << "[" << i << "] " << x[i] << " vs "
                                              << y[i];
    }
    if (tt != GgufTensorType::kF32 && !x.empty()) {
      EXPECT_GT(max_err, 0.0f) << a[t].name << ": lossy type left no error (suspicious)";
    }
  }
}

void expect_info(const ModelInfo& want, const ModelInfo& got, const std::string& path) {
  EXPECT_EQ(got.dim, want.dim);
  EXPECT_EQ(got.hidden_dim, want.hidden_dim);
  EXPECT_EQ(got.n_layers, want.n_layers);
  EXPECT_EQ(got.n_heads, want.n_heads);
  EXPECT_EQ(got.n_kv_heads, want.n_kv_heads);
  EXPECT_EQ(got.head_dim, want.head_dim);
  EXPECT_EQ(got.vocab_size, want.vocab_size);
  EXPECT_EQ(got.max_seq_len, want.max_seq_len);
  EXPECT_EQ(got.tied_classifier, want.tied_classifier);
  EXPECT_FLOAT_EQ(got.rope_theta, want.rope_theta);
  EXPECT_FLOAT_EQ(got.norm_eps, want.norm_eps);
  EXPECT_EQ(got.bos_id, want.bos_id);
  EXPECT_EQ(got.eos_ids, want.eos_ids);
  EXPECT_EQ(got.rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(got.format, "gguf");
  EXPECT_EQ(got.source, path);
}

const char* dtype_of(GgufTensorType t) {
  switch (t) {
    case GgufTensorType::kF32: return "f32";
    case GgufTensorType::kF16: return "f16";
    case GgufTensorType::kBF16: return "bf16";
    case GgufTensorType::kQ8_0: return "q8_0";
  }
  return "";
}

void round_trip(const Shape& s, GgufTensorType type, std::uint64_t seed) {
  SCOPED_TRACE(std::string(s.label) + " " + dtype_of(type));
  const LlamaWeights w = make_weights(s, seed);
  ScopedTempDir tmp;
  const std::string path = tmp.path(std::string(s.label) + ".gguf");
  testing::write_gguf(w, path, type);
  const LlamaWeights got = load_gguf(path);
  expect_info(w.info, got.info, path);
  EXPECT_EQ(got.info.weight_dtype, dtype_of(type));
  expect_close(w, got, type);
  const LlamaWeights via_loader = load_weights(path);
  EXPECT_EQ(via_loader.token_embedding, got.token_embedding);
  EXPECT_EQ(detect_model_file(path), ModelFileKind::kGguf);
}

TEST(GgufRoundTrip, AllTypesOnQuantizableShapes) {
  std::uint64_t seed = 1;
  for (const Shape& s : kQuantShapes) {
    for (GgufTensorType t : {GgufTensorType::kF32, GgufTensorType::kF16, GgufTensorType::kBF16,
                             GgufTensorType::kQ8_0}) {
      round_trip(s, t, seed++);
    }
  }
}

TEST(GgufRoundTrip, FloatTypesOnOddShapes) {
  std::uint64_t seed = 50;
  for (const Shape& s : kOddShapes) {
    for (GgufTensorType t : {GgufTensorType::kF32, GgufTensorType::kF16, GgufTensorType::kBF16}) {
      round_trip(s, t, seed++);
    }
  }
}

TEST(GgufRoundTrip, VocabFromTokenizerAndEmbeddedTokenizerKeys) {
  const LlamaWeights w = make_weights(kOddShapes[1], 7);  // vocab 11
  testing::GgufVocab vocab;
  vocab.model = "gpt2";
  for (int i = 0; i < w.info.vocab_size; ++i) {
    vocab.tokens.push_back("tok" + std::to_string(i));
    vocab.scores.push_back(-0.5f * i);
    vocab.token_types.push_back(i < 3 ? 3 : 1);
  }
  vocab.merges = {"t o", "to k"};
  vocab.bos = 5;
  vocab.eos = 6;
  ScopedTempDir tmp;
  const std::string path = tmp.path("v.gguf");
  testing::write_gguf(w, path, GgufTensorType::kF32, &vocab);
  const GgufFile f(path);
  EXPECT_FALSE(f.has("llama.vocab_size"));
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens"), vocab.tokens);
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores"), vocab.scores);
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type"), vocab.token_types);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges"), vocab.merges);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id"), 5u);
  const LlamaWeights got = load_gguf(path);
  EXPECT_EQ(got.info.vocab_size, w.info.vocab_size);
  EXPECT_EQ(got.info.bos_id, 5);
  EXPECT_EQ(got.info.eos_ids, std::vector<Token>{6});
  EXPECT_EQ(got.token_embedding, w.token_embedding);
}

// Hand-built GGUF v2 file with one key of every value type (incl. nested arrays) and one tensor.
std::vector<std::uint8_t> all_types_file(std::uint32_t version) {
  ByteWriter b;
  b.put_bytes("GGUF", 4);
  b.put<std::uint32_t>(version);
  b.put<std::uint64_t>(1);   // tensors
  b.put<std::uint64_t>(16);  // kv pairs
  auto key = [&](const char* k, GgufType t) {
    b.put_gguf_string(k);
    b.put<std::uint32_t>(static_cast<std::uint32_t>(t));
  };
  key("u8", GgufType::kUint8); b.put<std::uint8_t>(200);
  key("i8", GgufType::kInt8); b.put<std::int8_t>(-100);
  key("u16", GgufType::kUint16); b.put<std::uint16_t>(60000);
  key("i16", GgufType::kInt16); b.put<std::int16_t>(-30000);
  key("u32", GgufType::kUint32); b.put<std::uint32_t>(4000000000u);
  key("i32", GgufType::kInt32); b.put<std::int32_t>(-2000000000);
  key("f32", GgufType::kFloat32); b.put<float>(1.5f);
  key("bool", GgufType::kBool); b.put<std::uint8_t>(1);
  key("str", GgufType::kString); b.put_gguf_string("héllo");
  key("u64", GgufType::kUint64); b.put<std::uint64_t>(1ull << 40);
  key("i64", GgufType::kInt64); b.put<std::int64_t>(-(1ll << 40));
  key("f64", GgufType::kFloat64); b.put<double>(0.125);
  key("arr_i16", GgufType::kArray);
  b.put<std::uint32_t>(static_cast<std::uint32_t>(GgufType::kInt16));
  b.put<std::uint64_t>(3);
  for (std::int16_t v : {-1, 2, 300}) b.put(v);
  key("arr_nested", GgufType::kArray);  // [[1.0, 2.0], []] of float64
  b.put<std::uint32_t>(static_cast<std::uint32_t>(GgufType::kArray));
  b.put<std::uint64_t>(2);
  b.put<std::uint32_t>(static_cast<std::uint32_t>(GgufType::kFloat64));
  b.put<std::uint64_t>(2);
  b.put<double>(1.0);
  b.put<double>(2.0);
  b.put<std::uint32_t>(static_cast<std::uint32_t>(GgufType::kFloat64));
  b.put<std::uint64_t>(0);
  key("arr_bool", GgufType::kArray);
  b.put<std::uint32_t>(static_cast<std::uint32_t>(GgufType::kBool));
  b.put<std::uint64_t>(2);
  b.put<std::uint8_t>(0);
  b.put<std::uint8_t>(1);
  key("general.alignment", GgufType::kUint32); b.put<std::uint32_t>(64);
  // Tensor "t": dims {3, 2} (3 columns, 2 rows) f16, at offset 0.
  b.put_gguf_string("t");
  b.put<std::uint32_t>(2);
  b.put<std::uint64_t>(3);
  b.put<std::uint64_t>(2);
  b.put<std::uint32_t>(kGgmlF16);
  b.put<std::uint64_t>(0);
  b.pad_to(64);
  for (float v : {1.0f, -2.0f, 0.5f, 65504.0f, -0.0f, 3.0f}) b.put<std::uint16_t>(f32_to_f16(v));
  return std::move(b.bytes());
}

TEST(GgufFile, ParsesEveryValueTypeAndNestedArrays) {
  for (std::uint32_t version : {2u, 3u}) {
    ScopedTempDir tmp;
    const std::string path = tmp.path("all.gguf");
    testing::write_bytes(path, all_types_file(version));
    const GgufFile f(path);
    EXPECT_EQ(f.version(), version);
    EXPECT_EQ(f.path(), path);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    EXPECT_EQ(f.get_uint("u8"), 200u);
    EXPECT_EQ(f.get_int("i8"), -100);
    EXPECT_EQ(f.get_uint("u16"), 60000u);
    EXPECT_EQ(f.get_int("i16"), -30000);
    EXPECT_EQ(f.get_uint("u32"), 4000000000u);
    EXPECT_EQ(f.get_int("i32"), -2000000000);
    EXPECT_EQ(f.get_float("f32"), 1.5);
    EXPECT_EQ(f.find("bool")->type, GgufType::kBool);
    EXPECT_EQ(f.find("bool")->uint_value, 1u);
    EXPECT_EQ(f.get_string("str"), "héllo");
    EXPECT_EQ(f.get_uint("u64"), 1ull << 40);
    EXPECT_EQ(f.get_int("i64"), -(1ll << 40));
    EXPECT_EQ(f.get_float("f64"), 0.125);
    EXPECT_EQ(f.get_float("u32"), 4e9);  // integers accepted as floats
    EXPECT_EQ(f.get_int_array("arr_i16"), (std::vector<std::int32_t>{-1, 2, 300}));
    EXPECT_EQ(f.get_float_array("arr_i16"), (std::vector<float>{-1, 2, 300}));
    const GgufValue* nested = f.find("arr_nested");
    ASSERT_NE(nested, nullptr);
    EXPECT_EQ(nested->array_type, GgufType::kArray);
    ASSERT_EQ(nested->arrays.size(), 2u);
    EXPECT_EQ(nested->arrays[0].numbers, (std::vector<double>{1.0, 2.0}));
    EXPECT_EQ(nested->arrays[1].array_size(), 0u);
    EXPECT_EQ(f.find("arr_bool")->numbers, (std::vector<double>{0, 1}));
    EXPECT_EQ(f.find("absent"), nullptr);
    EXPECT_FALSE(f.has("absent"));
    ASSERT_EQ(f.tensors().size(), 1u);
    const auto* t = f.find_tensor("t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dims, (std::vector<std::uint64_t>{3, 2}));
    EXPECT_EQ(f.read_tensor_f32(*t, 6), (std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f, -0.0f, 3.0f}));
    EXPECT_EQ(f.find_tensor("u"), nullptr);
  }
}

void expect_error_mentions(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected speclab::Error";
  } catch (const Error& e) {
    for (const auto& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

TEST(GgufFile, TypedGettersNameKeyAndActualType) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("all.gguf");
  testing::write_bytes(path, all_types_file(3));
  const GgufFile f(path);
  expect_error_mentions([&] { f.get_uint("str"); }, {path, "str", "string"});
  expect_error_mentions([&] { f.get_uint("i8"); }, {path, "i8", "-100"});
  expect_error_mentions([&] { f.get_string("u8"); }, {path, "u8", "uint8"});
  expect_error_mentions([&] { f.get_float("str"); }, {path, "str", "string"});
  expect_error_mentions([&] { f.get_string_array("arr_i16"); }, {path, "arr_i16", "int16"});
  expect_error_mentions([&] { f.get_int_array("f32"); }, {path, "f32", "float32"});
  expect_error_mentions([&] { f.get_float_array("str"); }, {path, "str"});
  expect_error_mentions([&] { f.get_int("missing.key"); }, {path, "missing.key", "missing"});
  expect_error_mentions([&] { f.read_tensor_f32(f.tensors()[0], 5); }, {path, "t", "6", "5"});
}

TEST(GgufReader, MissingOptionalKeysUseDefaults) {
  // No vocab in the writer's output when vocab == nullptr? It writes llama.vocab_size; here we
  // check the token_embd fallback by renaming that key.
  const LlamaWeights w = make_weights(kQuantShapes[0], 3);
  auto bytes = testing::gguf_bytes(w, GgufTensorType::kF32);
  const std::string from = "llama.vocab_size", to = "llama.vocab_sizX";
  auto it = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  ASSERT_NE(it, bytes.end());
  std::copy(to.begin(), to.end(), it);
  ScopedTempDir tmp;
  testing::write_bytes(tmp.path("m.gguf"), bytes);
  const LlamaWeights got = load_gguf(tmp.path("m.gguf"));
  EXPECT_EQ(got.info.vocab_size, w.info.vocab_size);
  EXPECT_EQ(got.token_embedding, w.token_embedding);
}

TEST(GgufReader, RealStories260KIsBitIdenticalToTheBin) {
  const std::string gguf_path = testing::model_path("stories260K.gguf");
  const std::string bin_path = testing::model_path("stories260K.bin");
  SPECLAB_REQUIRE_MODEL(gguf_path);
  SPECLAB_REQUIRE_MODEL(bin_path);
  const GgufFile f(gguf_path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 512u);
  const LlamaWeights g = load_weights(gguf_path);
  const LlamaWeights b = load_weights(bin_path);
  EXPECT_EQ(g.info.format, "gguf");
  EXPECT_EQ(g.info.weight_dtype, "f32");
  EXPECT_EQ(g.info.dim, 64);
  EXPECT_EQ(g.info.hidden_dim, 172);
  EXPECT_EQ(g.info.n_layers, 5);
  EXPECT_EQ(g.info.n_heads, 8);
  EXPECT_EQ(g.info.n_kv_heads, 4);
  EXPECT_EQ(g.info.vocab_size, 512);
  // llama.cpp's llama2.c converter stores output.weight explicitly (a copy of the embedding),
  // so the GGUF model is untied while the .bin shares the classifier: compare the matrices used.
  EXPECT_FALSE(g.info.tied_classifier);
  EXPECT_TRUE(b.info.tied_classifier);
  ASSERT_EQ(g.classifier_matrix().size(), b.classifier_matrix().size());
  EXPECT_EQ(std::memcmp(g.classifier_matrix().data(), b.classifier_matrix().data(),
                        b.classifier_matrix().size() * 4),
            0);
  EXPECT_EQ(g.info.rope_style, RopeStyle::kInterleaved);
  const auto a = named_tensors(g), c = named_tensors(b);
  ASSERT_EQ(a.size(), c.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name == "classifier") continue;  // compared above
    ASSERT_EQ(a[i].values.size(), c[i].values.size()) << a[i].name;
    EXPECT_EQ(std::memcmp(a[i].values.data(), c[i].values.data(), a[i].values.size() * 4), 0)
        << a[i].name << " differs between the .gguf and the .bin";
  }
}

TEST(Half, F16ConversionsRoundToNearestEvenAndCoverSpecials) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // ties to even -> inf
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // tie -> even (0)
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);  // tie -> even
  EXPECT_EQ(f32_to_f16(1.0f + 0x1.8p-11f), 0x3c01);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(INFINITY))));
  // Every finite f16 survives f16 -> f32 -> f16.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<std::uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1.8p-8f), 0x3f81);
}

}  // namespace
}  // namespace speclab
