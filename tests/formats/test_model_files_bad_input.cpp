// Bad model files never crash: truncations at every offset, trailing garbage, wrong magic,
// absurd header values, malformed GGUF metadata and tensor infos. Each must throw
// speclab::Error whose message names the file and the offending field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "base/error.h"
#include "formats/gguf_container.h"
#include "formats/gguf_weights.h"
#include "formats/llama2c_weights.h"
#include "formats/mapped_file.h"
#include "formats/model_loader.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/model_writers.h"

namespace speclab {
namespace {

using testing::ByteWriter;
using testing::GgufTensorType;
using testing::ScopedTempDir;

// Throws-and-names check: fn must throw speclab::Error mentioning every string of `parts`.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected speclab::Error mentioning " << ::testing::PrintToString(parts);
  } catch (const Error& e) {
    for (const auto& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

LlamaWeights tiny_model(bool tied) {
  ModelInfo info = synthetic_info(/*dim=*/8, /*hidden=*/16, /*layers=*/1, /*heads=*/2,
                                  /*kv_heads=*/1, /*vocab=*/8, /*seq=*/4);
  info.tied_classifier = tied;
  return random_llama_weights(info, 11);
}

LlamaWeights q8_model() {  // dims multiple of 32 for GGUF Q8_0
  ModelInfo info = synthetic_info(32, 32, 1, 2, 1, 4, 4);
  info.tied_classifier = false;
  return random_llama_weights(info, 12);
}

std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& b, std::size_t n) {
  return std::vector<std::uint8_t>(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
}

// Writes every strict prefix of `bytes` shorter than `must_fail_below` and expects `load` to
// throw an Error naming the file each time; prefixes from must_fail_below on must load.
void check_truncations(const std::vector<std::uint8_t>& bytes, std::size_t must_fail_below,
                       const std::function<void(const std::string&)>& load) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("truncated.model");
  std::size_t n_failed = 0;
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    testing::write_bytes(path, prefix(bytes, n));
    if (n < must_fail_below) {
      try {
        load(path);
        ADD_FAILURE() << "prefix of " << n << " bytes (of " << bytes.size() << ") loaded";
      } catch (const Error& e) {
        ++n_failed;
        ASSERT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      }
    } else {
      EXPECT_NO_THROW(load(path)) << "prefix of " << n << " bytes";
    }
  }
  EXPECT_EQ(n_failed, must_fail_below);
}

TEST(BadModelFiles, Llama2cTruncatedAtEveryOffset) {
  for (int version : {0, 1, 2}) {
    for (bool tied : {true, false}) {
      SCOPED_TRACE("version " + std::to_string(version) + (tied ? " tied" : " untied"));
      const auto bytes = testing::llama2c_bytes(tiny_model(tied), version, 8);
      check_truncations(bytes, bytes.size(), [](const std::string& p) { load_llama2c(p); });
    }
  }
  // The dispatcher too, on a stride.
  const auto bytes = testing::llama2c_bytes(tiny_model(false), 2, 8);
  ScopedTempDir tmp;
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    testing::write_bytes(tmp.path("t.bin"), prefix(bytes, n));
    expect_error([&] { load_weights(tmp.path("t.bin")); }, {tmp.path("t.bin")});
  }
}

TEST(BadModelFiles, Llama2cTruncationNamesTheTensor) {
  const LlamaWeights w = tiny_model(true);
  const auto bytes = testing::llama2c_bytes(w, 0);
  ScopedTempDir tmp;
  const std::string path = tmp.path("t.bin");
  // Cut inside the first layer's wq: header (28) + embedding (64 floats) + attn_norm (8) + 10 floats.
  testing::write_bytes(path, prefix(bytes, 28 + (64 + 8 + 10) * 4));
  expect_error([&] { load_llama2c(path); }, {path, "layers.0.wq", "beyond file size"});
  testing::write_bytes(path, prefix(bytes, 10));
  expect_error([&] { load_llama2c(path); }, {path, "header", "beyond file size"});
  const auto v2 = testing::llama2c_bytes(w, 2, 8);
  testing::write_bytes(path, prefix(v2, v2.size() - 1));
  expect_error([&] { load_llama2c(path); }, {path, "layers.0.w3", "scales"});
}

