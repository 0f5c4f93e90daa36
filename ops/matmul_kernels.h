// Internal to ops/: the per-ISA tile kernels behind ops/matmul.h, selected at run time.
//
// Each ISA has its own translation unit (ops/kernels_avx512.cpp, ops/kernels_avx2.cpp,
// ops/kernels_scalar.cpp), compiled with that ISA's flags. Those files include only this
// header and <immintrin.h>: no inline library code (std::vector, fmt, base/half.h ...), so the
// linker can never pick an AVX-512 copy of a shared inline function for code that runs on a
// CPU without it (the one-definition-rule hazard of per-file ISA flags).
//
// A tile computes y[c * ldy + r] = dot(weight row r, activation row c) for r < R, c < C with
// R in {1, 4}, C in {1, 2, 3, 4} (and the pair tiles below). Every output element is computed by the same instruction
// sequence whatever R, C and the tile it falls in, so results do not depend on the batch size or
// the thread count (DESIGN.md contract 4).
//
// Activations. Float weight types (f32, f16, bf16) read fp32 activation rows. Integer weight
// types read activations quantised per block of 32 to ActQ8Block (see below), done once per row
// by matmul.cpp (the same code for every ISA, so integer sums are exact and identical across
// ISAs: AVX-512 VNNI, AVX2 and scalar give bit-identical results for q8_0).
#pragma once
#include <cstddef>
#include <cstdint>

namespace speclab::kernels {

// One block of 32 activations: x ~= d * q, s = d * sum(q) (used by the weight types with an
// additive offset: q4_1, q4_k, q5_k).
struct ActQ8Block {
  float d;
  float s;
  std::int8_t q[32];
};
static_assert(sizeof(ActQ8Block) == 40);

// An int8 activation row of n_in = 32 * nb values, as the driver lays it out (x_stride =
// act_row_bytes(nb)): nb ActQ8Blocks, then the same scales again as flat arrays, float d[nb] and
// float s[nb], so that a kernel loads the 8 scales of a group with one vector load instead of a
// gather (gathers cost ~10-20 cycles on AMD Zen).
inline constexpr std::size_t act_row_bytes(int nb) {
  return static_cast<std::size_t>(nb) * (sizeof(ActQ8Block) + 2 * sizeof(float));
}
inline const float* act_d(const std::uint8_t* row, int nb) {
  return reinterpret_cast<const float*>(row + static_cast<std::size_t>(nb) * sizeof(ActQ8Block));
}
inline const float* act_s(const std::uint8_t* row, int nb) { return act_d(row, nb) + nb; }

// Paired activation rows, read by the wide integer tiles (TypeKernels::wide_paired): tokens 2i
// and 2i + 1 of an int8 activation batch interleaved block by block, so that one 512-bit register
// holds block b of both tokens: nb blocks of 64 bytes (token 2i's 32 quants, then token 2i+1's,
// each stored as q + 128 in uint8, the unsigned operand VPDPBUSD wants), then the scales as
// float d[2 * nb] = (d of token 2i, d of token 2i+1) per block. Stride act_pair_bytes(nb).
inline constexpr std::size_t act_pair_bytes(int nb) {
  return static_cast<std::size_t>(nb) * (64 + 2 * sizeof(float));
}
inline const float* act_pair_d(const std::uint8_t* pair, int nb) {
  return reinterpret_cast<const float*>(pair + static_cast<std::size_t>(nb) * 64);
}

using TileFn = void (*)(const std::uint8_t* w, std::size_t w_stride, const std::uint8_t* x,
                        std::size_t x_stride, int n_in, float* y, std::size_t ldy);

// Tiles of one weight type: tile[R == 4][C - 1]; null when the ISA lacks this type.
// Optionally pair tiles: pair_tile[P - 1] computes 4 weight rows x 2P tokens (P = 1..4) from
// paired activation rows (act_pair_bytes: x = the pair holding its first token, x_stride = the
// pair stride). The driver then covers every whole pair of tokens of a row group with them and
// the 4-row tiles do an odd last token. A pair tile must compute every element with the same
// instruction sequence as the other tiles: it is only a different register blocking.
struct TypeKernels {
  TileFn tile[2][4];
  TileFn pair_tile[4] = {nullptr, nullptr, nullptr, nullptr};
};

// Indexed by static_cast<int>(DType).
inline constexpr int kMaxTypes = 16;
struct KernelTable {
  const char* isa_name;
  TypeKernels types[kMaxTypes];
};

// Fill `t` with this ISA's kernels (entries it lacks stay null). Defined in the ISA files.
void fill_avx512(KernelTable& t);
void fill_avx2(KernelTable& t);
void fill_scalar(KernelTable& t);
// The 4/5/6-bit types (q4_0, q4_1, q4_k, q5_k, q6_k), one file per ISA (ops/kernels_q4_*.cpp),
// called at the end of the fill function of the same ISA.
void fill_q4_avx512(KernelTable& t);
void fill_q4_avx2(KernelTable& t);
void fill_q4_scalar(KernelTable& t);

}  // namespace speclab::kernels
