// SentencePiece-style BPE by piece scores: the algorithm of llama2.c `encode` (run.c) and of
// GGUF `tokenizer.ggml.model = "llama"` vocabularies. One implementation serves both; the only
// difference is the space marker of the pieces (llama2.c tokenizer.bin stores a real space,
// SentencePiece / GGUF store U+2581 "▁").
//
// encode(text): text is empty -> nothing (BOS only if asked). Otherwise spaces become the space
// marker, one marker is prepended (the "dummy prefix"), the text is split into UTF-8 code
// points (a lead byte plus at most 3 continuation bytes, as llama2.c does), each looked up in
// the vocabulary; a code point that is not a piece becomes its byte pieces "<0xXX>" (or unk if
// the vocabulary has no byte pieces). Then the adjacent pair whose concatenation is a piece with
// the highest score is merged, repeatedly (ties: leftmost pair), until no pair merges.
//
// decode_token(prev, token): the piece with the space marker turned into ' '; a leading space
// is dropped when prev is BOS; a byte piece "<0xXX>" becomes that raw byte.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace speclab {

// GGUF / SentencePiece token types.
enum class SpmTokenType : std::int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct SpmVocab {
  std::vector<std::string> pieces;  // id -> piece
  std::vector<float> scores;        // id -> merge score (higher merges first); same size
  std::vector<std::int32_t> types;  // id -> SpmTokenType; empty when unknown (llama2.c)
  Token bos_id = -1;
  Token eos_id = -1;
  Token unk_id = -1;
  std::string space_marker = "\xE2\x96\x81";  // U+2581; " " for llama2.c tokenizer.bin
  bool add_dummy_prefix = true;
};

class SpmTokenizer : public Tokenizer {
 public:
  // Throws Error naming `source` if sizes disagree, the vocabulary is empty, a special id is
  // out of range, or the space marker is not a piece.
  SpmTokenizer(SpmVocab vocab, const std::string& source);

  std::int32_t vocab_size() const override {
    return static_cast<std::int32_t>(vocab_.pieces.size());
  }
  Token bos_id() const override { return vocab_.bos_id; }
  Token eos_id() const override { return vocab_.eos_id; }
  std::vector<Token> encode(std::string_view text, bool add_bos) const override;
  std::string decode_token(Token prev, Token token) const override;
  // Skips BOS, EOS and control tokens; the first token decodes as if it followed BOS.
  std::string decode(std::span<const Token> tokens) const override;

  const std::string& piece(Token id) const;  // throws Error if out of range
  float score(Token id) const;               // throws Error if out of range

 private:
  Token find(std::string_view piece) const;
  bool skipped_in_decode(Token id) const;

  SpmVocab vocab_;
  std::unordered_map<std::string_view, Token> ids_;  // views into vocab_.pieces
  std::array<Token, 256> byte_ids_{};                // "<0xXX>" pieces, -1 when absent
  std::string source_;
};

}  // namespace speclab
