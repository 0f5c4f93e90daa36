// Portable tile kernels for the 4/5/6-bit weight types (q4_0, q4_1, q4_k, q5_k, q6_k): the
// fallback on CPUs without AVX2 and the scalar twin that defines the arithmetic the SIMD kernels
// (ops/kernels_q4_avx512.cpp, ops/kernels_q4_avx2.cpp) reproduce bit for bit.
//
// The arithmetic, per output y = dot(weight row, activation row) (ActQ8Block activations, block b
// = elements 32b .. 32b+31 with scale dx_b, sum term s_b = dx_b * sum(qx)):
//   - 32 fp32 lane accumulators acc[0..31], all +0. Lane 8h + l (h = b mod 4, l = 0..7)
//     receives the elements 4l .. 4l+3 of the blocks b with b mod 4 = h (an AVX-512 register
//     holds a pair of blocks: two registers, so two independent FMA chains per output; AVX2
//     four registers of one block each).
//   - Blocks are taken in groups of 8 (256 elements: one K-quant super-block; q4_0 / q4_1 rows
//     that are not a multiple of 256 end with a partial group). For each block b of the group,
//     in order: P_b = A_b * dx_b (one fp32 multiply), then for each lane
//       acc[8h + l] = fma(float(isum_{b,l}), P_b, acc[8h + l])
//     with isum_{b,l} the exact int32 sum over the lane's 4 elements of q * qx.
//   - Types with an additive offset (q4_1, q4_k, q5_k) then add, for block i of the group (i = b
//     mod 8), acc[i] = fma(O_b, s_b, acc[i]).
//   - u_j = acc[j] + acc[j+16] (j < 16), t_l = u_l + u_{l+8} (l < 8), and
//     y = ((t0+t4)+(t2+t6)) + ((t1+t5)+(t3+t7)).
// Per type (value = A * q + O):
//   q4_0: A = d, q = nibble - 8, no offset.     q4_1: A = d, q = nibble, O = m.
//   q4_k / q5_k: A = d * float(sc_i), O = -(dmin * float(mn_i)), q = the 4 / 5-bit level.
//   q6_k: A = d for every block; isum_{b,l} = sc * sum(q6 - 32) * qx, sc the int8 scale of the
//         16-element sub-block holding the lane's 4 elements (exact in int32).
// Every output is computed by this sequence whatever R, C, the batch or the thread count.
// This file includes only ops/matmul_kernels.h and ops/quant.h (see ops/matmul_kernels.h).
#include "ops/matmul_kernels.h"
#include "ops/quant.h"

