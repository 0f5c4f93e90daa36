#include "formats/hf_loader.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "formats/safetensors.h"

namespace speclab {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Every tensor of the checkpoint, across one file or several shards, found by name.
class TensorSource {
 public:
  // Opens dir/model.safetensors, else the shards listed by dir/model.safetensors.index.json.
  explicit TensorSource(const std::string& dir) {
    const fs::path single = fs::path(dir) / "model.safetensors";
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    std::error_code ec;
    if (fs::exists(single, ec)) {
      files_.emplace_back(single.string());
      for (const auto& t : files_[0].tensors()) entries_[t.name] = {0, &t};
    } else if (fs::exists(index, ec)) {
      open_index(dir, index.string());
    } else {
      fail("{}: no model.safetensors or model.safetensors.index.json in the directory", dir);
    }
  }

  bool has(const std::string& name) const { return entries_.count(name) != 0; }

  // The tensor as fp32, after checking its shape; marks it used.
  std::vector<float> take(const std::string& name, const std::vector<std::int64_t>& expected,
                          const std::string& why) {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("{}: tensor {} is missing", where_, name);
    const auto& [file_i, t] = it->second;
    const SafetensorsFile& f = files_[file_i];
    if (t->shape != expected) {
      fail("{}: tensor {} has shape {}: expected {} ({})", f.path(), name, shape_str(t->shape),
           shape_str(expected), why);
    }
    used_.insert(name);
    dtypes_.insert(lower(safetensors_dtype_name(t->dtype)));
    return f.read_f32(*t);
  }

  // A [rows, cols] matrix in its stored type (a view into the memory map), after checking its
  // shape; marks it used.
  WeightMatrix take_matrix(const std::string& name, std::int64_t rows, std::int64_t cols,
                           const std::string& why) {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("{}: tensor {} is missing", where_, name);
    const auto& [file_i, t] = it->second;
    const SafetensorsFile& f = files_[file_i];
    if (t->shape != std::vector<std::int64_t>{rows, cols}) {
      fail("{}: tensor {} has shape {}: expected {} ({})", f.path(), name, shape_str(t->shape),
           shape_str({rows, cols}), why);
    }
    used_.insert(name);
    dtypes_.insert(lower(safetensors_dtype_name(t->dtype)));
    return f.read_matrix(*t, rows, cols);
  }

  void mark_used(const std::string& name) { used_.insert(name); }

  // Tensors present but never taken, with the file holding each.
  std::vector<std::pair<std::string, std::string>> unused() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, e] : entries_) {
      if (!used_.count(name)) out.emplace_back(name, files_[e.first].path());
    }
    return out;
  }

  // "f32", "bf16", or several joined with '+'.
  std::string dtype_summary() const {
    std::string out;
    for (const auto& d : dtypes_) out += (out.empty() ? "" : "+") + d;
    return out;
  }

 private:
  void open_index(const std::string& dir, const std::string& index_path) {
    where_ = index_path;
    const json root = parse_json(read_input_file(index_path, kMaxTextInputBytes, "a safetensors index"), index_path);
    if (!root.is_object() || !root.contains("weight_map") || !root.at("weight_map").is_object()) {
      fail("{}: weight_map is missing or not an object", index_path);
    }
    std::map<std::string, std::size_t> file_index;
    for (const auto& [name, v] : root.at("weight_map").items()) {
      if (!v.is_string()) {
        fail("{}: weight_map.{} = {}: must be a file name string", index_path, name, json_excerpt(v));
      }
      const std::string file = v.get<std::string>();
      // Shards live beside the index: plain file names only (no paths, no "..").
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        fail("{}: weight_map.{} = {}: must be a file name inside the model directory",
             index_path, name, file);
      }
      auto [fit, inserted] = file_index.try_emplace(file, files_.size());
      if (inserted) files_.emplace_back((fs::path(dir) / file).string());
      const SafetensorsFile& f = files_[fit->second];
      const SafetensorsTensor* t = f.find(name);
      if (t == nullptr) {
        fail("{}: weight_map.{} = {}: that shard has no tensor {}", index_path, name, file, name);
      }
      entries_[name] = {fit->second, t};
    }
  }

  std::string where_ = "model.safetensors";
  // Shard files; SafetensorsFile is move-only and its tensor vector lives on the heap, so the
  // pointers stored in entries_ survive the vector growing.
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::pair<std::size_t, const SafetensorsTensor*>> entries_;
  std::set<std::string> used_;
  std::set<std::string> dtypes_;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Error for a tensor nobody asked for: explains layer-count and bias mismatches.
[[noreturn]] void fail_unused(const std::string& name, const std::string& file,
                              const ModelInfo& m) {
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) == 0) {
    std::size_t pos = prefix.size();
    std::int64_t layer = 0;
    bool digits = false;
    while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos]))) {
      layer = layer * 10 + (name[pos++] - '0');
      digits = true;
      if (layer > (1 << 24)) break;
    }
    if (digits && layer >= m.n_layers) {
      fail("{}: tensor {}: layer {} is beyond num_hidden_layers = {} of config.json", file, name,
           layer, m.n_layers);
    }
    if (ends_with(name, "_proj.bias") && !m.qkv_bias) {
      fail("{}: tensor {}: bias present but config.json has attention_bias = false", file, name);
    }
  }
  fail("{}: tensor {}: unexpected (not part of a {} model)", file, name, m.arch);
}

