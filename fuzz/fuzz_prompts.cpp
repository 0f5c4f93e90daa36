// Prompt sets in JSON Lines (experiments/prompts.h).
#include <cstdint>
#include <set>

#include "experiments/prompts.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("fuzz.jsonl", fuzz::as_text(data, size));
  try {
    const std::vector<Prompt> prompts = load_prompts(path);
    if (prompts.empty()) fuzz::finding("load_prompts returned an empty set");
    std::set<std::string> ids;
    for (const Prompt& p : prompts) {
      if (p.text.empty()) fuzz::finding("load_prompts accepted an empty prompt");
      if (!ids.insert(p.id).second) fuzz::finding("load_prompts accepted a duplicate id " + p.id);
    }
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
