// GGUF llama model -> LlamaWeights (formats/gguf_weights.h).
#include <cstdint>

#include "formats/gguf_weights.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("model.gguf", fuzz::as_text(data, size));
  try {
    const LlamaWeights w = load_gguf(path);
    w.info.validate();
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