namespace speclab::kernels {
namespace {

// IEEE binary16 -> fp32, exact.
float load_f16(const std::uint8_t* p) {
  std::uint16_t h;
  __builtin_memcpy(&h, p, 2);
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | ((112u - static_cast<std::uint32_t>(e)) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// One group of up to 8 blocks of a weight row, decoded: the integer level of every element as
// it enters the product (q[32 * i + j]), the integer factor of every 4-element lane (1 except
// q6_k), A, O per block.
struct Group {
  int n_blocks;
  bool offset;
  std::int32_t q[256];
  std::int32_t lane_scale[64];
  float a[8], o[8];
};

// 6-bit scale and min of sub-block i (ggml get_scale_min_k4).
void scale_min_k4(const std::uint8_t* s, int i, int& sc, int& mn) {
  if (i < 4) {
    sc = s[i] & 63;
    mn = s[i + 4] & 63;
  } else {
    sc = (s[i + 4] & 15) | ((s[i - 4] >> 6) << 4);
    mn = (s[i + 4] >> 4) | ((s[i] >> 6) << 4);
  }
}

void unit_lane_scales(Group& g) {
  for (int& v : g.lane_scale) v = 1;
}

// q4_0 / q4_1: blocks 8G .. of the row (nb blocks in all).
template <bool kQ41>
void decode_q4(const std::uint8_t* row, int nb, int G, Group& g) {
  constexpr int kBytes = kQ41 ? 20 : 18;
  constexpr int kQs = kQ41 ? 4 : 2;
  g.n_blocks = nb - 8 * G < 8 ? nb - 8 * G : 8;
  g.offset = kQ41;
  unit_lane_scales(g);
  for (int i = 0; i < g.n_blocks; ++i) {
    const std::uint8_t* b = row + static_cast<std::size_t>(8 * G + i) * kBytes;
    g.a[i] = load_f16(b);
    g.o[i] = kQ41 ? load_f16(b + 2) : 0.0f;
    const std::uint8_t* qs = b + kQs;
    for (int j = 0; j < 16; ++j) {
      g.q[32 * i + j] = (qs[j] & 15) - (kQ41 ? 0 : 8);
      g.q[32 * i + 16 + j] = (qs[j] >> 4) - (kQ41 ? 0 : 8);
    }
  }
}

// q4_k (kQ5 false) / q5_k: super-block G of the row.
template <bool kQ5>
void decode_qk(const std::uint8_t* row, int G, Group& g) {
  constexpr int kBytes = kQ5 ? 176 : 144;
  const std::uint8_t* b = row + static_cast<std::size_t>(G) * kBytes;
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* qh = b + 16;
  const std::uint8_t* qs = b + (kQ5 ? 48 : 16);
  g.n_blocks = 8;
  g.offset = true;
  unit_lane_scales(g);
  for (int i = 0; i < 8; ++i) {
    int sc, mn;
    scale_min_k4(scales, i, sc, mn);
    g.a[i] = d * static_cast<float>(sc);
    g.o[i] = -(dmin * static_cast<float>(mn));
    const std::uint8_t* q = qs + 32 * (i / 2);
    for (int l = 0; l < 32; ++l) {
      int v = (i & 1) ? (q[l] >> 4) : (q[l] & 15);
      if (kQ5) v |= ((qh[l] >> i) & 1) << 4;
      g.q[32 * i + l] = v;
    }
  }
}

void decode_q6k(const std::uint8_t* row, int G, Group& g) {
  const std::uint8_t* b = row + static_cast<std::size_t>(G) * 210;
  const std::uint8_t* ql = b;
  const std::uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  g.n_blocks = 8;
  g.offset = false;
  for (int i = 0; i < 8; ++i) {
    g.a[i] = d;
    g.o[i] = 0.0f;
  }
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int lo0 = ql[64 * h + l], lo1 = ql[64 * h + 32 + l], hi = qh[32 * h + l];
      const int q[4] = {(lo0 & 15) | (((hi >> 0) & 3) << 4), (lo1 & 15) | (((hi >> 2) & 3) << 4),
                        (lo0 >> 4) | (((hi >> 4) & 3) << 4), (lo1 >> 4) | (((hi >> 6) & 3) << 4)};
      for (int k = 0; k < 4; ++k) g.q[128 * h + 32 * k + l] = q[k] - 32;
    }
  }
  for (int lane = 0; lane < 64; ++lane) g.lane_scale[lane] = sc[lane / 4];
}

float lane_sum8(const float* t) {
  return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
}

template <typename Decode, int R, int C>
void tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
          int n_in, float* y, std::size_t ldy) {
  const int nb = n_in / 32;
  const int n_groups = (nb + 7) / 8;
  Group g;
  for (int r = 0; r < R; ++r) {
    float acc[C][32];
    for (int c = 0; c < C; ++c)
      for (int j = 0; j < 32; ++j) acc[c][j] = 0.0f;
    for (int G = 0; G < n_groups; ++G) {
      Decode::run(w + r * ws, nb, G, g);
      for (int c = 0; c < C; ++c) {
        const auto* act = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + 8 * G;
        for (int i = 0; i < g.n_blocks; ++i) {
          const float p = g.a[i] * act[i].d;
          float* lanes = acc[c] + (i & 3) * 8;  // 8G + i = i mod 4
          for (int l = 0; l < 8; ++l) {
            std::int32_t isum = 0;
            for (int j = 4 * l; j < 4 * l + 4; ++j) isum += g.q[32 * i + j] * act[i].q[j];
            isum *= g.lane_scale[8 * i + l];
            lanes[l] = __builtin_fmaf(static_cast<float>(isum), p, lanes[l]);
          }
        }
        if (g.offset) {
          for (int i = 0; i < g.n_blocks; ++i) acc[c][i] = __builtin_fmaf(g.o[i], act[i].s, acc[c][i]);
        }
      }
    }
    for (int c = 0; c < C; ++c) {
      float u[16], t[8];
      for (int j = 0; j < 16; ++j) u[j] = acc[c][j] + acc[c][j + 16];
      for (int l = 0; l < 8; ++l) t[l] = u[l] + u[l + 8];
      y[c * ldy + r] = lane_sum8(t);
    }
  }
}

struct DecodeQ40 {
  static void run(const std::uint8_t* row, int nb, int G, Group& g) { decode_q4<false>(row, nb, G, g); }
};
struct DecodeQ41 {
  static void run(const std::uint8_t* row, int nb, int G, Group& g) { decode_q4<true>(row, nb, G, g); }
};
struct DecodeQ4K {
  static void run(const std::uint8_t* row, int, int G, Group& g) { decode_qk<false>(row, G, g); }
};
struct DecodeQ5K {
  static void run(const std::uint8_t* row, int, int G, Group& g) { decode_qk<true>(row, G, g); }
};
struct DecodeQ6K {
  static void run(const std::uint8_t* row, int, int G, Group& g) { decode_q6k(row, G, g); }
};

template <typename D>
void fill_type(TypeKernels& k) {
  k.tile[0][0] = tile<D, 1, 1>;
  k.tile[0][1] = tile<D, 1, 2>;
  k.tile[0][2] = tile<D, 1, 3>;
  k.tile[0][3] = tile<D, 1, 4>;
  k.tile[1][0] = tile<D, 4, 1>;
  k.tile[1][1] = tile<D, 4, 2>;
  k.tile[1][2] = tile<D, 4, 3>;
  k.tile[1][3] = tile<D, 4, 4>;
}

}  // namespace

void fill_q4_scalar(KernelTable& t) {
  fill_type<DecodeQ40>(t.types[static_cast<int>(DType::kQ4_0)]);
  fill_type<DecodeQ41>(t.types[static_cast<int>(DType::kQ4_1)]);
  fill_type<DecodeQ4K>(t.types[static_cast<int>(DType::kQ4_K)]);
  fill_type<DecodeQ5K>(t.types[static_cast<int>(DType::kQ5_K)]);
  fill_type<DecodeQ6K>(t.types[static_cast<int>(DType::kQ6_K)]);
}

}  // namespace speclab::kernels
