// AVX-512 tile kernels for q4_0, q4_1, q4_k, q5_k, q6_k (AVX512F/BW/VL/DQ + AVX512_VNNI + F16C
// + FMA; compiled with those flags, selected at run time only on CPUs that have them).
//
// The arithmetic is the one defined by the scalar twin (ops/kernels_q4_scalar.cpp): 32 fp32
// lanes, block b in lanes 8 (b mod 4) .. +7, per block acc = fma(float(isum), A * dx, acc),
// offsets O * s into lanes 0..7 per group of 8 blocks, one fixed lane sum; so results are
// bit-identical to the scalar and AVX2 kernels. Here the 32 lanes are two zmm accumulators per
// output (pairs 0, 2 of a group in the first, pairs 1, 3 in the second: two independent FMA
// chains, so one output at a time is not latency-bound); a 4-row tile runs as two 2-row passes
// (4 x 4 x 2 accumulators would not fit in 32 registers).
//
// One zmm register holds a pair of blocks (2p, 2p+1) of a group of 8 (256 elements):
//  - weights: the 64 levels of the pair as unsigned bytes, unpacked once per weight row and
//    reused for the C tokens of the tile (nibbles by a broadcast load, a per-half VPSRLVQ and an
//    AND; the 5th / 6th bits by VPTESTMB / VPROLVQ);
//  - activations: the two blocks' int8 values; the per-group dx (and s) of each token by one
//    vector load from the row's flat scale arrays, expanded to the pair's lanes by VPERMPS; A
//    (and O) per weight row and group;
//  - integer sums: VPDPBUSD (unsigned levels x signed activations; q4_0 starts from -8 * the lane
//    sums of x so the nibbles need no sign trick); q6_k: VPMADDUBSW minus 32 * the pair sums of
//    x, then VPDPWSSD by the sub-block scales (exact int32);
//  - then VCVTDQ2PS, P = A * dx (VMULPS), one FMA per (row, token, pair).
// See ops/matmul_kernels.h for the contract.
//
// GCC 12's AVX-512 headers fill the unused half of a cast / insert with _mm512_undefined_*()
// and then warn that it "is used uninitialized" wherever they are inlined: a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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

// ((t0+t4)+(t2+t6)) + ((t1+t5)+(t3+t7)), t = lanes 0..7 + lanes 8..15 of v.
inline float hsum(__m512 v) {
  const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

inline __m512i load_pair_x(const ActQ8Block* blk) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[0].q));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[1].q));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline __m512i bcast256(const std::uint8_t* p) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline __m512i bcast128x2(const std::uint8_t* lo, const std::uint8_t* hi) {
  const __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo)));
  const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hi)));
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

// [qs | qs >> 4] & 15 of a 16-byte nibble array (elements 0..15 low nibbles, 16..31 high).
inline __m256i nibbles16(const std::uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i u = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
  return _mm256_and_si256(u, _mm256_set1_epi8(15));
}

// Per weight row and group: A and the offset factor of the 8 blocks (O itself, or -O when the
// type's kNegOffset: the offset is then added by FNMADD, -(B * s) + acc, which rounds exactly
// as fma(-B, s, acc)), plus a type-specific vector.
struct RowGroup {
  __m256 a, o;
  __m256i extra;
};

// Per token and pair: the activation bytes and a type-specific correction.
struct Xpair {
  __m512i q, corr;
};

// ---- q4_0 / q4_1 ---------------------------------------------------------------------------

template <bool kQ41>
struct Q4 {
  static constexpr bool kOffset = kQ41;
  static constexpr bool kNegOffset = false;
  static constexpr bool kPartial = true;  // rows need not be whole groups of 8 blocks
  static constexpr int kBytes = kQ41 ? 20 : 18;
  static constexpr int kQs = kQ41 ? 4 : 2;
  static constexpr int kGroupBytes = 8 * kBytes;

