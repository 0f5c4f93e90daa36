// Y[n, n_out] = X[n, n_in] * W[n_out, n_in]^T (+ bias[n_out]): the kernel behind LlamaModel's
// projections and classifier, also used by the draft heads. W is in its stored type
// (ops/weight_matrix.h: f32, f16, bf16, q8_0, ...); X and Y are fp32.
//
// Kernels per type and ISA (AVX-512 with VNNI, AVX2 + FMA + F16C, portable scalar), selected at
// run time from the CPU's features (ops/matmul_kernels.h). Float weight types multiply fp32
// activations by the weights converted to fp32 in registers. Integer weight types quantise each
// activation row once per call to int8 blocks of 32 (scale = max |x| / 127, round to nearest)
// and take exact integer dot products per block, scaled into fp32 accumulators.
//
// Determinism: every output element is computed by the same sequence of operations whatever n,
// the tile it falls in or the thread count (row blocks are fixed, not derived from the thread
// count), so a row's result does not depend on the batch (DESIGN.md contract 4). For integer
// types the result is also identical across ISAs; for float types it depends on the ISA's
// vector width (16 or 8 lanes), which is fixed for a process.
//
// Memory-bound for small n: the weights stream once per call however many rows X has.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "ops/weight_matrix.h"

namespace speclab {

enum class Isa : std::uint8_t { kAuto, kScalar, kAvx2, kAvx512 };

std::string_view isa_name(Isa isa);
// Whether this CPU can run `isa` (kAuto and kScalar: always).
bool isa_supported(Isa isa);
// The ISA kAuto resolves to: SPECLAB_ISA (scalar|avx2|avx512, read once; an unsupported or
// unknown value is an Error) or else the best the CPU supports.
Isa resolve_isa(Isa isa);

// How a one-token product walks the weight rows (only the blocking: the tiles compute every
// output with the same operations either way, so results are the same bits; tested).
//   kRows: one row at a time with an 8 KiB software prefetch distance, a single sequential
//          stream (faster on AMD EPYC Zen 5: batches of 2 cost 0.96-1.29x one token there).
//   kGroups: groups of 4 rows whose tiles prefetch the same place in the next group, as every
//          batch of 2+ tokens does (faster on Intel Xeon: 1B decode f16 +5%, q8_0 +22-25%,
//          q4_k +8-14%, alternating runs on a 4th-generation Xeon VM), and for the float types
//          with the AVX2 kernels everywhere: their one-row tile is a single FMA chain (8 weights
//          per FMA latency), which a 4-row group turns into four (AMD EPYC Zen 3, 1B decode:
//          f16 1 thread 5.8 -> 9.8 tokens/s, 0.60 -> 0.97 of the read bandwidth).
enum class DecodeLayout : std::uint8_t { kAuto, kRows, kGroups };
std::string_view decode_layout_name(DecodeLayout layout);
// The layout kAuto resolves to for products of `dtype` weights on `isa`: SPECLAB_DECODE
// (rows|groups, read once; an unknown value is an Error) or else kGroups for AVX-512 kernels on
// Intel CPUs and for float weight types (f32, f16, bf16) on the AVX2 kernels (where each was
// measured faster), kRows otherwise.
DecodeLayout resolve_decode_layout(DecodeLayout layout, DType dtype, Isa isa = Isa::kAuto);

// One product of several sharing the same X (e.g. q, k, v): y = x w^T (+ bias).
struct MatJob {
  WeightView w;       // [n_out = w.rows, n_in = w.cols]
  const float* bias;  // [n_out] or nullptr
  float* y;           // [n, n_out]
};

// Caller-owned scratch for quantised activations (grows once; reuse it to keep calls
// allocation-free).
struct MatmulScratch {
  std::vector<std::uint8_t> act;
  std::vector<std::uint8_t> act_pairs;  // paired int8 rows for the wide tiles (matmul_kernels.h)
};

// Runs jobs[0..n_jobs) (1 <= n_jobs <= 3; all with w.cols == n_in) in one parallel region of
// n_threads (small products run on the calling thread). scratch: nullptr = a temporary.
void matmul_jobs(const float* x, int n, int n_in, const MatJob* jobs, int n_jobs, int n_threads,
                 MatmulScratch* scratch = nullptr, Isa isa = Isa::kAuto,
                 DecodeLayout layout = DecodeLayout::kAuto);

// y[n, rows] = x[n, cols] w^T (+ bias).
void matmul(const float* x, int n, const WeightView& w, const float* bias, float* y,
            int n_threads, MatmulScratch* scratch = nullptr, Isa isa = Isa::kAuto);
inline void matmul(const float* x, int n, const WeightMatrix& w, const float* bias, float* y,
                   int n_threads, MatmulScratch* scratch = nullptr, Isa isa = Isa::kAuto) {
  matmul(x, n, w.view(), bias, y, n_threads, scratch, isa);
}

// fp32 weights as a raw array [n_out, n_in] (the draft heads' own parameters).
void matmul(const float* x, int n, const float* w, int n_out, int n_in, const float* bias,
            float* y, int n_threads, Isa isa = Isa::kAuto);

// A raw fp32 array as a WeightView.
WeightView f32_view(const float* w, int rows, int cols);

}  // namespace speclab
