// Drafter specs (drafters/drafter_params.h, drafters/registry.h): DrafterParams::parse, its
// canonical spelling's round trip, and the registry's validation against a small target
// (fuzz/fuzz_fixtures.h, weights included). A spec the registry finds no problem with must build
// (make_drafter) and report its tree kind: the registry promises that make_drafter then fails
// for no reason the spec alone shows. Files named by a spec resolve in the working directory,
// which scripts/fuzz.sh makes an empty folder, so file-backed drafters stop at their file checks.
#include <cstdint>

#include "drafters/registry.h"
#include "fuzz/fuzz_fixtures.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  DrafterEnv env;
  env.target_weights = fuzz::heads_target();  // head drafters check their files against it
  env.target = &env.target_weights->info;
  const std::string spec(fuzz::as_text(data, size));
  DrafterParams params;
  try {
    params = DrafterParams::parse(spec);
  } catch (const Error& e) {
    fuzz::note(e);
    return 0;
  }
  const std::string canonical = params.to_string();
  try {
    const DrafterParams again = DrafterParams::parse(canonical);
    if (again.drafter() != params.drafter() || again.values() != params.values()) {
      fuzz::finding("DrafterParams round trip changed '" + spec + "' -> '" + canonical + "'");
    }
  } catch (const Error& e) {
    fuzz::finding("DrafterParams::to_string output does not parse: '" + canonical + "': " + e.what());
  }
  std::vector<std::string> problems;
  try {
    problems = drafter_spec_problems(params, env);
  } catch (const Error&) {
    return 0;
  }
  (void)missing_optional_file(params, env);
  if (!problems.empty() || is_autoregressive(params.drafter())) return 0;
  try {
    (void)drafter_child_sampling(canonical, env, SamplingParams{});
    (void)make_drafter(canonical, env);
  } catch (const Error& e) {
    fuzz::finding("a spec without problems fails to build: '" + canonical + "': " + e.what());
  }
  return 0;
}