  static void group(const std::uint8_t* g, RowGroup& rg) {
    const __m256i idx = _mm256_setr_epi32(0, kBytes, 2 * kBytes, 3 * kBytes, 4 * kBytes,
                                          5 * kBytes, 6 * kBytes, 7 * kBytes);
    const __m256i v = _mm256_i32gather_epi32(reinterpret_cast<const int*>(g), idx, 1);
    rg.a = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(v));
    if (kQ41) rg.o = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(v, 16)));
  }
  static __m512i weights(const std::uint8_t* g, const RowGroup&, int p) {
    const std::uint8_t* b = g + 2 * p * kBytes + kQs;
    const __m512i z = bcast128x2(b, b + kBytes);
    const __m512i sh = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    return _mm512_and_si512(_mm512_srlv_epi64(z, sh), _mm512_set1_epi8(15));
  }
  static __m512i xcorr(__m512i x) {
    if (kQ41) return _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x));
  }
  static __m512i dot(__m512i w, const Xpair& x, const RowGroup&, int) {
    return _mm512_dpbusd_epi32(x.corr, w, x.q);
  }
  // One block as 32 unsigned levels (ymm row kernel).
  static __m256i weights1(const std::uint8_t* g, const RowGroup&, int i) {
    return nibbles16(g + i * kBytes + kQs);
  }
  static __m256i xcorr1(__m256i x) {
    if (kQ41) return _mm256_setzero_si256();
    return _mm256_sub_epi32(_mm256_setzero_si256(),
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), x));
  }
  static __m256i dot1(__m256i w, __m256i x, __m256i corr, const RowGroup&, int) {
    return _mm256_dpbusd_epi32(corr, w, x);
  }
  // Single blocks (the partial group at the end of a row).
  static void block(const std::uint8_t* b, float& a, float& o, __m256i& w) {
    a = f16(b);
    o = kQ41 ? f16(b + 2) : 0.0f;
    w = nibbles16(b + kQs);
  }
  static __m256i dot256(__m256i w, __m256i x) {
    __m256i init = _mm256_setzero_si256();
    if (!kQ41) {
      init = _mm256_sub_epi32(init, _mm256_dpbusd_epi32(init, _mm256_set1_epi8(8), x));
    }
    return _mm256_dpbusd_epi32(init, w, x);
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
  static constexpr bool kNegOffset = true;  // rg.o = dmin * mn, O = -rg.o
  static constexpr bool kPartial = false;
  static constexpr int kGroupBytes = kQ5 ? 176 : 144;
  static constexpr int kQs = kQ5 ? 48 : 16;

  // [d * sc[0..7], dmin * mn[0..7]] in one multiply.
  static void group(const std::uint8_t* g, RowGroup& rg) {
    std::uint32_t dd;
    __builtin_memcpy(&dd, g, 4);  // d | dmin << 16
    const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dd)));
    const __m512 dm16 = _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), _mm512_castps128_ps512(dm));
    const __m512 scmn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(scales_mins_k4(g + 4)));
    const __m512 am = _mm512_mul_ps(dm16, scmn);
    rg.a = _mm512_castps512_ps256(am);
    rg.o = _mm512_extractf32x8_ps(am, 1);
  }
  static __m512i weights(const std::uint8_t* g, const RowGroup&, int p) {
    const __m512i z = bcast256(g + kQs + 32 * p);
    const __m512i sh = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    __m512i q = _mm512_and_si512(_mm512_srlv_epi64(z, sh), _mm512_set1_epi8(15));
    if (kQ5) {
      const __m512i qh = bcast256(g + 16);
      const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * p))),
                                             _mm256_set1_epi8(static_cast<char>(1 << (2 * p + 1))), 1);
      q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(qh, bit), q, _mm512_set1_epi8(16));
    }
    return q;
  }
  static __m512i xcorr(__m512i) { return _mm512_setzero_si512(); }
  static __m512i dot(__m512i w, const Xpair& x, const RowGroup&, int) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, x.q);
  }
  // Block i: nibble (i & 1) of qs[32 (i / 2) ..], plus bit i of qh (q5_k) as 16.
  static __m256i weights1(const std::uint8_t* g, const RowGroup&, int i) {
    const __m256i z = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + kQs + 32 * (i >> 1)));
    __m256i q = _mm256_and_si256((i & 1) ? _mm256_srli_epi16(z, 4) : z, _mm256_set1_epi8(15));
    if (kQ5) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 16));
      const __mmask32 m = _mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << i)));
      q = _mm256_mask_add_epi8(q, m, q, _mm256_set1_epi8(16));
    }
    return q;
  }
  static __m256i xcorr1(__m256i) { return _mm256_setzero_si256(); }
  static __m256i dot1(__m256i w, __m256i x, __m256i, const RowGroup&, int) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x);
  }
};

