// ByteTokenizer: the tokenizer of the synthetic fallback model (no real model file found) and of
// specs with "tokenizer": "bytes": id 1 = BOS, 2 = EOS, byte b -> id 3 + b (vocab >= 259).
// Deterministic and lossless.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace speclab {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr Token kBos = 1;
  static constexpr Token kEos = 2;
  static constexpr Token kFirstByte = 3;
  // vocab_size >= 259 (throws Error otherwise); ids >= 259 decode to "" (never produced).
  explicit ByteTokenizer(std::int32_t vocab_size);
  std::int32_t vocab_size() const override { return vocab_; }
  Token bos_id() const override { return kBos; }
  Token eos_id() const override { return kEos; }
  std::vector<Token> encode(std::string_view text, bool add_bos) const override;
  std::string decode_token(Token prev, Token token) const override;
  std::string decode(std::span<const Token> tokens) const override;

 private:
  std::int32_t vocab_;
};

}  // namespace speclab
