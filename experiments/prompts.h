// Prompt sets: JSON Lines files, one object per line with "id" (string or integer), "prompt"
// (string) and optional "category" (string; default: the set name). Blank lines are skipped.
// The set name is the file's stem (data/stories.jsonl -> "stories"). Categories travel into
// the CSVs so results can be split by category.
//
// ByteTokenizer: the tokenizer of the synthetic fallback model (no real model file found):
// id 1 = BOS, 2 = EOS, byte b -> id 3 + b (vocab >= 259). Deterministic and lossless.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer.h"

namespace speclab {

struct Prompt {
  std::string set;       // file stem
  std::string id;        // unique within the set
  std::string category;  // "category" field, else the set name
  std::string text;
};

// Reads a prompt set. Throws Error naming the file and line for a missing file, malformed JSON,
// a missing/mistyped field, an unknown field, an empty prompt, a duplicate id or an empty set.
std::vector<Prompt> load_prompts(const std::string& path);

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
