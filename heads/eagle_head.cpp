#include "heads/eagle_head.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include <fmt/ranges.h>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "base/rng.h"
#include "formats/safetensors.h"
#include "heads/head_net.h"
#include "model/language_model.h"
#include "model/rope_frequencies.h"
#include "ops/dot.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax.h"

namespace speclab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "speclab-eagle-v1";

std::string_view rope_style_name(RopeStyle s) { return s == RopeStyle::kHalfSplit ? "half-split" : "interleaved"; }

}  // namespace

// ---- config ---------------------------------------------------------------------------------

EagleConfig EagleConfig::shaped_like(const ModelInfo& m) {
  EagleConfig c;
  c.dim = m.dim;
  c.hidden_dim = m.hidden_dim;
  c.n_heads = m.n_heads;
  c.n_kv_heads = m.n_kv_heads;
  c.head_dim = m.head_dim;
  c.vocab = m.vocab_size;
  c.norm_eps = m.norm_eps;
  c.rope_theta = m.rope_theta;
  c.rope_style = m.rope_style;
  c.qkv_bias = m.qkv_bias;
  return c;
}

EagleConfig EagleConfig::for_target(const LlamaWeights& target) {
  EagleConfig c = shaped_like(target.info);
  c.model_fingerprint = speclab::model_fingerprint(target);
  return c;
}

void EagleConfig::validate(std::string_view where) const {
  auto in_range = [&](const char* field, std::int64_t v, std::int64_t hi) {
    if (v < 1 || v > hi) fail("{}: {} = {}: must be in [1, {}]", where, field, v, hi);
  };
  in_range("dim", dim, 1 << 16);
  in_range("hidden_dim", hidden_dim, 1 << 18);
  in_range("n_heads", n_heads, 1024);
  in_range("n_kv_heads", n_kv_heads, 1024);
  in_range("head_dim", head_dim, 4096);
  in_range("vocab", vocab, 1 << 22);
  if (n_heads % n_kv_heads != 0) {
    fail("{}: n_kv_heads = {}: must divide n_heads = {}", where, n_kv_heads, n_heads);
  }
  if (head_dim % 2 != 0) fail("{}: head_dim = {}: must be even (RoPE rotates pairs)", where, head_dim);
  if (!(norm_eps > 0.0f) || !std::isfinite(norm_eps)) {
    fail("{}: norm_eps = {}: must be a positive finite number", where, norm_eps);
  }
  if (!(rope_theta > 0.0f) || !std::isfinite(rope_theta)) {
    fail("{}: rope_theta = {}: must be a positive finite number", where, rope_theta);
  }
  if (feature_layers.size() > static_cast<std::size_t>(kMaxFeatureLayers)) {
    fail("{}: feature_layers has {} entries: at most {}", where, feature_layers.size(), kMaxFeatureLayers);
  }
  for (std::size_t i = 0; i < feature_layers.size(); ++i) {
    const std::int32_t h = feature_layers[i];
    if (h < kFinalNormedHidden || h > 4096) {
      fail("{}: feature_layers[{}] = {}: must be -1 (final-normed) or a layer in [0, 4096]", where, i, h);
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (feature_layers[j] == h) fail("{}: feature_layers[{}] = {}: repeats feature_layers[{}]", where, i, h, j);
    }
  }
}

void EagleConfig::check_feature_layers(std::string_view where, std::int32_t target_layers) const {
  for (std::size_t i = 0; i < feature_layers.size(); ++i) {
    if (feature_layers[i] > target_layers) {
      fail("{}: feature_layers[{}] = {}: the target has {} layers (residual selectors are 0 .. {})", where, i,
           feature_layers[i], target_layers, target_layers);
    }
  }
}

nlohmann::json to_json(const EagleConfig& c) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["dim"] = c.dim;
  j["hidden_dim"] = c.hidden_dim;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab"] = c.vocab;
  j["norm_eps"] = c.norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_style"] = std::string(rope_style_name(c.rope_style));
  j["fc_bias"] = c.fc_bias;
  j["input_norm"] = c.input_norm;
  j["qkv_bias"] = c.qkv_bias;
  if (c.fused()) j["feature_layers"] = c.feature_layers;
  j["model_fingerprint"] = c.model_fingerprint;
  j["training"] = c.training;
  return j;
}