// ---- q6_k ------------------------------------------------------------------------------------

struct Q6K {
  static constexpr bool kOffset = false;
  static constexpr bool kNegOffset = false;
  static constexpr bool kPartial = false;
  static constexpr int kGroupBytes = 210;

  static void group(const std::uint8_t* g, RowGroup& rg) {
    rg.a = _mm256_set1_ps(f16(g + 208));
    rg.extra = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 192)));
  }
  // Pair p = blocks 2p, 2p+1: half h = p / 2 of the super-block, k = 2 (p & 1) + {0, 1}.
  static __m512i weights(const std::uint8_t* g, const RowGroup&, int p) {
    const int h = p >> 1;
    const __m512i ql = _mm512_loadu_si512(g + 64 * h);
    const __m512i lo = (p & 1) ? _mm512_srli_epi16(ql, 4) : ql;
    const __m512i qh = bcast256(g + 128 + 32 * h);
    // Bits (2k, 2k+1) of qh to bits (4, 5): rotate each 64-bit lane left by 4 - 2k.
    const __m512i rot = (p & 1) ? _mm512_setr_epi64(0, 0, 0, 0, 62, 62, 62, 62)
                                : _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i hi = _mm512_rolv_epi64(qh, rot);
    // (lo & 0x0f) | (hi & 0x30)
    return _mm512_ternarylogic_epi32(_mm512_and_si512(lo, _mm512_set1_epi8(15)), hi,
                                     _mm512_set1_epi8(0x30), 0xF8);
  }
  // 32 * (x[2j] + x[2j+1]) as int16.
  static __m512i xcorr(__m512i x) { return _mm512_maddubs_epi16(_mm512_set1_epi8(32), x); }
  static __m512i dot(__m512i w, const Xpair& x, const RowGroup& rg, int p) {
    // Words: sub-block 4p + w / 8 of the 16 scales.
    const __m512i idx = _mm512_add_epi16(
        _mm512_set1_epi16(static_cast<short>(4 * p)),
        _mm512_setr_epi64(0, 0, 0x0001000100010001LL, 0x0001000100010001LL, 0x0002000200020002LL,
                          0x0002000200020002LL, 0x0003000300030003LL, 0x0003000300030003LL));
    const __m512i sc = _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(rg.extra));
    const __m512i pairs = _mm512_sub_epi16(_mm512_maddubs_epi16(w, x.q), x.corr);
    return _mm512_dpwssd_epi32(_mm512_setzero_si512(), pairs, sc);
  }
  // Block i = 4h + k: low 4 bits from ql[64h + 32 (k & 1) ..] (high nibble for k >= 2), high
  // 2 bits (qh[32h ..] >> 2k) & 3.
  static __m256i weights1(const std::uint8_t* g, const RowGroup&, int i) {
    const int h = i >> 2, k = i & 3;
    const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 64 * h + 32 * (k & 1)));
    const __m256i lo = k >= 2 ? _mm256_srli_epi16(ql, 4) : ql;
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 128 + 32 * h));
    const __m256i hi = k == 3 ? _mm256_srli_epi16(qh, 2) : _mm256_slli_epi16(qh, 4 - 2 * k);
    // (lo & 0x0f) | (hi & 0x30)
    return _mm256_ternarylogic_epi32(_mm256_and_si256(lo, _mm256_set1_epi8(15)), hi,
                                     _mm256_set1_epi8(0x30), 0xF8);
  }
  static __m256i xcorr1(__m256i x) { return _mm256_maddubs_epi16(_mm256_set1_epi8(32), x); }
  static __m256i dot1(__m256i w, __m256i x, __m256i corr, const RowGroup& rg, int i) {
    // Words 0..7: scale 2i, words 8..15: scale 2i + 1.
    const __m256i sel = _mm256_add_epi16(_mm256_set1_epi16(static_cast<short>(2 * i)),
                                         _mm256_setr_epi64x(0, 0, 0x0001000100010001LL, 0x0001000100010001LL));
    const __m256i sc = _mm256_permutexvar_epi16(sel, rg.extra);
    const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(w, x), corr);
    return _mm256_dpwssd_epi32(_mm256_setzero_si256(), pairs, sc);
  }
};

