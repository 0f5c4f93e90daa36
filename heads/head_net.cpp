#include "heads/head_net.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/ranges.h>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "ops/classifier.h"
#include "ops/matmul.h"
#include "formats/safetensors.h"
#include "heads/head_layers.h"

namespace speclab {

namespace fs = std::filesystem;
using heads::Mat;

std::string_view to_string(HeadKind k) {
  switch (k) {
    case HeadKind::kMedusa: return "medusa";
    case HeadKind::kHydra: return "hydra";
    case HeadKind::kExitAdapter: return "exit-adapter";
  }
  return "?";
}

HeadKind parse_head_kind(std::string_view s, std::string_view field) {
  if (s == "medusa") return HeadKind::kMedusa;
  if (s == "hydra") return HeadKind::kHydra;
  if (s == "exit-adapter") return HeadKind::kExitAdapter;
  fail("{} = '{}': must be medusa, hydra or exit-adapter", field, s);
}

std::int32_t HeadConfig::input_dim(std::int32_t h) const {
  return kind == HeadKind::kHydra ? (h + 2) * dim : dim;
}

void HeadConfig::validate(std::string_view where, std::int32_t n_layers) const {
  auto positive = [&](const char* field, std::int64_t v, std::int64_t hi) {
    if (v < 1 || v > hi) fail("{}: {} = {}: must be in [1, {}]", where, field, v, hi);
  };
  positive("n_heads", n_heads, 64);
  positive("n_blocks", n_blocks, 64);
  positive("dim", dim, 1 << 16);
  positive("vocab", vocab, 1 << 22);
  if (kind == HeadKind::kExitAdapter) {
    if (static_cast<std::int32_t>(exit_layers.size()) != n_heads) {
      fail("{}: exit_layers has {} entries: an exit adapter needs one per head (n_heads = {})",
           where, exit_layers.size(), n_heads);
    }
    std::set<std::int32_t> seen;
    for (const auto l : exit_layers) {
      if (l < 1 || (n_layers > 0 && l >= n_layers)) {
        fail("{}: exit_layers entry {}: must be in [1, n_layers) = [1, {})", where, l, n_layers);
      }
      if (!seen.insert(l).second) fail("{}: exit_layers entry {} appears twice", where, l);
    }
  } else if (!exit_layers.empty()) {
    fail("{}: exit_layers given for kind {}: only exit-adapter heads have exit layers", where,
         to_string(kind));
  }
  if (!topk_accuracy.empty()) {
    if (static_cast<std::int32_t>(topk_accuracy.size()) != n_heads) {
      fail("{}: topk_accuracy has {} rows: must be empty or one per head ({})", where,
           topk_accuracy.size(), n_heads);
    }
    for (const auto& row : topk_accuracy) {
      for (const double a : row) {
        if (!(a >= 0.0 && a <= 1.0)) fail("{}: topk_accuracy value {}: must be in [0, 1]", where, a);
      }
    }
  }
}

nlohmann::json to_json(const HeadConfig& c) {
  nlohmann::json j;
  j["format"] = "speclab-heads-v1";
  j["kind"] = std::string(to_string(c.kind));
  j["n_heads"] = c.n_heads;
  j["n_blocks"] = c.n_blocks;
  j["dim"] = c.dim;
  j["vocab"] = c.vocab;
  j["exit_layers"] = c.exit_layers;
  j["target_fingerprint"] = c.target_fingerprint;
  j["topk_accuracy"] = nlohmann::json::array();
  for (const auto& row : c.topk_accuracy) j["topk_accuracy"].push_back(row);
  j["training"] = c.training;
  return j;
}

HeadConfig head_config_from_json(const nlohmann::json& j, std::string_view where) {
  if (!j.is_object()) fail("{}: must be a JSON object", where);
  auto get = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) fail("{}: missing field '{}'", where, key);
    return j.at(key);
  };
  auto get_int = [&](const char* key) {
    const auto& v = get(key);
    if (!v.is_number_integer()) fail("{}: field '{}' = {}: must be an integer", where, key, json_excerpt(v));
    return json_integer<std::int64_t>(v, where, fmt::format("field '{}'", key));
  };
  auto to_i32 = [&](const char* key, std::int64_t v) {
    if (v < -(1ll << 31) || v >= (1ll << 31)) fail("{}: field '{}' = {}: out of range", where, key, v);
    return static_cast<std::int32_t>(v);
  };
  HeadConfig c;
  if (j.contains("format") && j["format"] != "speclab-heads-v1") {
    fail("{}: format = {}: expected \"speclab-heads-v1\"", where, json_excerpt(j["format"]));
  }
  const auto& kind = get("kind");
  if (!kind.is_string()) fail("{}: field 'kind' = {}: must be a string", where, json_excerpt(kind));
  c.kind = parse_head_kind(kind.get<std::string>(), fmt::format("{}: kind", where));
  c.n_heads = to_i32("n_heads", get_int("n_heads"));
  c.n_blocks = to_i32("n_blocks", get_int("n_blocks"));
  c.dim = to_i32("dim", get_int("dim"));
  c.vocab = to_i32("vocab", get_int("vocab"));
  if (j.contains("exit_layers")) {
    const auto& e = j["exit_layers"];
    if (!e.is_array()) fail("{}: field 'exit_layers' must be an array of integers", where);
    for (const auto& v : e) {
      if (!v.is_number_integer()) fail("{}: exit_layers entry {}: must be an integer", where, json_excerpt(v));
      c.exit_layers.push_back(json_integer<std::int32_t>(v, where, "exit_layers entry"));
    }
  }
  const auto& fp = get("target_fingerprint");
  if (!fp.is_string()) fail("{}: field 'target_fingerprint' must be a string", where);
  c.target_fingerprint = fp.get<std::string>();
  if (j.contains("topk_accuracy")) {
    const auto& a = j["topk_accuracy"];
    if (!a.is_array()) fail("{}: field 'topk_accuracy' must be an array", where);
    for (const auto& row : a) {
      if (!row.is_array() || row.size() != kTopKTracked) {
        fail("{}: topk_accuracy row {}: must be an array of {} numbers", where, json_excerpt(row),
             kTopKTracked);
      }
      std::array<double, kTopKTracked> r{};
      for (int i = 0; i < kTopKTracked; ++i) {
        if (!row[i].is_number()) fail("{}: topk_accuracy value {}: must be a number", where, json_excerpt(row[i]));
        r[i] = row[i].get<double>();
      }
      c.topk_accuracy.push_back(r);
    }
  }
  if (j.contains("training")) c.training = j["training"];
  c.validate(where);
  return c;
}

