#include "formats/gguf_weights.h"

#include <limits>

#include "base/error.h"
#include "formats/gguf_container.h"

namespace speclab {

namespace {

std::int32_t get_i32(const GgufFile& f, std::string_view key) {
  const std::uint64_t v = f.get_uint(key);
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    fail("{}: key {} = {}: exceeds the int32 range", f.path(), key, v);
  }
  return static_cast<std::int32_t>(v);
}

const GgufFile::TensorInfo& require_tensor(const GgufFile& f, const std::string& name) {
  const GgufFile::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) fail("{}: tensor {}: missing", f.path(), name);
  return *t;
}

std::string dims_str(const std::vector<std::uint64_t>& d) {
  std::string s = "{";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "}";
}

void check_dims(const GgufFile& f, const GgufFile::TensorInfo& t, std::int64_t rows,
                std::int64_t cols) {
  std::vector<std::uint64_t> want = {static_cast<std::uint64_t>(cols)};
  if (rows > 0) want.push_back(static_cast<std::uint64_t>(rows));
  if (t.dims != want) {
    fail("{}: tensor {}: dims = {}: expected {} from the header", f.path(), t.name,
         dims_str(t.dims), dims_str(want));
  }
}

// Reads vector `name` whose GGUF dims must be {cols}, as fp32.
std::vector<float> read_vector(const GgufFile& f, const std::string& name, std::int64_t cols) {
  const GgufFile::TensorInfo& t = require_tensor(f, name);
  check_dims(f, t, 0, cols);
  return f.read_tensor_f32(t, static_cast<std::uint64_t>(cols));
}

// Reads matrix `name` whose GGUF dims must be {cols, rows}, in its stored type (a view into
// the file's memory map).
WeightMatrix read_matrix(const GgufFile& f, const std::string& name, std::int64_t rows,
                         std::int64_t cols) {
  const GgufFile::TensorInfo& t = require_tensor(f, name);
  check_dims(f, t, rows, cols);
  return f.read_matrix(t, rows, cols);
}

ModelInfo read_info(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama") {
    fail("{}: key general.architecture = {}: unsupported (only \"llama\")", f.path(), arch);
  }
  ModelInfo m;
  m.arch = arch;
  m.source = f.path();
  m.format = "gguf";
  m.dim = get_i32(f, "llama.embedding_length");
  m.hidden_dim = get_i32(f, "llama.feed_forward_length");
  m.n_layers = get_i32(f, "llama.block_count");
  m.n_heads = get_i32(f, "llama.attention.head_count");
  m.n_kv_heads = f.has("llama.attention.head_count_kv")
                     ? get_i32(f, "llama.attention.head_count_kv")
                     : m.n_heads;
  m.max_seq_len = get_i32(f, "llama.context_length");
  m.norm_eps = static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon"));
  if (f.has("llama.rope.freq_base")) {
    m.rope_theta = static_cast<float>(f.get_float("llama.rope.freq_base"));
  }
  m.rope_style = RopeStyle::kInterleaved;
  if (m.n_heads > 0 && m.dim % m.n_heads != 0) {
    fail("{}: key llama.embedding_length = {}: must be divisible by llama.attention.head_count = {}",
         f.path(), m.dim, m.n_heads);
  }
  m.head_dim = m.n_heads > 0 ? m.dim / m.n_heads : 0;
  if (f.has("llama.attention.key_length") &&
      f.get_uint("llama.attention.key_length") != static_cast<std::uint64_t>(m.head_dim)) {
    fail("{}: key llama.attention.key_length = {}: unsupported (must equal embedding_length / "
         "head_count = {})",
         f.path(), f.get_uint("llama.attention.key_length"), m.head_dim);
  }
  if (f.has("llama.rope.scaling.type")) {
    const std::string type = f.get_string("llama.rope.scaling.type");
    if (type == "linear") {
      m.rope_scaling.type = RopeScalingType::kLinear;
      m.rope_scaling.factor = static_cast<float>(f.get_float("llama.rope.scaling.factor"));
      if (!(m.rope_scaling.factor > 0.0f)) {
        fail("{}: key llama.rope.scaling.factor = {}: must be positive", f.path(),
             m.rope_scaling.factor);
      }
    } else if (type != "none") {
      fail("{}: key llama.rope.scaling.type = {}: unsupported (none, linear)", f.path(), type);
    }
  }
  if (f.has("llama.vocab_size")) {
    m.vocab_size = get_i32(f, "llama.vocab_size");
  } else if (f.has("tokenizer.ggml.tokens")) {
    const std::uint64_t n = f.find("tokenizer.ggml.tokens")->array_size();
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
      fail("{}: key tokenizer.ggml.tokens: {} tokens exceed the int32 range", f.path(), n);
    }
    m.vocab_size = static_cast<std::int32_t>(n);
  } else {
    const GgufFile::TensorInfo& t = require_tensor(f, "token_embd.weight");
    if (t.dims.size() != 2 || t.dims[1] > (1u << 30)) {
      fail("{}: tensor token_embd.weight: dims = {}: expected {{dim, vocab}}", f.path(),
           dims_str(t.dims));
    }
    m.vocab_size = static_cast<std::int32_t>(t.dims[1]);
  }
  if (f.has("tokenizer.ggml.bos_token_id")) m.bos_id = get_i32(f, "tokenizer.ggml.bos_token_id");
  if (f.has("tokenizer.ggml.eos_token_id")) {
    m.eos_ids = {get_i32(f, "tokenizer.ggml.eos_token_id")};
  }
  m.tied_classifier = f.find_tensor("output.weight") == nullptr;
  m.validate();
  return m;
}

}  // namespace

LlamaWeights load_gguf(const std::string& path) {
  const GgufFile f(path);
  LlamaWeights w;
  w.info = read_info(f);
  const ModelInfo& m = w.info;
  const std::int64_t d = m.dim, h = m.hidden_dim, q = std::int64_t(m.n_heads) * m.head_dim,
                     kv = std::int64_t(m.n_kv_heads) * m.head_dim, v = m.vocab_size;
  w.token_embedding = read_matrix(f, "token_embd.weight", v, d);
  w.layers.resize(static_cast<std::size_t>(m.n_layers));
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayerWeights& L = w.layers[l];
    L.attn_norm = read_vector(f, p + "attn_norm.weight", d);
    L.wq = read_matrix(f, p + "attn_q.weight", q, d);
    L.wk = read_matrix(f, p + "attn_k.weight", kv, d);
    L.wv = read_matrix(f, p + "attn_v.weight", kv, d);
    L.wo = read_matrix(f, p + "attn_output.weight", d, q);
    L.ffn_norm = read_vector(f, p + "ffn_norm.weight", d);
    L.w1 = read_matrix(f, p + "ffn_gate.weight", h, d);
    L.w2 = read_matrix(f, p + "ffn_down.weight", d, h);
    L.w3 = read_matrix(f, p + "ffn_up.weight", h, d);
  }
  w.final_norm = read_vector(f, "output_norm.weight", d);
  if (!m.tied_classifier) w.classifier = read_matrix(f, "output.weight", v, d);
  // The stored types of the matrices (also what stays resident unless --dtype converts).
  w.info.weight_dtype = w.resident_dtypes();
  w.validate();
  return w;
}

}  // namespace speclab
