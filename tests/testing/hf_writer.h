// Test fixtures: write LlamaWeights as a Hugging Face model directory (config.json +
// safetensors, one file or K shards with model.safetensors.index.json), and raw safetensors
// files for bad-input tests.
//
// Rotary layout: speclab's llama2.c / GGUF / synthetic weights use interleaved RoPE. HF
// checkpoints use half-split RoPE, so when info.rope_style == kInterleaved the writer permutes
// the rows of wq, wk (and bq, bk) per head with permute_for_half_split (formats/hf_loader.h), the
// inverse of llama.cpp's HF->GGUF permutation; half-split RoPE on the written weights computes
// the same logits as interleaved RoPE on the originals. Weights already kHalfSplit are written
// as they are.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/llama_weights.h"
#include "formats/safetensors.h"

namespace speclab::testing {

struct HfTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> data;  // product(shape) values, row-major
};

// Writes `tensors` (in this order) as a safetensors file, every tensor converted to `dtype`
// (F32, F16 or BF16, round to nearest even). Header padded with spaces to a multiple of 8.
void write_safetensors(const std::string& path, const std::vector<HfTensor>& tensors,
                       SafetensorsDtype dtype);

// Raw bytes of a safetensors file: 8-byte little-endian length of `header`, the header text,
// then `data`. For hand-made (possibly invalid) files. `header_len_override` >= 0 replaces the
// length field.
std::string safetensors_bytes(const std::string& header, const std::string& data,
                              std::int64_t header_len_override = -1);

// Writes `bytes` (any content) to `path`, replacing it.
void write_text_file(const std::string& path, const std::string& bytes);

// config.json text for `info`: architecture from info.arch ("qwen2" -> Qwen2ForCausalLM,
// "mistral" -> MistralForCausalLM, else LlamaForCausalLM with attention_bias = qkv_bias),
// max_position_embeddings = max_seq_len, rope_scaling, tie_word_embeddings, bos/eos (list when
// more than one eos).
std::string hf_config_json(const ModelInfo& info);

// The HF tensors of `w` (names of formats/hf_loader.h), q/k permuted as described above.
// lm_head.weight only when !tied_classifier.
std::vector<HfTensor> hf_tensors(const LlamaWeights& w);

struct HfWriteOptions {
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  int n_shards = 1;  // 1: model.safetensors; K > 1: model-0000i-of-0000K.safetensors + index
};

// Creates `dir` (and parents) and writes config.json and the safetensors file(s).
void write_hf_directory(const LlamaWeights& w, const std::string& dir,
                        const HfWriteOptions& opts = {});

}  // namespace speclab::testing