TEST(BadModelFiles, Llama2cTrailingBytes) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("t.bin");
  for (int version : {0, 1, 2}) {
    auto bytes = testing::llama2c_bytes(tiny_model(version != 1), version, 8);
    bytes.push_back(0);
    testing::write_bytes(path, bytes);
    expect_error([&] { load_llama2c(path); }, {path, "1 trailing bytes"});
  }
}

// Overwrites int32 field `index` of the 7 header params (dim=0 ... seq_len=6).
std::vector<std::uint8_t> patch_param(std::vector<std::uint8_t> bytes, int version, int index,
                                      std::int32_t value) {
  const std::size_t off = (version == 0 ? 0 : 8) + 4 * static_cast<std::size_t>(index);
  std::memcpy(bytes.data() + off, &value, 4);
  return bytes;
}

TEST(BadModelFiles, Llama2cAbsurdHeaderValues) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("h.bin");
  struct Case {
    int index;
    std::int32_t value;
    const char* field;
  };
  const Case cases[] = {
      {0, -8, "dim"},          {0, 0, "dim"},          {1, -1, "hidden_dim"},
      {2, 0, "n_layers"},      {2, 1 << 30, "n_layers"}, {3, 0, "n_heads"},
      {3, -2, "n_heads"},      {4, 0, "n_kv_heads"},   {4, 4, "n_kv_heads"},  // > n_heads
      {3, 3, "dim"},           // 8 % 3 != 0
      {5, 0x7fffffff, "vocab_size"}, {5, 0, "vocab_size"},
      {6, 0, "max_seq_len"},   {6, -5, "max_seq_len"},
  };
  for (int version : {0, 1, 2}) {
    const auto good = testing::llama2c_bytes(tiny_model(true), version, 8);
    for (const Case& c : cases) {
      SCOPED_TRACE("version " + std::to_string(version) + " field " + c.field + " = " +
                   std::to_string(c.value));
      testing::write_bytes(path, patch_param(good, version, c.index, c.value));
      expect_error([&] { load_llama2c(path); }, {path, c.field});
    }
  }
  // v0 negative vocab means an untied classifier: INT32_MIN must not overflow.
  const auto v0 = testing::llama2c_bytes(tiny_model(true), 0);
  testing::write_bytes(path, patch_param(v0, 0, 5, INT32_MIN));
  expect_error([&] { load_llama2c(path); }, {path, "vocab_size"});
  // A tied file whose header claims untied: the classifier is missing -> truncation.
  testing::write_bytes(path, patch_param(v0, 0, 5, -8));
  expect_error([&] { load_llama2c(path); }, {path, "classifier", "beyond file size"});
}

TEST(BadModelFiles, Llama2cBadVersionFlagsAndGroupSize) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("v.bin");
  auto v2 = testing::llama2c_bytes(tiny_model(true), 2, 8);
  auto patched = [&](std::size_t off, auto value) {
    auto b = v2;
    std::memcpy(b.data() + off, &value, sizeof(value));
    testing::write_bytes(path, b);
  };
  patched(4, std::int32_t{3});
  expect_error([&] { load_llama2c(path); }, {path, "version", "3"});
  patched(36, std::uint8_t{7});
  expect_error([&] { load_llama2c(path); }, {path, "shared_classifier", "7"});
  patched(37, std::int32_t{0});
  expect_error([&] { load_llama2c(path); }, {path, "group_size", "0"});
  patched(37, std::int32_t{-64});
  expect_error([&] { load_llama2c(path); }, {path, "group_size", "-64"});
  patched(37, std::int32_t{3});  // 64 embedding values are not a multiple of 3
  expect_error([&] { load_llama2c(path); }, {path, "token_embedding", "group_size = 3"});
  patched(37, std::int32_t{1 << 30});
  expect_error([&] { load_llama2c(path); }, {path, "group_size"});
}

