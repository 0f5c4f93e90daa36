// Weight data types: the type table, the scalar reference dequantiser (byte layouts in
// ops/quant.h, byte-exact with the ggml block formats of GGUF files) and our own quantisers.
//
// Quantiser methods and their error bounds (x the input, x' its dequantised value; bounds hold
// for |x| within the representable range, tests/ops/test_quant.cpp checks every one):
//  - f16 / bf16: round to nearest even, saturating at the largest finite value.
//  - q8_0: d = absmax / 127, stored as the smallest f16 >= d (so no element leaves the int8
//    range); q = round(x / d) in [-127, 127]. |x - x'| <= d / 2.
//  - q8_0f: the same with an fp32 d (no rounding of d). |x - x'| <= d / 2 (+ fp32 rounding).
//  - q4_0: ggml's method: the element of largest magnitude m maps to -8, d = m / -8 (stored with
//    its magnitude rounded up to an f16); q = floor(x / d + 8.5) clamped to [0, 15].
//    |x - x'| <= |d| (the +8 end is clamped to +7) and <= |d| / 2 inside [-8d, 7d].
//  - q4_1: m = the largest f16 <= min(x), d = the smallest f16 >= (max(x) - m) / 15;
//    q = round((x - m) / d) in [0, 15]. Every element is in range: |x - x'| <= d / 2.
//  - q4_k / q5_k ("type-1", x' = D*q - M, q in [0, nmax], nmax 15 / 31, sub-blocks of 32):
//    1. per sub-block, a small least-squares search (fit_affine): with lo = min(0, min x),
//       hi = max x, try the grids s = (hi - lo) / (nmax + delta), delta in {0, 0.5, 1, 2},
//       assign q = round((x - lo) / s), then refit scale and offset by least squares for that
//       assignment (offset kept <= 0: the format's min is subtracted); keep the fit with the
//       least squared error. One pass over the 32 values per candidate.
//    2. super-block: dmin = the smallest f16 >= max(min_i, -lo_i) / 63, d = the smallest
//       f16 >= max(scale_i, cover_i) / 63, where cover_i = (hi_i + dmin*ceil(-lo_i/dmin)) / nmax
//       is the scale whose grid covers the whole sub-block.
//    3. per sub-block, the 6-bit (sc, mn) is chosen among {floor, ceil}(scale_i / d) x
//       {floor, ceil}(min_i / dmin) and the covering pair (ceil(cover_i / d), ceil(-lo_i/dmin)),
//       each with q re-assigned to the nearest level; the least squared error wins.
//    Because the covering pair is always a candidate, every sub-block's RMS error is at most
//    half its covering step: rms_i <= ((hi_i - lo_i + dmin) / nmax + d) / 2.
//  - q6_k ("type-0", x' = D*(q - 32), q in [0, 63], sub-blocks of 16, int8 scales):
//    1. per sub-block (fit_symmetric): the element of largest magnitude m maps to level -32
//       (the side with the extra level); try s = m / -(32 + delta), delta in {-0.5, 0, 1, 2},
//       each with a least-squares refit of s for its assignment; keep the least squared error.
//    2. d = the smallest f16 >= max(|scale_i|, cover_i) / 127 with cover_i = max(|m| / 32,
//       b / 31.5), b the largest magnitude of the opposite sign (the +31 side): the step whose
//       grid covers the sub-block.
//    3. per sub-block the int8 scale is chosen among {floor, ceil}(scale_i / d) and the
//       covering -sign(m)*ceil(cover_i / d), q re-assigned; the least squared error wins, so
//       rms_i <= (cover_i + d) / 2.
//  Values beyond what a format can represent saturate (scales clamp at the largest finite f16,
//  levels at their range), so finite input always gives finite output.
#include "ops/quant.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"

