#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizers/bpe_tokenizer.h"

#include <pcre2.h>

#include "base/error.h"

namespace speclab {

std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::array<std::string, 256> make_byte_level_alphabet() {
  std::array<std::string, 256> alphabet;
  std::uint32_t next_extra = 256;
  for (std::uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    append_utf8(alphabet[b], printable ? b : next_extra++);
  }
  return alphabet;
}

// Code point -> byte for the byte-level alphabet (all code points are below 324).
std::array<int, 324> make_byte_level_inverse() {
  std::array<int, 324> inverse;
  inverse.fill(-1);
  std::uint32_t next_extra = 256;
  for (std::uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    inverse[printable ? b : next_extra++] = static_cast<int>(b);
  }
  return inverse;
}

}  // namespace

const std::array<std::string, 256>& byte_level_alphabet() {
  static const std::array<std::string, 256> alphabet = make_byte_level_alphabet();
  return alphabet;
}

std::string to_byte_level(std::string_view bytes) {
  const auto& alphabet = byte_level_alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += alphabet[c];
  return out;
}

std::string from_byte_level(std::string_view text) {
  static const std::array<int, 324> inverse = make_byte_level_inverse();
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    std::size_t len = utf8_length(lead);
    if (i + len > text.size()) len = 1;
    std::uint32_t cp = lead;
    if (len == 2) cp = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
    if (len <= 2 && cp < inverse.size() && inverse[cp] >= 0) {
      out += static_cast<char>(inverse[cp]);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pcre2Regex

struct Pcre2Regex::Impl {
  pcre2_code* code = nullptr;
  std::string where;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

Pcre2Regex::Pcre2Regex(std::string_view pattern, const std::string& where)
    : impl_(std::make_unique<Impl>()) {
  impl_->where = where;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("{}: regex pattern '{}' does not compile at offset {}: {}", where, pattern, error_offset,
         reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on error
}

Pcre2Regex::~Pcre2Regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> Pcre2Regex::find_all(
    std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  SPECLAB_ASSERT(data != nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  std::uint32_t options = 0;
  while (offset <= text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), offset, options, data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail("{}: text cannot be pre-tokenized (regex match failed at byte {}): {}", impl_->where,
           offset, reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const std::size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      offset = end;
      options = 0;
    } else {
      // Empty match: step over one whole character so the next search starts on a boundary.
      if (begin >= text.size()) break;
      offset = begin + utf8_length(static_cast<unsigned char>(text[begin]));
    }
    // After the first call, the subject's UTF-8 validity is already established.
    options = PCRE2_NO_UTF_CHECK;
  }
  pcre2_match_data_free(data);
  return matches;
}

std::vector<std::string_view> split_isolated(const Pcre2Regex& regex, std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t last = 0;
  for (const auto& [b, e] : regex.find_all(text)) {
    if (b > last) parts.push_back(text.substr(last, b - last));
    parts.push_back(text.substr(b, e - b));
    last = e;
  }
  if (last < text.size()) parts.push_back(text.substr(last));
  return parts;
}

// ---------------------------------------------------------------------------------------------
// BpeModel

BpeModel::BpeModel(std::vector<std::string> pieces,
                   std::span<const std::pair<std::string, std::string>> merges,
                   BpeModelOptions options, const std::string& source)
    : pieces_(std::move(pieces)), options_(options), source_(source) {
  ids_.reserve(pieces_.size());
  byte_ids_.fill(-1);
  for (std::size_t id = 0; id < pieces_.size(); ++id) {
    const std::string& p = pieces_[id];
    if (p.empty()) continue;
    ids_.emplace(std::string_view(p), static_cast<Token>(id));  // first id wins on duplicates
    const int byte = parse_byte_piece(p);
    if (byte >= 0 && byte_ids_[static_cast<std::size_t>(byte)] < 0) {
      byte_ids_[static_cast<std::size_t>(byte)] = static_cast<Token>(id);
    }
  }
  for (std::size_t b = 0; b < 256; ++b) byte_level_ids_[b] = find(byte_level_alphabet()[b]);
  if (options_.unk_id >= size()) {
    fail("{}: unk token id = {}: must be below the vocabulary size {}", source, options_.unk_id,
         size());
  }
  merges_.reserve(merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const Token ia = find(a), ib = find(b);
    joined.assign(a).append(b);
    const Token merged = find(joined);
    if (ia < 0 || ib < 0 || merged < 0) {
      fail("{}: merges[{}] = '{} {}': both parts and their concatenation must be in the vocabulary",
           source, rank, a, b);
    }
    // A repeated pair keeps its first (lowest) rank, as in Hugging Face tokenizers.
    merges_.emplace(key(ia, ib), Merge{static_cast<std::int32_t>(rank), merged});
  }
}

Token BpeModel::find(std::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

void BpeModel::merge(std::vector<Token>& ids) const {
  merge_pairs(ids, [this](Token a, Token b) -> std::optional<PairMerge> {
    auto it = merges_.find(key(a, b));
    if (it == merges_.end()) return std::nullopt;
    return PairMerge{it->second.merged, -static_cast<double>(it->second.rank)};
  });
}

void BpeModel::encode_byte_level_word(std::string_view bytes, std::vector<Token>& out) const {
  const std::size_t begin = out.size();
  for (unsigned char c : bytes) {
    if (byte_level_ids_[c] < 0 || options_.ignore_merges) {
      // Rare bytes without a piece (or whole-word lookups): the general path handles them.
      out.resize(begin);
      encode_word(to_byte_level(bytes), out);
      return;
    }
    out.push_back(byte_level_ids_[c]);
  }
  if (out.size() - begin < 2) return;
  std::vector<Token> symbols(out.begin() + static_cast<std::ptrdiff_t>(begin), out.end());
  merge(symbols);
  out.resize(begin);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::encode_word(std::string_view word, std::vector<Token>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (Token id = find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Token> symbols;
  symbols.reserve(word.size());
  for (std::size_t i = 0; i < word.size();) {
    std::size_t len = utf8_length(static_cast<unsigned char>(word[i]));
    if (i + len > word.size()) len = word.size() - i;
    const std::string_view ch = word.substr(i, len);
    if (Token id = find(ch); id >= 0) {
      symbols.push_back(id);
    } else if (options_.byte_fallback &&
               [&] {
                 for (unsigned char c : ch) {
                   if (byte_ids_[c] < 0) return false;
                 }
                 return true;
               }()) {
      for (unsigned char c : ch) symbols.push_back(byte_ids_[c]);
    } else if (options_.unk_id >= 0) {
      symbols.push_back(options_.unk_id);
    } else {
      fail("{}: character '{}' (byte {}) has no token, no byte fallback and no unk token",
           source_, ch, static_cast<int>(static_cast<unsigned char>(ch[0])));
    }
    i += len;
  }
  merge(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// ---------------------------------------------------------------------------------------------
// ByteLevelBpeTokenizer

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(Config config, const std::string& source)
    : model_(std::move(config.pieces), config.merges,
             BpeModelOptions{false, config.ignore_merges, -1}, source),
      special_(std::move(config.special)),
      bos_id_(config.bos_id),
      eos_id_(config.eos_id),
      source_(source) {
  special_.resize(static_cast<std::size_t>(model_.size()), false);
  for (const std::string& pattern : config.split_patterns) {
    splits_.push_back(std::make_unique<Pcre2Regex>(pattern, source + ": pre-tokenizer"));
  }
  for (Token id : {bos_id_, eos_id_}) {
    if (id >= model_.size()) {
      fail("{}: special token id = {}: must be below the vocabulary size {}", source, id,
           model_.size());
    }
    if (id >= 0) special_[static_cast<std::size_t>(id)] = true;
  }
}

ByteLevelBpeTokenizer::~ByteLevelBpeTokenizer() = default;

std::vector<Token> ByteLevelBpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<Token> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  std::vector<std::string_view> words{text}, next;
  for (const auto& regex : splits_) {
    next.clear();
    for (std::string_view w : words) {
      for (std::string_view part : split_isolated(*regex, w)) next.push_back(part);
    }
    words.swap(next);
  }
  encode_words_cached(words, out, [this](std::string_view w, std::vector<Token>& o) {
    model_.encode_byte_level_word(w, o);
  });
  return out;
}

std::string ByteLevelBpeTokenizer::decode_token(Token prev, Token token) const {
  if (token < 0 || token >= model_.size()) {
    fail("{}: token id = {}: must be in [0, {})", source_, token, model_.size());
  }
  return from_byte_level(model_.piece(token));
}

std::string ByteLevelBpeTokenizer::decode(std::span<const Token> tokens) const {
  std::string out;
  Token prev = bos_id_;
  for (Token t : tokens) {
    if (t >= 0 && t < model_.size() && special_[static_cast<std::size_t>(t)]) {
      prev = t;
      continue;
    }
    out += decode_token(prev, t);
    prev = t;
  }
  return out;
}

}  // namespace speclab
