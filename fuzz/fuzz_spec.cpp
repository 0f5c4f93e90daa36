// Experiment specs (experiments/spec.h), parsed from memory. A spec that parses must survive its
// own round trip: parse_spec(spec_to_json(spec).dump()) succeeds and dumps the same JSON.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "experiments/spec.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ExperimentSpec spec;
  try {
    spec = parse_spec(std::string(fuzz::as_text(data, size)), "spec.json");
  } catch (const Error& e) {
    fuzz::note(e);
    return 0;
  }
  const std::string dumped = spec_to_json(spec).dump();
  try {
    const ExperimentSpec again = parse_spec(dumped, "round trip");
    if (spec_to_json(again).dump() != dumped) fuzz::finding("spec round trip changed: " + dumped);
  } catch (const Error& e) {
    fuzz::finding(std::string("spec_to_json output does not parse: ") + e.what() + "\n" + dumped);
  }
  if (!spec_problems(spec, "spec.json").empty()) fuzz::finding("parse_spec accepted a spec with problems");
  return 0;
}