namespace speclab {
namespace {

constexpr std::array<DTypeTraits, 10> kTraits = {{
    {DType::kF32, "f32", 1, 4, 0},
    {DType::kF16, "f16", 1, 2, 1},
    {DType::kBF16, "bf16", 1, 2, 30},
    {DType::kQ8_0, "q8_0", 32, 34, 8},
    {DType::kQ8_0F, "q8_0f", 32, 36, -1},
    {DType::kQ4_0, "q4_0", 32, 18, 2},
    {DType::kQ4_1, "q4_1", 32, 20, 3},
    {DType::kQ4_K, "q4_k", 256, 144, 12},
    {DType::kQ5_K, "q5_k", 256, 176, 13},
    {DType::kQ6_K, "q6_k", 256, 210, 14},
}};

constexpr int kQK = 256;  // K-quant super-block

// ---- little-endian loads / stores at any alignment ----

std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
void store_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v & 0xff);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
float load_f32(const std::uint8_t* p) {
  std::uint32_t u = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                    static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
void store_f32(std::uint8_t* p, float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(u >> (8 * i));
}
float load_h(const std::uint8_t* p) { return f16_to_f32(load_u16(p)); }

// ---- f16 rounding helpers for scales ----

constexpr float kF16Max = 65504.0f;

float clamp_f16_range(float v) { return v > kF16Max ? kF16Max : (v < -kF16Max ? -kF16Max : v); }

std::uint16_t f16_next_up(std::uint16_t h) {
  if (h == 0x8000u) return 0x0001u;
  return (h & 0x8000u) ? static_cast<std::uint16_t>(h - 1) : static_cast<std::uint16_t>(h + 1);
}
std::uint16_t f16_next_down(std::uint16_t h) {
  if (h == 0x0000u) return 0x8001u;
  return (h & 0x8000u) ? static_cast<std::uint16_t>(h + 1) : static_cast<std::uint16_t>(h - 1);
}
// Smallest f16 >= v (v finite; saturates at +-65504).
std::uint16_t f16_ceil(float v) {
  v = clamp_f16_range(v);
  std::uint16_t h = f32_to_f16(v);
  if (f16_to_f32(h) < v) h = f16_next_up(h);
  return h;
}
// Largest f16 <= v (v finite; saturates at +-65504).
std::uint16_t f16_floor(float v) {
  v = clamp_f16_range(v);
  std::uint16_t h = f32_to_f16(v);
  if (f16_to_f32(h) > v) h = f16_next_down(h);
  return h;
}
// The f16 of v's sign with the smallest magnitude >= |v|.
std::uint16_t f16_away(float v) { return v >= 0 ? f16_ceil(v) : f16_floor(v); }

// round-to-nearest (ties to even, the default floating-point environment) clamped to [lo, hi];
// NaN gives lo.
int round_clamp(float v, int lo, int hi) {
  const float r = std::nearbyint(v);
  if (!(r >= static_cast<float>(lo))) return lo;
  if (r > static_cast<float>(hi)) return hi;
  return static_cast<int>(r);
}

// Inputs beyond every format's range are clamped first so sums of squares cannot overflow.
constexpr float kInputClamp = 1.0e9f;
float clamp_input(float v) {
  return v > kInputClamp ? kInputClamp : (v < -kInputClamp ? -kInputClamp : (v == v ? v : 0.0f));
}

// ---- Q4_K / Q5_K 6-bit scale packing (ggml get_scale_min_k4) ----

void unpack_scale_min(const std::uint8_t* s, int i, int& sc, int& mn) {
  if (i < 4) {
    sc = s[i] & 63;
    mn = s[i + 4] & 63;
  } else {
    sc = (s[i + 4] & 15) | ((s[i - 4] >> 6) << 4);
    mn = (s[i + 4] >> 4) | ((s[i] >> 6) << 4);
  }
}

void pack_scale_mins(const int* sc, const int* mn, std::uint8_t* s) {
  std::memset(s, 0, 12);
  for (int i = 0; i < 8; ++i) {
    if (i < 4) {
      s[i] |= static_cast<std::uint8_t>(sc[i] & 63);
      s[i + 4] |= static_cast<std::uint8_t>(mn[i] & 63);
    } else {
      s[i + 4] = static_cast<std::uint8_t>((sc[i] & 15) | ((mn[i] & 15) << 4));
      s[i - 4] |= static_cast<std::uint8_t>((sc[i] >> 4) << 6);
      s[i] |= static_cast<std::uint8_t>((mn[i] >> 4) << 6);
    }
  }
}

// ======================= dequantisation (one block each) =======================

void deq_q8_0(const std::uint8_t* b, float* y) {
  const float d = load_h(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(b[2 + j])) * d;
}

void deq_q8_0f(const std::uint8_t* b, float* y) {
  const float d = load_f32(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(b[4 + j])) * d;
}

void deq_q4_0(const std::uint8_t* b, float* y) {
  const float d = load_h(b);
  const std::uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 15) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void deq_q4_1(const std::uint8_t* b, float* y) {
  const float d = load_h(b), m = load_h(b + 2);
  const std::uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 15) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16.
void deq_q4_k(const std::uint8_t* b, float* y) {
  const float d = load_h(b), dmin = load_h(b + 2);
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* qs = b + 16;
  for (int g = 0; g < 4; ++g) {
    int sc0, mn0, sc1, mn1;
    unpack_scale_min(scales, 2 * g, sc0, mn0);
    unpack_scale_min(scales, 2 * g + 1, sc1, mn1);
    const float d0 = d * static_cast<float>(sc0), m0 = dmin * static_cast<float>(mn0);
    const float d1 = d * static_cast<float>(sc1), m1 = dmin * static_cast<float>(mn1);
    const std::uint8_t* q = qs + 32 * g;
    float* out = y + 64 * g;
    for (int l = 0; l < 32; ++l) out[l] = d0 * static_cast<float>(q[l] & 15) - m0;
    for (int l = 0; l < 32; ++l) out[32 + l] = d1 * static_cast<float>(q[l] >> 4) - m1;
  }
}

// Q5_K: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48.
void deq_q5_k(const std::uint8_t* b, float* y) {
  const float d = load_h(b), dmin = load_h(b + 2);
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* qh = b + 16;
  const std::uint8_t* qs = b + 48;
  for (int g = 0; g < 4; ++g) {
    int sc0, mn0, sc1, mn1;
    unpack_scale_min(scales, 2 * g, sc0, mn0);
    unpack_scale_min(scales, 2 * g + 1, sc1, mn1);
    const float d0 = d * static_cast<float>(sc0), m0 = dmin * static_cast<float>(mn0);
    const float d1 = d * static_cast<float>(sc1), m1 = dmin * static_cast<float>(mn1);
    const std::uint8_t* q = qs + 32 * g;
    float* out = y + 64 * g;
    for (int l = 0; l < 32; ++l) {
      const int v = (q[l] & 15) | (((qh[l] >> (2 * g)) & 1) << 4);
      out[l] = d0 * static_cast<float>(v) - m0;
    }
    for (int l = 0; l < 32; ++l) {
      const int v = (q[l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4);
      out[32 + l] = d1 * static_cast<float>(v) - m1;
    }
  }
}

// Q6_K: ql[128] @0, qh[64] @128, scales[16] (int8) @192, d @208.
void deq_q6_k(const std::uint8_t* b, float* y) {
  const std::uint8_t* ql = b;
  const std::uint8_t* qh = b + 128;
  const std::uint8_t* sc = b + 192;
  const float d = load_h(b + 208);
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t lo0 = ql[64 * h + l], lo1 = ql[64 * h + 32 + l], hi = qh[32 * h + l];
      const int q[4] = {(lo0 & 15) | (((hi >> 0) & 3) << 4), (lo1 & 15) | (((hi >> 2) & 3) << 4),
                        (lo0 >> 4) | (((hi >> 4) & 3) << 4), (lo1 >> 4) | (((hi >> 6) & 3) << 4)};
      for (int k = 0; k < 4; ++k) {
        const int e = 128 * h + 32 * k + l;
        const float ds = d * static_cast<float>(static_cast<std::int8_t>(sc[e / 16]));
        y[e] = ds * static_cast<float>(q[k] - 32);
      }
    }
  }
}

// ======================= quantisation (one block each) =======================

void quant_q8_0(const float* x, std::uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(clamp_input(x[j])));
  const std::uint16_t h = f16_ceil(amax / 127.0f);
  const float d = f16_to_f32(h);
  const float id = d > 0 ? 1.0f / d : 0.0f;
  store_u16(b, h);
  for (int j = 0; j < 32; ++j) {
    b[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(round_clamp(clamp_input(x[j]) * id, -127, 127)));
  }
}