EagleConfig eagle_config_from_json(const nlohmann::json& j, std::string_view where) {
  if (!j.is_object()) fail("{}: must be a JSON object", where);
  auto get = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) fail("{}: missing field '{}'", where, key);
    return j.at(key);
  };
  auto get_int = [&](const char* key) {
    return json_integer<std::int32_t>(get(key), where, fmt::format("field '{}'", key), 1, 1 << 22);
  };
  auto get_float = [&](const char* key) {
    return static_cast<float>(json_number(get(key), where, fmt::format("field '{}'", key), 0.0, 1e30));
  };
  auto get_bool = [&](const char* key) {
    const auto& v = get(key);
    if (!v.is_boolean()) fail("{}: field '{}' = {}: must be true or false", where, key, json_excerpt(v));
    return v.get<bool>();
  };
  if (j.contains("format") && j["format"] != kFormat) {
    fail("{}: field 'format' = {}: expected \"{}\"", where, json_excerpt(j["format"]), kFormat);
  }
  EagleConfig c;
  c.dim = get_int("dim");
  c.hidden_dim = get_int("hidden_dim");
  c.n_heads = get_int("n_heads");
  c.n_kv_heads = get_int("n_kv_heads");
  c.head_dim = get_int("head_dim");
  c.vocab = get_int("vocab");
  c.norm_eps = get_float("norm_eps");
  c.rope_theta = get_float("rope_theta");
  const std::string& style = json_string(get("rope_style"), where, "field 'rope_style'");
  if (style == "interleaved") {
    c.rope_style = RopeStyle::kInterleaved;
  } else if (style == "half-split") {
    c.rope_style = RopeStyle::kHalfSplit;
  } else {
    fail("{}: field 'rope_style' = {}: must be \"interleaved\" or \"half-split\"", where, quote_untrusted(style));
  }
  c.fc_bias = get_bool("fc_bias");
  c.input_norm = get_bool("input_norm");
  c.qkv_bias = get_bool("qkv_bias");
  if (j.contains("feature_layers")) {  // absent: an EAGLE-1/2 head
    const auto& a = j["feature_layers"];
    if (!a.is_array() || a.size() > static_cast<std::size_t>(EagleConfig::kMaxFeatureLayers)) {
      fail("{}: field 'feature_layers' = {}: must be an array of at most {} layer selectors", where, json_excerpt(a),
           EagleConfig::kMaxFeatureLayers);
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      c.feature_layers.push_back(json_integer<std::int32_t>(a[i], where, fmt::format("field 'feature_layers[{}]'", i),
                                                            kFinalNormedHidden, 4096));
    }
  }
  c.model_fingerprint = json_string(get("model_fingerprint"), where, "field 'model_fingerprint'");
  if (j.contains("training")) c.training = j["training"];
  c.validate(where);
  return c;
}

// ---- weights --------------------------------------------------------------------------------