// ---- the tile --------------------------------------------------------------------------------

// dx (and s) of the 8 activation blocks of group G of a row of nb blocks: vector loads from
// the row's flat scale arrays (ops/matmul_kernels.h act_row_bytes).
template <bool kWithS>
inline void ds_group(const std::uint8_t* x, int nb, int G, __m256& dx, __m256& sx) {
  dx = _mm256_loadu_ps(act_d(x, nb) + 8 * G);
  if constexpr (kWithS) sx = _mm256_loadu_ps(act_s(x, nb) + 8 * G);
}

// Adds the group's offsets O * s into the 8 lanes of acc selected by m (mask3: others kept).
template <typename T>
inline __m512 add_offsets(__m256 o, __m256 s, __m512 acc, __mmask16 m) {
  if constexpr (T::kNegOffset) {
    return _mm512_mask3_fnmadd_ps(_mm512_castps256_ps512(o), _mm512_castps256_ps512(s), acc, m);
  } else {
    return _mm512_mask3_fmadd_ps(_mm512_castps256_ps512(o), _mm512_castps256_ps512(s), acc, m);
  }
}

// R <= 2 rows x C <= 4 tokens; acc[r][c][h]: h = 0 lanes 0..15 (blocks = 0, 1 mod 4), h = 1
// lanes 16..31 (blocks = 2, 3 mod 4).
template <typename T, int R, int C>
void tile_pass(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
               int n_in, float* y, std::size_t ldy) {
  const int nb = n_in / 32;
  const int n_full = nb / 8;
  __m512 acc[R][C][2];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c][0] = acc[r][c][1] = _mm512_setzero_ps();
  for (int G = 0; G < n_full; ++G) {
    __m256 dx[C], sx[C];
    for (int c = 0; c < C; ++c) ds_group<T::kOffset>(xb + c * xs, nb, G, dx[c], sx[c]);
    RowGroup rg[R];
    const std::uint8_t* wg[R];
    for (int r = 0; r < R; ++r) {
      wg[r] = w + r * ws + static_cast<std::size_t>(G) * T::kGroupBytes;
      // Row groups: the same place in the next group of R rows (R * ws ahead), as the q8_0 and
      // float tiles do; one group of lookahead hides the DRAM latency of these compute-heavier
      // tiles. A hint: never faults (integer address arithmetic, may lie past the matrix).
      if constexpr (R > 1) {
        for (int off = 0; off < T::kGroupBytes; off += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(wg[r]) + R * ws + off),
                       _MM_HINT_T1);
        }
      }
      T::group(wg[r], rg[r]);
    }
    // P = A * dx of the 8 blocks, per (row, token); few outputs: multiplied once per group and
    // expanded per pair, else A and dx expanded per pair and multiplied there (same products).
    constexpr bool kDirect = R * C <= 4;
    __m256 p8[kDirect ? R : 1][kDirect ? C : 1];
    if constexpr (kDirect) {
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) p8[r][c] = _mm256_mul_ps(rg[r].a, dx[c]);
    }
    for (int p = 0; p < 4; ++p) {
      const __m512i pidx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * p)),
                                              _mm256_set1_epi32(2 * p + 1), 1);
      Xpair xv[C];
      __m512 dxp[C];
      for (int c = 0; c < C; ++c) {
        const auto* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * G + 2 * p;
        xv[c].q = load_pair_x(blk);
        xv[c].corr = T::xcorr(xv[c].q);
        if constexpr (!kDirect) dxp[c] = _mm512_permutexvar_ps(pidx, _mm512_castps256_ps512(dx[c]));
      }
      for (int r = 0; r < R; ++r) {
        const __m512i wq = T::weights(wg[r], rg[r], p);
        __m512 ap = _mm512_setzero_ps();
        if constexpr (!kDirect) ap = _mm512_permutexvar_ps(pidx, _mm512_castps256_ps512(rg[r].a));
        for (int c = 0; c < C; ++c) {
          const __m512i isum = T::dot(wq, xv[c], rg[r], p);
          __m512 pw;
          if constexpr (kDirect) {
            pw = _mm512_permutexvar_ps(pidx, _mm512_castps256_ps512(p8[r][c]));
          } else {
            pw = _mm512_mul_ps(ap, dxp[c]);
          }
          acc[r][c][p & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), pw, acc[r][c][p & 1]);
        }
      }
    }
    if constexpr (T::kOffset) {
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c)
          acc[r][c][0] = add_offsets<T>(rg[r].o, sx[c], acc[r][c][0], 0x00FF);
    }
  }
  if constexpr (T::kPartial) {
    const int n_tail = nb - 8 * n_full;
    for (int r = 0; r < R; ++r) {
      float o[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int i = 0; i < n_tail; ++i) {
        const int b = 8 * n_full + i;
        float a;
        __m256i wq;
        T::block(w + r * ws + static_cast<std::size_t>(b) * T::kBytes, a, o[i], wq);
        for (int c = 0; c < C; ++c) {
          const ActQ8Block* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + b;
          const __m256i isum =
              T::dot256(wq, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->q)));
          const __m512i z = (i & 1) ? _mm512_inserti64x4(_mm512_setzero_si512(), isum, 1)
                                    : _mm512_castsi256_si512(isum);
          __m512& a_h = acc[r][c][(i >> 1) & 1];
          a_h = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(z), _mm512_set1_ps(a * blk->d), a_h,
                                      (i & 1) ? 0xFF00 : 0x00FF);
        }
      }
      if (T::kOffset && n_tail > 0) {
        const __mmask16 m = static_cast<__mmask16>((1u << n_tail) - 1);
        for (int c = 0; c < C; ++c) {
          const ActQ8Block* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * n_full;
          float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int i = 0; i < n_tail; ++i) s[i] = blk[i].s;
          acc[r][c][0] = add_offsets<T>(_mm256_loadu_ps(o), _mm256_loadu_ps(s), acc[r][c][0], m);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum(_mm512_add_ps(acc[r][c][0], acc[r][c][1]));
}