void quant_q8_0f(const float* x, std::uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(clamp_input(x[j])));
  const float d = amax / 127.0f;
  store_f32(b, d);
  for (int j = 0; j < 32; ++j) {
    const int q = d > 0 ? round_clamp(clamp_input(x[j]) / d, -127, 127) : 0;
    b[4 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
  }
}

void quant_q4_0(const float* x, std::uint8_t* b) {
  float amax = 0.0f, m = 0.0f;  // m: the first element of largest magnitude
  for (int j = 0; j < 32; ++j) {
    const float v = clamp_input(x[j]);
    if (std::fabs(v) > amax) {
      amax = std::fabs(v);
      m = v;
    }
  }
  const std::uint16_t h = f16_away(m / -8.0f);
  const float d = f16_to_f32(h);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_u16(b, h);
  std::uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    const int q0 = round_clamp(std::floor(clamp_input(x[j]) * id + 8.5f), 0, 15);
    const int q1 = round_clamp(std::floor(clamp_input(x[j + 16]) * id + 8.5f), 0, 15);
    qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
  }
}

void quant_q4_1(const float* x, std::uint8_t* b) {
  float lo = clamp_input(x[0]), hi = lo;
  for (int j = 1; j < 32; ++j) {
    const float v = clamp_input(x[j]);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const std::uint16_t hm = f16_floor(lo);
  const float m = f16_to_f32(hm);
  const std::uint16_t hd = f16_ceil((hi - m) / 15.0f);
  const float d = f16_to_f32(hd);
  const float id = d > 0 ? 1.0f / d : 0.0f;
  store_u16(b, hd);
  store_u16(b + 2, hm);
  std::uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    const int q0 = round_clamp((clamp_input(x[j]) - m) * id, 0, 15);
    const int q1 = round_clamp((clamp_input(x[j + 16]) - m) * id, 0, 15);
    qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
  }
}