namespace {

// One tensor of the file layout (published EAGLE names) and where it lives in EagleWeights:
// exactly one of matrix / vector is set. W = EagleWeights or const EagleWeights.
template <class W>
struct TensorSlot {
  using Matrix = std::conditional_t<std::is_const_v<W>, const WeightMatrix, WeightMatrix>;
  using Vector = std::conditional_t<std::is_const_v<W>, const std::vector<float>, std::vector<float>>;
  std::string name;
  std::int64_t rows, cols;  // cols = 0: a vector of `rows` values
  Matrix* matrix;
  Vector* vector;
};

// Every tensor the config calls for, in file order.
template <class W>
std::vector<TensorSlot<W>> tensor_slots(W& w) {
  const EagleConfig& c = w.config;
  const std::int64_t d = c.dim, q = static_cast<std::int64_t>(c.n_heads) * c.head_dim,
                     kv = static_cast<std::int64_t>(c.n_kv_heads) * c.head_dim, h = c.hidden_dim;
  auto& L = w.layer;
  std::vector<TensorSlot<W>> s;
  s.push_back({"fc.weight", d, 2 * d, &w.fc, nullptr});
  if (c.fc_bias) s.push_back({"fc.bias", d, 0, nullptr, &w.fc_bias});
  if (c.input_norm) s.push_back({"layers.0.input_layernorm.weight", d, 0, nullptr, &L.attn_norm});
  s.push_back({"layers.0.self_attn.q_proj.weight", q, d, &L.wq, nullptr});
  s.push_back({"layers.0.self_attn.k_proj.weight", kv, d, &L.wk, nullptr});
  s.push_back({"layers.0.self_attn.v_proj.weight", kv, d, &L.wv, nullptr});
  if (c.qkv_bias) {
    s.push_back({"layers.0.self_attn.q_proj.bias", q, 0, nullptr, &L.bq});
    s.push_back({"layers.0.self_attn.k_proj.bias", kv, 0, nullptr, &L.bk});
    s.push_back({"layers.0.self_attn.v_proj.bias", kv, 0, nullptr, &L.bv});
  }
  s.push_back({"layers.0.self_attn.o_proj.weight", d, q, &L.wo, nullptr});
  s.push_back({"layers.0.post_attention_layernorm.weight", d, 0, nullptr, &L.ffn_norm});
  s.push_back({"layers.0.mlp.gate_proj.weight", h, d, &L.w1, nullptr});
  s.push_back({"layers.0.mlp.up_proj.weight", h, d, &L.w3, nullptr});
  s.push_back({"layers.0.mlp.down_proj.weight", d, h, &L.w2, nullptr});
  if (c.fused()) s.push_back({"fuse.weight", d, c.feature_width(), &w.fuse, nullptr});
  return s;
}

}  // namespace

void EagleWeights::validate(std::string_view where) const {
  config.validate(where);
  for (const auto& t : tensor_slots(*this)) {
    if (t.matrix) {
      if (t.matrix->rows() != t.rows || t.matrix->cols() != t.cols) {
        fail("{}: tensor {} is [{}, {}]: expected [{}, {}]", where, t.name, t.matrix->rows(), t.matrix->cols(),
             t.rows, t.cols);
      }
    } else if (static_cast<std::int64_t>(t.vector->size()) != t.rows) {
      fail("{}: tensor {} has {} values: expected {}", where, t.name, t.vector->size(), t.rows);
    }
  }
  if (!config.fc_bias && !fc_bias.empty()) fail("{}: fc.bias given but fc_bias = false", where);
  if (!config.input_norm && !layer.attn_norm.empty()) {
    fail("{}: layers.0.input_layernorm.weight given but input_norm = false", where);
  }
  if (!config.qkv_bias && !(layer.bq.empty() && layer.bk.empty() && layer.bv.empty())) {
    fail("{}: q/k/v biases given but qkv_bias = false", where);
  }
  if (!config.fused() && fuse.size() != 0) fail("{}: fuse.weight given but feature_layers is empty", where);
}

EagleWeights random_eagle_weights(const LlamaWeights& target, std::uint64_t seed,
                                  std::vector<std::int32_t> feature_layers) {
  EagleWeights w;
  w.config = EagleConfig::for_target(target);
  w.config.feature_layers = std::move(feature_layers);
  w.config.validate("eagle head");
  w.config.check_feature_layers("eagle head", target.info.n_layers);
  Rng rng(seed);
  for (auto& t : tensor_slots(w)) {
    if (t.matrix) {
      std::vector<float> v(static_cast<std::size_t>(t.rows * t.cols));
      const double s = 1.0 / std::sqrt(static_cast<double>(t.cols));
      for (float& x : v) x = static_cast<float>(s * rng.normal());
      *t.matrix = WeightMatrix::from_f32(t.rows, t.cols, std::move(v));
    } else {
      const bool norm = t.name.find("layernorm") != std::string::npos;
      t.vector->resize(static_cast<std::size_t>(t.rows));
      for (float& x : *t.vector) x = static_cast<float>((norm ? 1.0 : 0.0) + 0.1 * rng.normal());
    }
  }
  return w;
}