namespace {

// FNV-1a 64 over raw bytes.
struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  }
  template <class T>
  void value(const T& v) { bytes(&v, sizeof v); }
  // Up to ~4096 evenly spaced values of `a` plus its size.
  void sample(const std::vector<float>& a) {
    value(static_cast<std::uint64_t>(a.size()));
    const std::size_t stride = std::max<std::size_t>(1, a.size() / 4096);
    for (std::size_t i = 0; i < a.size(); i += stride) value(a[i]);
  }
  // fp32 matrices hash exactly as the fp32 vectors they used to be; other types hash evenly
  // spaced bytes of their stored form (a re-quantised model is a different model).
  void sample(const WeightMatrix& m) {
    if (m.dtype() == DType::kF32) {
      const std::size_t n = static_cast<std::size_t>(m.size());
      value(static_cast<std::uint64_t>(n));
      const std::size_t stride = std::max<std::size_t>(1, n / 4096);
      for (std::size_t i = 0; i < n; i += stride) value(m.f32()[i]);
      return;
    }
    value(static_cast<std::uint64_t>(m.size()));
    value(static_cast<int>(m.dtype()));
    const std::size_t n = m.n_bytes();
    const std::size_t stride = std::max<std::size_t>(1, n / 4096);
    for (std::size_t i = 0; i < n; i += stride) value(m.data()[i]);
  }
};

}  // namespace

