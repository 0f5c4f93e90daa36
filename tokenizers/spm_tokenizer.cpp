#include "tokenizers/spm_tokenizer.h"

#include <optional>

#include "tokenizers/bpe_tokenizer.h"
#include "base/error.h"

namespace speclab {

SpmTokenizer::SpmTokenizer(SpmVocab vocab, const std::string& source)
    : vocab_(std::move(vocab)), source_(source) {
  const std::size_t n = vocab_.pieces.size();
  if (n == 0) fail("{}: vocabulary size = 0: must hold at least one piece", source);
  if (vocab_.scores.size() != n) {
    fail("{}: scores size = {}: must equal the number of pieces {}", source, vocab_.scores.size(),
         n);
  }
  if (!vocab_.types.empty() && vocab_.types.size() != n) {
    fail("{}: token types size = {}: must equal the number of pieces {}", source,
         vocab_.types.size(), n);
  }
  for (Token id : {vocab_.bos_id, vocab_.eos_id, vocab_.unk_id}) {
    if (id < -1 || id >= static_cast<Token>(n)) {
      fail("{}: special token id = {}: must be -1 or in [0, {})", source, id, n);
    }
  }
  if (vocab_.space_marker.empty()) fail("{}: space marker = '': must not be empty", source);
  ids_.reserve(n);
  byte_ids_.fill(-1);
  for (std::size_t id = 0; id < n; ++id) {
    const std::string& p = vocab_.pieces[id];
    ids_.emplace(std::string_view(p), static_cast<Token>(id));  // lowest id wins on duplicates
    const int byte = parse_byte_piece(p);
    if (byte >= 0 && byte_ids_[static_cast<std::size_t>(byte)] < 0) {
      byte_ids_[static_cast<std::size_t>(byte)] = static_cast<Token>(id);
    }
  }
  if (vocab_.add_dummy_prefix && find(vocab_.space_marker) < 0) {
    fail("{}: space marker '{}' is not a piece: the dummy prefix cannot be encoded", source,
         vocab_.space_marker);
  }
}

Token SpmTokenizer::find(std::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& SpmTokenizer::piece(Token id) const {
  if (id < 0 || id >= vocab_size()) {
    fail("{}: token id = {}: must be in [0, {})", source_, id, vocab_size());
  }
  return vocab_.pieces[static_cast<std::size_t>(id)];
}

float SpmTokenizer::score(Token id) const {
  piece(id);  // range check
  return vocab_.scores[static_cast<std::size_t>(id)];
}

std::vector<Token> SpmTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<Token> ids;
  if (add_bos && vocab_.bos_id >= 0) ids.push_back(vocab_.bos_id);
  if (text.empty()) return ids;

  // Normalize: spaces -> marker, plus the dummy prefix.
  const std::string& marker = vocab_.space_marker;
  std::string normalized;
  normalized.reserve(text.size() + marker.size());
  if (vocab_.add_dummy_prefix) normalized += marker;
  for (char c : text) {
    if (c == ' ') {
      normalized += marker;
    } else {
      normalized += c;
    }
  }

  // One symbol per code point (llama2.c: a lead byte and up to 3 continuation bytes), with
  // byte fallback for code points that are not pieces.
  std::vector<Token> symbols;
  symbols.reserve(normalized.size());
  const std::string_view s = normalized;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 1;
    while (i + len < s.size() && len < 4 &&
           (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) {
      ++len;
    }
    const std::string_view cp = s.substr(i, len);
    if (Token id = find(cp); id >= 0) {
      symbols.push_back(id);
    } else {
      for (unsigned char c : cp) {
        Token b = byte_ids_[c];
        if (b < 0) b = vocab_.unk_id;
        if (b < 0) {
          fail("{}: byte {} of the text has no piece: no <0x{:02X}> piece and no unk token",
               source_, static_cast<int>(c), static_cast<int>(c));
        }
        symbols.push_back(b);
      }
    }
    i += len;
  }

  // Merge by score of the merged piece (llama2.c: best score first, leftmost on ties).
  std::string joined;
  merge_pairs(symbols, [&](Token a, Token b) -> std::optional<PairMerge> {
    joined.assign(vocab_.pieces[static_cast<std::size_t>(a)])
        .append(vocab_.pieces[static_cast<std::size_t>(b)]);
    const Token merged = find(joined);
    if (merged < 0) return std::nullopt;
    return PairMerge{merged, static_cast<double>(vocab_.scores[static_cast<std::size_t>(merged)])};
  });
  ids.insert(ids.end(), symbols.begin(), symbols.end());
  return ids;
}

std::string SpmTokenizer::decode_token(Token prev, Token token) const {
  const std::string& raw = piece(token);
  if (const int byte = parse_byte_piece(raw); byte >= 0) {
    return std::string(1, static_cast<char>(byte));
  }
  std::string text;
  const std::string& marker = vocab_.space_marker;
  if (marker == " ") {
    text = raw;
  } else {
    text.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size();) {
      if (raw.compare(i, marker.size(), marker) == 0) {
        text += ' ';
        i += marker.size();
      } else {
        text += raw[i++];
      }
    }
  }
  if (prev >= 0 && prev == vocab_.bos_id && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

bool SpmTokenizer::skipped_in_decode(Token id) const {
  if (id == vocab_.bos_id || id == vocab_.eos_id) return true;
  if (!vocab_.types.empty() && id >= 0 && id < vocab_size()) {
    return vocab_.types[static_cast<std::size_t>(id)] ==
           static_cast<std::int32_t>(SpmTokenType::kControl);
  }
  return false;
}

std::string SpmTokenizer::decode(std::span<const Token> tokens) const {
  std::string out;
  bool at_start = true;  // the first token follows an implicit BOS
  Token prev = vocab_.bos_id;
  for (Token t : tokens) {
    if (skipped_in_decode(t)) {
      prev = t;
      at_start = t == vocab_.bos_id ? true : at_start;
      continue;
    }
    std::string text = decode_token(prev, t);
    if (at_start && vocab_.bos_id < 0 && !text.empty() && text[0] == ' ') text.erase(0, 1);
    out += text;
    prev = t;
    at_start = false;
  }
  return out;
}

}  // namespace speclab
