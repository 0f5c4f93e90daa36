// AVX-512 tile kernels (AVX512F/BW/VL/DQ + AVX512_VNNI + F16C + FMA; compiled with those
// flags whatever the build's -march, selected at run time by ops/matmul.cpp only on CPUs that
// have them). Float types: 16-lane fp32 FMA over the row, lanes summed pairwise at the end, the
// n_in % 16 tail added in order. Integer types: per block of 32, an exact int32 dot product in 8
// lanes (VPDPBUSD on |w| and x * sign(w)), scaled into 8 fp32 lane accumulators by one FMA;
// batches of 2 or more tokens: the q8 pair tiles (two tokens per 512-bit register, the same
// arithmetic per lane). See ops/matmul_kernels.h for the contract.
#include <immintrin.h>

#include "ops/matmul_kernels.h"
#include "ops/quant.h"

namespace speclab::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Shared pieces.

inline float hsum16(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

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
  static __m512 load(const std::uint8_t* w, int k) { return _mm512_loadu_ps(reinterpret_cast<const float*>(w) + k); }
  static float scalar(const std::uint8_t* w, int k) { return f32(w + 4 * k); }
};
struct LoadF16 {
  static constexpr int kElemBytes = 2;
  static __m512 load(const std::uint8_t* w, int k) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2 * k)));
  }
  static __m512 widen(__m256i h) { return _mm512_cvtph_ps(h); }
  static float scalar(const std::uint8_t* w, int k) { return f16(w + 2 * k); }
};
struct LoadBF16 {
  static constexpr int kElemBytes = 2;
  static __m512 load(const std::uint8_t* w, int k) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2 * k)));
  }
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static float scalar(const std::uint8_t* w, int k) { return bf16(w + 2 * k); }
};

template <typename L, int R, int C>
void float_tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
                int n_in, float* y, std::size_t ldy) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= n_in; k += 16) {
    __m512 xv[C];
    for (int c = 0; c < C; ++c) {
      xv[c] = _mm512_loadu_ps(reinterpret_cast<const float*>(xb + c * xs) + k);
      pin(xv[c]);
    }
    for (int r = 0; r < R; ++r) {
      // One row: along the row. Row groups (batches): the same place in the next group (see
      // q8_pair_tile).
      if constexpr (L::kElemBytes < 4) {
        if (k % 32 == 0) prefetch(w + r * ws + k * L::kElemBytes, R == 1 ? kAheadBytes : R * ws);
      }
      __m512 wv = L::load(w + r * ws, k);
      pin(wv);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float s = hsum16(acc[r][c]);
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
        const __m256i isum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx);
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * dx[c]), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum8(acc[r][c]);
}

// Pair tile: R weight rows x 2 * CP tokens from paired activation rows (matmul_kernels.h
// act_pair_bytes). One 512-bit register holds block b of tokens 2i and 2i + 1 (as q + 128); the
// weight block is broadcast to both halves, and the accumulator's halves are the two tokens'
// 8-lane accumulators. Per lane the arithmetic is exactly q8_tile's: the int32 sum of 4
// products (VPDPBUSD on (q + 128) and w, started from -128 * sum(w), is exact), converted, and
// one FMA with the fp32 product dw * dx; halves summed by hsum8 at the end. So its results are
// bit-identical to q8_tile's (and the AVX2 and scalar kernels'); it only does per 64 products
// what q8_tile does per 32.
template <typename B, int R, int CP>
void q8_pair_tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xp, std::size_t xps,
                  int n_in, float* y, std::size_t ldy) {
  __m512 acc[R][CP];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < CP; ++c) acc[r][c] = _mm512_setzero_ps();
  const int nb = n_in / 32;
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i lo_hi = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const float* dp[CP];
  for (int c = 0; c < CP; ++c) dp[c] = act_pair_d(xp + c * xps, nb);
  for (int b = 0; b < nb; ++b) {
    __m512i xu[CP];
    __m512 xs[CP];
    for (int c = 0; c < CP; ++c) {
      xu[c] = _mm512_loadu_si512(xp + c * xps + static_cast<std::size_t>(b) * 64);
      pin(xu[c]);
      const __m128 d2 = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(dp[c] + 2 * b)));
      xs[c] = _mm512_permutexvar_ps(lo_hi, _mm512_castps128_ps512(d2));
      pin(xs[c]);
    }
    for (int r = 0; r < R; ++r) {
      const std::uint8_t* wb = w + r * ws + static_cast<std::size_t>(b) * B::kBytes;
      // The same block of the next row group: the tile is compute-bound, so this one group of
      // lookahead hides the DRAM latency the in-row distance does not.
      prefetch(wb, R * ws);
      const __m512i wv = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + B::kQ)));
      const __m512i nc = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          _mm512_dpbusd_epi32(_mm512_setzero_si512(), k80, wv));
      const __m512 dw = _mm512_set1_ps(B::scale(wb));
      for (int c = 0; c < CP; ++c) {
        const __m512i isum = _mm512_dpbusd_epi32(nc, xu[c], wv);
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, xs[c]), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < CP; ++c) {
      y[(2 * c) * ldy + r] = hsum8(_mm512_castps512_ps256(acc[r][c]));
      y[(2 * c + 1) * ldy + r] = hsum8(_mm512_extractf32x8_ps(acc[r][c], 1));
    }
  }
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
      float_tile<L, R, C>(w, ws, x, xs, n, y, ldy);
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

template <typename B>
void set_q8_pairs(TypeKernels& k) {
  k.pair_tile[0] = q8_pair_tile<B, 4, 1>;
  k.pair_tile[1] = q8_pair_tile<B, 4, 2>;
  k.pair_tile[2] = q8_pair_tile<B, 4, 3>;
  k.pair_tile[3] = q8_pair_tile<B, 4, 4>;
}

}  // namespace

void fill_avx512(KernelTable& t) {
  t.isa_name = "avx512";
  fill_type<FloatTiles<LoadF32>::T>(t.types[static_cast<int>(DType::kF32)]);
  fill_type<FloatTiles<LoadF16>::T>(t.types[static_cast<int>(DType::kF16)]);
  fill_type<FloatTiles<LoadBF16>::T>(t.types[static_cast<int>(DType::kBF16)]);
  fill_type<Q8Tiles<BlockQ8<false>>::T>(t.types[static_cast<int>(DType::kQ8_0)]);
  fill_type<Q8Tiles<BlockQ8<true>>::T>(t.types[static_cast<int>(DType::kQ8_0F)]);
  set_q8_pairs<BlockQ8<false>>(t.types[static_cast<int>(DType::kQ8_0)]);
  set_q8_pairs<BlockQ8<true>>(t.types[static_cast<int>(DType::kQ8_0F)]);
  fill_q4_avx512(t);
}

}  // namespace speclab::kernels