// ---- K-quant helpers ----

// x ~= scale * q - min with q in [0, nmax], scale >= 0, min >= 0.
struct AffineFit {
  float scale = 0.0f;
  float min = 0.0f;
};

// The least-squares search of step 1 (q4_k / q5_k) on n values with lo = min(0, min x) and
// hi = max x already computed.
AffineFit fit_affine(const float* x, int n, int nmax, float lo, float hi) {
  AffineFit best{0.0f, -lo};
  if (!(hi > lo)) return best;  // constant block <= 0: every value is -min
  float sum_x = 0, sum_x2 = 0;
  for (int i = 0; i < n; ++i) {
    sum_x += x[i];
    sum_x2 += x[i] * x[i];
  }
  const float fn = static_cast<float>(n);
  // Squared error of x ~= a q + c given the sums of q, q^2 and q x.
  auto sse = [&](float a, float c, float sq, float sq2, float sqx) {
    return sum_x2 - 2 * a * sqx - 2 * c * sum_x + a * a * sq2 + 2 * a * c * sq + fn * c * c;
  };
  float best_err = INFINITY;
  for (const float delta : {0.0f, 0.5f, 1.0f, 2.0f}) {
    const float s = (hi - lo) / (static_cast<float>(nmax) + delta);
    const float is = 1.0f / s;
    float sq = 0, sq2 = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const float q = static_cast<float>(round_clamp((x[i] - lo) * is, 0, nmax));
      sq += q;
      sq2 += q * q;
      sqx += q * x[i];
    }
    // The grid itself (offset lo) ...
    if (const float e = sse(s, lo, sq, sq2, sqx); e < best_err) {
      best_err = e;
      best = {s, -lo};
    }
    // ... and its least-squares refit, offset constrained to <= 0.
    const float det = fn * sq2 - sq * sq;
    if (det > 0) {
      float a = (fn * sqx - sq * sum_x) / det;
      float c = (sq2 * sum_x - sq * sqx) / det;
      if (c > 0) {
        c = 0;
        a = sq2 > 0 ? sqx / sq2 : 0;
      }
      if (a > 0 && std::isfinite(a) && std::isfinite(c)) {
        if (const float e = sse(a, c, sq, sq2, sqx); e < best_err) {
          best_err = e;
          best = {a, -c};
        }
      }
    }
  }
  return best;
}