TEST(BadModelFiles, EmptyMissingAndDirectory) {
  ScopedTempDir tmp;
  const std::string empty = tmp.path("empty.bin");
  testing::write_bytes(empty, {});
  const MappedFile m(empty);
  EXPECT_EQ(m.size(), 0u);
  expect_error([&] { load_llama2c(empty); }, {empty, "header"});
  expect_error([&] { GgufFile g(empty); }, {empty, "magic"});
  expect_error([&] { load_weights(empty); }, {empty});
  const std::string missing = tmp.path("does-not-exist.gguf");
  expect_error([&] { load_weights(missing); }, {missing, "cannot open"});
  expect_error([&] { load_gguf(missing); }, {missing, "cannot open"});
  expect_error([&] { load_llama2c(tmp.dir()); }, {tmp.dir(), "directory"});
}

TEST(BadModelFiles, ByteReaderNeverReadsPastTheEnd) {
  const std::uint8_t data[6] = {1, 2, 3, 4, 5, 6};
  ByteReader r("mem", data, sizeof(data));
  EXPECT_EQ(r.read<std::uint32_t>("a"), 0x04030201u);
  expect_error([&] { r.read<std::uint32_t>("b"); }, {"mem", "b", "offset 4 + 4 bytes beyond file size 6"});
  EXPECT_EQ(r.offset(), 4u);  // a failed read does not move the cursor
  expect_error([&] { r.take(~0ull, "huge"); }, {"mem", "huge"});
  expect_error([&] { r.seek(7, "s"); }, {"mem", "s"});
  EXPECT_EQ(r.read<std::uint16_t>("c"), 0x0605u);
  EXPECT_EQ(r.remaining(), 0u);
}

// ---- GGUF ----

TEST(BadModelFiles, GgufTruncatedAtEveryOffset) {
  for (GgufTensorType t : {GgufTensorType::kF32, GgufTensorType::kQ8_0}) {
    const auto bytes = t == GgufTensorType::kF32 ? testing::gguf_bytes(tiny_model(false), t)
                                                 : testing::gguf_bytes(q8_model(), t);
    // The file ends with padding after the last tensor: prefixes that keep all tensor data are
    // valid. Find where the last tensor's data ends.
    ScopedTempDir tmp;
    testing::write_bytes(tmp.path("full.gguf"), bytes);
    const GgufFile full(tmp.path("full.gguf"));
    const auto& last = full.tensors().back();
    std::uint64_t n = 1;
    for (auto d : last.dims) n *= d;
    const std::uint64_t n_bytes = last.type == kGgmlQ8_0 ? n / 32 * 34 : n * 4;
    const std::size_t end = full.data_offset() + last.offset + n_bytes;
    ASSERT_LE(end, bytes.size());
    check_truncations(bytes, end, [](const std::string& p) { load_gguf(p); });
  }
}

TEST(BadModelFiles, GgufWrongMagicAndVersion) {
  auto bytes = testing::gguf_bytes(tiny_model(true), GgufTensorType::kF32);
  ScopedTempDir tmp;
  const std::string path = tmp.path("m.gguf");
  auto b = bytes;
  b[3] = 'X';
  testing::write_bytes(path, b);
  expect_error([&] { load_gguf(path); }, {path, "magic", "not a GGUF file"});
  expect_error([&] { load_weights(path); }, {path});  // falls to the llama2.c v0 path: rejected
  for (std::uint32_t v : {1u, 4u, 0xffffffffu}) {
    b = bytes;
    std::memcpy(b.data() + 4, &v, 4);
    testing::write_bytes(path, b);
    expect_error([&] { load_weights(path); }, {path, "version", std::to_string(v)});
  }
}

