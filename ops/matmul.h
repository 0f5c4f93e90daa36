// Y[n, n_out] = X[n, n_in] * W[n_out, n_in]^T (+ bias[n_out]), all row-major fp32: the kernel
// behind LlamaModel's projections and classifier, also used by the draft heads. Register-tiled
// with explicit SIMD; every output element is computed by the same sequence of operations
// whatever n, the tiling or the thread count, so results are bit-reproducible. Memory-bound
// for small n (the weights stream once per call, however many rows X has).
#pragma once

namespace speclab {

// One product of several sharing the same X (e.g. q, k, v): y = x w^T (+ bias).
struct MatJob {
  const float* w;     // [n_out, n_in]
  int n_out;
  const float* bias;  // [n_out] or nullptr
  float* y;           // [n, n_out]
};

// Runs jobs[0..n_jobs) (1 <= n_jobs <= 3) in one parallel region of n_threads (small products
// run on the calling thread).
void matmul_jobs(const float* x, int n, int n_in, const MatJob* jobs, int n_jobs, int n_threads);

// y[n, n_out] = x[n, n_in] w[n_out, n_in]^T (+ bias).
void matmul(const float* x, int n, const float* w, int n_out, int n_in, const float* bias,
            float* y, int n_threads);

}  // namespace speclab