std::string model_fingerprint(const LlamaWeights& w) {
  Fnv f;
  const ModelInfo& i = w.info;
  for (const std::int32_t v : {i.dim, i.hidden_dim, i.n_layers, i.n_heads, i.n_kv_heads, i.head_dim,
                               i.vocab_size}) {
    f.value(v);
  }
  f.value(i.norm_eps);
  f.value(i.rope_theta);
  f.value(static_cast<int>(i.rope_style));
  f.sample(w.token_embedding);
  for (const auto& l : w.layers) {
    f.bytes(l.attn_norm.data(), l.attn_norm.size() * sizeof(float));
    f.bytes(l.ffn_norm.data(), l.ffn_norm.size() * sizeof(float));
    for (const auto* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3}) f.sample(*m);
  }
  f.bytes(w.final_norm.data(), w.final_norm.size() * sizeof(float));
  const auto& c = w.classifier_matrix();
  f.sample(c);
  const std::size_t d = static_cast<std::size_t>(i.dim);
  if (c.rows() >= 2) {
    f.bytes(c.data(), c.dtype() == DType::kF32 ? d * sizeof(float) : c.row_bytes());
    f.bytes(c.row(c.rows() - 1), c.dtype() == DType::kF32 ? d * sizeof(float) : c.row_bytes());
  }
  return fmt::format("{:016x}", f.h);
}

std::vector<std::span<float>> HeadParams::tensors() {
  std::vector<std::span<float>> t;
  if (!proj_w.empty()) t.emplace_back(proj_w);
  if (!proj_b.empty()) t.emplace_back(proj_b);
  for (std::size_t b = 0; b < block_w.size(); ++b) {
    t.emplace_back(block_w[b]);
    t.emplace_back(block_b[b]);
  }
  if (!classifier.empty()) t.emplace_back(classifier);
  return t;
}

std::vector<std::span<const float>> HeadParams::tensors() const {
  std::vector<std::span<const float>> t;
  for (auto s : const_cast<HeadParams*>(this)->tensors()) t.emplace_back(s);
  return t;
}

std::int64_t HeadParams::n_params() const {
  std::int64_t n = 0;
  for (auto s : tensors()) n += static_cast<std::int64_t>(s.size());
  return n;
}

namespace {

// Allocates head h's tensors at their configured sizes (zeros).
HeadParams empty_params(const HeadConfig& c, std::int32_t h) {
  HeadParams p;
  const std::size_t d = static_cast<std::size_t>(c.dim);
  if (c.kind == HeadKind::kHydra) {
    p.proj_w.assign(d * static_cast<std::size_t>(c.input_dim(h)), 0.0f);
    p.proj_b.assign(d, 0.0f);
  }
  p.block_w.assign(static_cast<std::size_t>(c.n_blocks), std::vector<float>(d * d, 0.0f));
  p.block_b.assign(static_cast<std::size_t>(c.n_blocks), std::vector<float>(d, 0.0f));
  if (c.kind != HeadKind::kExitAdapter) p.classifier.assign(static_cast<std::size_t>(c.vocab) * d, 0.0f);
  return p;
}

void check_target(const HeadConfig& c, const LlamaWeights& t, std::string_view where) {
  const std::string fp = model_fingerprint(t);
  if (c.dim != t.info.dim || c.vocab != t.info.vocab_size || c.target_fingerprint != fp) {
    fail("{}: heads were trained for target {} (dim {}, vocab {}), not {} (dim {}, vocab {}, {}): "
         "heads only work with the model they were trained on",
         where, c.target_fingerprint, c.dim, c.vocab, fp, t.info.dim, t.info.vocab_size,
         t.info.source);
  }
}

}  // namespace

HeadNet HeadNet::init(HeadConfig cfg, std::shared_ptr<const LlamaWeights> target) {
  if (!target) fail("heads: a target model is required");
  cfg.dim = target->info.dim;
  cfg.vocab = target->info.vocab_size;
  cfg.target_fingerprint = model_fingerprint(*target);
  cfg.validate("heads config", target->info.n_layers);
  HeadNet net;
  net.cfg_ = std::move(cfg);
  net.target_ = std::move(target);
  const auto& c = net.cfg_;
  const std::size_t d = static_cast<std::size_t>(c.dim);
  for (std::int32_t h = 0; h < c.n_heads; ++h) {
    HeadParams p = empty_params(c, h);
    if (c.kind == HeadKind::kHydra) {
      const std::size_t in = static_cast<std::size_t>(c.input_dim(h));
      for (std::size_t i = 0; i < d; ++i) p.proj_w[i * in + i] = 1.0f;
    }
    if (!p.classifier.empty()) p.classifier = net.target_->classifier_matrix().to_f32();
    net.params_.push_back(std::move(p));
  }
  return net;
}

