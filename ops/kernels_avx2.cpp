// AVX2 tile kernels (AVX2 + FMA + F16C; compiled with those flags whatever the build's -march,
// selected at run time by ops/matmul.cpp on CPUs without the AVX-512 set). Float types: 8-lane
// fp32 FMA over the row, lanes summed pairwise at the end, the n_in % 8 tail added in order.
// Integer types: per block of 32, an exact int32 dot product in 8 lanes (VPMADDUBSW on |w| and
// x * sign(w), then VPMADDWD with ones: the same lane sums as the AVX-512 VNNI kernel, so q8_0
// results are bit-identical to it), scaled into 8 fp32 lane accumulators by one FMA.
// See ops/matmul_kernels.h for the contract.
#include <immintrin.h>

#include "ops/matmul_kernels.h"
#include "ops/quant.h"

namespace speclab::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Shared pieces.

// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)): the order the scalar twin reproduces.
inline float hsum8(__m256 v) {
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

// Software prefetch distance in bytes along the weight stream. Rows are contiguous, so running
// past a row's end prefetches the next row: one sequential stream. The hardware prefetchers
// alone keep too few lines in flight for the low-precision types (fewer bytes per instruction),
// which then stream DRAM at half the f32 rate. 8 KiB: one core must keep about latency x
// bandwidth (~100 ns x 30 GB/s = 3 KB) in flight; 2 KiB left single-thread decode of the 1B
// shape at 0.63-0.70 of the read bandwidth on an AMD EPYC Zen 5, 8 KiB gave f16 +25%, q8_0 +15%
// (1 thread, alternating runs).
// Into L2 (_MM_HINT_T1), not L1: an L1 prefetch holds one of the core's few L1 miss buffers for
// the whole DRAM latency, so 8 KiB (128 lines) of them stall the loads. On an AMD EPYC Zen 4
// (1 thread, 1B shape, alternating runs) T1 instead of T0 gave AVX-512 f16 decode 11.2-12.5
// instead of 6.9-8.3 tokens/s and q8_0 21-23 instead of 15-20; AVX2 f16 and q8_0 +6-10%.
constexpr int kAheadBytes = 8192;

// A hint, never faults; the address is computed on integers since it may lie past the matrix.
inline void prefetch(const std::uint8_t* p, std::size_t ahead) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(p) + ahead), _MM_HINT_T1);
}

// Keeps a value in a register (stops GCC from folding loads into every FMA's memory operand).
template <typename V>
inline void pin(V& v) {
  asm("" : "+v"(v));
}

inline float f16(const std::uint8_t* p) {
  std::uint16_t h;
  __builtin_memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
inline float bf16(const std::uint8_t* p) {
  std::uint16_t h;
  __builtin_memcpy(&h, p, 2);
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
inline float f32(const std::uint8_t* p) {
  float f;
  __builtin_memcpy(&f, p, 4);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Float weights against fp32 activations. Load: 16 weights at element k as fp32.

struct LoadF32 {
  static constexpr int kElemBytes = 4;
  static __m256 load(const std::uint8_t* w, int k) { return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + k); }
  static float scalar(const std::uint8_t* w, int k) { return f32(w + 4 * k); }
};
struct LoadF16 {
  static constexpr int kElemBytes = 2;
  static __m256 load(const std::uint8_t* w, int k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * k)));
  }
  static float scalar(const std::uint8_t* w, int k) { return f16(w + 2 * k); }
};
struct LoadBF16 {
  static constexpr int kElemBytes = 2;
  static __m256 load(const std::uint8_t* w, int k) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float scalar(const std::uint8_t* w, int k) { return bf16(w + 2 * k); }
};