// Quantises one super-block of 256 "type-1" values (q4_k: nmax 15, q5_k: nmax 31) into the
// f16 scales d / dmin, 8 6-bit (sc, mn) pairs and the 256 levels L.
void quant_type1_superblock(const float* x_in, int nmax, std::uint16_t& hd, std::uint16_t& hdmin,
                            int* sc, int* mn, std::uint8_t* L) {
  float x[kQK];
  for (int i = 0; i < kQK; ++i) x[i] = clamp_input(x_in[i]);
  float lo[8], hi[8];
  AffineFit fit[8];
  float max_min = 0, max_scale = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float mn_v = xs[0], mx_v = xs[0];
    for (int i = 1; i < 32; ++i) {
      mn_v = std::min(mn_v, xs[i]);
      mx_v = std::max(mx_v, xs[i]);
    }
    lo[j] = std::min(mn_v, 0.0f);
    hi[j] = mx_v;
    fit[j] = fit_affine(xs, 32, nmax, lo[j], hi[j]);
    max_min = std::max({max_min, fit[j].min, -lo[j]});
  }
  hdmin = f16_ceil(max_min / 63.0f);
  const float dmin = f16_to_f32(hdmin);
  int mn_cover[8];
  float cover[8];
  for (int j = 0; j < 8; ++j) {
    mn_cover[j] = dmin > 0 ? std::min(63, static_cast<int>(std::ceil(-lo[j] / dmin))) : 0;
    cover[j] = std::max(0.0f, (hi[j] + dmin * static_cast<float>(mn_cover[j])) / static_cast<float>(nmax));
    max_scale = std::max({max_scale, fit[j].scale, cover[j]});
  }
  hd = f16_ceil(max_scale / 63.0f);
  const float d = f16_to_f32(hd);

  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    auto clamp63 = [](float v) { return std::clamp(static_cast<int>(v), 0, 63); };
    int cand_sc[5], cand_mn[5];
    cand_sc[0] = d > 0 ? clamp63(std::ceil(cover[j] / d)) : 0;
    cand_mn[0] = mn_cover[j];
    const int sc_f = d > 0 ? clamp63(std::floor(fit[j].scale / d)) : 0;
    const int mn_f = dmin > 0 ? clamp63(std::floor(fit[j].min / dmin)) : 0;
    for (int c = 0; c < 4; ++c) {
      cand_sc[1 + c] = std::min(63, sc_f + (c & 1));
      cand_mn[1 + c] = std::min(63, mn_f + (c >> 1));
    }
    float best_err = INFINITY;
    for (int c = 0; c < 5; ++c) {
      const float ds = d * static_cast<float>(cand_sc[c]);
      const float ms = dmin * static_cast<float>(cand_mn[c]);
      const float ids = ds > 0 ? 1.0f / ds : 0.0f;
      float err = 0;
      std::uint8_t q[32];
      for (int i = 0; i < 32; ++i) {
        q[i] = static_cast<std::uint8_t>(round_clamp((xs[i] + ms) * ids, 0, nmax));
        const float e = ds * static_cast<float>(q[i]) - ms - xs[i];
        err += e * e;
      }
      if (err < best_err) {
        best_err = err;
        sc[j] = cand_sc[c];
        mn[j] = cand_mn[c];
        std::memcpy(L + 32 * j, q, 32);
      }
    }
  }
}

