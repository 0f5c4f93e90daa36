#include "experiments/cost_model.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "ops/quant.h"

namespace speclab {

namespace {

constexpr std::uint64_t kMaxProfileBytes = std::uint64_t{16} << 20;
constexpr std::int32_t kMaxCurveTokens = 1 << 20;

// Index i with x[i] <= v < x[i+1] for interpolation; clamped to [0, size-2] (size >= 2), so
// values outside the axis extrapolate from the nearest segment.
std::size_t segment(const std::vector<std::int32_t>& x, double v) {
  std::size_t i = 0;
  while (i + 2 < x.size() && v >= x[i + 1]) ++i;
  return i;
}

// Linear interpolation / extrapolation of y over axis x at v (x strictly increasing).
template <typename Y>
double interpolate(const std::vector<std::int32_t>& x, double v, const Y& y) {
  if (x.size() == 1) return y(0);
  const std::size_t i = segment(x, v);
  const double t = (v - x[i]) / double(x[i + 1] - x[i]);
  return y(i) + t * (y(i + 1) - y(i));
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 40) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

const nlohmann::json& member(const nlohmann::json& j, std::string_view what, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) fail("{}: key '{}' missing", what, key);
  return *it;
}

std::vector<std::int32_t> axis(const nlohmann::json& j, std::string_view what, const std::string& field,
                               std::int32_t lo) {
  if (!j.is_array() || j.empty() || j.size() > kMaxCurvePoints) {
    fail("{}: {} = {}: must be an array of 1 to {} integers", what, field, json_excerpt(j), kMaxCurvePoints);
  }
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    out.push_back(json_integer<std::int32_t>(j[i], what, fmt::format("{}[{}]", field, i), lo, kMaxCurveTokens));
    if (i > 0 && out[i] <= out[i - 1]) {
      fail("{}: {}[{}] = {}: must be greater than {}[{}] = {} (strictly increasing)", what, field, i, out[i], field,
           i - 1, out[i - 1]);
    }
  }
  return out;
}

CostCurve parse_curve(const nlohmann::json& j, std::string_view what, const std::string& field) {
  if (!j.is_object()) fail("{}: {} = {}: must be an object {{\"n\", \"cached\", \"ms\"}}", what, field, json_excerpt(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "n" && it.key() != "cached" && it.key() != "ms") {
      fail("{}: {}.{}: unknown key (a curve has n, cached, ms)", what, field, quote_untrusted(it.key()));
    }
  }
  CostCurve c;
  c.n = axis(member(j, what, "n"), what, field + ".n", 1);
  c.cached = axis(member(j, what, "cached"), what, field + ".cached", 0);
  const nlohmann::json& ms = member(j, what, "ms");
  if (!ms.is_array() || ms.size() != c.cached.size()) {
    fail("{}: {}.ms: must be an array of {} rows (one per cached length)", what, field, c.cached.size());
  }
  for (std::size_t r = 0; r < ms.size(); ++r) {
    if (!ms[r].is_array() || ms[r].size() != c.n.size()) {
      fail("{}: {}.ms[{}]: must be an array of {} numbers (one per tree size)", what, field, r, c.n.size());
    }
    for (std::size_t i = 0; i < ms[r].size(); ++i) {
      c.ms.push_back(json_number(ms[r][i], what, fmt::format("{}.ms[{}][{}]", field, r, i), 1e-9, 1e9));
    }
  }
  return c;
}

nlohmann::json curve_json(const CostCurve& c) {
  nlohmann::json ms = nlohmann::json::array();
  for (std::size_t r = 0; r < c.cached.size(); ++r) {
    ms.push_back(std::vector<double>(c.ms.begin() + r * c.n.size(), c.ms.begin() + (r + 1) * c.n.size()));
  }
  return {{"n", c.n}, {"cached", c.cached}, {"ms", ms}};
}

void check_format(const nlohmann::json& j, std::string_view what, std::string_view format) {
  if (!j.is_object()) fail("{}: must be a JSON object", what);
  const std::string& f = json_string(member(j, what, "format"), what, "format");
  if (f != format) fail("{}: format = {}: must be \"{}\"", what, quote_untrusted(f), format);
  json_integer<int>(member(j, what, "version"), what, "version", 1, 1);
}

std::string optional_string(const nlohmann::json& j, std::string_view what, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? std::string() : json_string(*it, what, key);
}

}  // namespace

double CostCurve::at(double tokens, double cached_len) const {
  SPECLAB_ASSERT(!n.empty() && ms.size() == n.size() * cached.size());
  const std::size_t w = n.size();
  const double v = interpolate(cached, cached_len, [&](std::size_t r) {
    return interpolate(n, tokens, [&](std::size_t i) { return ms[r * w + i]; });
  });
  // Extrapolation below the first point could reach zero: a step costs at least a tiny amount.
  return std::max(v, 1e-9);
}

