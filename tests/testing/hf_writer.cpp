#include "tests/testing/hf_writer.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/half.h"
#include "formats/hf_loader.h"

namespace speclab::testing {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

void write_text_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot create", path);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail("{}: write failed", path);
}

std::string safetensors_bytes(const std::string& header, const std::string& data,
                              std::int64_t header_len_override) {
  const std::uint64_t n =
      header_len_override >= 0 ? static_cast<std::uint64_t>(header_len_override) : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void write_safetensors(const std::string& path, const std::vector<HfTensor>& tensors,
                       SafetensorsDtype dtype) {
  SPECLAB_ASSERT(dtype == SafetensorsDtype::kF32 || dtype == SafetensorsDtype::kF16 ||
                 dtype == SafetensorsDtype::kBF16);
  const std::size_t esize = static_cast<std::size_t>(safetensors_dtype_size(dtype));
  ordered_json header = ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (const auto& t : tensors) {
    std::int64_t n = 1;
    for (auto s : t.shape) n *= s;
    SPECLAB_ASSERT(n == static_cast<std::int64_t>(t.data.size()));
    const std::size_t begin = data.size();
    data.resize(begin + t.data.size() * esize);
    char* p = data.data() + begin;
    for (std::size_t i = 0; i < t.data.size(); ++i) {
      if (dtype == SafetensorsDtype::kF32) {
        std::memcpy(p + 4 * i, &t.data[i], 4);
      } else {
        const std::uint16_t h = dtype == SafetensorsDtype::kF16 ? f32_to_f16(t.data[i])
                                                                : f32_to_bf16(t.data[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
    }
    header[t.name] = {{"dtype", std::string(safetensors_dtype_name(dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_text_file(path, safetensors_bytes(text, data));
}

std::string hf_config_json(const ModelInfo& m) {
  ordered_json c;
  const bool qwen2 = m.arch == "qwen2";
  SPECLAB_ASSERT(!qwen2 || m.qkv_bias);  // Qwen2 always has q/k/v biases
  c["architectures"] = {qwen2              ? "Qwen2ForCausalLM"
                        : m.arch == "mistral" ? "MistralForCausalLM"
                                              : "LlamaForCausalLM"};
  c["model_type"] = qwen2 ? "qwen2" : m.arch == "mistral" ? "mistral" : "llama";
  if (!qwen2) c["attention_bias"] = m.qkv_bias;
  c["hidden_act"] = "silu";
  c["hidden_size"] = m.dim;
  c["intermediate_size"] = m.hidden_dim;
  c["num_hidden_layers"] = m.n_layers;
  c["num_attention_heads"] = m.n_heads;
  c["num_key_value_heads"] = m.n_kv_heads;
  c["head_dim"] = m.head_dim;
  c["vocab_size"] = m.vocab_size;
  c["rms_norm_eps"] = static_cast<double>(m.norm_eps);
  c["rope_theta"] = static_cast<double>(m.rope_theta);
  c["max_position_embeddings"] = m.max_seq_len;
  switch (m.rope_scaling.type) {
    case RopeScalingType::kNone:
      c["rope_scaling"] = nullptr;
      break;
    case RopeScalingType::kLinear:
      c["rope_scaling"] = {{"rope_type", "linear"},
                           {"factor", static_cast<double>(m.rope_scaling.factor)}};
      break;
    case RopeScalingType::kLlama3:
      c["rope_scaling"] = {
          {"rope_type", "llama3"},
          {"factor", static_cast<double>(m.rope_scaling.factor)},
          {"low_freq_factor", static_cast<double>(m.rope_scaling.low_freq_factor)},
          {"high_freq_factor", static_cast<double>(m.rope_scaling.high_freq_factor)},
          {"original_max_position_embeddings", m.rope_scaling.original_max_position}};
      break;
  }
  c["tie_word_embeddings"] = m.tied_classifier;
  c["bos_token_id"] = m.bos_id >= 0 ? ordered_json(m.bos_id) : ordered_json(nullptr);
  if (m.eos_ids.size() == 1) {
    c["eos_token_id"] = m.eos_ids[0];
  } else if (m.eos_ids.empty()) {
    c["eos_token_id"] = nullptr;
  } else {
    c["eos_token_id"] = m.eos_ids;
  }
  c["torch_dtype"] = "float32";
  return c.dump(2) + "\n";
}

std::vector<HfTensor> hf_tensors(const LlamaWeights& w) {
  const ModelInfo& m = w.info;
  const std::int64_t d = m.dim, h = m.hidden_dim, q = std::int64_t(m.n_heads) * m.head_dim,
                     kv = std::int64_t(m.n_kv_heads) * m.head_dim, v = m.vocab_size;
  const bool permute = m.rope_style == RopeStyle::kInterleaved;
  auto qk = [&](const std::vector<float>& x, std::int32_t heads, std::int64_t cols) {
    return permute ? permute_for_half_split(x, heads, m.head_dim, cols) : x;
  };
  auto f = [](const WeightMatrix& x) { return x.to_f32(); };
  std::vector<HfTensor> out;
  out.push_back({"model.embed_tokens.weight", {v, d}, f(w.token_embedding)});
  for (std::int32_t l = 0; l < m.n_layers; ++l) {
    const auto& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.push_back({p + "input_layernorm.weight", {d}, L.attn_norm});
    out.push_back({p + "self_attn.q_proj.weight", {q, d}, qk(f(L.wq), m.n_heads, d)});
    out.push_back({p + "self_attn.k_proj.weight", {kv, d}, qk(f(L.wk), m.n_kv_heads, d)});
    out.push_back({p + "self_attn.v_proj.weight", {kv, d}, f(L.wv)});
    if (m.qkv_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {q}, qk(L.bq, m.n_heads, 1)});
      out.push_back({p + "self_attn.k_proj.bias", {kv}, qk(L.bk, m.n_kv_heads, 1)});
      out.push_back({p + "self_attn.v_proj.bias", {kv}, L.bv});
    }
    out.push_back({p + "self_attn.o_proj.weight", {d, q}, f(L.wo)});
    out.push_back({p + "post_attention_layernorm.weight", {d}, L.ffn_norm});
    out.push_back({p + "mlp.gate_proj.weight", {h, d}, f(L.w1)});
    out.push_back({p + "mlp.up_proj.weight", {h, d}, f(L.w3)});
    out.push_back({p + "mlp.down_proj.weight", {d, h}, f(L.w2)});
  }
  out.push_back({"model.norm.weight", {d}, w.final_norm});
  if (!m.tied_classifier) out.push_back({"lm_head.weight", {v, d}, f(w.classifier)});
  return out;
}

void write_hf_directory(const LlamaWeights& w, const std::string& dir,
                        const HfWriteOptions& opts) {
  SPECLAB_ASSERT(opts.n_shards >= 1);
  fs::create_directories(dir);
  write_text_file((fs::path(dir) / "config.json").string(), hf_config_json(w.info));
  std::vector<HfTensor> tensors = hf_tensors(w);
  if (opts.n_shards == 1) {
    write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, opts.dtype);
    return;
  }
  const std::size_t k = static_cast<std::size_t>(opts.n_shards);
  SPECLAB_ASSERT(k <= tensors.size());
  ordered_json index;
  index["metadata"] = {{"total_size", 0}};
  ordered_json weight_map = ordered_json::object();
  for (std::size_t s = 0; s < k; ++s) {
    // Contiguous, nearly equal runs of tensors per shard (HF shards by size; order is all
    // that matters for the loader).
    const std::size_t lo = tensors.size() * s / k, hi = tensors.size() * (s + 1) / k;
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, k);
    std::vector<HfTensor> part(std::make_move_iterator(tensors.begin() + lo),
                                  std::make_move_iterator(tensors.begin() + hi));
    for (const auto& t : part) weight_map[t.name] = file;
    write_safetensors((fs::path(dir) / file).string(), part, opts.dtype);
  }
  index["weight_map"] = weight_map;
  write_text_file((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
}

}  // namespace speclab::testing
