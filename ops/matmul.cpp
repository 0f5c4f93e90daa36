// The matmul kernel (declared in ops/matmul.h): register-tiled Y = X W^T with explicit SIMD
// (AVX-512, AVX2+FMA, or scalar), fixed per-element summation order, OpenMP over fixed blocks.
#include "ops/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "base/error.h"

namespace speclab {

namespace {

// ---------------------------------------------------------------------------------------------
// SIMD lane abstraction for the matmul kernel: kLanes floats per vector, fused multiply-add.
#if defined(__AVX512F__)
using VecF = __m512;
constexpr int kLanes = 16;
inline VecF vzero() { return _mm512_setzero_ps(); }
inline VecF vload(const float* p) { return _mm512_loadu_ps(p); }
inline VecF vfma(VecF a, VecF b, VecF c) { return _mm512_fmadd_ps(a, b, c); }
#elif defined(__AVX2__) && defined(__FMA__)
using VecF = __m256;
constexpr int kLanes = 8;
inline VecF vzero() { return _mm256_setzero_ps(); }
inline VecF vload(const float* p) { return _mm256_loadu_ps(p); }
inline VecF vfma(VecF a, VecF b, VecF c) { return _mm256_fmadd_ps(a, b, c); }
#else
using VecF = float;
constexpr int kLanes = 1;
inline VecF vzero() { return 0.0f; }
inline VecF vload(const float* p) { return *p; }
inline VecF vfma(VecF a, VecF b, VecF c) { return a * b + c; }
#endif

// Sum of the lanes in a fixed pairwise (tree) order.
#if defined(__AVX512F__)
inline float hsum(VecF v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}
#elif defined(__AVX2__) && defined(__FMA__)
inline float hsum(VecF v) {
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}
#else
inline float hsum(VecF v) { return v; }
#endif

// Keeps a loaded vector in a register. Without it GCC folds the loads into the FMAs' memory
// operands, re-loading every X and W vector once per FMA (R*C loads instead of R+C per step),
// which makes the tile load-bound at about half the FMA peak.
#if (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))) && defined(__GNUC__)
inline void pin_register(VecF& v) { asm("" : "+v"(v)); }
#else
inline void pin_register(VecF&) {}
#endif

// One R x C tile of Y = X W^T: rows r of W ([R, n_in], stride n_in) against tokens c of X
// ([C, n_in], stride n_in); writes y[c * ldy + r]. Every output element is computed by the same
// sequence (lane-wise FMA over whole vectors, pairwise lane sum, then the scalar tail), whatever
// R and C, so results do not depend on tiling, batch size or threads.
// prefetch: if non-null, the next row group's weights ([R, n_in], stride n_in), fetched into
// cache a little ahead while this tile computes (hides DRAM latency of batched products).
// Floats ahead (within the next row group) that the first token tile prefetches.
constexpr int kPrefetchAhead = 128;

template <int R, int C>
inline void matmul_tile(const float* w, const float* x, int n_in, float* y, int ldy,
                        const float* prefetch = nullptr) {
  VecF acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = vzero();
  int k = 0;
  for (; k + kLanes <= n_in; k += kLanes) {
    VecF xv[C];
    for (int c = 0; c < C; ++c) {
      xv[c] = vload(x + static_cast<std::size_t>(c) * n_in + k);
      pin_register(xv[c]);
    }
    for (int r = 0; r < R; ++r) {
      if (prefetch != nullptr) {
        __builtin_prefetch(prefetch + static_cast<std::size_t>(r) * n_in + k + kPrefetchAhead);
      }
      VecF wv = vload(w + static_cast<std::size_t>(r) * n_in + k);
      pin_register(wv);
      for (int c = 0; c < C; ++c) acc[r][c] = vfma(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float s = hsum(acc[r][c]);
      const float* wr = w + static_cast<std::size_t>(r) * n_in;
      const float* xc = x + static_cast<std::size_t>(c) * n_in;
      for (int kk = k; kk < n_in; ++kk) s += wr[kk] * xc[kk];
      y[static_cast<std::size_t>(c) * ldy + r] = s;
    }
  }
}

template <int R>
inline void matmul_rows(const float* w, const float* x, int n, int n_in, float* y, int ldy,
                        const float* prefetch = nullptr) {
  constexpr int kTok = 4;
  int t = 0;
  for (; t + kTok <= n; t += kTok) {
    matmul_tile<R, kTok>(w, x + static_cast<std::size_t>(t) * n_in, n_in,
                         y + static_cast<std::size_t>(t) * ldy, ldy, t == 0 ? prefetch : nullptr);
  }
  const float* xt = x + static_cast<std::size_t>(t) * n_in;
  float* yt = y + static_cast<std::size_t>(t) * ldy;
  switch (n - t) {
    case 1: matmul_tile<R, 1>(w, xt, n_in, yt, ldy); break;
    case 2: matmul_tile<R, 2>(w, xt, n_in, yt, ldy); break;
    case 3: matmul_tile<R, 3>(w, xt, n_in, yt, ldy); break;
    default: break;
  }
}

// Fixed row-block size: the unit of work handed to threads. Independent of the thread count.
constexpr int kRowBlock = 16;
constexpr int kRowGroup = 4;
constexpr int kSmallBatch = 4;
// Below this many multiply-adds a matmul runs on the calling thread: forking costs more than
// it saves (tiny draft models). Does not change results (see matmul_tile).
constexpr std::int64_t kParallelMinMacs = std::int64_t(1) << 18;

// Rows [r0, r1) of one job.
void matmul_block(const float* x, int n, int n_in, const MatJob& job, int r0, int r1) {
  int r = r0;
  // Few tokens: memory-bound, and one weight row at a time is a single sequential stream that
  // the hardware prefetcher follows best (~1.5x the bandwidth of 4 interleaved row streams).
  const int group = n <= kSmallBatch ? 1 : kRowGroup;
  for (; group > 1 && r + kRowGroup <= r1; r += kRowGroup) {
    const float* next = r + 2 * kRowGroup < job.n_out
                            ? job.w + static_cast<std::size_t>(r + kRowGroup) * n_in
                            : nullptr;
    matmul_rows<kRowGroup>(job.w + static_cast<std::size_t>(r) * n_in, x, n, n_in, job.y + r,
                           job.n_out, next);
  }
  for (; r < r1; ++r) {
    matmul_rows<1>(job.w + static_cast<std::size_t>(r) * n_in, x, n, n_in, job.y + r, job.n_out);
  }
  if (job.bias != nullptr) {
    for (int t = 0; t < n; ++t) {
      float* yt = job.y + static_cast<std::size_t>(t) * job.n_out;
      for (int rr = r0; rr < r1; ++rr) yt[rr] += job.bias[rr];
    }
  }
}

}  // namespace

// Runs jobs[0..n_jobs) (n_jobs <= 3) over fixed blocks of kRowBlock output rows, split among
// n_threads by a static schedule over the concatenated blocks.
void matmul_jobs(const float* x, int n, int n_in, const MatJob* jobs, int n_jobs, int n_threads) {
  SPECLAB_ASSERT(n_jobs >= 1 && n_jobs <= 3);
  int first_block[4] = {0, 0, 0, 0};
  std::int64_t macs = 0;
  for (int j = 0; j < n_jobs; ++j) {
    first_block[j + 1] = first_block[j] + (jobs[j].n_out + kRowBlock - 1) / kRowBlock;
    macs += static_cast<std::int64_t>(n) * jobs[j].n_out * n_in;
  }
  const int n_blocks = first_block[n_jobs];
  const bool parallel = macs >= kParallelMinMacs;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (parallel)
  for (int b = 0; b < n_blocks; ++b) {
    int j = 0;
    while (b >= first_block[j + 1]) ++j;
    const int r0 = (b - first_block[j]) * kRowBlock;
    matmul_block(x, n, n_in, jobs[j], r0, std::min(jobs[j].n_out, r0 + kRowBlock));
  }
}

void matmul(const float* x, int n, const float* w, int n_out, int n_in, const float* bias,
            float* y, int n_threads) {
  const MatJob job{w, n_out, bias, y};
  matmul_jobs(x, n, n_in, &job, 1, n_threads);
}

}  // namespace speclab
