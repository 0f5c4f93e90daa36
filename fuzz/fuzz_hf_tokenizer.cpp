// Hugging Face tokenizer.json (tokenizers/hf_tokenizer.h), parsed from memory, then encode /
// decode of short texts and of the vocabulary.
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "tokenizers/hf_tokenizer.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const HfTokenizer tok(fuzz::as_text(data, size), "tokenizer.json");
    fuzz::exercise_tokenizer(tok);
    (void)tok.token_id("<s>");
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