std::int32_t HeadNet::adapter_index(std::int32_t layer) const {
  for (std::size_t i = 0; i < cfg_.exit_layers.size(); ++i) {
    if (cfg_.exit_layers[i] == layer) return static_cast<std::int32_t>(i);
  }
  return -1;
}

void HeadNet::logits(std::int32_t h, std::span<const float> hidden, std::span<const Token> path,
                     std::int32_t n, std::span<float> out, HeadScratch& s) const {
  using MapM = Eigen::Map<Mat<float>>;
  using CMapM = Eigen::Map<const Mat<float>>;
  using CMapV = Eigen::Map<const heads::Vec<float>>;
  if (h < 0 || h >= cfg_.n_heads) fail("heads: head index {}: must be in [0, {})", h, cfg_.n_heads);
  const std::int32_t d = cfg_.dim, V = cfg_.vocab;
  const std::size_t nd = static_cast<std::size_t>(n) * d;
  if (n < 1 || hidden.size() != nd || out.size() != static_cast<std::size_t>(n) * V) {
    fail("heads: logits of head {} for {} rows: hidden has {} values (need {}), out {} (need {})",
         h, n, hidden.size(), nd, out.size(), static_cast<std::size_t>(n) * V);
  }
  const HeadParams& p = params_[h];
  s.a.resize(nd);
  s.b.resize(nd);
  MapM x(s.a.data(), n, d), z(s.b.data(), n, d);
  if (cfg_.kind == HeadKind::kHydra) {
    const std::int32_t plen = h + 1;
    if (path.size() != static_cast<std::size_t>(n) * plen) {
      fail("heads: hydra head {} needs a path of {} tokens per row ({} rows), got {}", h, plen, n,
           path.size());
    }
    const std::int32_t in = cfg_.input_dim(h);
    s.c.resize(static_cast<std::size_t>(n) * in);
    MapM u(s.c.data(), n, in);
    u.leftCols(d) = CMapM(hidden.data(), n, d);
    const auto& emb = target_->token_embedding;
    for (std::int32_t i = 0; i < n; ++i) {
      for (std::int32_t k = 0; k < plen; ++k) {
        const Token t = path[static_cast<std::size_t>(i) * plen + k];
        if (t < 0 || t >= V) fail("heads: path token {}: must be in [0, {})", t, V);
        emb.dequantize_row(t, u.data() + static_cast<std::size_t>(i) * in + (k + 1) * d);
      }
    }
    matmul(s.c.data(), n, p.proj_w.data(), d, in, p.proj_b.data(), s.a.data(), s.n_threads);
  } else {
    x = CMapM(hidden.data(), n, d);
  }
  // Every product goes through ops' kernel (ops/matmul.h), whose per-element arithmetic does not depend on
  // n: a row's logits are bit-identical whether it is computed alone or in a batch (drafters
  // batch the nodes of a tree level).
  for (std::int32_t b = 0; b < cfg_.n_blocks; ++b) {
    matmul(s.a.data(), n, p.block_w[b].data(), d, d, p.block_b[b].data(), s.b.data(), s.n_threads);
    x += z.unaryExpr([](float v) { return v * heads::logistic(v); });
  }
  if (cfg_.kind == HeadKind::kExitAdapter) {
    // The target's own final norm + classifier (ops/classifier.h): a zero adapter gives
    // bit-identical logits to the plain early exit of LlamaModel.
    norm_classifier(s.a.data(), n, d, target_->final_norm.data(), target_->info.norm_eps,
                    target_->classifier_matrix(), s.b.data(), out.data(), s.n_threads);
  } else {
    // The [vocab, dim] classifier dominates: ops' kernel streams it once for all n rows
    // (an Eigen GEMM would repack it on every call).
    matmul(s.a.data(), n, p.classifier.data(), V, d, nullptr, out.data(), s.n_threads);
  }
}

namespace {

std::string tensor_name(std::int32_t h, const char* what, std::int32_t b = -1) {
  return b < 0 ? fmt::format("head.{}.{}", h, what) : fmt::format("head.{}.block.{}.{}", h, b, what);
}

}  // namespace