// Minimal GGUF v3 file: the given kv bytes (n_kv pairs) then the given tensor-info bytes.
std::vector<std::uint8_t> gguf_file(std::uint64_t n_kv, const ByteWriter& kv, std::uint64_t n_tensors,
                                    const ByteWriter& infos, std::size_t data_bytes = 0) {
  ByteWriter b;
  b.put_bytes("GGUF", 4);
  b.put<std::uint32_t>(3);
  b.put<std::uint64_t>(n_tensors);
  b.put<std::uint64_t>(n_kv);
  b.put_bytes(kv.bytes().data(), kv.size());
  b.put_bytes(infos.bytes().data(), infos.size());
  b.pad_to(32);
  for (std::size_t i = 0; i < data_bytes; ++i) b.put<std::uint8_t>(0);
  return std::move(b.bytes());
}

TEST(BadModelFiles, GgufMalformedMetadata) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("m.gguf");
  auto load = [&](const std::vector<std::uint8_t>& bytes) {
    testing::write_bytes(path, bytes);
    GgufFile f(path);
  };
  const ByteWriter none;
  {  // unknown value type
    ByteWriter kv;
    kv.put_gguf_string("weird.key");
    kv.put<std::uint32_t>(13);
    kv.put<std::uint32_t>(0);
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "weird.key", "13", "unknown GGUF value type"});
  }
  {  // unknown array element type
    ByteWriter kv;
    kv.put_gguf_string("arr");
    kv.put<std::uint32_t>(9);
    kv.put<std::uint32_t>(77);
    kv.put<std::uint64_t>(1);
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "arr", "77"});
  }
  {  // key string length beyond the file
    ByteWriter kv;
    kv.put<std::uint64_t>(1ull << 40);
    kv.put_bytes("abc", 3);
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "metadata[0].key", "beyond file size"});
  }
  {  // string value length beyond the file
    ByteWriter kv;
    kv.put_gguf_string("s");
    kv.put<std::uint32_t>(8);
    kv.put<std::uint64_t>(~0ull);
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "key s", "beyond file size"});
  }
  {  // absurd array count: rejected before allocating
    ByteWriter kv;
    kv.put_gguf_string("big");
    kv.put<std::uint32_t>(9);
    kv.put<std::uint32_t>(8);  // of strings
    kv.put<std::uint64_t>(1ull << 60);
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "big", "array count"});
  }
  {  // arrays nested too deep
    ByteWriter kv;
    kv.put_gguf_string("deep");
    kv.put<std::uint32_t>(9);
    for (int i = 0; i < 20; ++i) {
      kv.put<std::uint32_t>(9);
      kv.put<std::uint64_t>(1);
    }
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "deep", "nested"});
  }
  {  // bool out of range, duplicate key, bad alignment
    ByteWriter kv;
    kv.put_gguf_string("b");
    kv.put<std::uint32_t>(7);
    kv.put<std::uint8_t>(2);
    expect_error([&] { load(gguf_file(1, kv, 0, none)); }, {path, "key b", "bool"});
    ByteWriter dup;
    for (int i = 0; i < 2; ++i) {
      dup.put_gguf_string("k");
      dup.put<std::uint32_t>(0);
      dup.put<std::uint8_t>(1);
    }
    expect_error([&] { load(gguf_file(2, dup, 0, none)); }, {path, "key k", "duplicate"});
    ByteWriter al;
    al.put_gguf_string("general.alignment");
    al.put<std::uint32_t>(4);
    al.put<std::uint32_t>(24);
    expect_error([&] { load(gguf_file(1, al, 0, none)); }, {path, "general.alignment", "24"});
  }
  // absurd kv and tensor counts
  expect_error([&] { load(gguf_file(1ull << 62, none, 0, none)); }, {path, "metadata_kv_count"});
  expect_error([&] { load(gguf_file(0, none, 1ull << 62, none)); }, {path, "tensor_count"});
}

ByteWriter one_tensor_info(const std::string& name, std::vector<std::uint64_t> dims,
                           std::uint32_t type, std::uint64_t offset, std::uint32_t n_dims = 0) {
  ByteWriter t;
  t.put_gguf_string(name);
  t.put<std::uint32_t>(n_dims ? n_dims : static_cast<std::uint32_t>(dims.size()));
  for (auto d : dims) t.put(d);
  t.put(type);
  t.put(offset);
  return t;
}

