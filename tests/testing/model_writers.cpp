#include "tests/testing/model_writers.h"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include <unistd.h>

#include "base/error.h"
#include "base/half.h"

namespace speclab::testing {

ScopedTempDir::ScopedTempDir() {
  static std::atomic<int> counter{0};
  // Prefer RAM-backed /dev/shm: the bad-input tests write thousands of small files.
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::is_directory("/dev/shm", ec)
                                         ? std::filesystem::path("/dev/shm")
                                         : std::filesystem::temp_directory_path();
  const auto base = root /
                    ("speclab-test-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter.fetch_add(1)));
  std::filesystem::create_directories(base);
  dir_ = base.string();
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<NamedTensor> named_tensors(const LlamaWeights& w) {
  std::vector<NamedTensor> out = {{"token_embedding", w.token_embedding.to_f32()}};
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    const LlamaLayerWeights& L = w.layers[l];
    out.push_back({p + "attn_norm", L.attn_norm});
    out.push_back({p + "wq", L.wq.to_f32()});
    out.push_back({p + "wk", L.wk.to_f32()});
    out.push_back({p + "wv", L.wv.to_f32()});
    out.push_back({p + "wo", L.wo.to_f32()});
    out.push_back({p + "ffn_norm", L.ffn_norm});
    out.push_back({p + "w1", L.w1.to_f32()});
    out.push_back({p + "w2", L.w2.to_f32()});
    out.push_back({p + "w3", L.w3.to_f32()});
  }
  out.push_back({"final_norm", w.final_norm});
  out.push_back({"classifier", w.classifier.to_f32()});
  return out;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot open for writing", path);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail("{}: write failed", path);
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open for reading", path);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

namespace {

// llama2.c export.py quantize_q80: int8 values then fp32 scales of one tensor.
void put_q80(ByteWriter& out, const std::vector<float>& x, int group_size) {
  SPECLAB_ASSERT(x.size() % static_cast<std::size_t>(group_size) == 0);
  const std::size_t n_groups = x.size() / group_size;
  std::vector<float> scales(n_groups);
  std::vector<std::int8_t> q(x.size());
  for (std::size_t g = 0; g < n_groups; ++g) {
    float amax = 0.0f;
    for (int i = 0; i < group_size; ++i) amax = std::max(amax, std::fabs(x[g * group_size + i]));
    const float scale = amax / 127.0f;
    scales[g] = scale;
    for (int i = 0; i < group_size; ++i) {
      const float v = scale > 0 ? std::nearbyint(x[g * group_size + i] / scale) : 0.0f;
      q[g * group_size + i] = static_cast<std::int8_t>(std::clamp(v, -127.0f, 127.0f));
    }
  }
  out.put_bytes(q.data(), q.size());
  out.put_f32s(scales);
}

}  // namespace

std::vector<std::uint8_t> llama2c_bytes(const LlamaWeights& w, int version, int group_size) {
  SPECLAB_ASSERT(version >= 0 && version <= 2);
  const ModelInfo& m = w.info;
  ByteWriter out;
  const bool tied = m.tied_classifier;
  auto params = [&](std::int32_t vocab) {
    for (std::int32_t v : {m.dim, m.hidden_dim, m.n_layers, m.n_heads, m.n_kv_heads, vocab,
                           m.max_seq_len}) {
      out.put<std::int32_t>(v);
    }
  };
  auto each = [&](auto member) {
    for (const auto& L : w.layers) {
      if constexpr (std::is_same_v<std::decay_t<decltype(L.*member)>, WeightMatrix>) {
        out.put_f32s((L.*member).to_f32());
      } else {
        out.put_f32s(L.*member);
      }
    }
  };
  if (version == 0) {
    params(tied ? m.vocab_size : -m.vocab_size);
    out.put_f32s(w.token_embedding.to_f32());
    each(&LlamaLayerWeights::attn_norm);
    each(&LlamaLayerWeights::wq);
    each(&LlamaLayerWeights::wk);
    each(&LlamaLayerWeights::wv);
    each(&LlamaLayerWeights::wo);
    each(&LlamaLayerWeights::ffn_norm);
    each(&LlamaLayerWeights::w1);
    each(&LlamaLayerWeights::w2);
    each(&LlamaLayerWeights::w3);
    out.put_f32s(w.final_norm);
    // freq_cis_real / imag: cos / sin(pos * theta^(-2i/head_dim)), [seq_len, head_dim/2] each.
    const int half = m.head_dim / 2;
    for (int part = 0; part < 2; ++part) {
      for (int pos = 0; pos < m.max_seq_len; ++pos) {
        for (int i = 0; i < half; ++i) {
          const double a = pos * std::pow(10000.0, -2.0 * i / m.head_dim);
          out.put<float>(static_cast<float>(part == 0 ? std::cos(a) : std::sin(a)));
        }
      }
    }
    if (!tied) out.put_f32s(w.classifier.to_f32());
    return std::move(out.bytes());
  }
  out.put<std::uint32_t>(0x616b3432);
  out.put<std::int32_t>(version);
  params(m.vocab_size);
  out.put<std::uint8_t>(tied ? 1 : 0);
  if (version == 2) out.put<std::int32_t>(group_size);
  out.pad_to(256);
  each(&LlamaLayerWeights::attn_norm);
  each(&LlamaLayerWeights::ffn_norm);
  out.put_f32s(w.final_norm);
  auto mat = [&](const WeightMatrix& m) {
    const std::vector<float> x = m.to_f32();
    if (version == 1) {
      out.put_f32s(x);
    } else {
      put_q80(out, x, group_size);
    }
  };
  auto each_mat = [&](auto member) {
    for (const auto& L : w.layers) mat(L.*member);
  };
  mat(w.token_embedding);
  each_mat(&LlamaLayerWeights::wq);
  each_mat(&LlamaLayerWeights::wk);
  each_mat(&LlamaLayerWeights::wv);
  each_mat(&LlamaLayerWeights::wo);
  each_mat(&LlamaLayerWeights::w1);
  each_mat(&LlamaLayerWeights::w2);
  each_mat(&LlamaLayerWeights::w3);
  if (!tied) mat(w.classifier);
  return std::move(out.bytes());
}

void write_llama2c(const LlamaWeights& w, const std::string& path, int version, int group_size) {
  write_bytes(path, llama2c_bytes(w, version, group_size));
}

namespace {

constexpr std::uint32_t kAlign = 32;

enum : std::uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kStr = 8, kArr = 9 };

struct PendingTensor {
  std::string name;
  std::vector<std::uint64_t> dims;  // GGUF order: fastest first
  std::uint32_t type;
  std::vector<std::uint8_t> data;
};

std::vector<std::uint8_t> encode(const std::vector<float>& x, std::int64_t cols,
                                 GgufTensorType type, std::uint32_t& type_id) {
  ByteWriter b;
  switch (type) {
    case GgufTensorType::kF32:
      type_id = 0;
      b.put_f32s(x);
      break;
    case GgufTensorType::kF16:
      type_id = 1;
      for (float v : x) b.put<std::uint16_t>(f32_to_f16(v));
      break;
    case GgufTensorType::kBF16:
      type_id = 30;
      for (float v : x) b.put<std::uint16_t>(f32_to_bf16(v));
      break;
    case GgufTensorType::kQ8_0:
      type_id = 8;
      SPECLAB_ASSERT(x.size() % 32 == 0);
      for (std::size_t blk = 0; blk < x.size() / 32; ++blk) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[blk * 32 + i]));
        const float d = amax / 127.0f;
        const float id = d > 0 ? 1.0f / d : 0.0f;
        b.put<std::uint16_t>(f32_to_f16(d));
        for (int i = 0; i < 32; ++i) {
          b.put<std::int8_t>(static_cast<std::int8_t>(std::roundf(x[blk * 32 + i] * id)));
        }
      }
      break;
    default: {
      const DType dt = gguf_fixture_dtype(type);
      type_id = static_cast<std::uint32_t>(dtype_traits(dt).ggml_id);
      SPECLAB_ASSERT(cols > 0 && x.size() % static_cast<std::size_t>(cols) == 0);
      const std::size_t rb = dtype_row_bytes(dt, cols);
      std::vector<std::uint8_t> bytes(rb * (x.size() / cols));
      for (std::size_t r = 0; r < x.size() / cols; ++r) {
        quantize_row(dt, x.data() + r * cols, bytes.data() + r * rb, cols);
      }
      b.put_bytes(bytes.data(), bytes.size());
      break;
    }
  }
  return std::move(b.bytes());
}

}  // namespace

