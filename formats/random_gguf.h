// Random-weight Llama models written straight to a GGUF file, for benchmarks at shapes that do
// not fit in memory as fp32 (a 7B-shaped Q4_K file is 3.9 GB; its fp32 weights would be 27 GB).
// Rows are generated, quantised and written block by block (formats/gguf_writer.h), so memory
// stays at one block per thread whatever the file size.
#pragma once
#include <cstdint>
#include <string>

#include "model/model_info.h"
#include "ops/quant.h"

namespace speclab {

// The values of row `row` of tensor number `tensor` (its index in the file, token_embd = 0) of
// write_random_llama_gguf's model: uniform on [-a, a] with a = sqrt(3) * scale (variance
// scale^2), plus `mean`. Each row has its own stream seeded by (seed, tensor, row), so the
// bytes do not depend on the thread count or the block size.
void random_gguf_row(std::uint64_t seed, std::size_t tensor, std::int64_t row, double scale,
                     double mean, float* out, std::int64_t n);

// Writes a GGUF v3 file (architecture "llama", no tokenizer: llama.vocab_size, bos 1, eos 2) of
// a random model with info's shape. Matrices, the embedding and (when !info.tied_classifier)
// output.weight are stored as `dtype` (quantised by ops/quant.h quantize_row); norms F32.
// Scales as random_llama_weights: matrices 1/sqrt(fan_in), embedding 1, norms 1 +- 0.1.
// Returns the file size. Throws Error naming the tensor when dtype cannot hold a row length
// (e.g. q4_k with dim % 256 != 0), or naming the path when writing fails (the partial file is
// removed). info.qkv_bias is not supported (Error).
std::uint64_t write_random_llama_gguf(const std::string& path, const ModelInfo& info, DType dtype,
                                      std::uint64_t seed, int n_threads);

}  // namespace speclab
