// Hugging Face `config.json` of a Llama-family causal LM -> ModelInfo.
//
// Supported architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (first entry
// of "architectures" that is supported; none -> Error listing the supported ones).
//
// Fields read (HF name -> ModelInfo):
//   hidden_size -> dim, intermediate_size -> hidden_dim, num_hidden_layers -> n_layers,
//   num_attention_heads -> n_heads, num_key_value_heads -> n_kv_heads (absent/null: n_heads),
//   head_dim -> head_dim (absent/null: hidden_size / num_attention_heads), vocab_size,
//   rms_norm_eps -> norm_eps (default 1e-6), rope_theta (default 10000),
//   rope_scaling (null, or {"rope_type"|"type": "default" | "linear" (factor) | "llama3"
//   (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings)}),
//   max_position_embeddings (default 2048) -> max_seq_len = min(it, max_seq_len_cap),
//   tie_word_embeddings (default false) -> tied_classifier (the loader also ties when the
//   checkpoint has no lm_head.weight), attention_bias (default false; Qwen2: always true) ->
//   qkv_bias, bos_token_id (int or null -> -1), eos_token_id (int, list of ints, or null -> none).
//   Defaults for absent bos/eos: Llama/Mistral 1 / [2], Qwen2 none.
// Checked and refused when they would change the computation: hidden_act other than "silu",
// mlp_bias true, rope_scaling types other than the above. A sliding window (Mistral
// "sliding_window", Qwen2 with "use_sliding_window": true) caps max_seq_len at the window so
// that full attention over the cache is exact.
//
// Output conventions: rope_style = kHalfSplit (HF q/k projections are laid out for
// rotate_half), format = "safetensors", weight_dtype empty (the loader fills it from the tensors),
// source = the config path. The result passes ModelInfo::validate().
//
// Bad input: malformed JSON, missing required fields, wrong JSON types ("<file>: <field> =
// <value>: must be <type> (found <type>)"), out-of-range values -> speclab::Error naming the file
// and the field.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "model/model_info.h"

namespace speclab {

// KV-cache capacity cap applied to max_position_embeddings by default: real HF configs declare
// 8k..128k positions, whose fp32 KV caches would take gigabytes; speculative-decoding
// experiments here use a few thousand positions. Callers that need more pass a larger cap.
inline constexpr std::int32_t kHfMaxSeqLenCap = 4096;

struct HfConfig {
  std::string architecture;               // e.g. "LlamaForCausalLM"
  std::int64_t max_position_embeddings = 0;  // as declared (before the cap)
  ModelInfo info;
};

// Parses config text; `source` names the file in error messages.
HfConfig parse_hf_config(std::string_view json_text, const std::string& source,
                         std::int32_t max_seq_len_cap = kHfMaxSeqLenCap);

// Reads and parses the file at `path` (Error if unreadable).
HfConfig load_hf_config(const std::string& path, std::int32_t max_seq_len_cap = kHfMaxSeqLenCap);

}  // namespace speclab
