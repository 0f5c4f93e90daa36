// Hugging Face config.json (formats/hf_config.h), parsed from memory.
#include <cstdint>

#include "formats/hf_config.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const HfConfig c = parse_hf_config(fuzz::as_text(data, size), "config.json");
    c.info.validate();  // the header promises a validated ModelInfo
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