double HardwareDescription::peak_for(std::string_view dtype) const {
  auto it = peak_tflops.find(std::string(dtype));
  if (it == peak_tflops.end()) it = peak_tflops.find("default");
  if (it == peak_tflops.end()) {
    fail("hardware {}: peak_tflops has no entry for weight type {} and no \"default\"", name, dtype);
  }
  return it->second;
}

ModelShape model_shape(const LlamaWeights& w, KvCacheType kv_type) {
  ModelShape s;
  const ModelInfo& m = w.info;
  s.n_layers = m.n_layers;
  s.n_heads = m.n_heads;
  s.head_dim = m.head_dim;
  for (const auto& l : w.layers) {
    for (const WeightMatrix* x : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3}) {
      s.weight_bytes += double(x->n_bytes());
      s.matrix_elements += double(x->size());
    }
  }
  const WeightMatrix& cls = w.classifier_matrix();
  s.weight_bytes += double(cls.n_bytes());
  s.matrix_elements += double(cls.size());
  const std::string types = w.resident_dtypes();
  s.dtype = types.substr(0, types.find('+'));
  const double elem = kv_type == KvCacheType::kF16 ? 2.0 : 4.0;
  s.kv_bytes_per_position = 2.0 * m.n_layers * double(m.n_kv_heads) * m.head_dim * elem;
  return s;
}

double roofline_ms(const HardwareDescription& hw, const ModelShape& shape, std::int32_t n, std::int32_t cached) {
  const double ctx = double(cached) + n;
  const double bytes = shape.weight_bytes + ctx * shape.kv_bytes_per_position;
  const double flops = n * 2.0 * shape.matrix_elements + n * 4.0 * ctx * shape.n_layers * shape.n_heads * shape.head_dim;
  const double t_mem = bytes / (hw.bandwidth_gb_s * 1e9);
  const double t_flop = flops / (hw.peak_for(shape.dtype) * 1e12);
  return 1e3 * std::max(t_mem, t_flop) + hw.overhead_ms + hw.overhead_per_layer_ms * shape.n_layers;
}

CostProfile roofline_profile(const HardwareDescription& hw, const ModelShape& shape,
                             const std::vector<std::int32_t>& sizes, const std::vector<std::int32_t>& cached,
                             const std::string& model_label) {
  CostProfile p;
  p.name = hw.name;
  p.kind = "roofline";
  p.source = hw.source;
  p.model = model_label;
  p.machine = {{"hardware", hw.name},
               {"memory_bandwidth_gb_s", hw.bandwidth_gb_s},
               {"peak_tflops", hw.peak_for(shape.dtype)},
               {"weight_dtype", shape.dtype},
               {"overhead_ms", hw.overhead_ms},
               {"overhead_per_layer_ms", hw.overhead_per_layer_ms}};
  p.target.n = sizes;
  p.target.cached = cached;
  for (const std::int32_t l : cached) {
    for (const std::int32_t n : sizes) p.target.ms.push_back(roofline_ms(hw, shape, n, l));
  }
  return p;
}

std::vector<std::int32_t> default_profile_sizes() {
  std::vector<std::int32_t> out;
  for (std::int32_t n = 1; n <= 256; n *= 2) out.push_back(n);
  return out;
}

std::vector<std::int32_t> default_profile_lengths(std::int32_t ctx, std::int32_t max_tokens) {
  std::vector<std::int32_t> out;
  const std::int32_t last = std::max(0, ctx - max_tokens);
  for (std::int32_t l = 32; l < last; l *= 4) out.push_back(l);
  if (out.empty() || out.back() != last) out.push_back(last);
  return out;
}

CostProfile parse_cost_profile(const nlohmann::json& j, std::string_view what) {
  check_format(j, what, "speclab-profile");
  static const char* const kKeys[] = {"format", "version", "name", "kind", "source", "model",
                                      "machine", "command", "target", "draft", "drafters"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(std::begin(kKeys), std::end(kKeys), it.key()) == std::end(kKeys)) {
      fail("{}: key '{}': unknown (a profile has {})", what, quote_untrusted(it.key()),
           "format, version, name, kind, source, model, machine, command, target, draft, drafters");
    }
  }
  CostProfile p;
  p.name = json_string(member(j, what, "name"), what, "name");
  if (!valid_name(p.name)) {
    fail("{}: name = {}: must be 1 to 40 characters of a-z, 0-9, _ (it names the report column "
         "projected_speedup_<name>)", what, quote_untrusted(p.name));
  }
  p.kind = json_string(member(j, what, "kind"), what, "kind");
  if (p.kind != "measured" && p.kind != "roofline") {
    fail("{}: kind = {}: must be \"measured\" or \"roofline\"", what, quote_untrusted(p.kind));
  }
  p.source = optional_string(j, what, "source");
  p.model = optional_string(j, what, "model");
  p.command = optional_string(j, what, "command");
  if (const auto it = j.find("machine"); it != j.end()) {
    if (!it->is_object()) fail("{}: machine: must be an object", what);
    p.machine = *it;
  }
  if (const auto it = j.find("drafters"); it != j.end()) {
    if (!it->is_object()) fail("{}: drafters: must be an object", what);
    p.drafters = *it;
  }
  p.target = parse_curve(member(j, what, "target"), what, "target");
  if (const auto it = j.find("draft"); it != j.end()) p.draft = parse_curve(*it, what, "draft");
  return p;
}