DType gguf_fixture_dtype(GgufTensorType t) {
  switch (t) {
    case GgufTensorType::kF32: return DType::kF32;
    case GgufTensorType::kF16: return DType::kF16;
    case GgufTensorType::kBF16: return DType::kBF16;
    case GgufTensorType::kQ8_0: return DType::kQ8_0;
    case GgufTensorType::kQ4_0: return DType::kQ4_0;
    case GgufTensorType::kQ4_1: return DType::kQ4_1;
    case GgufTensorType::kQ4_K: return DType::kQ4_K;
    case GgufTensorType::kQ5_K: return DType::kQ5_K;
    case GgufTensorType::kQ6_K: return DType::kQ6_K;
  }
  return DType::kF32;
}

std::vector<std::uint8_t> gguf_bytes(const LlamaWeights& w, GgufTensorType type,
                                     const GgufVocab* vocab) {
  const ModelInfo& m = w.info;
  ByteWriter kv;
  std::uint64_t n_kv = 0;
  auto key = [&](std::string_view k, std::uint32_t t) {
    kv.put_gguf_string(k);
    kv.put<std::uint32_t>(t);
    ++n_kv;
  };
  auto kv_u32 = [&](std::string_view k, std::uint32_t v) { key(k, kU32); kv.put(v); };
  auto kv_f32 = [&](std::string_view k, float v) { key(k, kF32); kv.put(v); };
  auto kv_str = [&](std::string_view k, std::string_view v) { key(k, kStr); kv.put_gguf_string(v); };
  kv_str("general.architecture", "llama");
  kv_str("general.name", "speclab-fixture");
  kv_u32("general.alignment", kAlign);
  kv_u32("llama.context_length", m.max_seq_len);
  kv_u32("llama.embedding_length", m.dim);
  kv_u32("llama.block_count", m.n_layers);
  kv_u32("llama.feed_forward_length", m.hidden_dim);
  kv_u32("llama.rope.dimension_count", m.head_dim);
  kv_u32("llama.attention.head_count", m.n_heads);
  kv_u32("llama.attention.head_count_kv", m.n_kv_heads);
  kv_f32("llama.attention.layer_norm_rms_epsilon", m.norm_eps);
  kv_f32("llama.rope.freq_base", m.rope_theta);
  if (vocab == nullptr) {
    kv_u32("llama.vocab_size", m.vocab_size);
    kv_u32("tokenizer.ggml.bos_token_id", m.bos_id);
    kv_u32("tokenizer.ggml.eos_token_id", m.eos_ids.empty() ? 2 : m.eos_ids[0]);
  } else {
    kv_str("tokenizer.ggml.model", vocab->model);
    key("tokenizer.ggml.tokens", kArr);
    kv.put<std::uint32_t>(kStr);
    kv.put<std::uint64_t>(vocab->tokens.size());
    for (const auto& t : vocab->tokens) kv.put_gguf_string(t);
    if (!vocab->scores.empty()) {
      key("tokenizer.ggml.scores", kArr);
      kv.put<std::uint32_t>(kF32);
      kv.put<std::uint64_t>(vocab->scores.size());
      for (float s : vocab->scores) kv.put(s);
    }
    if (!vocab->token_types.empty()) {
      key("tokenizer.ggml.token_type", kArr);
      kv.put<std::uint32_t>(kI32);
      kv.put<std::uint64_t>(vocab->token_types.size());
      for (std::int32_t t : vocab->token_types) kv.put(t);
    }
    if (!vocab->merges.empty()) {
      key("tokenizer.ggml.merges", kArr);
      kv.put<std::uint32_t>(kStr);
      kv.put<std::uint64_t>(vocab->merges.size());
      for (const auto& s : vocab->merges) kv.put_gguf_string(s);
    }
    kv_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(vocab->bos));
    kv_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(vocab->eos));
  }

  std::vector<PendingTensor> tensors;
  auto add = [&](std::string name, const std::vector<float>& x, std::uint64_t rows,
                 std::uint64_t cols, bool is_norm) {
    PendingTensor t;
    t.name = std::move(name);
    t.dims = rows == 0 ? std::vector<std::uint64_t>{cols} : std::vector<std::uint64_t>{cols, rows};
    t.data = encode(x, static_cast<std::int64_t>(cols), is_norm ? GgufTensorType::kF32 : type, t.type);
    tensors.push_back(std::move(t));
  };
  auto add_matrix = [&](std::string name, const WeightMatrix& x, std::uint64_t rows,
                        std::uint64_t cols) {
    const DType want = gguf_fixture_dtype(type);
    if (x.dtype() != want) return add(std::move(name), x.to_f32(), rows, cols, false);
    PendingTensor t;  // already in the file's type: the bytes as they are
    t.name = std::move(name);
    t.dims = {cols, rows};
    t.type = static_cast<std::uint32_t>(dtype_traits(want).ggml_id);
    t.data.assign(x.data(), x.data() + x.n_bytes());
    tensors.push_back(std::move(t));
  };
  const std::uint64_t d = m.dim, h = m.hidden_dim, q = std::uint64_t(m.n_heads) * m.head_dim,
                      kvd = std::uint64_t(m.n_kv_heads) * m.head_dim, v = m.vocab_size;
  add_matrix("token_embd.weight", w.token_embedding, v, d);
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const LlamaLayerWeights& L = w.layers[l];
    add(p + "attn_norm.weight", L.attn_norm, 0, d, true);
    add_matrix(p + "attn_q.weight", L.wq, q, d);
    add_matrix(p + "attn_k.weight", L.wk, kvd, d);
    add_matrix(p + "attn_v.weight", L.wv, kvd, d);
    add_matrix(p + "attn_output.weight", L.wo, d, q);
    add(p + "ffn_norm.weight", L.ffn_norm, 0, d, true);
    add_matrix(p + "ffn_gate.weight", L.w1, h, d);
    add_matrix(p + "ffn_down.weight", L.w2, d, h);
    add_matrix(p + "ffn_up.weight", L.w3, h, d);
  }
  add("output_norm.weight", w.final_norm, 0, d, true);
  if (!m.tied_classifier) add_matrix("output.weight", w.classifier, v, d);

  ByteWriter out;
  out.put_bytes("GGUF", 4);
  out.put<std::uint32_t>(3);
  out.put<std::uint64_t>(tensors.size());
  out.put<std::uint64_t>(n_kv);
  out.put_bytes(kv.bytes().data(), kv.size());
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    out.put_gguf_string(t.name);
    out.put<std::uint32_t>(static_cast<std::uint32_t>(t.dims.size()));
    for (std::uint64_t dim : t.dims) out.put(dim);
    out.put(t.type);
    out.put(offset);
    offset += (t.data.size() + kAlign - 1) / kAlign * kAlign;
  }
  out.pad_to(kAlign);
  for (const auto& t : tensors) {
    out.put_bytes(t.data.data(), t.data.size());
    out.pad_to(kAlign);
  }
  return std::move(out.bytes());
}

void write_gguf(const LlamaWeights& w, const std::string& path, GgufTensorType type,
                const GgufVocab* vocab) {
  write_bytes(path, gguf_bytes(w, type, vocab));
}

}  // namespace speclab::testing
