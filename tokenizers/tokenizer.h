// Text <-> token ids. Implementations: llama2.c tokenizer.bin (SentencePiece-style BPE by
// scores), GGUF-embedded vocabularies, Hugging Face tokenizer.json.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/types.h"

namespace speclab {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::int32_t vocab_size() const = 0;
  virtual Token bos_id() const = 0;  // -1 if none
  virtual Token eos_id() const = 0;  // -1 if none
  // Encodes text; prepends BOS when add_bos (and the tokenizer has one).
  virtual std::vector<Token> encode(std::string_view text, bool add_bos) const = 0;
  // The text of `token` when it follows `prev` (llama2.c semantics: a leading space is
  // dropped after BOS; byte tokens <0xXX> become the raw byte). Throws Error if out of range.
  virtual std::string decode_token(Token prev, Token token) const = 0;
  // The text of a whole sequence (special tokens such as BOS/EOS are skipped).
  virtual std::string decode(std::span<const Token> tokens) const = 0;
};

}  // namespace speclab
