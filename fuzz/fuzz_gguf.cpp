// GGUF container (formats/gguf_container.h): header, metadata, tensor infos; every typed getter
// on every key; every tensor converted to fp32; the embedded vocabulary loaded and run.
#include <cstdint>

#include "formats/gguf_container.h"
#include "fuzz/fuzz_util.h"
#include "tokenizers/tokenizer_loader.h"

using namespace speclab;

namespace {

template <class F>
void expect_error_or_value(F&& f) {
  try {
    (void)f();
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("model.gguf", fuzz::as_text(data, size));
  try {
    const GgufFile g(path);
    for (const auto& kv : g.metadata()) {
      const std::string& key = kv.first;  // (clang 14 lambdas cannot capture structured bindings)
      (void)kv.second.array_size();
      expect_error_or_value([&] { return g.get_uint(key); });
      expect_error_or_value([&] { return g.get_int(key); });
      expect_error_or_value([&] { return g.get_float(key); });
      expect_error_or_value([&] { return g.get_string(key); });
      expect_error_or_value([&] { return g.get_string_array(key); });
      expect_error_or_value([&] { return g.get_float_array(key); });
      expect_error_or_value([&] { return g.get_int_array(key); });
    }
    for (const GgufFile::TensorInfo& t : g.tensors()) {
      std::uint64_t n = 1;
      bool overflow = false;
      for (const std::uint64_t d : t.dims) overflow |= __builtin_mul_overflow(n, d, &n);
      if (overflow) continue;
      expect_error_or_value([&] { return g.read_tensor_f32(t, n); });
      expect_error_or_value([&] { return g.read_tensor_f32(t, n + 1); });
    }
    try {
      const auto tok = load_gguf_tokenizer(g);
      fuzz::exercise_tokenizer(*tok);
    } catch (const Error&) {
    }
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
