// The matmul driver (declared in ops/matmul.h): ISA selection, activation quantisation, and
// OpenMP over fixed row blocks calling the per-type, per-ISA tile kernels of
// ops/matmul_kernels.h.
#include "ops/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "ops/matmul_kernels.h"

namespace speclab {

namespace {

using kernels::ActQ8Block;
using kernels::KernelTable;
using kernels::TileFn;

// F16C is not tested: every CPU with AVX2 has it (it came with Ivy Bridge / Piledriver, before
// AVX2), and clang's __builtin_cpu_supports does not know the name.
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_has_avx512() {
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
}

// Immutable tables, one per ISA, each built on first use of its ISA only: a fill function is
// compiled with its ISA's flags (the compiler may use e.g. AVX-512 stores inside it), so it
// must never run on a CPU without that ISA. Callers check isa_supported first.
const KernelTable& table(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: {
      static const KernelTable t = [] { KernelTable k{}; kernels::fill_avx512(k); return k; }();
      return t;
    }
    case Isa::kAvx2: {
      static const KernelTable t = [] { KernelTable k{}; kernels::fill_avx2(k); return k; }();
      return t;
    }
    default: {
      static const KernelTable t = [] { KernelTable k{}; kernels::fill_scalar(k); return k; }();
      return t;
    }
  }
}

Isa auto_isa() {
  static const Isa chosen = [] {
    const char* env = std::getenv("SPECLAB_ISA");
    if (env != nullptr && *env != '\0') {
      const std::string_view v(env);
      Isa isa = Isa::kAuto;
      if (v == "scalar") isa = Isa::kScalar;
      else if (v == "avx2") isa = Isa::kAvx2;
      else if (v == "avx512") isa = Isa::kAvx512;
      else fail("environment SPECLAB_ISA = {}: unknown ISA (scalar, avx2, avx512)", v);
      if (!isa_supported(isa)) {
        fail("environment SPECLAB_ISA = {}: this CPU does not support it", v);
      }
      return isa;
    }
    if (cpu_has_avx512()) return Isa::kAvx512;
    if (cpu_has_avx2()) return Isa::kAvx2;
    return Isa::kScalar;
  }();
  return chosen;
}

bool uses_int8_activations(DType t) {
  return t != DType::kF32 && t != DType::kF16 && t != DType::kBF16;
}

// Quantises rows x[n, n_in] (n_in % 32 == 0) to int8 activation rows (n_in / 32 blocks each,
// then their flat d and s arrays: ops/matmul_kernels.h act_row_bytes).
void quantize_activations(const float* x, int n, int n_in, std::uint8_t* out) {
  const int nb = n_in / 32;
  for (int t = 0; t < n; ++t) {
    const float* xr = x + static_cast<std::size_t>(t) * n_in;
    std::uint8_t* row = out + static_cast<std::size_t>(t) * kernels::act_row_bytes(nb);
    auto* br = reinterpret_cast<ActQ8Block*>(row);
    auto* flat = reinterpret_cast<float*>(row + static_cast<std::size_t>(nb) * sizeof(ActQ8Block));
    for (int b = 0; b < nb; ++b) {
      const float* v = xr + 32 * b;
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[j]));
      const float d = amax / 127.0f;
      const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      std::int32_t sum = 0;
      for (int j = 0; j < 32; ++j) {
        const float q = std::nearbyint(v[j] * id);
        const auto qi = static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f));
        br[b].q[j] = qi;
        sum += qi;
      }
      br[b].d = d;
      br[b].s = d * static_cast<float>(sum);
      flat[b] = br[b].d;
      flat[nb + b] = br[b].s;
    }
  }
}

// Interleaves int8 activation rows [0, n_pairs * 2) pairwise (ops/matmul_kernels.h
// act_pair_bytes): quants as q + 128, scales as (d_2i, d_2i+1) per block.
void pair_activations(const std::uint8_t* xq, int n_pairs, int nb, std::uint8_t* out) {
  const std::size_t row_bytes = kernels::act_row_bytes(nb);
  for (int i = 0; i < n_pairs; ++i) {
    const auto* a = reinterpret_cast<const ActQ8Block*>(xq + static_cast<std::size_t>(2 * i) * row_bytes);
    const auto* b = reinterpret_cast<const ActQ8Block*>(xq + static_cast<std::size_t>(2 * i + 1) * row_bytes);
    std::uint8_t* pair = out + static_cast<std::size_t>(i) * kernels::act_pair_bytes(nb);
    auto* d = reinterpret_cast<float*>(pair + static_cast<std::size_t>(nb) * 64);
    for (int k = 0; k < nb; ++k) {
      std::uint8_t* q = pair + static_cast<std::size_t>(k) * 64;
      for (int j = 0; j < 32; ++j) {
        q[j] = static_cast<std::uint8_t>(a[k].q[j] + 128);
        q[32 + j] = static_cast<std::uint8_t>(b[k].q[j] + 128);
      }
      d[2 * k] = a[k].d;
      d[2 * k + 1] = b[k].d;
    }
  }
}