void quant_q4_k(const float* x, std::uint8_t* b) {
  std::uint16_t hd, hdmin;
  int sc[8], mn[8];
  std::uint8_t L[kQK];
  quant_type1_superblock(x, 15, hd, hdmin, sc, mn, L);
  store_u16(b, hd);
  store_u16(b + 2, hdmin);
  pack_scale_mins(sc, mn, b + 4);
  std::uint8_t* qs = b + 16;
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * g + l] = static_cast<std::uint8_t>(L[64 * g + l] | (L[64 * g + 32 + l] << 4));
    }
  }
}

void quant_q5_k(const float* x, std::uint8_t* b) {
  std::uint16_t hd, hdmin;
  int sc[8], mn[8];
  std::uint8_t L[kQK];
  quant_type1_superblock(x, 31, hd, hdmin, sc, mn, L);
  store_u16(b, hd);
  store_u16(b + 2, hdmin);
  pack_scale_mins(sc, mn, b + 4);
  std::uint8_t* qh = b + 16;
  std::uint8_t* qs = b + 48;
  std::memset(qh, 0, 32);
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      const int v0 = L[64 * g + l], v1 = L[64 * g + 32 + l];
      qs[32 * g + l] = static_cast<std::uint8_t>((v0 & 15) | ((v1 & 15) << 4));
      qh[l] |= static_cast<std::uint8_t>(((v0 >> 4) << (2 * g)) | ((v1 >> 4) << (2 * g + 1)));
    }
  }
}

// Step 1 of q6_k on n values: x ~= s * l, l in [-32, 31]. Returns s (signed; 0 for all-zero).
float fit_symmetric(const float* x, int n, float m) {
  if (m == 0) return 0.0f;
  float sum_x2 = 0;
  for (int i = 0; i < n; ++i) sum_x2 += x[i] * x[i];
  float best = m / -32.0f, best_err = INFINITY;
  for (const float delta : {-0.5f, 0.0f, 1.0f, 2.0f}) {
    const float s = m / -(32.0f + delta);
    const float is = 1.0f / s;
    float sl2 = 0, slx = 0;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(round_clamp(x[i] * is, -32, 31));
      sl2 += l * l;
      slx += l * x[i];
    }
    if (const float e = sum_x2 - 2 * s * slx + s * s * sl2; e < best_err) {
      best_err = e;
      best = s;
    }
    if (sl2 > 0) {
      const float a = slx / sl2;  // least-squares scale for this assignment
      if (const float e = sum_x2 - a * slx; e < best_err && std::isfinite(a) && a != 0) {
        best_err = e;
        best = a;
      }
    }
  }
  return best;
}

