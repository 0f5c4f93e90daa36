// Softmax of a score row in place: x[i] = exp(x[i] - max) / sum_j exp(x[j] - max), in float,
// the sum accumulated in index order and the division done as one multiplication by 1 / sum.
// The attention of LlamaModel uses it. (The sampling transform, temperature -> top-k -> top-p
// over a logits row, is ops/sampling.h.) Reference twin: ops/reference.h.
#pragma once

namespace speclab {

// x: [n], n >= 1, finite values (or -inf for masked entries, as long as one is finite).
void softmax_inplace(float* x, int n);

}  // namespace speclab
