// RMSNorm: out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * gain, for n rows of width d. The one
// implementation behind LlamaModel's layer and final norms, exit adapters, DEL's shadow tokens
// and the classifier op (ops/classifier.h): the sum of squares accumulates in double, the
// scale is rounded to float once, then each element is (x * scale) * gain in float. Rows are
// independent, so a row's result does not depend on n. Reference twin: ops/reference.h.
// (heads/head_layers.h keeps a templated, differentiable RMSNorm for training only.)
#pragma once

namespace speclab {

// x, out: [n, d] row-major (out may alias x); gain: [d].
void rms_norm(const float* x, const float* gain, int n, int d, float eps, float* out);

}  // namespace speclab