void save_heads(const HeadNet& net, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("{}: cannot create heads directory: {}", dir, ec.message());
  const HeadConfig& c = net.config();
  const std::int64_t d = c.dim;
  std::vector<SafetensorsOut> t;
  for (std::int32_t h = 0; h < c.n_heads; ++h) {
    const HeadParams& p = net.params(h);
    if (!p.proj_w.empty()) {
      t.push_back({tensor_name(h, "proj.weight"), {d, c.input_dim(h)}, p.proj_w});
      t.push_back({tensor_name(h, "proj.bias"), {d}, p.proj_b});
    }
    for (std::int32_t b = 0; b < c.n_blocks; ++b) {
      t.push_back({tensor_name(h, "weight", b), {d, d}, p.block_w[b]});
      t.push_back({tensor_name(h, "bias", b), {d}, p.block_b[b]});
    }
    if (!p.classifier.empty()) {
      t.push_back({tensor_name(h, "classifier.weight"), {c.vocab, d}, p.classifier});
    }
  }
  write_safetensors_f32((fs::path(dir) / "heads.safetensors").string(), t,
                        {{"format", "speclab-heads-v1"}, {"kind", std::string(to_string(c.kind))}});
  const std::string jpath = (fs::path(dir) / "heads.json").string();
  std::ofstream f(jpath, std::ios::trunc);
  if (!f) fail("{}: cannot open for writing", jpath);
  f << to_json(c).dump(2) << "\n";
  f.close();
  if (!f) fail("{}: write failed", jpath);
}

HeadNet load_heads(const std::string& dir, std::shared_ptr<const LlamaWeights> target) {
  if (!target) fail("{}: heads need a Llama-family target model", dir);
  const std::string jpath = (fs::path(dir) / "heads.json").string();
  const std::string spath = (fs::path(dir) / "heads.safetensors").string();
  std::error_code ec;  // error_code overloads: a name the system cannot look up is "not found", not a throw
  if (!fs::is_directory(dir, ec)) {
    fail("{}: heads directory not found (train one with `speclab train-heads`)", quote_untrusted(dir));
  }
  if (!fs::exists(jpath, ec)) fail("{}: cannot open (a heads directory holds heads.json and heads.safetensors)", jpath);
  const nlohmann::json j = parse_json(read_input_file(jpath, kMaxTextInputBytes, "a heads.json"), jpath);
  HeadConfig c = head_config_from_json(j, jpath);
  c.validate(jpath, target->info.n_layers);
  check_target(c, *target, dir);
  const SafetensorsFile st(spath);
  HeadNet net;
  net.cfg_ = c;
  net.target_ = std::move(target);
  auto read = [&](const std::string& name, std::vector<std::int64_t> shape, std::vector<float>& dst) {
    const SafetensorsTensor* t = st.find(name);
    if (!t) fail("{}: tensor {} missing (heads.json says {} {} heads with {} blocks)", spath, name,
                 c.n_heads, to_string(c.kind), c.n_blocks);
    if (t->shape != shape) {
      fail("{}: tensor {} has shape [{}]: expected [{}]", spath, name, fmt::join(t->shape, ", "),
           fmt::join(shape, ", "));
    }
    dst = st.read_f32(*t);
    for (const float v : dst) {
      if (!std::isfinite(v)) fail("{}: tensor {} holds a non-finite value", spath, name);
    }
  };
  const std::int64_t d = c.dim;
  for (std::int32_t h = 0; h < c.n_heads; ++h) {
    HeadParams p = empty_params(c, h);
    if (!p.proj_w.empty()) {
      read(tensor_name(h, "proj.weight"), {d, c.input_dim(h)}, p.proj_w);
      read(tensor_name(h, "proj.bias"), {d}, p.proj_b);
    }
    for (std::int32_t b = 0; b < c.n_blocks; ++b) {
      read(tensor_name(h, "weight", b), {d, d}, p.block_w[b]);
      read(tensor_name(h, "bias", b), {d}, p.block_b[b]);
    }
    if (!p.classifier.empty()) read(tensor_name(h, "classifier.weight"), {c.vocab, d}, p.classifier);
    net.params_.push_back(std::move(p));
  }
  return net;
}

}  // namespace speclab
