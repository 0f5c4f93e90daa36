#include "ops/classifier.h"

#include "base/error.h"
#include "ops/matmul.h"
#include "ops/rmsnorm.h"

namespace speclab {

void norm_classifier(const float* x, int n, int dim, const float* gain, float eps,
                     const WeightMatrix& w, float* normed, float* logits, int n_threads) {
  SPECLAB_ASSERT(w.cols() == dim);
  rms_norm(x, gain, n, dim, eps, normed);
  matmul(normed, n, w, nullptr, logits, n_threads);
}

void norm_classifier(const float* x, int n, int dim, const float* gain, float eps, const float* w, int vocab,
                     float* normed, float* logits, int n_threads) {
  rms_norm(x, gain, n, dim, eps, normed);
  matmul(normed, n, w, vocab, dim, nullptr, logits, n_threads);
}

}  // namespace speclab