void quant_q6_k(const float* x_in, std::uint8_t* b) {
  float x[kQK];
  for (int i = 0; i < kQK; ++i) x[i] = clamp_input(x_in[i]);
  float scale[16], cover[16], sign_m[16];
  float max_scale = 0;
  for (int j = 0; j < 16; ++j) {
    const float* xs = x + 16 * j;
    float amax = 0, m = 0;
    for (int i = 0; i < 16; ++i) {
      if (std::fabs(xs[i]) > amax) {
        amax = std::fabs(xs[i]);
        m = xs[i];
      }
    }
    float opp = 0;  // largest magnitude of the sign opposite to m
    for (int i = 0; i < 16; ++i) {
      if ((m > 0 && xs[i] < 0) || (m < 0 && xs[i] > 0)) opp = std::max(opp, std::fabs(xs[i]));
    }
    sign_m[j] = m < 0 ? -1.0f : 1.0f;
    scale[j] = fit_symmetric(xs, 16, m);
    cover[j] = std::max(amax / 32.0f, opp / 31.5f);
    max_scale = std::max({max_scale, std::fabs(scale[j]), cover[j]});
  }
  const std::uint16_t hd = f16_ceil(max_scale / 127.0f);
  const float d = f16_to_f32(hd);
  std::uint8_t L[kQK];
  std::int8_t sc[16];
  for (int j = 0; j < 16; ++j) {
    const float* xs = x + 16 * j;
    auto clamp127 = [](float v) { return std::clamp(static_cast<int>(v), -127, 127); };
    int cand[3];
    cand[0] = d > 0 ? clamp127(-sign_m[j] * std::ceil(cover[j] / d)) : 0;
    const int f = d > 0 ? clamp127(std::floor(scale[j] / d)) : 0;
    cand[1] = f;
    cand[2] = std::min(127, f + 1);
    float best_err = INFINITY;
    for (int c = 0; c < 3; ++c) {
      const float ds = d * static_cast<float>(cand[c]);
      const float ids = ds != 0 ? 1.0f / ds : 0.0f;
      float err = 0;
      std::uint8_t q[16];
      for (int i = 0; i < 16; ++i) {
        const int l = round_clamp(xs[i] * ids, -32, 31);
        q[i] = static_cast<std::uint8_t>(l + 32);
        const float e = ds * static_cast<float>(l) - xs[i];
        err += e * e;
      }
      if (err < best_err) {
        best_err = err;
        sc[j] = static_cast<std::int8_t>(cand[c]);
        std::memcpy(L + 16 * j, q, 16);
      }
    }
  }
  std::uint8_t* ql = b;
  std::uint8_t* qh = b + 128;
  std::memset(qh, 0, 64);
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int q0 = L[128 * h + l], q1 = L[128 * h + 32 + l], q2 = L[128 * h + 64 + l],
                q3 = L[128 * h + 96 + l];
      ql[64 * h + l] = static_cast<std::uint8_t>((q0 & 15) | ((q2 & 15) << 4));
      ql[64 * h + 32 + l] = static_cast<std::uint8_t>((q1 & 15) | ((q3 & 15) << 4));
      qh[32 * h + l] = static_cast<std::uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) |
                                                 ((q3 >> 4) << 6));
    }
  }
  for (int j = 0; j < 16; ++j) b[192 + j] = static_cast<std::uint8_t>(sc[j]);
  store_u16(b + 208, hd);
}

// f16 / bf16 with saturation instead of overflow to inf (NaN stays NaN).
std::uint16_t f16_saturating(float v) { return f32_to_f16(v == v ? clamp_f16_range(v) : v); }
std::uint16_t bf16_saturating(float v) {
  const std::uint16_t b = f32_to_bf16(v);
  if (std::isfinite(v) && (b & 0x7fffu) == 0x7f80u) return static_cast<std::uint16_t>((b & 0x8000u) | 0x7f7fu);
  return b;
}

}  // namespace

const DTypeTraits& dtype_traits(DType t) {
  const auto i = static_cast<std::size_t>(t);
  SPECLAB_ASSERT(i < kTraits.size());
  return kTraits[i];
}

