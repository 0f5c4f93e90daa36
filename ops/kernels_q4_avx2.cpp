// AVX2 tile kernels for q4_0, q4_1, q4_k, q5_k, q6_k (AVX2 + FMA + F16C; compiled with those
// flags, selected at run time on CPUs without the AVX-512 set).
//
// The arithmetic is the one defined by the scalar twin (ops/kernels_q4_scalar.cpp): 32 fp32
// lanes held as four ymm accumulators per output (block b in accumulator b mod 4), per block
// acc = fma(float(isum), A * dx, acc), offsets O * s into the first accumulator per group of 8
// blocks, one fixed lane sum; so results are bit-identical to the scalar and AVX-512 kernels.
//
// One weight row and up to 2 tokens at a time (16 ymm registers), so a tile is several passes:
// per block the 32 levels are unpacked once as unsigned bytes (shifts / ANDs) and reused for
// the tokens of the pass; integer sums by VPMADDUBSW
// (unsigned levels x signed activations, exact in int16 for levels < 64) then VPMADDWD by ones
// (q6_k: by the sub-block scales, after subtracting 32 * the pair sums of x; q4_0: 8 *).
// See ops/matmul_kernels.h for the contract.
#include <immintrin.h>

#include "ops/matmul_kernels.h"
#include "ops/quant.h"

namespace speclab::kernels {
namespace {

inline float f16(const std::uint8_t* p) {
  std::uint16_t h;
  __builtin_memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// ((t0+t4)+(t2+t6)) + ((t1+t5)+(t3+t7)).
inline float hsum8(__m256 v) {
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

inline __m256i load256(const std::uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// [qs & 15 | qs >> 4 & 15] of a 16-byte nibble array.
inline __m256i nibbles16(const std::uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i u = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
  return _mm256_and_si256(u, _mm256_set1_epi8(15));
}

// The low 16 bits of each 32-bit lane (values < 65536), packed into 8 words.
inline __m128i pack_words(__m256i v) {
  const __m256i p = _mm256_packus_epi32(v, v);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));
}

inline __m256i madd_ones(__m256i pairs) { return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)); }

struct RowGroup {
  __m256 a, o;
  __m128i extra;
};

// ---- q4_0 / q4_1 ---------------------------------------------------------------------------

template <bool kQ41>
struct Q4 {
  static constexpr bool kOffset = kQ41;
  static constexpr bool kPartial = true;
  static constexpr int kBytes = kQ41 ? 20 : 18;
  static constexpr int kQs = kQ41 ? 4 : 2;
  static constexpr int kGroupBytes = 8 * kBytes;

