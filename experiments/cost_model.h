// Hardware cost model (issue 17): what one verification step costs on a machine, as a function
// of the tree size n (tokens in the forward: root + draft nodes) and the cached length L (tokens
// already in the KV cache).
//
// A CostProfile is a table of median step times ms(n, L), either
//   - measured on this machine by `speclab profile` (TreeVerifier::verify of a tree of n tokens
//     on a cache of L tokens: forward, target distributions, acceptance, cache compaction: what
//     decode() times as verify_ms), or
//   - a roofline for hardware one does not have, computed from a HardwareDescription (memory
//     bandwidth, peak FLOP/s per weight type, per-forward overheads) and the model's ModelShape:
//       ms(n, L) = max(bytes(n, L) / bandwidth, flops(n, L) / peak) + overhead
//       bytes(n, L) = weight bytes streamed once per forward + (L + n) * KV bytes per position
//       flops(n, L) = n * 2 * (matrix elements) + n * 4 * (L + n) * n_layers * n_heads * head_dim
//     (the attention term counts QK^T and AV; the KV cache is read once per forward).
// Between the table's points ms is piecewise linear in n and in L; beyond the last point it is
// extrapolated linearly from the last two (the cost of a step grows about linearly in both).
//
// Files. A profile file is JSON {"format": "speclab-profile", "version": 1, "name", "kind"
// ("measured" | "roofline"), "source", "model", "machine" {...}, "command", "target": CURVE,
// "draft": CURVE (optional: a draft model's forward), "drafters" (optional: per drafter spec
// {"propose_ms", "observe_ms"} medians per step)}; CURVE = {"n": [1, 2, ...], "cached": [L...],
// "ms": [[ms of each n] for each L]}. A hardware description is JSON {"format":
// "speclab-hardware", "version": 1, "name", "source", "memory_bandwidth_gb_s", "peak_tflops":
// {"default": x, "f16": y, ...} (per resident weight type of the model), "overhead_ms",
// "overhead_per_layer_ms"}. Both are untrusted input: every field is checked (type, range,
// increasing axes, table shape, at most kMaxCurvePoints points) and an error names the file and
// the field. A profile name is [a-z0-9_]{1,40}: it becomes the column suffix
// projected_speedup_<name> of the reports.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama_model.h"
#include "model/llama_weights.h"

namespace speclab {

inline constexpr std::size_t kMaxCurvePoints = 64;  // per axis of a cost curve

struct CostCurve {
  std::vector<std::int32_t> n;       // tree sizes, strictly increasing, >= 1
  std::vector<std::int32_t> cached;  // cached lengths, strictly increasing, >= 0
  std::vector<double> ms;            // [cached.size() * n.size()]: ms[c * n.size() + i]
  bool empty() const { return n.empty(); }
  // Step time of `tokens` tokens on a cache of `cached_len` (see the file comment); > 0.
  double at(double tokens, double cached_len) const;
};

struct CostProfile {
  std::string name;                   // [a-z0-9_]{1,40}
  std::string kind = "measured";      // "measured" | "roofline"
  std::string source;                 // where the figures come from
  std::string model;                  // the model the curve is for (informational)
  nlohmann::json machine = nlohmann::json::object();  // cpu, threads, dtypes, ... (informational)
  std::string command;                // the command that produced it
  CostCurve target;                   // required
  CostCurve draft;                    // optional: a draft model's forward
  nlohmann::json drafters = nlohmann::json::object();  // optional, informational
  double forward_ms(double tokens, double cached_len) const { return target.at(tokens, cached_len); }
};

struct HardwareDescription {
  std::string name, source;
  double bandwidth_gb_s = 0;                  // memory bandwidth, 1e9 bytes/s
  std::map<std::string, double> peak_tflops;  // per weight type name, "default" for the rest
  double overhead_ms = 0;                     // fixed per forward (launch, framework)
  double overhead_per_layer_ms = 0;           // per decoder layer per forward
  double peak_for(std::string_view dtype) const;  // TFLOP/s; Error when neither dtype nor default
};

// What the roofline needs of a model.
struct ModelShape {
  std::string dtype;                // the first resident matrix type ("f32", "q8_0", "q4_k", ...)
  std::int32_t n_layers = 0, n_heads = 0, head_dim = 0;
  double weight_bytes = 0;          // streamed per forward: every layer matrix + the classifier
  double matrix_elements = 0;       // multiply-adds per token in the matrices
  double kv_bytes_per_position = 0; // K and V of every layer
};
ModelShape model_shape(const LlamaWeights& w, KvCacheType kv_type);

// The roofline time of one forward of n tokens on a cache of L (file comment).
double roofline_ms(const HardwareDescription& hw, const ModelShape& shape, std::int32_t n, std::int32_t cached);
CostProfile roofline_profile(const HardwareDescription& hw, const ModelShape& shape,
                             const std::vector<std::int32_t>& sizes, const std::vector<std::int32_t>& cached,
                             const std::string& model_label);

// Tree sizes a profile covers by default: 1, 2, 4, ..., 256.
std::vector<std::int32_t> default_profile_sizes();
// Cached lengths for a context of ctx slots: 32, 128, 512, ... while L + 256 fits, then the
// largest L leaving room for a 256-token tree (at least one point, 0 for tiny contexts).
std::vector<std::int32_t> default_profile_lengths(std::int32_t ctx, std::int32_t max_tokens = 256);

// Parse / serialise. `what` names the input in errors (a path).
CostProfile parse_cost_profile(const nlohmann::json& j, std::string_view what);
nlohmann::json cost_profile_json(const CostProfile& p);
HardwareDescription parse_hardware(const nlohmann::json& j, std::string_view what);
// Reads a hardware description file (bounded, regular files only); Error naming the path.
HardwareDescription load_hardware(const std::string& path);

// Reads a profile or a hardware description (dispatching on "format"); a hardware description
// becomes roofline_profile(hw, shape, default sizes, default lengths(ctx)). Error names the path.
CostProfile load_cost_profile(const std::string& path, const ModelShape& shape, std::int32_t ctx,
                              const std::string& model_label);
// The same from the file's text (`path` names it in errors).
CostProfile parse_cost_profile_text(std::string_view text, const std::string& path, const ModelShape& shape,
                                    std::int32_t ctx, const std::string& model_label);

}  // namespace speclab