DecodeLayout auto_decode_layout() {
  static const DecodeLayout chosen = [] {
    const char* env = std::getenv("SPECLAB_DECODE");
    if (env != nullptr && *env != '\0') {
      const std::string_view v(env);
      if (v == "rows") return DecodeLayout::kRows;
      if (v == "groups") return DecodeLayout::kGroups;
      fail("environment SPECLAB_DECODE = {}: unknown decode layout (rows, groups)", v);
    }
    return DecodeLayout::kAuto;
  }();
  return chosen;
}

bool cpu_is_intel() {
  static const bool intel = __builtin_cpu_is("intel");
  return intel;
}

// Fixed row-block size: the unit of work handed to threads. Independent of the thread count.
constexpr int kRowBlock = 16;
constexpr int kRowGroup = 4;
constexpr int kTokenTile = 4;
// From 2 tokens on, groups of 4 rows, whose tiles prefetch the next group (2 and 4 tokens:
// 1.3-1.6x faster than row by row for f16 and q8_0 at the 1B shape, AMD EPYC Zen 5). One token:
// DecodeLayout (ops/matmul.h) decides.
// Below this many multiply-adds a matmul runs on the calling thread: forking costs more than
// it saves (tiny draft models). Does not change results.
constexpr std::int64_t kParallelMinMacs = std::int64_t(1) << 18;

struct PreparedJob {
  const kernels::TypeKernels* k;
  const std::uint8_t* x;  // activations in the format this type reads
  std::size_t x_stride;
  const std::uint8_t* x_pairs;  // paired activation rows for the pair tiles, or nullptr
  std::size_t pair_stride;
};

// Rows [r0, r1) of one job.
void run_block(const MatJob& job, const PreparedJob& pj, int n, int n_in, int r0, int r1, bool groups) {
  const WeightView& w = job.w;
  const kernels::TypeKernels& k = *pj.k;
  const std::size_t ldy = static_cast<std::size_t>(w.rows);
  auto tile = [&](TileFn f, int ri, int t) {
    f(w.row(ri), w.row_bytes, pj.x + static_cast<std::size_t>(t) * pj.x_stride, pj.x_stride, n_in,
      job.y + static_cast<std::size_t>(t) * w.rows + ri, ldy);
  };
  // Tokens [t0, n) of rows [ra, rb) with the 1- and 4-row tiles.
  auto rows = [&](int ra, int rb, int t0) {
    int r = ra;
    if (groups) {
      for (; r + kRowGroup <= rb; r += kRowGroup) {
        int t = t0;
        for (; t + kTokenTile <= n; t += kTokenTile) tile(k.tile[1][kTokenTile - 1], r, t);
        if (t < n) tile(k.tile[1][n - t - 1], r, t);
      }
    }
    for (; r < rb; ++r) {
      int t = t0;
      for (; t + kTokenTile <= n; t += kTokenTile) tile(k.tile[0][kTokenTile - 1], r, t);
      if (t < n) tile(k.tile[0][n - t - 1], r, t);
    }
  };
  if (pj.x_pairs != nullptr) {
    // Whole token pairs of whole row groups with the pair tiles (up to 8 tokens each), then an
    // odd last token of those rows, then the rows short of a group.
    const int n_pairs = n / 2;
    const int r_groups = r0 + (r1 - r0) / kRowGroup * kRowGroup;
    for (int r = r0; r < r_groups; r += kRowGroup) {
      for (int p = 0; p < n_pairs; p += 4) {
        const int np = std::min(4, n_pairs - p);
        k.pair_tile[np - 1](w.row(r), w.row_bytes, pj.x_pairs + static_cast<std::size_t>(p) * pj.pair_stride,
                            pj.pair_stride, n_in, job.y + static_cast<std::size_t>(2 * p) * w.rows + r, ldy);
      }
    }
    if (n % 2 != 0) rows(r0, r_groups, n - 1);
    rows(r_groups, r1, 0);
  } else {
    rows(r0, r1, 0);
  }
  if (job.bias != nullptr) {
    for (int t = 0; t < n; ++t) {
      float* yt = job.y + static_cast<std::size_t>(t) * w.rows;
      for (int rr = r0; rr < r1; ++rr) yt[rr] += job.bias[rr];
    }
  }
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAuto: return "auto";
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return cpu_has_avx512();
    case Isa::kAvx2: return cpu_has_avx2();
    default: return true;
  }
}

Isa resolve_isa(Isa isa) { return isa == Isa::kAuto ? auto_isa() : isa; }

std::string_view decode_layout_name(DecodeLayout layout) {
  switch (layout) {
    case DecodeLayout::kAuto: return "auto";
    case DecodeLayout::kRows: return "rows";
    case DecodeLayout::kGroups: return "groups";
  }
  return "?";
}

