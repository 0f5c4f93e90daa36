#include "formats/hf_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {

namespace {

using nlohmann::json;

constexpr const char* kSupported = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

std::string json_type(const json& j) {
  if (j.is_number_integer()) return "integer";
  if (j.is_number_float()) return "float";
  return j.type_name();
}

// Typed field access; every failure names the file, the field, the value and the JSON type.
class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  bool has(const char* field) const { return root_.contains(field) && !root_.at(field).is_null(); }

  const json& at(const char* field) const {
    if (!root_.contains(field)) fail("{}: field {} is missing", source_, field);
    return root_.at(field);
  }

  std::int64_t integer(const char* field) const { return integer_of(at(field), field); }
  std::int64_t integer_or(const char* field, std::int64_t def) const {
    return has(field) ? integer(field) : def;
  }

  double number(const char* field) const { return number_of(at(field), field); }
  double number_or(const char* field, double def) const {
    return has(field) ? number(field) : def;
  }

  bool boolean_or(const char* field, bool def) const {
    if (!has(field)) return def;
    const json& v = at(field);
    if (!v.is_boolean()) wrong_type(field, v, "a boolean");
    return v.get<bool>();
  }

  std::string string_or(const char* field, const std::string& def) const {
    if (!has(field)) return def;
    const json& v = at(field);
    if (!v.is_string()) wrong_type(field, v, "a string");
    return v.get<std::string>();
  }

  std::int64_t integer_of(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) wrong_type(field, v, "an integer");
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail("{}: {} = {}: out of range", source_, field, json_excerpt(v));
    }
    return v.get<std::int64_t>();
  }

  double number_of(const json& v, const std::string& field) const {
    if (!v.is_number()) wrong_type(field, v, "a number");
    return v.get<double>();
  }

  [[noreturn]] void wrong_type(const std::string& field, const json& v, const char* want) const {
    fail("{}: {} = {}: must be {} (found {})", source_, field, json_excerpt(v), want, json_type(v));
  }

  const std::string& source() const { return source_; }

 private:
  const json& root_;
  const std::string& source_;
};

std::int32_t to_i32(const std::string& source, const char* field, std::int64_t v,
                    std::int64_t lo = 1) {
  if (v < lo || v > std::numeric_limits<std::int32_t>::max()) {
    fail("{}: {} = {}: must be in [{}, {}]", source, field, v, lo,
         std::numeric_limits<std::int32_t>::max());
  }
  return static_cast<std::int32_t>(v);
}

float to_positive_float(const std::string& source, const std::string& field, double v) {
  if (!(v > 0.0) || !std::isfinite(v) || v > std::numeric_limits<float>::max()) {
    fail("{}: {} = {}: must be a positive finite number", source, field, v);
  }
  return static_cast<float>(v);
}

std::string pick_architecture(const ConfigReader& r) {
  const json& a = r.at("architectures");
  if (!a.is_array()) r.wrong_type("architectures", a, "an array of strings");
  for (const auto& e : a) {
    if (!e.is_string()) r.wrong_type("architectures", a, "an array of strings");
    const std::string s = e.get<std::string>();
    if (s == "LlamaForCausalLM" || s == "MistralForCausalLM" || s == "Qwen2ForCausalLM") return s;
  }
  fail("{}: architectures = {}: unsupported (supported: {})", r.source(), json_excerpt(a), kSupported);
}

RopeScaling parse_rope_scaling(const ConfigReader& r) {
  RopeScaling s;
  if (!r.has("rope_scaling")) return s;
  const json& o = r.at("rope_scaling");
  if (!o.is_object()) r.wrong_type("rope_scaling", o, "an object or null");
  const ConfigReader sub(o, r.source());
  std::string type;
  if (o.contains("rope_type")) {
    type = sub.string_or("rope_type", "");
  } else if (o.contains("type")) {
    type = sub.string_or("type", "");
  } else {
    fail("{}: rope_scaling = {}: needs a rope_type (or type) field", r.source(), json_excerpt(o));
  }
  auto factor = [&](const char* field) {
    if (!o.contains(field)) fail("{}: rope_scaling.{} is missing", r.source(), field);
    return to_positive_float(r.source(), std::string("rope_scaling.") + field,
                             r.number_of(o.at(field), std::string("rope_scaling.") + field));
  };
  if (type == "default") return s;
  if (type == "linear") {
    s.type = RopeScalingType::kLinear;
    s.factor = factor("factor");
    return s;
  }
  if (type == "llama3") {
    s.type = RopeScalingType::kLlama3;
    s.factor = factor("factor");
    s.low_freq_factor = factor("low_freq_factor");
    s.high_freq_factor = factor("high_freq_factor");
    if (!o.contains("original_max_position_embeddings")) {
      fail("{}: rope_scaling.original_max_position_embeddings is missing", r.source());
    }
    s.original_max_position = to_i32(
        r.source(), "rope_scaling.original_max_position_embeddings",
        r.integer_of(o.at("original_max_position_embeddings"),
                     "rope_scaling.original_max_position_embeddings"));
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      fail("{}: rope_scaling.high_freq_factor = {}: must exceed low_freq_factor = {}", r.source(),
           s.high_freq_factor, s.low_freq_factor);
    }
    return s;
  }
  fail("{}: rope_scaling.rope_type = {}: unsupported (supported: default, linear, llama3)",
       r.source(), type);
}

}  // namespace

