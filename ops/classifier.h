// Final norm + classifier: logits[t] = W * rms_norm(x[t]; gain, eps), the head of the target
// model. LlamaModel's final layer, early exits, exit adapters and DEL's shadow tokens all go
// through rms_norm (ops/rmsnorm.h) and matmul (ops/matmul.h), so the same residual row gives
// bit-identical logits wherever it is computed, whatever n and the thread count.
#pragma once
#include "ops/weight_matrix.h"

namespace speclab {

// x: [n, dim] residual rows; gain: [dim]; w: [vocab, dim] in its stored type; normed: [n, dim]
// scratch (receives the normed rows; may alias x); logits: [n, vocab = w.rows()].
void norm_classifier(const float* x, int n, int dim, const float* gain, float eps,
                     const WeightMatrix& w, float* normed, float* logits, int n_threads);
// The same with fp32 weights as a raw array [vocab, dim].
void norm_classifier(const float* x, int n, int dim, const float* gain, float eps, const float* w, int vocab,
                     float* normed, float* logits, int n_threads);

}  // namespace speclab
