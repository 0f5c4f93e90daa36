// Hugging Face model directory (config.json + safetensors) -> LlamaWeights.
//
// Layout: `dir/config.json` (see formats/hf_config.h) and either `dir/model.safetensors`, or
// `dir/model.safetensors.index.json` ({"weight_map": {tensor name: shard file name}}) with the
// shards beside it. When both exist the single file wins.
//
// Tensor names (PyTorch [out, in] layout, same as LlamaWeights):
//   model.embed_tokens.weight                       -> token_embedding [vocab, dim]
//   model.layers.N.input_layernorm.weight           -> attn_norm
//   model.layers.N.self_attn.{q,k,v,o}_proj.weight  -> wq, wk, wv, wo
//   model.layers.N.self_attn.{q,k,v}_proj.bias      -> bq, bk, bv (required iff qkv_bias)
//   model.layers.N.post_attention_layernorm.weight  -> ffn_norm
//   model.layers.N.mlp.gate_proj.weight -> w1, mlp.down_proj.weight -> w2, mlp.up_proj -> w3
//   model.norm.weight                               -> final_norm
//   lm_head.weight -> classifier; absent, or tie_word_embeddings = true -> tied classifier.
// q/k rows stay in the HF order, so info.rope_style = kHalfSplit. Matrices keep their stored
// type (F32 / F16 / BF16) as views into the memory-mapped shards; norms and biases are converted
// to fp32; info.weight_dtype is the lower-case dtype of the tensors ("f32", "f16",
// "bf16"; several joined with '+', e.g. "bf16+f32"). info.max_seq_len = min(config
// max_position_embeddings (or sliding window), max_seq_len_cap), default cap 4096 (see
// kHfMaxSeqLenCap). info.source = dir, format = "safetensors".
//
// Bad input throws speclab::Error naming the file and the tensor: missing directory or files,
// missing tensor, shape differing from the config ("<file>: tensor <name> has shape [a, b]:
// expected [c, d] (from config.json ...)"), bias tensors present when the config has none,
// tensors of layers beyond num_hidden_layers or with unknown names (only `*rotary_emb.inv_freq`
// buffers are ignored), index entries naming a shard outside the directory or a shard lacking
// the tensor, and every safetensors error of formats/safetensors.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "model/llama_weights.h"

namespace speclab {

LlamaWeights load_hf_directory(const std::string& dir,
                               std::int32_t max_seq_len_cap = kHfMaxSeqLenCap);

// True when `dir` looks like an HF model directory (a directory holding config.json).
bool is_hf_directory(const std::string& dir);

// Reorders the rows of a q or k projection (or its bias: cols = 1) from the interleaved RoPE
// layout (pairs (2i, 2i+1) of each head, llama2.c / GGUF) to the half-split layout (pairs
// (i, i + head_dim/2), HF rotate_half): new row h*hd + j*hd/2 + i = old row h*hd + 2i + j.
// This is the inverse of the permutation llama.cpp's HF->GGUF converter applies. Half-split RoPE
// on the result computes the same q.k scores as interleaved RoPE on the input.
// w: [n_heads * head_dim, cols]; SPECLAB_ASSERT on size mismatch or odd head_dim.
std::vector<float> permute_for_half_split(const std::vector<float>& w, std::int32_t n_heads,
                                          std::int32_t head_dim, std::int64_t cols);

// The inverse: half-split layout -> interleaved layout.
std::vector<float> permute_for_interleaved(const std::vector<float>& w, std::int32_t n_heads,
                                           std::int32_t head_dim, std::int64_t cols);

}  // namespace speclab