  static void group(const std::uint8_t* g, RowGroup& rg) {
    const __m256i idx = _mm256_setr_epi32(0, kBytes, 2 * kBytes, 3 * kBytes, 4 * kBytes,
                                          5 * kBytes, 6 * kBytes, 7 * kBytes);
    const __m256i v = _mm256_i32gather_epi32(reinterpret_cast<const int*>(g), idx, 1);
    rg.a = _mm256_cvtph_ps(pack_words(_mm256_and_si256(v, _mm256_set1_epi32(0xffff))));
    if (kQ41) rg.o = _mm256_cvtph_ps(pack_words(_mm256_srli_epi32(v, 16)));
  }
  static __m256i weights(const std::uint8_t* g, const RowGroup&, int i) {
    return nibbles16(g + i * kBytes + kQs);
  }
  static __m256i dot(__m256i w, __m256i x, const RowGroup&, int) {
    __m256i pairs = _mm256_maddubs_epi16(w, x);
    if (!kQ41) pairs = _mm256_sub_epi16(pairs, _mm256_maddubs_epi16(_mm256_set1_epi8(8), x));
    return madd_ones(pairs);
  }
  static void block(const std::uint8_t* b, float& a, float& o, __m256i& w) {
    a = f16(b);
    o = kQ41 ? f16(b + 2) : 0.0f;
    w = nibbles16(b + kQs);
  }
};

// ---- q4_k / q5_k -----------------------------------------------------------------------------

// The 6-bit scales and mins of the 8 sub-blocks (ggml get_scale_min_k4) from the 12 packed
// bytes at s (16 bytes are read: the block continues after them): bytes 0..7 of the result are
// sc[0..7], bytes 8..15 mn[0..7]. Per 32-bit lane: sc[0..3] = s[0..3] & 63,
// sc[4..7] = (s[8..11] & 15) | (s[0..3] >> 6) << 4, mn[0..3] = s[4..7] & 63,
// mn[4..7] = (s[8..11] >> 4) | (s[4..7] >> 6) << 4.
inline __m128i scales_mins_k4(const std::uint8_t* s) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
  const __m128i x1 = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
  const __m128i x2 = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7));
  const __m128i lo = _mm_and_si128(_mm_srlv_epi32(x1, _mm_setr_epi32(0, 0, 0, 4)),
                                   _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
  const __m128i hi = _mm_and_si128(_mm_srli_epi32(x2, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
  return _mm_or_si128(lo, hi);
}

template <bool kQ5>
struct QK {
  static constexpr bool kOffset = true;
  static constexpr bool kPartial = false;
  static constexpr int kGroupBytes = kQ5 ? 176 : 144;
  static constexpr int kQs = kQ5 ? 48 : 16;

  static void group(const std::uint8_t* g, RowGroup& rg) {
    const __m256 d = _mm256_set1_ps(f16(g)), dmin = _mm256_set1_ps(f16(g + 2));
    const __m128i sm = scales_mins_k4(g + 4);
    const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm));
    const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)));
    rg.a = _mm256_mul_ps(d, sc);
    rg.o = _mm256_xor_ps(_mm256_mul_ps(dmin, mn), _mm256_set1_ps(-0.0f));
  }
  // Block i: nibble (i & 1) of qs[32 (i / 2) ..], plus bit i of qh (q5_k) as 16.
  static __m256i weights(const std::uint8_t* g, const RowGroup&, int i) {
    const __m256i z = load256(g + kQs + 32 * (i >> 1));
    __m256i q = _mm256_and_si256((i & 1) ? _mm256_srli_epi16(z, 4) : z, _mm256_set1_epi8(15));
    if (kQ5) {
      const __m256i qh = load256(g + 16);
      const __m256i b = i <= 4 ? _mm256_slli_epi16(qh, 4 - i) : _mm256_srli_epi16(qh, i - 4);
      q = _mm256_or_si256(q, _mm256_and_si256(b, _mm256_set1_epi8(16)));
    }
    return q;
  }
  static __m256i dot(__m256i w, __m256i x, const RowGroup&, int) {
    return madd_ones(_mm256_maddubs_epi16(w, x));
  }
};

// ---- q6_k ------------------------------------------------------------------------------------

struct Q6K {
  static constexpr bool kOffset = false;
  static constexpr bool kPartial = false;
  static constexpr int kGroupBytes = 210;

  static void group(const std::uint8_t* g, RowGroup& rg) {
    rg.a = _mm256_set1_ps(f16(g + 208));
    rg.extra = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 192));
  }
  // Block i = 4h + k: low 4 bits from ql[64h + 32 (k & 1) ..] (high nibble for k >= 2), high
  // 2 bits (qh[32h ..] >> 2k) & 3.
  static __m256i weights(const std::uint8_t* g, const RowGroup&, int i) {
    const int h = i >> 2, k = i & 3;
    const __m256i ql = load256(g + 64 * h + 32 * (k & 1));
    const __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(ql, 4) : ql, _mm256_set1_epi8(15));
    const __m256i qh = load256(g + 128 + 32 * h);
    const __m256i hi = k == 3 ? _mm256_srli_epi16(qh, 2) : _mm256_slli_epi16(qh, 4 - 2 * k);
    return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
  }
  static __m256i dot(__m256i w, __m256i x, const RowGroup& rg, int i) {
    // Words 0..7: scale 2i, words 8..15: scale 2i + 1.
    const __m128i sel = _mm_add_epi8(_mm_set1_epi8(static_cast<char>(2 * i)),
                                     _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(rg.extra, sel));
    const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(w, x),
                                           _mm256_maddubs_epi16(_mm256_set1_epi8(32), x));
    return _mm256_madd_epi16(pairs, sc);
  }
};

// ---- the tile --------------------------------------------------------------------------------

// Software prefetch distance of the weight stream (bytes ahead, into the next rows: they follow
// in memory), so enough DRAM requests stay in flight. A hint: never faults.
constexpr int kPrefetch = 2048;

