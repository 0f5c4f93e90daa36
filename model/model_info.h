// Shape and conventions of a Llama-family model. Filled by the file readers, validated once
// (validate() throws Error naming `source` and the field), then read by LlamaModel.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/types.h"

namespace speclab {

// How rotary embeddings pair the dimensions of a head.
enum class RopeStyle {
  kInterleaved,  // pairs (0,1), (2,3), ...: llama2.c, GGUF (llama.cpp permutes q/k at convert)
  kHalfSplit,    // pairs (i, i + head_dim/2): Hugging Face checkpoints ("rotate_half")
};

enum class RopeScalingType { kNone, kLinear, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;   // llama3
  float high_freq_factor = 4.0f;  // llama3
  std::int32_t original_max_position = 8192;  // llama3
};

struct ModelInfo {
  std::string arch = "llama";      // "llama", "mistral", "qwen2": informational
  std::string source;              // file or directory it was loaded from
  std::string format;              // "llama2c-v0", "llama2c-v1", "llama2c-v2", "gguf", "safetensors", "synthetic"
  std::string weight_dtype;        // dtype as stored in the file, e.g. "f32", "q8_0", "f16", "bf16"
  std::int32_t dim = 0;            // model width d
  std::int32_t hidden_dim = 0;     // FFN inner width
  std::int32_t n_layers = 0;
  std::int32_t n_heads = 0;
  std::int32_t n_kv_heads = 0;     // grouped-query attention: n_heads % n_kv_heads == 0
  std::int32_t head_dim = 0;       // usually dim / n_heads
  std::int32_t vocab_size = 0;
  std::int32_t max_seq_len = 0;    // KV cache capacity
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  RopeScaling rope_scaling;
  bool tied_classifier = true;     // classifier shares the token embedding
  bool qkv_bias = false;           // Qwen2 has q/k/v biases
  Token bos_id = 1;
  std::vector<Token> eos_ids = {2};

  // Throws Error("<source>: <field> = <value>: <rule>") if any field is out of range
  // (non-positive sizes, n_heads % n_kv_heads != 0, odd head_dim, absurd sizes, ...).
  void validate() const;

  // Number of parameters (embedding counted once when tied).
  std::int64_t n_params() const;

  bool is_eos(Token t) const;
};

}  // namespace speclab
