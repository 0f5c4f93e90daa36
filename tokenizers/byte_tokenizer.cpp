#include "tokenizers/byte_tokenizer.h"

#include "base/error.h"

namespace speclab {

ByteTokenizer::ByteTokenizer(std::int32_t vocab_size) : vocab_(vocab_size) {
  if (vocab_size < kFirstByte + 256) {
    fail("byte tokenizer: vocab_size = {}: must be >= {}", vocab_size, kFirstByte + 256);
  }
}

std::vector<Token> ByteTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<Token> out;
  out.reserve(text.size() + 1);
  if (add_bos) out.push_back(kBos);
  for (unsigned char c : text) out.push_back(kFirstByte + c);
  return out;
}

std::string ByteTokenizer::decode_token(Token prev, Token token) const {
  if (token < 0 || token >= vocab_) fail("byte tokenizer: token = {}: out of range [0, {})", token, vocab_);
  if (token < kFirstByte || token >= kFirstByte + 256) return "";
  return std::string(1, static_cast<char>(token - kFirstByte));
}

std::string ByteTokenizer::decode(std::span<const Token> tokens) const {
  std::string out;
  Token prev = -1;
  for (Token t : tokens) {
    out += decode_token(prev, t);
    prev = t;
  }
  return out;
}

}  // namespace speclab
