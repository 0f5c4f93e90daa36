// Rotary position embeddings (RoPE). rope_tables() turns positions and per-pair inverse
// frequencies (model/llama_model.cpp derives them from rope_theta and the model's rope scaling)
// into cos/sin tables; apply_rope() rotates every head of one row in place. Two pairings:
// interleaved (llama2.c, GGUF: (2p, 2p+1)) and half-split (Hugging Face: (p, p + head_dim/2)).
// Angles are pos * inv_freq in float, as llama2.c and Hugging Face compute them.
// Reference twin: ops/reference.h.
#pragma once
#include <cstdint>
#include <span>

namespace speclab {

// cos[t * half + p] = cos(positions[t] * inv_freq[p]), sin likewise; half = inv_freq.size().
// cos, sin: [positions.size(), half].
void rope_tables(std::span<const std::int32_t> positions, std::span<const float> inv_freq, float* cos,
                 float* sin);

// row: [n_heads, head_dim]; cos, sin: [head_dim / 2] for this row's position.
void apply_rope(float* row, int n_heads, int head_dim, bool interleaved, const float* cos, const float* sin);

}  // namespace speclab
