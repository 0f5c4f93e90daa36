// llama2.c checkpoints, versions 0, 1 and 2 (formats/llama2c_weights.h).
#include <cstdint>

#include "formats/llama2c_weights.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("model.bin", fuzz::as_text(data, size));
  try {
    const LlamaWeights w = load_llama2c(path);
    w.info.validate();
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