std::string_view dtype_name(DType t) { return dtype_traits(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeTraits& tr : kTraits) {
    const std::string_view n = tr.name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (std::size_t i = 0; i < n.size() && eq; ++i) {
      eq = std::tolower(static_cast<unsigned char>(name[i])) == n[i];
    }
    if (eq) return tr.type;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml(std::uint32_t ggml_id) {
  for (const DTypeTraits& tr : kTraits) {
    if (tr.ggml_id >= 0 && static_cast<std::uint32_t>(tr.ggml_id) == ggml_id) return tr.type;
  }
  return std::nullopt;
}

std::string dtype_names() {
  std::string s;
  for (const DTypeTraits& tr : kTraits) {
    if (tr.type == DType::kQ8_0F) continue;
    if (!s.empty()) s += ", ";
    s += tr.name;
  }
  return s;
}

bool dtype_fits(DType t, std::int64_t cols) {
  return cols >= 0 && cols % dtype_traits(t).block_elems == 0;
}

std::size_t dtype_row_bytes(DType t, std::int64_t cols) {
  const DTypeTraits& tr = dtype_traits(t);
  if (!dtype_fits(t, cols)) {
    fail("dtype {}: a row of {} weights is not a whole number of {}-weight blocks", tr.name, cols,
         tr.block_elems);
  }
  return static_cast<std::size_t>(cols / tr.block_elems) * static_cast<std::size_t>(tr.block_bytes);
}

void dequantize_row(DType t, const void* src, float* dst, std::int64_t n) {
  const DTypeTraits& tr = dtype_traits(t);
  SPECLAB_ASSERT(n >= 0 && n % tr.block_elems == 0);
  const auto* s = static_cast<const std::uint8_t*>(src);
  const std::int64_t nb = n / tr.block_elems;
  switch (t) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, s, static_cast<std::size_t>(n) * 4);
      return;
    case DType::kF16:
      for (std::int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(s + 2 * i));
      return;
    case DType::kBF16:
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(s + 2 * i));
      return;
    default:
      break;
  }
  void (*deq)(const std::uint8_t*, float*) = nullptr;
  switch (t) {
    case DType::kQ8_0: deq = deq_q8_0; break;
    case DType::kQ8_0F: deq = deq_q8_0f; break;
    case DType::kQ4_0: deq = deq_q4_0; break;
    case DType::kQ4_1: deq = deq_q4_1; break;
    case DType::kQ4_K: deq = deq_q4_k; break;
    case DType::kQ5_K: deq = deq_q5_k; break;
    case DType::kQ6_K: deq = deq_q6_k; break;
    default: SPECLAB_ASSERT(false);
  }
  for (std::int64_t i = 0; i < nb; ++i) deq(s + i * tr.block_bytes, dst + i * tr.block_elems);
}

void quantize_row(DType t, const float* src, void* dst, std::int64_t n) {
  const DTypeTraits& tr = dtype_traits(t);
  SPECLAB_ASSERT(n >= 0 && n % tr.block_elems == 0);
  auto* d = static_cast<std::uint8_t*>(dst);
  const std::int64_t nb = n / tr.block_elems;
  switch (t) {
    case DType::kF32:
      if (n > 0) std::memcpy(d, src, static_cast<std::size_t>(n) * 4);
      return;
    case DType::kF16:
      for (std::int64_t i = 0; i < n; ++i) store_u16(d + 2 * i, f16_saturating(src[i]));
      return;
    case DType::kBF16:
      for (std::int64_t i = 0; i < n; ++i) store_u16(d + 2 * i, bf16_saturating(src[i]));
      return;
    default:
      break;
  }
  void (*q)(const float*, std::uint8_t*) = nullptr;
  switch (t) {
    case DType::kQ8_0: q = quant_q8_0; break;
    case DType::kQ8_0F: q = quant_q8_0f; break;
    case DType::kQ4_0: q = quant_q4_0; break;
    case DType::kQ4_1: q = quant_q4_1; break;
    case DType::kQ4_K: q = quant_q4_k; break;
    case DType::kQ5_K: q = quant_q5_k; break;
    case DType::kQ6_K: q = quant_q6_k; break;
    default: SPECLAB_ASSERT(false);
  }
  for (std::int64_t i = 0; i < nb; ++i) q(src + i * tr.block_elems, d + i * tr.block_bytes);
}

}  // namespace speclab