void save_eagle_head(const EagleWeights& w, const std::string& dir) {
  w.validate("eagle head");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("{}: cannot create the EAGLE head directory: {}", dir, ec.message());
  std::vector<std::vector<float>> held;  // fp32 copies of non-fp32 matrices
  std::vector<SafetensorsOut> out;
  const auto slots = tensor_slots(w);
  held.reserve(slots.size());
  for (const auto& t : slots) {
    if (t.matrix) {
      std::span<const float> data;
      if (t.matrix->dtype() == DType::kF32) {
        data = std::span<const float>(t.matrix->f32(), static_cast<std::size_t>(t.matrix->size()));
      } else {
        held.push_back(t.matrix->to_f32());
        data = held.back();
      }
      out.push_back({t.name, {t.rows, t.cols}, data});
    } else {
      out.push_back({t.name, {t.rows}, *t.vector});
    }
  }
  write_safetensors_f32((fs::path(dir) / "eagle.safetensors").string(), out, {{"format", kFormat}});
  const std::string jpath = (fs::path(dir) / "eagle.json").string();
  std::ofstream f(jpath, std::ios::trunc);
  if (!f) fail("{}: cannot open for writing", jpath);
  f << to_json(w.config).dump(2) << "\n";
  f.close();
  if (!f) fail("{}: write failed", jpath);
}

EagleConfig read_eagle_config(const std::string& dir) {
  std::error_code ec;  // error_code overloads: an unreadable name is "not found", not a throw
  if (!fs::is_directory(dir, ec)) {
    fail("{}: EAGLE head directory not found (it holds eagle.json and eagle.safetensors)", quote_untrusted(dir));
  }
  const std::string jpath = (fs::path(dir) / "eagle.json").string();
  if (!fs::exists(jpath, ec)) fail("{}: cannot open (an EAGLE head directory holds eagle.json and eagle.safetensors)", jpath);
  const nlohmann::json j = parse_json(read_input_file(jpath, kMaxTextInputBytes, "an eagle.json"), jpath);
  return eagle_config_from_json(j, jpath);
}

std::vector<std::string> eagle_tensor_names(const EagleConfig& c) {
  EagleWeights w;
  w.config = c;
  std::vector<std::string> names;
  for (const auto& t : tensor_slots(w)) names.push_back(t.name);
  return names;
}

void read_eagle_tensors(const SafetensorsFile& st, EagleWeights& w, std::string_view config_file) {
  const EagleConfig& c = w.config;
  const std::string& spath = st.path();
  for (auto& t : tensor_slots(w)) {
    const SafetensorsTensor* src = st.find(t.name);
    if (!src) {
      fail("{}: tensor {} missing ({}: dim {}, {} heads / {} KV heads, fc_bias {}, input_norm {}, "
           "qkv_bias {})",
           spath, t.name, config_file, c.dim, c.n_heads, c.n_kv_heads, c.fc_bias, c.input_norm, c.qkv_bias);
    }
    const std::vector<std::int64_t> want =
        t.matrix ? std::vector<std::int64_t>{t.rows, t.cols} : std::vector<std::int64_t>{t.rows};
    if (src->shape != want) {
      fail("{}: tensor {} has shape [{}]: expected [{}] ({})", spath, t.name, fmt::join(src->shape, ", "),
           fmt::join(want, ", "), config_file);
    }
    if (src->dtype != SafetensorsDtype::kF32 && src->dtype != SafetensorsDtype::kF16 &&
        src->dtype != SafetensorsDtype::kBF16) {
      fail("{}: tensor {} has dtype {}: must be F32, F16 or BF16", spath, t.name, safetensors_dtype_name(src->dtype));
    }
    if (t.matrix) {
      *t.matrix = st.read_matrix(*src, t.rows, t.cols);
      if (t.matrix->dtype() == DType::kF32) {
        const float* v = t.matrix->f32();
        for (std::int64_t i = 0; i < t.matrix->size(); ++i) {
          if (!std::isfinite(v[i])) fail("{}: tensor {} holds a non-finite value at index {}", spath, t.name, i);
        }
      }
    } else {
      *t.vector = st.read_f32(*src);
      for (std::size_t i = 0; i < t.vector->size(); ++i) {
        if (!std::isfinite((*t.vector)[i])) fail("{}: tensor {} holds a non-finite value at index {}", spath, t.name, i);
      }
    }
  }
}

