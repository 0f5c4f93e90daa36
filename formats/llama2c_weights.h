// llama2.c checkpoints (Karpathy's llama2.c, export.py) -> LlamaWeights.
//
// Versions (all little-endian):
//  - legacy v0: 7 x int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
//    seq_len); vocab_size < 0 flags a separate classifier. fp32 weights: token_embedding,
//    rms_att[L], wq[L], wk[L], wv[L], wo[L], rms_ffn[L], w1[L], w2[L], w3[L], rms_final,
//    freq_cis_real and freq_cis_imag (seq_len * head_dim / 2 each, skipped), then wcls if untied.
//  - v1: uint32 magic 0x616b3432 ("ak42"), int32 version 1, the 7 int32 params, uint8
//    shared_classifier, zero padding to 256 bytes; fp32 weights: rms_att[L], rms_ffn[L],
//    rms_final, token_embedding, wq[L], wk[L], wv[L], wo[L], w1[L], w2[L], w3[L], wcls if untied.
//  - v2 (Q8_0): magic, version 2, params, uint8 shared_classifier, int32 group_size, padding to
//    256 bytes; fp32 rms_att[L], rms_ffn[L], rms_final; then each quantized tensor as int8
//    values followed by its fp32 per-group scales: token_embedding, wq[L], wk[L], wv[L], wo[L],
//    w1[L], w2[L], w3[L], wcls if untied. Kept quantised: each matrix whose rows are whole
//    32-blocks inside one group (cols % 32 == 0 and group_size % 32 == 0) is repacked exactly as
//    q8_0f blocks (fp32 scale + 32 int8, ops/quant.h); others (e.g. 172 columns) are dequantised
//    to fp32 (w = q * scale[group]). fp32 matrices (v0, v1) are views into the memory map.
//
// ModelInfo: interleaved RoPE, rope_theta 10000, norm_eps 1e-5, bos 1, eos {2},
// head_dim = dim / n_heads, max_seq_len = seq_len, format "llama2c-v0|v1|v2", weight_dtype
// "f32" or "q8_0", source = path.
//
// Bad input throws Error naming the path and the field/tensor: invalid header values (see
// ModelInfo::validate, plus dim % n_heads == 0), unknown version, bad group size, a file
// shorter than the header implies (names the tensor being read) or longer (trailing bytes).
#pragma once
#include <string>

#include "model/llama_weights.h"

namespace speclab {

inline constexpr std::uint32_t kLlama2cMagic = 0x616b3432;  // "ak42" read as little-endian uint32

LlamaWeights load_llama2c(const std::string& path);

}  // namespace speclab
