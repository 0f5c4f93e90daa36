// llama2.c tokenizer.bin (tokenizers/llama2c_tokenizer.h): read to the end of the file and with
// a vocabulary size from the first input byte, then encode / decode.
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "tokenizers/llama2c_tokenizer.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("tokenizer.bin", fuzz::as_text(data, size));
  for (const std::int32_t vocab : {-1, size > 0 ? std::int32_t{data[size - 1]} : 0}) {
    try {
      const auto tok = load_llama2c_tokenizer(path, vocab);
      fuzz::exercise_tokenizer(*tok);
    } catch (const Error& e) {
      fuzz::note(e);
    }
  }
  return 0;
}
