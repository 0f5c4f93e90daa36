// GGUF llama-architecture models -> LlamaWeights (see formats/gguf_container.h for the container).
//
// Keys (general.architecture must be "llama"): llama.embedding_length, llama.feed_forward_length,
// llama.block_count, llama.attention.head_count, llama.attention.head_count_kv (default:
// head_count), llama.context_length, llama.attention.layer_norm_rms_epsilon,
// llama.rope.freq_base (optional, default 10000), llama.vocab_size (optional; else the
// tokenizer.ggml.tokens count, else token_embd.weight rows), tokenizer.ggml.bos_token_id /
// eos_token_id (optional; defaults 1 / {2}), llama.attention.key_length (optional, must equal
// embedding_length / head_count), llama.rope.scaling.type (optional: "none", or "linear" with
// llama.rope.scaling.factor; others rejected).
// Tensors: token_embd.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
// ffn_gate (w1), ffn_down (w2), ffn_up (w3)}.weight, output_norm.weight, output.weight
// (optional: absent = classifier tied to the embedding). Matrices are GGUF dims {in, out}
// (fastest first), i.e. row-major [out, in] like LlamaWeights. Q/K keep llama.cpp's interleaved
// RoPE layout (its converters permute Hugging Face weights at conversion): RopeStyle::kInterleaved.
// Matrices keep their stored type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) as views
// into the file's memory map (no copy); norms are converted to fp32. weight_dtype lists the
// matrices' types ("q8_0", or e.g. "q4_k+q6_k" for a Q4_K_M file). Other types are an Error
// naming the tensor and the type.
//
// Bad input throws Error naming the path and the key / tensor: wrong architecture, missing
// keys or tensors, tensor shapes that disagree with the header, unsupported tensor types.
#pragma once
#include <string>

#include "model/llama_weights.h"

namespace speclab {

LlamaWeights load_gguf(const std::string& path);

}  // namespace speclab
