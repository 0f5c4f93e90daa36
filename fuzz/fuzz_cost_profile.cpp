// Cost profiles and hardware descriptions (experiments/cost_model.h), parsed from memory as
// `--profile` reads them. What parses must be usable: every step time finite and > 0 anywhere,
// and its JSON must parse back to the same JSON.
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "experiments/cost_model.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ModelShape shape;
  shape.dtype = "q8_0";
  shape.n_layers = 4;
  shape.n_heads = 4;
  shape.head_dim = 16;
  shape.weight_bytes = 1e6;
  shape.matrix_elements = 1e6;
  shape.kv_bytes_per_position = 1024;
  CostProfile p;
  try {
    p = parse_cost_profile_text(fuzz::as_text(data, size), "profile.json", shape, 512, "m");
  } catch (const Error& e) {
    fuzz::note(e);
    return 0;
  }
  for (const double n : {0.0, 1.0, 3.5, 256.0, 1e6}) {
    for (const double l : {-5.0, 0.0, 100.0, 1e7}) {
      const double t = p.forward_ms(n, l);
      if (!std::isfinite(t) || t <= 0) fuzz::finding("a parsed profile gives a step time that is not finite and > 0");
    }
  }
  const std::string dumped = cost_profile_json(p).dump();
  try {
    if (cost_profile_json(parse_cost_profile(nlohmann::json::parse(dumped), "round trip")).dump() != dumped) {
      fuzz::finding("profile round trip changed: " + dumped);
    }
  } catch (const std::exception& e) {
    fuzz::finding(std::string("cost_profile_json output does not parse: ") + e.what());
  }
  return 0;
}