// 8 KiB into L2 (_MM_HINT_T1; see ops/kernels_avx512.cpp kAheadBytes for why not L1): on an AMD
// EPYC Zen 4, 1 thread, 1B shape, q4_k decode 22-24 tokens/s, as with 2 KiB into L1; 2 KiB into
// L2 gave 18-19.
constexpr int kPrefetch = 8192;

// One weight row x C <= 4 tokens with 256-bit operations (the memory-bound tiles of small
// batches: 256-bit operations issue on three vector ports where 512-bit ones have two, and the
// activations enter VPDPBUSD as memory operands); the same arithmetic as tile_pass, with the 32
// lanes as four ymm accumulators per output (block b in accumulator b mod 4).
template <typename T, int C>
void row_tile(const std::uint8_t* w, const std::uint8_t* xb, std::size_t xs, int n_in, float* y,
              std::size_t ldy) {
  const int nb = n_in / 32;
  const int n_full = nb / 8;
  __m256 acc[4][C];
  for (int c = 0; c < C; ++c) acc[0][c] = acc[1][c] = acc[2][c] = acc[3][c] = _mm256_setzero_ps();
  alignas(32) float p8[C][8];
  for (int G = 0; G < n_full; ++G) {
    const std::uint8_t* wg = w + static_cast<std::size_t>(G) * T::kGroupBytes;
    // Software prefetch kPrefetch bytes ahead (into the next rows: they follow in memory), so
    // the weight stream keeps enough DRAM requests in flight. A hint: never faults.
    for (int off = 0; off < T::kGroupBytes; off += 64) {
      // (address arithmetic on integers: the prefetched address may lie past the matrix)
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(wg) + kPrefetch + off),
                   _MM_HINT_T1);
    }
    RowGroup rg;
    T::group(wg, rg);
    __m256 sx[C];
    for (int c = 0; c < C; ++c) {
      __m256 dx;
      ds_group<T::kOffset>(xb + c * xs, nb, G, dx, sx[c]);
      _mm256_store_ps(p8[c], _mm256_mul_ps(rg.a, dx));
    }
    // Re-read p8 from memory below: a broadcast load costs no shuffle port, where GCC would
    // otherwise broadcast from the register with two shuffles per block.
    asm volatile("" : : "m"(p8) : "memory");
    for (int i = 0; i < 8; ++i) {
      const __m256i wq = T::weights1(wg, rg, i);
      for (int c = 0; c < C; ++c) {
        const auto* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * G + i;
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->q));
        const __m256i isum = T::dot1(wq, xq, T::xcorr1(xq), rg, i);
        acc[i & 3][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_broadcast_ss(&p8[c][i]), acc[i & 3][c]);
      }
    }
    if constexpr (T::kOffset) {
      for (int c = 0; c < C; ++c) {
        acc[0][c] = T::kNegOffset ? _mm256_fnmadd_ps(rg.o, sx[c], acc[0][c])
                                  : _mm256_fmadd_ps(rg.o, sx[c], acc[0][c]);
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
        const __m256i isum = T::dot256(wq, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->q)));
        acc[i & 3][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(a * blk->d), acc[i & 3][c]);
      }
    }
    if (T::kOffset && n_tail > 0) {
      const __mmask8 m = static_cast<__mmask8>((1u << n_tail) - 1);
      for (int c = 0; c < C; ++c) {
        const ActQ8Block* blk = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * n_full;
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int i = 0; i < n_tail; ++i) s[i] = blk[i].s;
        acc[0][c] = _mm256_mask3_fmadd_ps(_mm256_loadu_ps(o), _mm256_loadu_ps(s), acc[0][c], m);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    const __m256 t = _mm256_add_ps(_mm256_add_ps(acc[0][c], acc[2][c]), _mm256_add_ps(acc[1][c], acc[3][c]));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    const __m128 d = _mm_add_ps(b, _mm_movehl_ps(b, b));
    y[c * ldy] = _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }
}

template <typename T, int R, int C>
void tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
          int n_in, float* y, std::size_t ldy) {
  if constexpr (R == 1) {
    row_tile<T, C>(w, xb, xs, n_in, y, ldy);
  } else {
    for (int r = 0; r < R; r += 2) tile_pass<T, 2, C>(w + r * ws, ws, xb, xs, n_in, y + r, ldy);
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

void fill_q4_avx512(KernelTable& t) {
  fill_type<Q4<false>>(t.types[static_cast<int>(DType::kQ4_0)]);
  fill_type<Q4<true>>(t.types[static_cast<int>(DType::kQ4_1)]);
  fill_type<QK<false>>(t.types[static_cast<int>(DType::kQ4_K)]);
  fill_type<QK<true>>(t.types[static_cast<int>(DType::kQ5_K)]);
  fill_type<Q6K>(t.types[static_cast<int>(DType::kQ6_K)]);
}

}  // namespace speclab::kernels