template <typename T, int C>
void row_tile(const std::uint8_t* w, const std::uint8_t* xb, std::size_t xs, int n_in, float* y,
              std::size_t ldy) {
  const int nb = n_in / 32;
  const int n_full = nb / 8;
  __m256 acc[4][C];  // acc[h]: lanes 8h .. 8h+7, blocks = h mod 4
  for (int c = 0; c < C; ++c) acc[0][c] = acc[1][c] = acc[2][c] = acc[3][c] = _mm256_setzero_ps();
  for (int G = 0; G < n_full; ++G) {
    const std::uint8_t* wg = w + static_cast<std::size_t>(G) * T::kGroupBytes;
    for (int off = 0; off < T::kGroupBytes; off += 64) {
      // (address arithmetic on integers: the prefetched address may lie past the matrix)
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(wg) + kPrefetch + off),
                   _MM_HINT_T0);
    }
    RowGroup rg;
    T::group(wg, rg);
    __m256 pa[C];
    for (int c = 0; c < C; ++c) {
      pa[c] = _mm256_mul_ps(rg.a, _mm256_loadu_ps(act_d(xb + c * xs, nb) + 8 * G));
    }
    for (int i = 0; i < 8; ++i) {
      const __m256i wq = T::weights(wg, rg, i);
      for (int c = 0; c < C; ++c) {
        const auto* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * G + i;
        const __m256i isum = T::dot(wq, load256(reinterpret_cast<const std::uint8_t*>(blk->q)), rg, i);
        const __m256 pw = _mm256_permutevar8x32_ps(pa[c], _mm256_set1_epi32(i));
        acc[i & 3][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), pw, acc[i & 3][c]);
      }
    }
    if constexpr (T::kOffset) {
      for (int c = 0; c < C; ++c) {
        acc[0][c] = _mm256_fmadd_ps(rg.o, _mm256_loadu_ps(act_s(xb + c * xs, nb) + 8 * G), acc[0][c]);
      }
    }
  }
  if constexpr (T::kPartial) {
    const int n_tail = nb - 8 * n_full;
    float o[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < n_tail; ++i) {
      const int b = 8 * n_full + i;
      float a;
      __m256i wq;
      T::block(w + static_cast<std::size_t>(b) * T::kBytes, a, o[i], wq);
      for (int c = 0; c < C; ++c) {
        const ActQ8Block* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + b;
        const __m256i isum = T::dot(wq, load256(reinterpret_cast<const std::uint8_t*>(blk->q)), RowGroup{}, i);
        acc[i & 3][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(a * blk->d), acc[i & 3][c]);
      }
    }
    if (T::kOffset && n_tail > 0) {
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n_tail), lane));
      for (int c = 0; c < C; ++c) {
        const ActQ8Block* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * n_full;
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int i = 0; i < n_tail; ++i) s[i] = blk[i].s;
        const __m256 f = _mm256_fmadd_ps(_mm256_loadu_ps(o), _mm256_loadu_ps(s), acc[0][c]);
        acc[0][c] = _mm256_blendv_ps(acc[0][c], f, keep);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    const __m256 t = _mm256_add_ps(_mm256_add_ps(acc[0][c], acc[2][c]), _mm256_add_ps(acc[1][c], acc[3][c]));
    y[c * ldy] = hsum8(t);
  }
}

template <typename T, int R, int C>
void tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
          int n_in, float* y, std::size_t ldy) {
  for (int r = 0; r < R; ++r) {
    if constexpr (C <= 2) {
      row_tile<T, C>(w + r * ws, xb, xs, n_in, y + r, ldy);
    } else {
      row_tile<T, 2>(w + r * ws, xb, xs, n_in, y + r, ldy);
      row_tile<T, C - 2>(w + r * ws, xb + 2 * xs, xs, n_in, y + 2 * ldy + r, ldy);
    }
  }
}

template <typename T>
void fill_type(TypeKernels& k) {
  k.tile[0][0] = tile<T, 1, 1>;
  k.tile[0][1] = tile<T, 1, 2>;
  k.tile[0][2] = tile<T, 1, 3>;
  k.tile[0][3] = tile<T, 1, 4>;
  k.tile[1][0] = tile<T, 4, 1>;
  k.tile[1][1] = tile<T, 4, 2>;
  k.tile[1][2] = tile<T, 4, 3>;
  k.tile[1][3] = tile<T, 4, 4>;
}

}  // namespace

void fill_q4_avx2(KernelTable& t) {
  fill_type<Q4<false>>(t.types[static_cast<int>(DType::kQ4_0)]);
  fill_type<Q4<true>>(t.types[static_cast<int>(DType::kQ4_1)]);
  fill_type<QK<false>>(t.types[static_cast<int>(DType::kQ4_K)]);
  fill_type<QK<true>>(t.types[static_cast<int>(DType::kQ5_K)]);
  fill_type<Q6K>(t.types[static_cast<int>(DType::kQ6_K)]);
}

}  // namespace speclab::kernels
