#include "formats/llama2c_weights.h"

#include <cstring>

#include "base/error.h"
#include "formats/mapped_file.h"

namespace speclab {

namespace {

constexpr std::uint64_t kHeaderBytesV1 = 256;

struct RawHeader {
  std::int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

RawHeader read_params(ByteReader& r) {
  RawHeader h{};
  h.dim = r.read<std::int32_t>("header.dim");
  h.hidden_dim = r.read<std::int32_t>("header.hidden_dim");
  h.n_layers = r.read<std::int32_t>("header.n_layers");
  h.n_heads = r.read<std::int32_t>("header.n_heads");
  h.n_kv_heads = r.read<std::int32_t>("header.n_kv_heads");
  h.vocab_size = r.read<std::int32_t>("header.vocab_size");
  h.seq_len = r.read<std::int32_t>("header.seq_len");
  return h;
}

// Builds and validates the ModelInfo of a header whose vocab_size is already non-negative.
ModelInfo make_info(const std::string& path, const RawHeader& h, std::int64_t vocab, bool tied,
                    const char* format, const char* dtype) {
  ModelInfo m;
  m.arch = "llama";
  m.source = path;
  m.format = format;
  m.weight_dtype = dtype;
  m.dim = h.dim;
  m.hidden_dim = h.hidden_dim;
  m.n_layers = h.n_layers;
  m.n_heads = h.n_heads;
  m.n_kv_heads = h.n_kv_heads;
  if (vocab > (1 << 30)) fail("{}: header.vocab_size = {}: absurdly large", path, vocab);
  m.vocab_size = static_cast<std::int32_t>(vocab);
  m.max_seq_len = h.seq_len;
  m.rope_style = RopeStyle::kInterleaved;
  m.rope_theta = 10000.0f;
  m.norm_eps = 1e-5f;
  m.bos_id = 1;
  m.eos_ids = {2};
  m.tied_classifier = tied;
  if (h.n_heads > 0 && h.dim > 0 && h.dim % h.n_heads != 0) {
    fail("{}: header.dim = {}: must be divisible by n_heads = {}", path, h.dim, h.n_heads);
  }
  m.head_dim = h.n_heads > 0 ? h.dim / h.n_heads : 0;
  m.validate();
  return m;
}

// Reads n fp32 values of `name`.
std::vector<float> read_f32(ByteReader& r, std::int64_t n, const std::string& name) {
  const std::uint8_t* p = r.take(static_cast<std::uint64_t>(n) * sizeof(float), name);
  std::vector<float> v(static_cast<std::size_t>(n));
  if (n > 0) std::memcpy(v.data(), p, v.size() * sizeof(float));
  return v;
}

// Reads a [rows, cols] fp32 matrix `name` as a view into the memory map.
WeightMatrix read_f32_matrix(ByteReader& r, std::int64_t rows, std::int64_t cols,
                             const std::string& name, const std::shared_ptr<const MappedFile>& file) {
  const std::uint8_t* p =
      r.take(static_cast<std::uint64_t>(rows * cols) * sizeof(float), name);
  return WeightMatrix::view(DType::kF32, rows, cols, p, file);
}

// Reads rows * cols int8 values then rows * cols / group_size fp32 scales of `name`. When every
// 32-block of a row lies inside one group (cols and group_size multiples of 32), the groups are
// repacked exactly as q8_0f blocks (ops/quant.h: fp32 scale + 32 int8); otherwise the values are
// dequantised to fp32 (w = q * scale[group], exactly as llama2.c's run.c computes them).
WeightMatrix read_q80(ByteReader& r, std::int64_t rows, std::int64_t cols,
                      std::int64_t group_size, const std::string& name) {
  const std::int64_t n = rows * cols;
  if (n % group_size != 0) {
    fail("{}: tensor {} has {} elements: not a multiple of group_size = {}", r.name(), name, n,
         group_size);
  }
  const auto* q = reinterpret_cast<const std::int8_t*>(
      r.take(static_cast<std::uint64_t>(n), name + " (int8 values)"));
  const std::int64_t n_groups = n / group_size;
  const std::uint8_t* s = r.take(static_cast<std::uint64_t>(n_groups) * sizeof(float),
                                 name + " (fp32 scales)");
  auto scale_of = [&](std::int64_t i) {
    float scale;
    std::memcpy(&scale, s + (i / group_size) * sizeof(float), sizeof(float));
    return scale;
  };
  if (cols % 32 == 0 && group_size % 32 == 0) {
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n / 32) * 36);
    for (std::int64_t b = 0; b < n / 32; ++b) {
      std::uint8_t* blk = bytes.data() + b * 36;
      const float d = scale_of(b * 32);
      std::memcpy(blk, &d, sizeof d);
      std::memcpy(blk + 4, q + b * 32, 32);
    }
    return WeightMatrix::from_bytes(DType::kQ8_0F, rows, cols, std::move(bytes));
  }
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(q[i]) * scale_of(i);
  return WeightMatrix::from_f32(rows, cols, std::move(v));
}

std::string layer_name(std::size_t l, const char* tensor) {
  return "layers." + std::to_string(l) + "." + tensor;
}

struct Sizes {
  std::int64_t d, h, q, kv, v;
};

Sizes sizes_of(const ModelInfo& m) {
  return {m.dim, m.hidden_dim, std::int64_t(m.n_heads) * m.head_dim,
          std::int64_t(m.n_kv_heads) * m.head_dim, m.vocab_size};
}

LlamaWeights load_v0(ByteReader& r, const std::shared_ptr<const MappedFile>& file) {
  const RawHeader h = read_params(r);
  const std::int64_t vocab = h.vocab_size < 0 ? -std::int64_t(h.vocab_size) : h.vocab_size;
  LlamaWeights w;
  w.info = make_info(r.name(), h, vocab, h.vocab_size > 0, "llama2c-v0", "f32");
  const Sizes s = sizes_of(w.info);
  const std::size_t L = static_cast<std::size_t>(w.info.n_layers);
  w.layers.resize(L);
  w.token_embedding = read_f32_matrix(r, s.v, s.d, "token_embedding", file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].attn_norm = read_f32(r, s.d, layer_name(l, "attn_norm"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wq = read_f32_matrix(r, s.q, s.d, layer_name(l, "wq"), file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wk = read_f32_matrix(r, s.kv, s.d, layer_name(l, "wk"), file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wv = read_f32_matrix(r, s.kv, s.d, layer_name(l, "wv"), file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wo = read_f32_matrix(r, s.d, s.q, layer_name(l, "wo"), file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].ffn_norm = read_f32(r, s.d, layer_name(l, "ffn_norm"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].w1 = read_f32_matrix(r, s.h, s.d, layer_name(l, "w1"), file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].w2 = read_f32_matrix(r, s.d, s.h, layer_name(l, "w2"), file);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].w3 = read_f32_matrix(r, s.h, s.d, layer_name(l, "w3"), file);
  w.final_norm = read_f32(r, s.d, "final_norm");
  const std::uint64_t freq_bytes =
      static_cast<std::uint64_t>(w.info.max_seq_len) * (w.info.head_dim / 2) * sizeof(float);
  r.skip(freq_bytes, "freq_cis_real");
  r.skip(freq_bytes, "freq_cis_imag");
  if (!w.info.tied_classifier) w.classifier = read_f32_matrix(r, s.v, s.d, "classifier", file);
  r.expect_end(w.info.tied_classifier ? "freq_cis_imag" : "classifier");
  return w;
}

LlamaWeights load_v1_v2(ByteReader& r, std::int32_t version,
                       const std::shared_ptr<const MappedFile>& file) {
  const RawHeader h = read_params(r);
  const std::uint8_t shared = r.read<std::uint8_t>("header.shared_classifier");
  if (shared > 1) fail("{}: header.shared_classifier = {}: must be 0 or 1", r.name(), shared);
  if (h.vocab_size < 0) {
    fail("{}: header.vocab_size = {}: must be positive in version {}", r.name(), h.vocab_size,
         version);
  }
  std::int64_t group_size = 0;
  if (version == 2) {
    group_size = r.read<std::int32_t>("header.group_size");
    if (group_size <= 0) fail("{}: header.group_size = {}: must be positive", r.name(), group_size);
  }
  r.skip(kHeaderBytesV1 - r.offset(), "header padding");

  LlamaWeights w;
  w.info = make_info(r.name(), h, h.vocab_size, shared == 1,
                     version == 1 ? "llama2c-v1" : "llama2c-v2", version == 1 ? "f32" : "q8_0");
  const Sizes s = sizes_of(w.info);
  const std::size_t L = static_cast<std::size_t>(w.info.n_layers);
  w.layers.resize(L);
  for (std::size_t l = 0; l < L; ++l) w.layers[l].attn_norm = read_f32(r, s.d, layer_name(l, "attn_norm"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].ffn_norm = read_f32(r, s.d, layer_name(l, "ffn_norm"));
  w.final_norm = read_f32(r, s.d, "final_norm");
  auto mat = [&](std::int64_t rows, std::int64_t cols, const std::string& name) {
    return version == 1 ? read_f32_matrix(r, rows, cols, name, file)
                        : read_q80(r, rows, cols, group_size, name);
  };
  w.token_embedding = mat(s.v, s.d, "token_embedding");
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wq = mat(s.q, s.d, layer_name(l, "wq"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wk = mat(s.kv, s.d, layer_name(l, "wk"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wv = mat(s.kv, s.d, layer_name(l, "wv"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].wo = mat(s.d, s.q, layer_name(l, "wo"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].w1 = mat(s.h, s.d, layer_name(l, "w1"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].w2 = mat(s.d, s.h, layer_name(l, "w2"));
  for (std::size_t l = 0; l < L; ++l) w.layers[l].w3 = mat(s.h, s.d, layer_name(l, "w3"));
  if (!w.info.tied_classifier) w.classifier = mat(s.v, s.d, "classifier");
  r.expect_end(w.info.tied_classifier ? "layers.N.w3" : "classifier");
  return w;
}

}  // namespace

LlamaWeights load_llama2c(const std::string& path) {
  const auto file = std::make_shared<const MappedFile>(path);
  ByteReader r(*file);
  LlamaWeights w;
  std::uint32_t magic = 0;
  if (file->size() >= 4) std::memcpy(&magic, file->data(), 4);
  if (magic == kLlama2cMagic) {
    r.skip(4, "header.magic");
    const std::int32_t version = r.read<std::int32_t>("header.version");
    if (version != 1 && version != 2) {
      fail("{}: header.version = {}: unsupported (llama2.c versions 1 and 2 are supported)", path,
           version);
    }
    w = load_v1_v2(r, version, file);
  } else {
    w = load_v0(r, file);
  }
  w.validate();
  return w;
}

}  // namespace speclab
