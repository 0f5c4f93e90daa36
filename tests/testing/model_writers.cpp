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
#include "formats/gguf_writer.h"

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


struct PendingTensor {
  std::string name;
  std::int64_t rows, cols;  // rows == 0: a vector
  DType type;
  std::vector<std::uint8_t> data;
};

std::vector<std::uint8_t> encode(const std::vector<float>& x, std::int64_t cols,
                                 GgufTensorType type, DType& dtype) {
  dtype = gguf_fixture_dtype(type);
  ByteWriter b;
  switch (type) {
    case GgufTensorType::kF32:
      b.put_f32s(x);
      break;
    case GgufTensorType::kF16:
      for (float v : x) b.put<std::uint16_t>(f32_to_f16(v));
      break;
    case GgufTensorType::kBF16:
      for (float v : x) b.put<std::uint16_t>(f32_to_bf16(v));
      break;
    case GgufTensorType::kQ8_0:
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
  GgufWriter g;  // general.alignment 32
  g.set_string("general.architecture", "llama");
  g.set_string("general.name", "speclab-fixture");
  g.set_u32("llama.context_length", m.max_seq_len);
  g.set_u32("llama.embedding_length", m.dim);
  g.set_u32("llama.block_count", m.n_layers);
  g.set_u32("llama.feed_forward_length", m.hidden_dim);
  g.set_u32("llama.rope.dimension_count", m.head_dim);
  g.set_u32("llama.attention.head_count", m.n_heads);
  g.set_u32("llama.attention.head_count_kv", m.n_kv_heads);
  g.set_f32("llama.attention.layer_norm_rms_epsilon", m.norm_eps);
  g.set_f32("llama.rope.freq_base", m.rope_theta);
  if (vocab == nullptr) {
    g.set_u32("llama.vocab_size", m.vocab_size);
    g.set_u32("tokenizer.ggml.bos_token_id", m.bos_id);
    g.set_u32("tokenizer.ggml.eos_token_id", m.eos_ids.empty() ? 2 : m.eos_ids[0]);
  } else {
    g.set_string("tokenizer.ggml.model", vocab->model);
    g.set_string_array("tokenizer.ggml.tokens", vocab->tokens);
    if (!vocab->scores.empty()) g.set_f32_array("tokenizer.ggml.scores", vocab->scores);
    if (!vocab->token_types.empty()) g.set_i32_array("tokenizer.ggml.token_type", vocab->token_types);
    if (!vocab->merges.empty()) g.set_string_array("tokenizer.ggml.merges", vocab->merges);
    g.set_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(vocab->bos));
    g.set_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(vocab->eos));
  }

  std::vector<PendingTensor> tensors;
  auto add = [&](std::string name, const std::vector<float>& x, std::int64_t rows,
                 std::int64_t cols, bool is_norm) {
    PendingTensor t{std::move(name), rows, cols, DType::kF32, {}};
    t.data = encode(x, cols, is_norm ? GgufTensorType::kF32 : type, t.type);
    tensors.push_back(std::move(t));
  };
  auto add_matrix = [&](std::string name, const WeightMatrix& x, std::int64_t rows,
                        std::int64_t cols) {
    const DType want = gguf_fixture_dtype(type);
    if (x.dtype() != want) return add(std::move(name), x.to_f32(), rows, cols, false);
    // already in the file's type: the bytes as they are
    tensors.push_back(PendingTensor{std::move(name), rows, cols, want,
                                    std::vector<std::uint8_t>(x.data(), x.data() + x.n_bytes())});
  };
  const std::int64_t d = m.dim, h = m.hidden_dim, q = std::int64_t(m.n_heads) * m.head_dim,
                     kvd = std::int64_t(m.n_kv_heads) * m.head_dim, v = m.vocab_size;
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

  for (const auto& t : tensors) g.add_tensor(t.name, t.rows, t.cols, t.type);
  std::vector<std::uint8_t> out;
  g.write([&](const std::uint8_t* p, std::size_t n) { out.insert(out.end(), p, p + n); },
          [&](std::size_t i, std::int64_t row0, std::int64_t n, std::uint8_t* dst) {
            const std::size_t rb = g.row_bytes(i);
            SPECLAB_ASSERT(tensors[i].data.size() == rb * std::size_t(g.rows(i)));
            std::memcpy(dst, tensors[i].data.data() + std::size_t(row0) * rb, std::size_t(n) * rb);
          });
  return out;
}

void write_gguf(const LlamaWeights& w, const std::string& path, GgufTensorType type,
                const GgufVocab* vocab) {
  write_bytes(path, gguf_bytes(w, type, vocab));
}

}  // namespace speclab::testing
