// EAGLE head files, both layouts. Published EAGLE-1/2 checkpoints (heads/eagle_checkpoint.h):
// config.json alone (parsed from memory and checked against the fixed target of
// fuzz/fuzz_fixtures.h), and, when the input has a second part (fuzz::kPartSeparator),
// config.json + model.safetensors loaded from a scratch directory. The same two parts are also
// read as speclab's own layout (eagle.json + eagle.safetensors, heads/eagle_head.h
// load_eagle_head). A head that loads runs one row.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fuzz/fuzz_fixtures.h"
#include "fuzz/fuzz_util.h"
#include "heads/eagle_checkpoint.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split_parts(fuzz::as_text(data, size), 2);
  const auto target = fuzz::heads_target();
  try {
    const PublishedEagleConfig c = parse_published_eagle_config(parts[0], "config.json");
    c.config.validate("config.json");  // the header promises a validated config
    check_published_eagle_config(c, target->info, "config.json");
  } catch (const Error& e) {
    fuzz::note(e);
  }
  if (parts.size() < 2) return 0;
  const auto run_one_row = [&](const EagleWeights& loaded) {
    auto w = std::make_shared<const EagleWeights>(loaded);
    EagleHead head(w, target, 1);
    const std::int32_t d = w->config.dim;
    std::vector<float> feature(static_cast<std::size_t>(d), 0.5f), out(static_cast<std::size_t>(d));
    std::vector<float> logits(static_cast<std::size_t>(w->config.vocab));
    const Token tok = 1;
    const std::int32_t pos = 0;
    head.append(feature, std::span<const Token>(&tok, 1), std::span<const std::int32_t>(&pos, 1), out);
    head.logits(out, 1, logits);
  };
  const std::string dir = fuzz::fresh_scratch_subdir("eagle");
  fuzz::write_file(dir + "/config.json", parts[0]);
  fuzz::write_file(dir + "/model.safetensors", parts[1]);
  try {
    run_one_row(load_published_eagle_head(dir, *target));
  } catch (const Error& e) {
    fuzz::note(e);
  }
  const std::string own = fuzz::fresh_scratch_subdir("eagle-own");
  fuzz::write_file(own + "/eagle.json", parts[0]);
  fuzz::write_file(own + "/eagle.safetensors", parts[1]);
  try {
    run_one_row(load_eagle_head(own, *target));
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
