// Portable tile kernels (no SIMD intrinsics): the fallback on CPUs without AVX2 and the
// scalar twin of the integer kernels. Float types: one fp32 sum per output in element order.
// Integer types reproduce the SIMD kernels' arithmetic exactly: per block of 32, eight exact
// int32 lane sums (lane l = elements 4l .. 4l+3), each scaled into its fp32 lane accumulator by
// a fused multiply-add, lanes summed ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) at the end; so q8_0
// results are bit-identical to the AVX-512 and AVX2 kernels. See ops/matmul_kernels.h.
#include "ops/matmul_kernels.h"
#include "ops/quant.h"

namespace speclab::kernels {
namespace {

float load_f32(const std::uint8_t* p) {
  float f;
  __builtin_memcpy(&f, p, 4);
  return f;
}

// IEEE binary16 -> fp32, exact (written out here: this file includes no inline library code).
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

float load_bf16(const std::uint8_t* p) {
  std::uint16_t h;
  __builtin_memcpy(&h, p, 2);
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

template <float (*Load)(const std::uint8_t*), int kElemBytes, int R, int C>
void float_tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
                int n_in, float* y, std::size_t ldy) {
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      const float* x = reinterpret_cast<const float*>(xb + c * xs);
      const std::uint8_t* wr = w + r * ws;
      float s = 0.0f;
      for (int k = 0; k < n_in; ++k) s += Load(wr + kElemBytes * k) * x[k];
      y[c * ldy + r] = s;
    }
  }
}

float lane_sum8(const float* a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

template <bool kF32Scale, int R, int C>
void q8_tile(const std::uint8_t* w, std::size_t ws, const std::uint8_t* xb, std::size_t xs,
             int n_in, float* y, std::size_t ldy) {
  constexpr int kBytes = kF32Scale ? 36 : 34;
  constexpr int kQ = kF32Scale ? 4 : 2;
  const int nb = n_in / 32;
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int b = 0; b < nb; ++b) {
        const std::uint8_t* wb = w + r * ws + static_cast<std::size_t>(b) * kBytes;
        const auto* xq = reinterpret_cast<const ActQ8Block*>(xb + c * xs) + b;
        const float dw = kF32Scale ? load_f32(wb) : load_f16(wb);
        const auto* wq = reinterpret_cast<const std::int8_t*>(wb + kQ);
        const float scale = dw * xq->d;
        for (int l = 0; l < 8; ++l) {
          std::int32_t isum = 0;
          for (int j = 4 * l; j < 4 * l + 4; ++j) isum += std::int32_t(wq[j]) * xq->q[j];
          acc[l] = __builtin_fmaf(static_cast<float>(isum), scale, acc[l]);
        }
      }
      y[c * ldy + r] = lane_sum8(acc);
    }
  }
}

using Tile = TileFn;

template <template <int, int> class T>
void fill_type(TypeKernels& k) {
  k.tile[0][0] = T<1, 1>::run;
  k.tile[0][1] = T<1, 2>::run;
  k.tile[0][2] = T<1, 3>::run;
  k.tile[0][3] = T<1, 4>::run;
  k.tile[1][0] = T<4, 1>::run;
  k.tile[1][1] = T<4, 2>::run;
  k.tile[1][2] = T<4, 3>::run;
  k.tile[1][3] = T<4, 4>::run;
}

template <float (*Load)(const std::uint8_t*), int kElemBytes>
struct FloatTiles {
  template <int R, int C>
  struct T {
    static void run(const std::uint8_t* w, std::size_t ws, const std::uint8_t* x, std::size_t xs,
                    int n, float* y, std::size_t ldy) {
      float_tile<Load, kElemBytes, R, C>(w, ws, x, xs, n, y, ldy);
    }
  };
};

template <bool kF32Scale>
struct Q8Tiles {
  template <int R, int C>
  struct T {
    static void run(const std::uint8_t* w, std::size_t ws, const std::uint8_t* x, std::size_t xs,
                    int n, float* y, std::size_t ldy) {
      q8_tile<kF32Scale, R, C>(w, ws, x, xs, n, y, ldy);
    }
  };
};

}  // namespace

void fill_scalar(KernelTable& t) {
  t.isa_name = "scalar";
  fill_type<FloatTiles<load_f32, 4>::T>(t.types[static_cast<int>(DType::kF32)]);
  fill_type<FloatTiles<load_f16, 2>::T>(t.types[static_cast<int>(DType::kF16)]);
  fill_type<FloatTiles<load_bf16, 2>::T>(t.types[static_cast<int>(DType::kBF16)]);
  fill_type<Q8Tiles<false>::T>(t.types[static_cast<int>(DType::kQ8_0)]);
  fill_type<Q8Tiles<true>::T>(t.types[static_cast<int>(DType::kQ8_0F)]);
  fill_q4_scalar(t);
}

}  // namespace speclab::kernels
