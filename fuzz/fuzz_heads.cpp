// Trained heads (heads/head_net.h): heads.json and heads.safetensors joined by
// fuzz::kPartSeparator, loaded for the fixed target of fuzz/fuzz_fixtures.h; heads that load are
// run once each.
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_fixtures.h"
#include "fuzz/fuzz_util.h"
#include "heads/head_net.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split_parts(fuzz::as_text(data, size), 2);
  const std::string dir = fuzz::fresh_scratch_subdir("heads");
  fuzz::write_file(dir + "/heads.json", parts[0]);
  if (parts.size() == 2) fuzz::write_file(dir + "/heads.safetensors", parts[1]);
  try {
    const HeadNet net = load_heads(dir, fuzz::heads_target());
    const HeadConfig& c = net.config();
    HeadScratch scratch;
    std::vector<float> hidden(static_cast<std::size_t>(c.dim), 0.5f);
    std::vector<float> out(static_cast<std::size_t>(c.vocab));
    for (std::int32_t h = 0; h < net.n_heads(); ++h) {
      const std::vector<Token> path(static_cast<std::size_t>(h) + 1, 0);
      net.logits(h, hidden, path, 1, out, scratch);
    }
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
