// Hugging Face model directories (formats/hf_loader.h). The input is config.json, then
// model.safetensors, joined by fuzz::kPartSeparator; with a third part the directory is sharded:
// part 3 is model.safetensors.index.json, part 2 the shard model-00001-of-00002.safetensors and
// part 4 (optional) model-00002-of-00002.safetensors.
#include <cstdint>

#include "formats/hf_loader.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split_parts(fuzz::as_text(data, size), 4);
  const std::string dir = fuzz::fresh_scratch_subdir("hf");
  fuzz::write_file(dir + "/config.json", parts[0]);
  if (parts.size() == 2) {
    fuzz::write_file(dir + "/model.safetensors", parts[1]);
  } else if (parts.size() >= 3) {
    fuzz::write_file(dir + "/model-00001-of-00002.safetensors", parts[1]);
    fuzz::write_file(dir + "/model.safetensors.index.json", parts[2]);
    if (parts.size() == 4) fuzz::write_file(dir + "/model-00002-of-00002.safetensors", parts[3]);
  }
  try {
    const LlamaWeights w = load_hf_directory(dir, 64);
    w.info.validate();
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