// `ahead`: prefetch distance in bytes (kAheadBytes along one row; 4 rows = the next row group).
template <typename L, int R, int C>
void float_tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
                int n_in, float* y, std::size_t ldy, std::size_t ahead) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= n_in; k += 8) {
    __m256 xv[C];
    for (int c = 0; c < C; ++c) {
      xv[c] = _mm256_loadu_ps(reinterpret_cast<const float*>(xb + c * xs) + k);
      pin(xv[c]);
    }
    for (int r = 0; r < R; ++r) {
      // One row: along the row. Row groups (batches): the same place in the next group, whose
      // latency the compute-bound tile then hides.
      if constexpr (L::kElemBytes < 4) prefetch(w + r * ws + k * L::kElemBytes, ahead);
      __m256 wv = L::load(w + r * ws, k);
      pin(wv);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float s = hsum8(acc[r][c]);
      const float* xc = reinterpret_cast<const float*>(xb + c * xs);
      for (int kk = k; kk < n_in; ++kk) s += L::scalar(w + r * ws, kk) * xc[kk];
      y[c * ldy + r] = s;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Integer weights against ActQ8Block activations.

// q8_0: {f16 d; int8 q[32]}; q8_0f: {f32 d; int8 q[32]}.
template <bool kF32Scale>
struct BlockQ8 {
  static constexpr int kBytes = kF32Scale ? 36 : 34;
  static constexpr int kQ = kF32Scale ? 4 : 2;
  static float scale(const std::uint8_t* b) { return kF32Scale ? f32(b) : f16(b); }
};

template <typename B, int R, int C>
void q8_tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
             int n_in, float* y, std::size_t ldy) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  const int nb = n_in / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int b = 0; b < nb; ++b) {
    __m256i xv[C];
    float dx[C];
    for (int c = 0; c < C; ++c) {
      const auto* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + b;
      xv[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->q));
      pin(xv[c]);
      dx[c] = blk->d;
    }
    for (int r = 0; r < R; ++r) {
      const std::uint8_t* wb = w + r * ws + static_cast<std::size_t>(b) * B::kBytes;
      prefetch(wb, R == 1 ? kAheadBytes : R * ws);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + B::kQ));
      const __m256i aw = _mm256_abs_epi8(wv);
      const float dw = B::scale(wb);
      for (int c = 0; c < C; ++c) {
        const __m256i sx = _mm256_sign_epi8(xv[c], wv);
        const __m256i isum = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * dx[c]), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum8(acc[r][c]);
}

// ---------------------------------------------------------------------------------------------

template <template <int, int> class Tile>
void fill_type(TypeKernels& k) {
  k.tile[0][0] = Tile<1, 1>::run;
  k.tile[0][1] = Tile<1, 2>::run;
  k.tile[0][2] = Tile<1, 3>::run;
  k.tile[0][3] = Tile<1, 4>::run;
  k.tile[1][0] = Tile<4, 1>::run;
  k.tile[1][1] = Tile<4, 2>::run;
  k.tile[1][2] = Tile<4, 3>::run;
  k.tile[1][3] = Tile<4, 4>::run;
}

template <typename L>
struct FloatTiles {
  template <int R, int C>
  struct T {
    static void run(const std::uint8_t* w, std::size_t ws, const std::uint8_t* x, std::size_t xs,
                    int n, float* y, std::size_t ldy) {
      if constexpr (R == 4 && C >= 3) {
        // 16 ymm registers hold 4 x 2 or 2 x 4 accumulators with their operands, not 4 x 3 or
        // 4 x 4 (GCC then kept 5 of the 16 accumulators on the stack): two passes of 2 rows,
        // each element still one FMA chain along k, so the bits are the same.
        float_tile<L, 2, C>(w, ws, x, xs, n, y, ldy, 4 * ws);
        float_tile<L, 2, C>(w + 2 * ws, ws, x, xs, n, y + 2, ldy, 4 * ws);
      } else {
        float_tile<L, R, C>(w, ws, x, xs, n, y, ldy, R == 1 ? kAheadBytes : R * ws);
      }
    }
  };
};

template <typename B>
struct Q8Tiles {
  template <int R, int C>
  struct T {
    static void run(const std::uint8_t* w, std::size_t ws, const std::uint8_t* x, std::size_t xs,
                    int n, float* y, std::size_t ldy) {
      q8_tile<B, R, C>(w, ws, x, xs, n, y, ldy);
    }
  };
};

}  // namespace

void fill_avx2(KernelTable& t) {
  t.isa_name = "avx2";
  fill_type<FloatTiles<LoadF32>::T>(t.types[static_cast<int>(DType::kF32)]);
  fill_type<FloatTiles<LoadF16>::T>(t.types[static_cast<int>(DType::kF16)]);
  fill_type<FloatTiles<LoadBF16>::T>(t.types[static_cast<int>(DType::kBF16)]);
  fill_type<Q8Tiles<BlockQ8<false>>::T>(t.types[static_cast<int>(DType::kQ8_0)]);
  fill_type<Q8Tiles<BlockQ8<true>>::T>(t.types[static_cast<int>(DType::kQ8_0F)]);
  fill_q4_avx2(t);
}

}  // namespace speclab::kernels