EagleWeights load_eagle_head(const std::string& dir, const LlamaWeights& target) {
  EagleWeights w;
  w.config = read_eagle_config(dir);
  const EagleConfig& c = w.config;
  const std::string jpath = (fs::path(dir) / "eagle.json").string();
  const std::string spath = (fs::path(dir) / "eagle.safetensors").string();
  const std::string fp = model_fingerprint(target);
  if (c.model_fingerprint != fp || c.dim != target.info.dim || c.vocab != target.info.vocab_size) {
    fail("{}: model_fingerprint = {} (dim {}, vocab {}): the head was made for another target than {} "
         "(fingerprint {}, dim {}, vocab {}): an EAGLE head works only with its own target",
         jpath, c.model_fingerprint, c.dim, c.vocab, target.info.source, fp, target.info.dim,
         target.info.vocab_size);
  }
  c.check_feature_layers(jpath, target.info.n_layers);
  const SafetensorsFile st(spath);
  read_eagle_tensors(st, w, "eagle.json");
  w.validate(dir);
  return w;
}

// ---- inference ------------------------------------------------------------------------------

EagleHead::EagleHead(std::shared_ptr<const EagleWeights> weights, std::shared_ptr<const LlamaWeights> target,
                     int n_threads)
    : weights_(std::move(weights)), target_(std::move(target)), n_threads_(n_threads) {
  if (!weights_ || !target_) fail("eagle head: weights and a Llama target are required");
  if (n_threads_ < 1) fail("eagle head: n_threads = {}: must be >= 1", n_threads_);
  const EagleConfig& c = weights_->config;
  weights_->validate("eagle head");
  if (c.dim != target_->info.dim || c.vocab != target_->info.vocab_size) {
    fail("eagle head: dim {} / vocab {}: the target {} has dim {} / vocab {}", c.dim, c.vocab,
         target_->info.source, target_->info.dim, target_->info.vocab_size);
  }
  c.check_feature_layers("eagle head", target_->info.n_layers);
  dim_ = c.dim;
  head_dim_ = c.head_dim;
  q_dim_ = c.n_heads * c.head_dim;
  kv_dim_ = c.n_kv_heads * c.head_dim;
  hidden_ = c.hidden_dim;
  ModelInfo rope = target_->info;  // the target's rope scaling, the head's theta and head_dim
  rope.rope_theta = c.rope_theta;
  rope.head_dim = c.head_dim;
  inv_freq_ = rope_inv_frequencies(rope);
  ensure_rows(16);
  ensure_slots(256);
}

void EagleHead::ensure_rows(std::int32_t n) {
  if (n <= row_cap_) return;
  row_cap_ = std::max(n, 2 * row_cap_);
  const std::size_t b = static_cast<std::size_t>(row_cap_);
  u_.resize(b * 2 * dim_);
  x_.resize(b * dim_);
  xb_.resize(b * dim_);
  q_.resize(b * q_dim_);
  k_.resize(b * kv_dim_);
  v_.resize(b * kv_dim_);
  att_.resize(b * q_dim_);
  hb_.resize(b * hidden_);
  hb2_.resize(b * hidden_);
  cos_.resize(b * (head_dim_ / 2));
  sin_.resize(b * (head_dim_ / 2));
}

void EagleHead::ensure_slots(std::int32_t slots) {
  if (slots <= slot_cap_) return;
  slot_cap_ = std::max(slots, 2 * slot_cap_);
  k_cache_.resize(static_cast<std::size_t>(slot_cap_) * kv_dim_);
  v_cache_.resize(static_cast<std::size_t>(slot_cap_) * kv_dim_);
  scores_.resize(static_cast<std::size_t>(n_threads_) * slot_cap_);
}

void EagleHead::truncate(std::int32_t n_keep) {
  if (n_keep < 0 || n_keep > n_cached_) {
    fail("eagle head: truncate: n_keep = {}: must be in [0, n_cached = {}]", n_keep, n_cached_);
  }
  n_cached_ = n_keep;
}

void EagleHead::fuse(std::span<const float> z, std::int32_t n, std::span<float> out) {
  const EagleConfig& c = weights_->config;
  const std::size_t nz = static_cast<std::size_t>(n) * c.feature_width();
  const std::size_t nd = static_cast<std::size_t>(n) * dim_;
  if (n < 1 || z.size() != nz || out.size() != nd) {
    fail("eagle head: fuse of {} rows: the layer features have {} values (need {}), out {} (need {})", n, z.size(),
         nz, out.size(), nd);
  }
  if (!c.fused()) {
    std::copy(z.begin(), z.end(), out.begin());
    return;
  }
  matmul(z.data(), n, weights_->fuse, nullptr, out.data(), n_threads_, &mm_);
}