nlohmann::json cost_profile_json(const CostProfile& p) {
  nlohmann::json j = {{"format", "speclab-profile"}, {"version", 1}, {"name", p.name}, {"kind", p.kind},
                      {"source", p.source}, {"model", p.model}, {"machine", p.machine},
                      {"command", p.command}, {"target", curve_json(p.target)}};
  if (!p.draft.empty()) j["draft"] = curve_json(p.draft);
  if (!p.drafters.empty()) j["drafters"] = p.drafters;
  return j;
}

HardwareDescription parse_hardware(const nlohmann::json& j, std::string_view what) {
  check_format(j, what, "speclab-hardware");
  static const char* const kKeys[] = {"format", "version", "name", "source", "memory_bandwidth_gb_s",
                                      "peak_tflops", "overhead_ms", "overhead_per_layer_ms", "notes"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(std::begin(kKeys), std::end(kKeys), it.key()) == std::end(kKeys)) {
      fail("{}: key '{}': unknown (a hardware description has format, version, name, source, "
           "memory_bandwidth_gb_s, peak_tflops, overhead_ms, overhead_per_layer_ms, notes)",
           what, quote_untrusted(it.key()));
    }
  }
  HardwareDescription hw;
  hw.name = json_string(member(j, what, "name"), what, "name");
  if (!valid_name(hw.name)) {
    fail("{}: name = {}: must be 1 to 40 characters of a-z, 0-9, _", what, quote_untrusted(hw.name));
  }
  hw.source = optional_string(j, what, "source");
  hw.bandwidth_gb_s = json_number(member(j, what, "memory_bandwidth_gb_s"), what, "memory_bandwidth_gb_s", 1e-3, 1e6);
  const nlohmann::json& peaks = member(j, what, "peak_tflops");
  if (!peaks.is_object() || peaks.empty() || peaks.size() > kMaxCurvePoints) {
    fail("{}: peak_tflops: must be an object of 1 to {} weight type -> TFLOP/s entries", what, kMaxCurvePoints);
  }
  for (auto it = peaks.begin(); it != peaks.end(); ++it) {
    if (it.key() != "default" && !dtype_from_name(it.key())) {
      fail("{}: peak_tflops.{}: unknown weight type (f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k, default)",
           what, quote_untrusted(it.key()));
    }
    hw.peak_tflops[it.key()] = json_number(*it, what, "peak_tflops." + it.key(), 1e-6, 1e6);
  }
  if (const auto it = j.find("overhead_ms"); it != j.end()) hw.overhead_ms = json_number(*it, what, "overhead_ms", 0, 1e6);
  if (const auto it = j.find("overhead_per_layer_ms"); it != j.end()) {
    hw.overhead_per_layer_ms = json_number(*it, what, "overhead_per_layer_ms", 0, 1e6);
  }
  if (const auto it = j.find("notes"); it != j.end() && !it->is_string()) fail("{}: notes: must be a string", what);
  return hw;
}

HardwareDescription load_hardware(const std::string& path) {
  return parse_hardware(parse_json(read_input_file(path, kMaxProfileBytes), path), path);
}

CostProfile load_cost_profile(const std::string& path, const ModelShape& shape, std::int32_t ctx,
                              const std::string& model_label) {
  return parse_cost_profile_text(read_input_file(path, kMaxProfileBytes), path, shape, ctx, model_label);
}

CostProfile parse_cost_profile_text(std::string_view text, const std::string& path, const ModelShape& shape,
                                    std::int32_t ctx, const std::string& model_label) {
  const nlohmann::json j = parse_json(text, path);
  const auto f = j.is_object() ? j.find("format") : j.end();
  if (f != j.end() && f->is_string() && *f == "speclab-hardware") {
    const HardwareDescription hw = parse_hardware(j, path);
    hw.peak_for(shape.dtype);  // a missing peak is an error of the file, named now
    return roofline_profile(hw, shape, default_profile_sizes(), default_profile_lengths(ctx), model_label);
  }
  if (f == j.end() || !f->is_string() || *f != "speclab-profile") {
    fail("{}: format: must be \"speclab-profile\" (speclab profile) or \"speclab-hardware\" (a hardware description)",
         path);
  }
  return parse_cost_profile(j, path);
}

}  // namespace speclab