TEST(BadModelFiles, GgufMalformedTensorInfos) {
  ScopedTempDir tmp;
  const std::string path = tmp.path("t.gguf");
  const ByteWriter none;
  auto write = [&](const ByteWriter& infos, std::size_t data_bytes) {
    testing::write_bytes(path, gguf_file(0, none, 1, infos, data_bytes));
  };
  write(one_tensor_info("x", {4}, 99, 0), 32);
  const GgufFile f(path);  // unknown types parse; reading them fails naming the id
  expect_error([&] { f.read_tensor_f32(f.tensors()[0], 4); }, {path, "x", "type id 99"});
  write(one_tensor_info("x", {32}, 6, 0), 32);  // Q5_0: known to ggml but unsupported here
  const GgufFile g(path);
  expect_error([&] { g.read_tensor_f32(g.tensors()[0], 32); }, {path, "x", "type id 6", "Q5_0", "unsupported"});
  write(one_tensor_info("x", {4}, 2, 0), 32);  // Q4_0 rows must be whole blocks of 32
  const GgufFile g2(path);
  expect_error([&] { g2.read_tensor_f32(g2.tensors()[0], 4); }, {path, "x", "dims[0] = 4", "block size 32"});
  write(one_tensor_info("x", {4, 1, 1, 1, 1}, 0, 0), 32);
  expect_error([&] { GgufFile h(path); }, {path, "tensor x", "n_dims = 5"});
  write(one_tensor_info("x", {1ull << 40, 1ull << 40}, 0, 0), 32);
  expect_error([&] { GgufFile h(path); }, {path, "tensor x", "dims[1]"});
  write(one_tensor_info("x", {0}, 0, 0), 32);
  expect_error([&] { GgufFile h(path); }, {path, "tensor x", "dims[0] = 0"});
  write(one_tensor_info("x", {16}, 0, 0), 32);  // 64 bytes of data needed, 32 present
  expect_error([&] { GgufFile h(path); }, {path, "tensor x data", "beyond file size"});
  write(one_tensor_info("x", {4}, 0, 1ull << 62), 32);
  expect_error([&] { GgufFile h(path); }, {path, "tensor x data", "beyond file size"});
  write(one_tensor_info("x", {4}, 0, 8), 64);  // offset not a multiple of the alignment
  expect_error([&] { GgufFile h(path); }, {path, "tensor x", "alignment"});
  write(one_tensor_info("x", {48}, 8, 0), 128);  // Q8_0 row of 48 is not whole blocks
  const GgufFile q(path);
  expect_error([&] { q.read_tensor_f32(q.tensors()[0], 48); }, {path, "x", "block size"});
}

// Replaces the first occurrence of `from` by `to` (same length) in bytes.
void replace_once(std::vector<std::uint8_t>& bytes, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  auto it = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  ASSERT_NE(it, bytes.end()) << from;
  std::copy(to.begin(), to.end(), it);
}