DecodeLayout resolve_decode_layout(DecodeLayout layout, DType dtype, Isa isa) {
  if (layout == DecodeLayout::kAuto) layout = auto_decode_layout();
  if (layout != DecodeLayout::kAuto) return layout;
  isa = resolve_isa(isa);
  if (isa == Isa::kAvx512 && cpu_is_intel()) return DecodeLayout::kGroups;
  if (isa == Isa::kAvx2 && !uses_int8_activations(dtype)) return DecodeLayout::kGroups;
  return DecodeLayout::kRows;
}

WeightView f32_view(const float* w, int rows, int cols) {
  return WeightView{DType::kF32, reinterpret_cast<const std::uint8_t*>(w), rows, cols,
                    static_cast<std::size_t>(cols) * sizeof(float)};
}

void matmul_jobs(const float* x, int n, int n_in, const MatJob* jobs, int n_jobs, int n_threads,
                 MatmulScratch* scratch, Isa isa, DecodeLayout layout) {
  SPECLAB_ASSERT(n_jobs >= 1 && n_jobs <= 3 && n >= 0);
  if (n == 0) return;
  isa = resolve_isa(isa);
  SPECLAB_ASSERT(isa_supported(isa));
  const KernelTable& kt = table(isa);

  bool need_q8 = false;
  for (int j = 0; j < n_jobs; ++j) {
    SPECLAB_ASSERT(jobs[j].w.cols == n_in);
    need_q8 = need_q8 || uses_int8_activations(jobs[j].w.dtype);
  }
  MatmulScratch local;
  const std::uint8_t* xq = nullptr;
  std::size_t xq_stride = 0;
  if (need_q8) {
    SPECLAB_ASSERT(n_in % 32 == 0);
    MatmulScratch& s = scratch != nullptr ? *scratch : local;
    xq_stride = kernels::act_row_bytes(n_in / 32);
    const std::size_t bytes = xq_stride * static_cast<std::size_t>(n);
    if (s.act.size() < bytes) s.act.resize(bytes);
    quantize_activations(x, n, n_in, s.act.data());
    xq = s.act.data();
  }

  PreparedJob prepared[3];
  int first_block[4] = {0, 0, 0, 0};
  std::int64_t macs = 0;
  const std::uint8_t* xpairs = nullptr;  // built on first use
  for (int j = 0; j < n_jobs; ++j) {
    const kernels::TypeKernels& k = kt.types[static_cast<int>(jobs[j].w.dtype)];
    if (k.tile[0][0] == nullptr) {
      fail("matmul: weight type {} has no {} kernel", dtype_name(jobs[j].w.dtype), kt.isa_name);
    }
    const bool q8 = uses_int8_activations(jobs[j].w.dtype);
    prepared[j] = PreparedJob{&k, q8 ? xq : reinterpret_cast<const std::uint8_t*>(x),
                              q8 ? xq_stride : static_cast<std::size_t>(n_in) * sizeof(float),
                              nullptr, 0};
    if (n >= 2 && k.pair_tile[0] != nullptr) {
      SPECLAB_ASSERT(q8);
      const int nb = n_in / 32;
      if (xpairs == nullptr) {
        MatmulScratch& s = scratch != nullptr ? *scratch : local;
        const std::size_t bytes = kernels::act_pair_bytes(nb) * static_cast<std::size_t>(n / 2);
        if (s.act_pairs.size() < bytes) s.act_pairs.resize(bytes);
        pair_activations(xq, n / 2, nb, s.act_pairs.data());
        xpairs = s.act_pairs.data();
      }
      prepared[j].x_pairs = xpairs;
      prepared[j].pair_stride = kernels::act_pair_bytes(nb);
    }
    first_block[j + 1] = first_block[j] + (jobs[j].w.rows + kRowBlock - 1) / kRowBlock;
    macs += static_cast<std::int64_t>(n) * jobs[j].w.rows * n_in;
  }
  const int n_blocks = first_block[n_jobs];
  bool groups[3] = {false, false, false};
  for (int j = 0; j < n_jobs; ++j) {
    groups[j] = n >= 2 || resolve_decode_layout(layout, jobs[j].w.dtype, isa) == DecodeLayout::kGroups;
  }
  const bool parallel = macs >= kParallelMinMacs && n_threads > 1;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (parallel)
  for (int b = 0; b < n_blocks; ++b) {
    int j = 0;
    while (b >= first_block[j + 1]) ++j;
    const int r0 = (b - first_block[j]) * kRowBlock;
    run_block(jobs[j], prepared[j], n, n_in, r0, std::min(jobs[j].w.rows, r0 + kRowBlock), groups[j]);
  }
}

void matmul(const float* x, int n, const WeightView& w, const float* bias, float* y,
            int n_threads, MatmulScratch* scratch, Isa isa) {
  const MatJob job{w, bias, y};
  matmul_jobs(x, n, w.cols, &job, 1, n_threads, scratch, isa);
}

void matmul(const float* x, int n, const float* w, int n_out, int n_in, const float* bias,
            float* y, int n_threads, Isa isa) {
  matmul(x, n, f32_view(w, n_out, n_in), bias, y, n_threads, nullptr, isa);
}

}  // namespace speclab
