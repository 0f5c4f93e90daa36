#include "model/llama_weights.h"

#include <omp.h>

#include "base/error.h"

namespace speclab {

namespace {
void check_size(const ModelInfo& m, const std::string& name, const std::vector<float>& v,
                std::int64_t expected) {
  if (static_cast<std::int64_t>(v.size()) != expected) {
    fail("{}: tensor {} has {} elements: expected {}", m.source, name, v.size(), expected);
  }
}

void check_shape(const ModelInfo& m, const std::string& name, const WeightMatrix& w,
                 std::int64_t rows, std::int64_t cols) {
  if (w.rows() != rows || w.cols() != cols) {
    fail("{}: tensor {} has shape [{}, {}]: expected [{}, {}]", m.source, name, w.rows(),
         w.cols(), rows, cols);
  }
}

// Row-parallel conversion of one matrix (same bytes for any thread count).
WeightMatrix convert_matrix(const WeightMatrix& m, DType to, int n_threads) {
  if (m.empty() || m.dtype() == to) return m;
  const std::size_t rb = dtype_row_bytes(to, m.cols());
  if (to == DType::kF32) return m.converted(to);
  std::vector<std::uint8_t> bytes(rb * static_cast<std::size_t>(m.rows()));
  const std::int64_t rows = m.rows(), cols = m.cols();
#pragma omp parallel num_threads(n_threads) if (rows * cols >= (1 << 16))
  {
    std::vector<float> row(static_cast<std::size_t>(cols));
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      m.dequantize_row(r, row.data());
      quantize_row(to, row.data(), bytes.data() + static_cast<std::size_t>(r) * rb, cols);
    }
  }
  return WeightMatrix::from_bytes(to, rows, cols, std::move(bytes));
}
}  // namespace

void LlamaWeights::validate() const {
  info.validate();
  const std::int64_t d = info.dim, h = info.hidden_dim, q = std::int64_t(info.n_heads) * info.head_dim,
                     kv = std::int64_t(info.n_kv_heads) * info.head_dim, v = info.vocab_size;
  check_shape(info, "token_embedding", token_embedding, v, d);
  if (static_cast<std::int32_t>(layers.size()) != info.n_layers) {
    fail("{}: {} layers of weights: expected n_layers = {}", info.source, layers.size(),
         info.n_layers);
  }
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    check_size(info, p + "attn_norm", L.attn_norm, d);
    check_shape(info, p + "wq", L.wq, q, d);
    check_shape(info, p + "wk", L.wk, kv, d);
    check_shape(info, p + "wv", L.wv, kv, d);
    check_shape(info, p + "wo", L.wo, d, q);
    check_size(info, p + "ffn_norm", L.ffn_norm, d);
    check_shape(info, p + "w1", L.w1, h, d);
    check_shape(info, p + "w2", L.w2, d, h);
    check_shape(info, p + "w3", L.w3, h, d);
    if (info.qkv_bias) {
      check_size(info, p + "bq", L.bq, q);
      check_size(info, p + "bk", L.bk, kv);
      check_size(info, p + "bv", L.bv, kv);
    }
  }
  check_size(info, "final_norm", final_norm, d);
  if (!info.tied_classifier) check_shape(info, "classifier", classifier, v, d);
}

std::vector<std::pair<std::string, const WeightMatrix*>> LlamaWeights::matrices() const {
  std::vector<std::pair<std::string, const WeightMatrix*>> out;
  out.emplace_back("token_embedding", &token_embedding);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    out.emplace_back(p + "wq", &L.wq);
    out.emplace_back(p + "wk", &L.wk);
    out.emplace_back(p + "wv", &L.wv);
    out.emplace_back(p + "wo", &L.wo);
    out.emplace_back(p + "w1", &L.w1);
    out.emplace_back(p + "w2", &L.w2);
    out.emplace_back(p + "w3", &L.w3);
  }
  if (!info.tied_classifier) out.emplace_back("classifier", &classifier);
  return out;
}

std::int64_t LlamaWeights::n_bytes() const {
  std::int64_t n = 0;
  for (const auto& [name, m] : matrices()) n += static_cast<std::int64_t>(m->n_bytes());
  std::int64_t floats = static_cast<std::int64_t>(final_norm.size());
  for (const auto& L : layers) {
    floats += L.attn_norm.size() + L.bq.size() + L.bk.size() + L.bv.size() + L.ffn_norm.size();
  }
  return n + floats * static_cast<std::int64_t>(sizeof(float));
}

std::vector<DType> LlamaWeights::resident_dtype_list() const {
  std::vector<DType> seen;
  for (const auto& [name, m] : matrices()) {
    if (m->empty()) continue;
    bool found = false;
    for (DType t : seen) found = found || t == m->dtype();
    if (!found) seen.push_back(m->dtype());
  }
  return seen;
}

std::string LlamaWeights::resident_dtypes() const {
  std::string out;
  for (DType t : resident_dtype_list()) out += (out.empty() ? "" : "+") + std::string(dtype_name(t));
  return out;
}

LlamaWeights convert_weights(const LlamaWeights& w, const WeightConversion& conv) {
  auto to = [&](const WeightMatrix& m) {
    const DType t = dtype_fits(conv.dtype, m.cols())    ? conv.dtype
                    : dtype_fits(DType::kQ8_0, m.cols()) ? DType::kQ8_0
                                                         : DType::kF16;
    return convert_matrix(m, t, conv.n_threads);
  };
  LlamaWeights out = w;
  if (conv.convert_embedding) out.token_embedding = to(w.token_embedding);
  for (auto& L : out.layers) {
    for (WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) *m = to(*m);
  }
  if (!w.classifier.empty()) out.classifier = to(w.classifier);
  return out;
}

}  // namespace speclab