HfConfig parse_hf_config(std::string_view json_text, const std::string& source,
                         std::int32_t max_seq_len_cap) {
  if (max_seq_len_cap < 1) fail("{}: max_seq_len cap = {}: must be positive", source, max_seq_len_cap);
  const json root = parse_json(json_text, source);
  if (!root.is_object()) fail("{}: config is a JSON {}: must be an object", source, json_type(root));
  const ConfigReader r(root, source);

  HfConfig cfg;
  cfg.architecture = pick_architecture(r);
  const bool qwen2 = cfg.architecture == "Qwen2ForCausalLM";
  ModelInfo& m = cfg.info;
  m.arch = qwen2 ? "qwen2" : cfg.architecture == "MistralForCausalLM" ? "mistral" : "llama";
  m.source = source;
  m.format = "safetensors";
  m.weight_dtype = "";
  m.rope_style = RopeStyle::kHalfSplit;

  if (const std::string act = r.string_or("hidden_act", "silu"); act != "silu") {
    fail("{}: hidden_act = {}: unsupported (Llama-family models use silu)", source, act);
  }
  if (r.boolean_or("mlp_bias", false)) {
    fail("{}: mlp_bias = true: unsupported (only q/k/v projections may have biases)", source);
  }

  m.dim = to_i32(source, "hidden_size", r.integer("hidden_size"));
  m.hidden_dim = to_i32(source, "intermediate_size", r.integer("intermediate_size"));
  m.n_layers = to_i32(source, "num_hidden_layers", r.integer("num_hidden_layers"));
  m.n_heads = to_i32(source, "num_attention_heads", r.integer("num_attention_heads"));
  m.n_kv_heads =
      to_i32(source, "num_key_value_heads", r.integer_or("num_key_value_heads", m.n_heads));
  if (r.has("head_dim")) {
    m.head_dim = to_i32(source, "head_dim", r.integer("head_dim"));
  } else {
    if (m.dim % m.n_heads != 0) {
      fail("{}: hidden_size = {}: must be a multiple of num_attention_heads = {} when head_dim "
           "is absent",
           source, m.dim, m.n_heads);
    }
    m.head_dim = m.dim / m.n_heads;
  }
  m.vocab_size = to_i32(source, "vocab_size", r.integer("vocab_size"));
  m.norm_eps = to_positive_float(source, "rms_norm_eps", r.number_or("rms_norm_eps", 1e-6));
  m.rope_theta = to_positive_float(source, "rope_theta", r.number_or("rope_theta", 10000.0));
  m.rope_scaling = parse_rope_scaling(r);

  cfg.max_position_embeddings = r.integer_or("max_position_embeddings", 2048);
  std::int64_t seq = cfg.max_position_embeddings;
  if (seq < 1) {
    fail("{}: max_position_embeddings = {}: must be positive", source, seq);
  }
  const bool windowed = qwen2 ? r.boolean_or("use_sliding_window", false) : true;
  if (windowed && r.has("sliding_window")) {
    const std::int64_t w = r.integer("sliding_window");
    if (w < 1) fail("{}: sliding_window = {}: must be positive or null", source, w);
    seq = std::min(seq, w);
  }
  m.max_seq_len = static_cast<std::int32_t>(std::min<std::int64_t>(seq, max_seq_len_cap));

  m.tied_classifier = r.boolean_or("tie_word_embeddings", false);
  m.qkv_bias = qwen2 || r.boolean_or("attention_bias", false);

  m.bos_id = qwen2 ? -1 : 1;
  if (root.contains("bos_token_id")) {
    const json& b = root.at("bos_token_id");
    m.bos_id = b.is_null() ? -1 : to_i32(source, "bos_token_id", r.integer("bos_token_id"), 0);
  }
  m.eos_ids = qwen2 ? std::vector<Token>{} : std::vector<Token>{2};
  if (root.contains("eos_token_id")) {
    const json& e = root.at("eos_token_id");
    m.eos_ids.clear();
    if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) r.wrong_type("eos_token_id", e, "an integer or a list of integers");
        m.eos_ids.push_back(to_i32(source, "eos_token_id", r.integer_of(x, "eos_token_id"), 0));
      }
    } else if (!e.is_null()) {
      if (!e.is_number_integer()) r.wrong_type("eos_token_id", e, "an integer or a list of integers");
      m.eos_ids.push_back(to_i32(source, "eos_token_id", r.integer("eos_token_id"), 0));
    }
  }
  m.validate();
  return cfg;
}

HfConfig load_hf_config(const std::string& path, std::int32_t max_seq_len_cap) {
  return parse_hf_config(read_input_file(path, kMaxTextInputBytes, "a config.json"), path, max_seq_len_cap);
}

}  // namespace speclab