std::vector<float> permute_rows(const std::vector<float>& w, std::int32_t n_heads,
                                std::int32_t head_dim, std::int64_t cols, bool to_half_split) {
  SPECLAB_ASSERT(head_dim % 2 == 0);
  SPECLAB_ASSERT(static_cast<std::int64_t>(w.size()) ==
                 std::int64_t(n_heads) * head_dim * cols);
  std::vector<float> out(w.size());
  const std::int32_t half = head_dim / 2;
  for (std::int32_t h = 0; h < n_heads; ++h) {
    for (std::int32_t i = 0; i < half; ++i) {
      for (std::int32_t j = 0; j < 2; ++j) {
        const std::int64_t inter = std::int64_t(h) * head_dim + 2 * i + j;
        const std::int64_t split = std::int64_t(h) * head_dim + j * half + i;
        const std::int64_t src = to_half_split ? inter : split;
        const std::int64_t dst = to_half_split ? split : inter;
        std::copy(w.begin() + src * cols, w.begin() + (src + 1) * cols, out.begin() + dst * cols);
      }
    }
  }
  return out;
}

}  // namespace

std::vector<float> permute_for_half_split(const std::vector<float>& w, std::int32_t n_heads,
                                          std::int32_t head_dim, std::int64_t cols) {
  return permute_rows(w, n_heads, head_dim, cols, true);
}

std::vector<float> permute_for_interleaved(const std::vector<float>& w, std::int32_t n_heads,
                                           std::int32_t head_dim, std::int64_t cols) {
  return permute_rows(w, n_heads, head_dim, cols, false);
}

bool is_hf_directory(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / "config.json", ec);
}

LlamaWeights load_hf_directory(const std::string& dir, std::int32_t max_seq_len_cap) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: not a directory", dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path, ec)) fail("{}: config.json is missing", dir);
  HfConfig cfg = load_hf_config(config_path, max_seq_len_cap);
  ModelInfo& m = cfg.info;
  TensorSource src(dir);

  LlamaWeights w;
  const std::int64_t d = m.dim, h = m.hidden_dim, q = std::int64_t(m.n_heads) * m.head_dim,
                     kv = std::int64_t(m.n_kv_heads) * m.head_dim, v = m.vocab_size;
  const std::string cfg_note = "from config.json: hidden_size " + std::to_string(d) +
                               ", intermediate_size " + std::to_string(h) + ", heads " +
                               std::to_string(m.n_heads) + "/" + std::to_string(m.n_kv_heads) +
                               " x head_dim " + std::to_string(m.head_dim) + ", vocab_size " +
                               std::to_string(v);

  w.token_embedding = src.take_matrix("model.embed_tokens.weight", v, d, cfg_note);
  w.layers.resize(m.n_layers);
  for (std::int32_t l = 0; l < m.n_layers; ++l) {
    auto& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    L.attn_norm = src.take(p + "input_layernorm.weight", {d}, cfg_note);
    L.wq = src.take_matrix(p + "self_attn.q_proj.weight", q, d, cfg_note);
    L.wk = src.take_matrix(p + "self_attn.k_proj.weight", kv, d, cfg_note);
    L.wv = src.take_matrix(p + "self_attn.v_proj.weight", kv, d, cfg_note);
    if (m.qkv_bias) {
      L.bq = src.take(p + "self_attn.q_proj.bias", {q}, cfg_note);
      L.bk = src.take(p + "self_attn.k_proj.bias", {kv}, cfg_note);
      L.bv = src.take(p + "self_attn.v_proj.bias", {kv}, cfg_note);
    }
    L.wo = src.take_matrix(p + "self_attn.o_proj.weight", d, q, cfg_note);
    L.ffn_norm = src.take(p + "post_attention_layernorm.weight", {d}, cfg_note);
    L.w1 = src.take_matrix(p + "mlp.gate_proj.weight", h, d, cfg_note);
    L.w2 = src.take_matrix(p + "mlp.down_proj.weight", d, h, cfg_note);
    L.w3 = src.take_matrix(p + "mlp.up_proj.weight", h, d, cfg_note);
  }
  w.final_norm = src.take("model.norm.weight", {d}, cfg_note);
  if (!m.tied_classifier && src.has("lm_head.weight")) {
    w.classifier = src.take_matrix("lm_head.weight", v, d, cfg_note);
  } else {
    // Tied by the config (HF ignores a stored copy), or no lm_head in the checkpoint.
    m.tied_classifier = true;
    src.mark_used("lm_head.weight");
  }
  for (const auto& [name, file] : src.unused()) {
    if (ends_with(name, "rotary_emb.inv_freq")) continue;  // a derived buffer, recomputed
    fail_unused(name, file, m);
  }

  m.source = dir;
  m.weight_dtype = src.dtype_summary();
  w.info = m;
  w.validate();
  return w;
}

}  // namespace speclab
