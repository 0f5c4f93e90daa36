// safetensors files (formats/safetensors.h): header validation, then every tensor's raw bytes
// and, for float dtypes, its fp32 conversion.
#include <cstdint>

#include "formats/safetensors.h"
#include "fuzz/fuzz_util.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("model.safetensors", fuzz::as_text(data, size));
  try {
    const SafetensorsFile f(path);
    for (const SafetensorsTensor& t : f.tensors()) {
      if (f.find(t.name) != &t) fuzz::finding("find(name) does not return the tensor");
      const auto raw = f.raw(t);
      if (static_cast<std::int64_t>(raw.size()) != t.end - t.begin) fuzz::finding("raw size != end - begin");
      try {
        const std::vector<float> v = f.read_f32(t);
        if (static_cast<std::int64_t>(v.size()) != t.n_elements()) fuzz::finding("read_f32 size != n_elements");
      } catch (const Error&) {
      }
    }
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
