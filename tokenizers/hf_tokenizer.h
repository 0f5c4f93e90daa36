// Hugging Face `tokenizer.json` (the `tokenizers` library's serialization) with a `BPE` model.
// Supported components (anything else throws Error naming the component type):
//   normalizer:    Sequence, Prepend, Replace (String or Regex pattern), NFC/NFKC (ASCII text
//                  only: non-ASCII text throws at encode time since no Unicode tables are
//                  linked), null.
//   pre_tokenizer: Sequence, Split (String/Regex; behaviors Isolated, Removed,
//                  MergedWithPrevious, MergedWithNext, Contiguous; invert), Digits,
//                  ByteLevel (add_prefix_space, use_regex = GPT-2 pattern; must come last),
//                  Metaspace (replacement, prepend_scheme / add_prefix_space, split), null.
//   model:         BPE (vocab, merges as "a b" strings or [a, b] pairs, byte_fallback,
//                  ignore_merges, unk_token, fuse_unk; no dropout, no subword prefix/suffix).
//   decoder:       Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, null.
//   post_processor: only read to find BOS (TemplateProcessing starting with a special token).
// added_tokens are matched in the raw text before normalization (longest first, leftmost;
// lstrip/rstrip absorb neighbouring whitespace) and map straight to their ids. Their
// `normalized` and `single_word` flags are not interpreted (all are matched in raw text).
//
// Decoding keeps raw bytes (byte-level and <0xXX> pieces are concatenated as bytes, never
// replaced by U+FFFD), so decode(encode(s)) == s for every valid UTF-8 s the model can encode.
// decode() skips added tokens marked special and runs the decoder chain over the remaining
// pieces. decode_token(prev, t) runs the chain on the single piece; steps that only act at the
// start of a text (Strip's `start`, Metaspace's prefix removal) act only when prev is BOS.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace speclab {

// BOS/EOS ids to use instead of the ones guessed from the file (-2 = keep the guess).
// Without overrides, BOS is the first special token of a TemplateProcessing post-processor or
// an added token named <s> / <|begin_of_text|>; EOS an added token named </s> /
// <|end_of_text|> / <|endoftext|>; -1 when none is found.
struct HfSpecialIds {
  Token bos_id = -2;
  Token eos_id = -2;
};

class HfTokenizer : public Tokenizer {
 public:
  // Parses tokenizer.json text. `source` names the file in errors. Throws Error for malformed
  // JSON (with the byte position), unsupported components (naming the type) and
  // inconsistent vocabularies (naming the field).
  HfTokenizer(std::string_view json_text, const std::string& source, HfSpecialIds ids = {});
  ~HfTokenizer() override;

  std::int32_t vocab_size() const override;
  Token bos_id() const override;
  Token eos_id() const override;
  std::vector<Token> encode(std::string_view text, bool add_bos) const override;
  std::string decode_token(Token prev, Token token) const override;
  std::string decode(std::span<const Token> tokens) const override;

  // Id of a vocabulary piece or added token; -1 if absent.
  Token token_id(std::string_view piece) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads and parses a tokenizer.json file. Throws Error if the file cannot be read.
std::unique_ptr<HfTokenizer> load_hf_tokenizer(const std::string& path, HfSpecialIds ids = {});

}  // namespace speclab