TEST(BadModelFiles, GgufLlamaMissingTensorsKeysAndWrongShapes) {
  const LlamaWeights w = tiny_model(true);
  const auto good = testing::gguf_bytes(w, GgufTensorType::kF32);
  ScopedTempDir tmp;
  const std::string path = tmp.path("l.gguf");
  auto check = [&](const std::string& from, const std::string& to,
                   const std::vector<std::string>& parts) {
    auto b = good;
    replace_once(b, from, to);
    testing::write_bytes(path, b);
    std::vector<std::string> all = parts;
    all.push_back(path);
    expect_error([&] { load_gguf(path); }, all);
  };
  check("blk.0.ffn_up.weight", "blk.0.ffn_uq.weight", {"tensor blk.0.ffn_up.weight", "missing"});
  check("token_embd.weight", "token_embX.weight", {"tensor token_embd.weight", "missing"});
  check("output_norm.weight", "output_norX.weight", {"output_norm.weight", "missing"});
  check("llama.block_count", "llama.block_cxunt", {"key llama.block_count", "missing"});
  check("llama.attention.layer_norm_rms_epsilon", "llama.attention.layer_norm_rms_epsilox",
        {"llama.attention.layer_norm_rms_epsilon", "missing"});
  check("general.architecture", "general.architecturX", {"general.architecture", "missing"});
  using namespace std::string_literals;
  check("\x05\0\0\0\0\0\0\0llama"s, "\x05\0\0\0\0\0\0\0qwen3"s, {"general.architecture", "qwen3"});

  // Header disagreeing with tensor shapes; absurd header values.
  auto patch_u32_key = [&](const std::string& key, std::uint32_t value) {
    auto b = good;
    auto it = std::search(b.begin(), b.end(), key.begin(), key.end());
    EXPECT_NE(it, b.end());
    std::memcpy(&*(it + static_cast<std::ptrdiff_t>(key.size()) + 4), &value, 4);  // after type
    testing::write_bytes(path, b);
  };
  patch_u32_key("llama.feed_forward_length", 17);
  expect_error([&] { load_gguf(path); }, {path, "blk.0.ffn_gate.weight", "dims"});
  patch_u32_key("llama.attention.head_count_kv", 4);
  expect_error([&] { load_gguf(path); }, {path, "n_kv_heads"});
  patch_u32_key("llama.attention.head_count", 3);
  expect_error([&] { load_gguf(path); }, {path, "llama.embedding_length", "head_count"});
  patch_u32_key("llama.block_count", 0xffffffffu);
  expect_error([&] { load_gguf(path); }, {path, "llama.block_count"});
  patch_u32_key("llama.vocab_size", 1u << 31);
  expect_error([&] { load_gguf(path); }, {path, "llama.vocab_size"});
  patch_u32_key("tokenizer.ggml.eos_token_id", 1000);
  expect_error([&] { load_gguf(path); }, {path, "eos"});

  // Optional keys that must agree or be supported: head size and rope scaling.
  auto with_extra_key = [&](const std::string& key, std::uint32_t type, const ByteWriter& value) {
    auto b = good;
    std::uint64_t n_kv;
    std::memcpy(&n_kv, b.data() + 16, 8);
    ++n_kv;
    std::memcpy(b.data() + 16, &n_kv, 8);
    ByteWriter kv;
    kv.put_gguf_string(key);
    kv.put(type);
    kv.put_bytes(value.bytes().data(), value.size());
    b.insert(b.begin() + 24, kv.bytes().begin(), kv.bytes().end());  // first kv pair
    b.resize(b.size() + 64, 0);  // keep every (shifted) tensor extent inside the file
    testing::write_bytes(path, b);
  };
  ByteWriter u32_3;
  u32_3.put<std::uint32_t>(3);
  with_extra_key("llama.attention.key_length", 4, u32_3);
  expect_error([&] { load_gguf(path); }, {path, "llama.attention.key_length", "3"});
  ByteWriter yarn;
  yarn.put_gguf_string("yarn");
  with_extra_key("llama.rope.scaling.type", 8, yarn);
  expect_error([&] { load_gguf(path); }, {path, "llama.rope.scaling.type", "yarn"});
  ByteWriter linear;
  linear.put_gguf_string("linear");
  with_extra_key("llama.rope.scaling.type", 8, linear);  // factor missing
  expect_error([&] { load_gguf(path); }, {path, "llama.rope.scaling.factor", "missing"});

  // Unknown tensor type on a weight the loader needs.
  auto b = good;
  const std::string name = "blk.0.attn_q.weight";
  auto it = std::search(b.begin(), b.end(), name.begin(), name.end());
  ASSERT_NE(it, b.end());
  const std::uint32_t bad_type = 123;
  std::memcpy(&*(it + static_cast<std::ptrdiff_t>(name.size()) + 4 + 16), &bad_type, 4);
  testing::write_bytes(path, b);
  expect_error([&] { load_gguf(path); }, {path, name, "type id 123"});
}

}  // namespace
}  // namespace speclab