void EagleHead::logits(std::span<const float> features, std::int32_t n, std::span<float> out) {
  const std::size_t nd = static_cast<std::size_t>(n) * dim_;
  const std::size_t nv = static_cast<std::size_t>(n) * weights_->config.vocab;
  if (n < 1 || features.size() != nd || out.size() != nv) {
    fail("eagle head: logits of {} rows: features has {} values (need {}), out {} (need {})", n, features.size(), nd,
         out.size(), nv);
  }
  matmul(features.data(), n, target_->classifier_matrix(), nullptr, out.data(), n_threads_, &mm_);
}

void EagleHead::append(std::span<const float> features, std::span<const Token> tokens,
                       std::span<const std::int32_t> positions, std::span<float> out, std::int32_t mask_base,
                       std::span<const std::uint8_t> mask) {
  const EagleConfig& c = weights_->config;
  const std::int32_t n = static_cast<std::int32_t>(tokens.size());
  const std::size_t nd = static_cast<std::size_t>(n) * dim_;
  if (n < 1 || features.size() != nd || positions.size() != tokens.size() || out.size() != nd) {
    fail("eagle head: append of {} rows: features has {} values (need {}), positions {} (need {}), out {} (need {})",
         n, features.size(), nd, positions.size(), n, out.size(), nd);
  }
  for (std::int32_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= c.vocab) fail("eagle head: tokens[{}] = {}: must be in [0, {})", t, tokens[t], c.vocab);
    if (positions[t] < 0) fail("eagle head: positions[{}] = {}: must be >= 0", t, positions[t]);
  }
  const std::int32_t n_past = n_cached_;
  std::int32_t w = 0;  // mask width
  if (!mask.empty()) {
    if (mask_base < 0 || mask_base > n_past) {
      fail("eagle head: mask_base = {}: must be in [0, n_cached = {}]", mask_base, n_past);
    }
    w = n_past - mask_base + n;
    if (mask.size() != static_cast<std::size_t>(n) * w) {
      fail("eagle head: mask has {} entries: must be n * (n_cached - mask_base + n) = {}", mask.size(),
           static_cast<std::size_t>(n) * w);
    }
    for (std::int32_t t = 0; t < n; ++t) {
      const std::int32_t own = n_past - mask_base + t;
      if (mask[static_cast<std::size_t>(t) * w + own] == 0) {
        fail("eagle head: mask row {}: its own slot must be visible", t);
      }
      for (std::int32_t j = own + 1; j < w; ++j) {
        if (mask[static_cast<std::size_t>(t) * w + j] != 0) {
          fail("eagle head: mask row {}: later batch row {} must not be visible", t, j - (n_past - mask_base));
        }
      }
    }
  }
  ensure_rows(n);
  ensure_slots(n_past + n);
  const LlamaLayerWeights& L = weights_->layer;
  const EagleWeights& W = *weights_;

  // u = [e(x), f]; h = fc u + b.
  const std::size_t d2 = 2 * static_cast<std::size_t>(dim_);
  for (std::int32_t t = 0; t < n; ++t) {
    float* u = u_.data() + t * d2;
    target_->token_embedding.dequantize_row(tokens[t], u);
    std::copy_n(features.data() + static_cast<std::size_t>(t) * dim_, dim_, u + dim_);
  }
  matmul(u_.data(), n, W.fc, W.fc_bias.empty() ? nullptr : W.fc_bias.data(), x_.data(), n_threads_, &mm_);

  // Attention block (no input norm in EAGLE-1/2).
  const float* attn_in = x_.data();
  if (!L.attn_norm.empty()) {
    rms_norm(x_.data(), L.attn_norm.data(), n, dim_, c.norm_eps, xb_.data());
    attn_in = xb_.data();
  }
  const bool bias = c.qkv_bias;
  const MatJob qkv[3] = {{L.wq.view(), bias ? L.bq.data() : nullptr, q_.data()},
                         {L.wk.view(), bias ? L.bk.data() : nullptr, k_.data()},
                         {L.wv.view(), bias ? L.bv.data() : nullptr, v_.data()}};
  matmul_jobs(attn_in, n, dim_, qkv, 3, n_threads_, &mm_);
  rope_tables(positions, inv_freq_, cos_.data(), sin_.data());
  const int half = head_dim_ / 2;
  const bool interleaved = c.rope_style == RopeStyle::kInterleaved;
  for (std::int32_t t = 0; t < n; ++t) {
    const float* cs = cos_.data() + static_cast<std::size_t>(t) * half;
    const float* sn = sin_.data() + static_cast<std::size_t>(t) * half;
    apply_rope(q_.data() + static_cast<std::size_t>(t) * q_dim_, c.n_heads, head_dim_, interleaved, cs, sn);
    float* kt = k_.data() + static_cast<std::size_t>(t) * kv_dim_;
    apply_rope(kt, c.n_kv_heads, head_dim_, interleaved, cs, sn);
    const std::size_t slot = static_cast<std::size_t>(n_past + t) * kv_dim_;
    std::copy_n(kt, kv_dim_, k_cache_.begin() + slot);
    std::copy_n(v_.data() + static_cast<std::size_t>(t) * kv_dim_, kv_dim_, v_cache_.begin() + slot);
  }
  // Each (row, head) over its visible slots in slot order: cached slots below mask_base, then
  // the masked region (earlier drafted rows and this batch).
  const int n_heads = c.n_heads, group = c.n_heads / c.n_kv_heads, hd = head_dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int n_work = n * n_heads;
  const bool parallel = static_cast<std::int64_t>(n_work) * (n_past + n) * hd >= (1 << 16);
  const std::uint8_t* mk = mask.empty() ? nullptr : mask.data();
  const int base = mask.empty() ? 0 : mask_base;
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (parallel)
  for (int wi = 0; wi < n_work; ++wi) {
    const int t = wi / n_heads, h = wi % n_heads;
    const std::size_t koff = static_cast<std::size_t>(h / group) * hd;
    const float* qt = q_.data() + static_cast<std::size_t>(t) * q_dim_ + static_cast<std::size_t>(h) * hd;
    float* sc = scores_.data() + static_cast<std::size_t>(omp_get_thread_num()) * slot_cap_;
    auto visible = [&](int s) {
      return mk == nullptr || s < base || mk[static_cast<std::size_t>(t) * w + (s - base)] != 0;
    };
    const int last = n_past + t;  // slots beyond the row's own are never visible
    int n_s = 0;
    for (int s = 0; s <= last; ++s) {
      if (!visible(s)) continue;
      sc[n_s++] = dot(qt, k_cache_.data() + static_cast<std::size_t>(s) * kv_dim_ + koff, hd) * scale;
    }
    softmax_inplace(sc, n_s);
    float* o = att_.data() + static_cast<std::size_t>(t) * q_dim_ + static_cast<std::size_t>(h) * hd;
    std::fill(o, o + hd, 0.0f);
    int k = 0;
    for (int s = 0; s <= last; ++s) {
      if (!visible(s)) continue;
      const float p = sc[k++];
      const float* vs = v_cache_.data() + static_cast<std::size_t>(s) * kv_dim_ + koff;
      for (int e = 0; e < hd; ++e) o[e] += p * vs[e];
    }
  }
  matmul(att_.data(), n, L.wo, nullptr, xb_.data(), n_threads_, &mm_);
  for (std::size_t i = 0; i < nd; ++i) x_[i] += xb_[i];

  // SwiGLU feed-forward on the post-attention norm.
  rms_norm(x_.data(), L.ffn_norm.data(), n, dim_, c.norm_eps, xb_.data());
  const MatJob gate_up[2] = {{L.w1.view(), nullptr, hb_.data()}, {L.w3.view(), nullptr, hb2_.data()}};
  matmul_jobs(xb_.data(), n, dim_, gate_up, 2, n_threads_, &mm_);
  const std::size_t nh = static_cast<std::size_t>(n) * hidden_;
  for (std::size_t i = 0; i < nh; ++i) hb_[i] = hb_[i] / (1.0f + std::exp(-hb_[i])) * hb2_[i];
  matmul(hb_.data(), n, L.w2, nullptr, xb_.data(), n_threads_, &mm_);
  for (std::size_t i = 0; i < nd; ++i) out[i] = x_[i] + xb_[i];
  n_cached_ = n_past + n;
}

}  // namespace speclab
