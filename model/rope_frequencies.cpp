#include "model/rope_frequencies.h"

#include <cmath>
#include <numbers>

#include "base/error.h"

namespace speclab {

std::vector<float> rope_inv_frequencies(const ModelInfo& info) {
  const RopeScaling& sc = info.rope_scaling;
  const int half = info.head_dim / 2;
  if (sc.type != RopeScalingType::kNone && !(sc.factor > 0.0f)) {
    fail("{}: rope_scaling.factor = {}: must be positive", info.source, sc.factor);
  }
  if (sc.type == RopeScalingType::kLlama3) {
    if (!(sc.high_freq_factor > sc.low_freq_factor) || !(sc.low_freq_factor > 0.0f)) {
      fail("{}: rope_scaling low_freq_factor = {}, high_freq_factor = {}: need 0 < low < high",
           info.source, sc.low_freq_factor, sc.high_freq_factor);
    }
    if (sc.original_max_position <= 0) {
      fail("{}: rope_scaling.original_max_position = {}: must be positive", info.source,
           sc.original_max_position);
    }
  }
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) {
    float f = 1.0f / std::pow(info.rope_theta, static_cast<float>(2 * i) / info.head_dim);
    if (sc.type == RopeScalingType::kLinear) {
      f /= sc.factor;  // positions / factor
    } else if (sc.type == RopeScalingType::kLlama3) {
      // Llama 3.1: keep high frequencies, divide low ones by factor, blend linearly in between
      // (wavelength measured against the original context length).
      const float old_len = static_cast<float>(sc.original_max_position);
      const float low_wavelen = old_len / sc.low_freq_factor;
      const float high_wavelen = old_len / sc.high_freq_factor;
      const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
      if (wavelen < high_wavelen) {
        // unchanged
      } else if (wavelen > low_wavelen) {
        f /= sc.factor;
      } else {
        const float smooth =
            (old_len / wavelen - sc.low_freq_factor) / (sc.high_freq_factor - sc.low_freq_factor);
        f = (1.0f - smooth) * f / sc.factor + smooth * f;
      }
    }
    inv[i] = f;
  }
  return inv;
}

}  // namespace speclab
