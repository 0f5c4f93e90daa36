// Byte-pair encoding building blocks shared by every tokenizer in tokenizers/:
//  - merge_pairs: the one "repeatedly merge the best adjacent pair" engine. SentencePiece-style
//    vocabularies rank a pair by the score of the merged piece (llama2.c run.c `encode`), GPT-2
//    style ones by the merge rank (lower merges first). Both pick the best pair over the whole
//    sequence each step, ties to the leftmost pair. Short sequences rescan a stack array of pair
//    candidates; long ones use a heap with lazy invalidation (same result, O(n log n)).
//  - Pcre2Regex: a compiled PCRE2 pattern (UTF + Unicode properties, JIT when available).
//  - byte-level alphabet of GPT-2 (`bytes_to_unicode`): every byte maps to one printable
//    code point so byte strings become vocabulary strings.
//  - BpeModel: vocabulary + merge ranks (the Hugging Face `BPE` model), encodes one pre-token.
//  - ByteLevelBpeTokenizer: GPT-2 style tokenizer (regex pre-tokenizer, byte-level alphabet,
//    merge ranks), used for GGUF `tokenizer.ggml.model = "gpt2"` vocabularies.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace speclab {

// A candidate merge of two adjacent symbols: the merged id and its priority (higher first).
struct PairMerge {
  Token merged = -1;
  double priority = 0.0;
};

// Heap engine for long sequences: candidates ordered by (priority desc, position asc), stale
// ones skipped when popped. Same result as rescanning; O(n log n).
template <typename FindPair>
void merge_pairs_heap(std::vector<Token>& ids, const FindPair& find) {
  const std::int32_t n = static_cast<std::int32_t>(ids.size());
  if (n < 2) return;
  struct Candidate {
    double priority;
    std::int32_t left, right;  // symbol slots
    Token left_id, right_id, merged;
  };
  struct Worse {
    bool operator()(const Candidate& a, const Candidate& b) const {
      if (a.priority != b.priority) return a.priority < b.priority;
      return a.left > b.left;
    }
  };
  std::vector<std::int32_t> next(n), prev(n);
  for (std::int32_t i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  std::vector<Candidate> storage;
  storage.reserve(static_cast<std::size_t>(n));
  std::priority_queue<Candidate, std::vector<Candidate>, Worse> heap(Worse{}, std::move(storage));
  auto push = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    if (std::optional<PairMerge> m = find(ids[left], ids[right])) {
      heap.push(Candidate{m->priority, left, right, ids[left], ids[right], m->merged});
    }
  };
  for (std::int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  std::vector<bool> alive(static_cast<std::size_t>(n), true);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // Stale when either side was merged away or changed since the candidate was pushed.
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || ids[c.left] != c.left_id ||
        ids[c.right] != c.right_id) {
      continue;
    }
    ids[c.left] = c.merged;
    alive[c.right] = false;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    push(prev[c.left], c.left);
    push(c.left, next[c.left]);
  }
  std::int32_t out = 0;
  for (std::int32_t i = 0; i >= 0 && i < n; i = next[i]) ids[out++] = ids[i];
  ids.resize(static_cast<std::size_t>(out));
}

// Merges adjacent symbols of `ids` in place until no pair merges. `find(a, b)` returns the
// merge of the pair (a, b) or std::nullopt. Each step merges the pair with the highest
// priority; ties go to the leftmost pair.
template <typename FindPair>
void merge_pairs(std::vector<Token>& ids, const FindPair& find) {
  const std::int32_t n = static_cast<std::int32_t>(ids.size());
  if (n < 2) return;
  if (n <= 64) {
    // Short sequences (almost every pre-token): keep the candidate of each adjacent pair in a
    // stack array and rescan it; only the two pairs around a merge are looked up again.
    std::array<std::optional<PairMerge>, 64> pair;
    std::int32_t m = n;
    for (std::int32_t i = 0; i + 1 < m; ++i) pair[i] = find(ids[i], ids[i + 1]);
    while (m > 1) {
      std::int32_t best = -1;
      for (std::int32_t i = 0; i + 1 < m; ++i) {
        if (pair[i] && (best < 0 || pair[i]->priority > pair[best]->priority)) best = i;
      }
      if (best < 0) break;
      ids[best] = pair[best]->merged;
      for (std::int32_t i = best + 1; i + 1 < m; ++i) {
        ids[i] = ids[i + 1];
        pair[i] = pair[i + 1];
      }
      --m;
      if (best > 0) pair[best - 1] = find(ids[best - 1], ids[best]);
      if (best + 1 < m) pair[best] = find(ids[best], ids[best + 1]);
    }
    ids.resize(static_cast<std::size_t>(m));
    return;
  }
  merge_pairs_heap(ids, find);
}

// Byte length of the UTF-8 sequence starting at `lead` (1 for invalid lead bytes).
std::size_t utf8_length(unsigned char lead);

// Returns the byte value of a byte-fallback piece "<0xXX>" (uppercase or lowercase hex), or -1.
int parse_byte_piece(std::string_view piece);

// GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the others to U+0100 onward,
// in byte order. Returned as UTF-8 strings indexed by byte.
const std::array<std::string, 256>& byte_level_alphabet();

// Maps raw bytes to the byte-level alphabet ("hi there" -> "hiĠthere").
std::string to_byte_level(std::string_view bytes);

// Inverse of to_byte_level; code points outside the alphabet are copied through unchanged.
std::string from_byte_level(std::string_view text);

// A compiled PCRE2 pattern (UTF + UCP, JIT if available). Not copyable; safe to use from
// several threads at once (match data is allocated per call). Throws Error naming `where` and
// the PCRE2 message and offset if the pattern does not compile.
class Pcre2Regex {
 public:
  Pcre2Regex(std::string_view pattern, const std::string& where);
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;
  // Byte ranges [begin, end) of all non-overlapping matches in `text`, left to right.
  // Empty matches are skipped. Throws Error if `text` is not valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The GPT-2 pre-tokenizer pattern (Hugging Face `ByteLevel` with use_regex).
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3 (tiktoken cl100k-style) and Qwen2 split patterns.
inline constexpr std::string_view kLlama3SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Appends the tokens of each word, encoding every distinct word once per call (a word seen
// before repeats the tokens it produced). `encode_one(word, out)` appends one word's tokens.
template <typename EncodeOne>
void encode_words_cached(std::span<const std::string_view> words, std::vector<Token>& out,
                         const EncodeOne& encode_one) {
  std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> seen;
  seen.reserve(words.size() / 4 + 16);
  for (std::string_view w : words) {
    if (auto it = seen.find(w); it != seen.end()) {
      const auto [begin, n] = it->second;
      for (std::size_t k = 0; k < n; ++k) {
        const Token t = out[begin + k];
        out.push_back(t);
      }
      continue;
    }
    const std::size_t begin = out.size();
    encode_one(w, out);
    seen.emplace(w, std::make_pair(begin, out.size() - begin));
  }
}

// Splits `text` into pieces: the matches of `regex` and the non-empty gaps between them,
// in order (Hugging Face Split with behavior Isolated).
std::vector<std::string_view> split_isolated(const Pcre2Regex& regex, std::string_view text);

struct BpeModelOptions {
  bool byte_fallback = false;  // unknown characters become "<0xXX>" pieces
  bool ignore_merges = false;  // a word found whole in the vocabulary is one token (Llama-3)
  Token unk_id = -1;           // used for unknown characters without byte fallback; -1 = none
};

// Vocabulary plus merge ranks. `pieces[id]` is the piece of token id (empty for holes);
// `merges[r]` is the pair merged with rank r (lower ranks merge first). Throws Error naming
// `source` for a merge whose parts or result are not in the vocabulary.
class BpeModel {
 public:
  BpeModel(const BpeModel&) = delete;  // ids_ holds views into pieces_
  BpeModel& operator=(const BpeModel&) = delete;
  BpeModel(std::vector<std::string> pieces,
           std::span<const std::pair<std::string, std::string>> merges, BpeModelOptions options,
           const std::string& source);
  std::int32_t size() const { return static_cast<std::int32_t>(pieces_.size()); }
  const std::string& piece(Token id) const { return pieces_[static_cast<std::size_t>(id)]; }
  Token find(std::string_view piece) const;  // -1 if absent
  // Appends the tokens of one pre-token (already in the model's alphabet) to `out`.
  // Throws Error naming `source` for a character it cannot encode.
  void encode_word(std::string_view word, std::vector<Token>& out) const;
  // Same as encode_word(to_byte_level(bytes), out) without building the string: `bytes` are
  // raw bytes of one pre-token of a byte-level vocabulary.
  void encode_byte_level_word(std::string_view bytes, std::vector<Token>& out) const;
  // Applies the merges to a sequence of symbols in place.
  void merge(std::vector<Token>& ids) const;

 private:
  struct Merge {
    std::int32_t rank;
    Token merged;
  };
  static std::uint64_t key(Token a, Token b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }
  std::vector<std::string> pieces_;
  std::unordered_map<std::string_view, Token> ids_;  // views into pieces_
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::array<Token, 256> byte_ids_{};  // "<0xXX>" pieces, -1 when absent
  std::array<Token, 256> byte_level_ids_{};  // piece of each byte's byte-level character, or -1
  BpeModelOptions options_;
  std::string source_;
};

// GPT-2 style byte-level BPE. `pieces` are in the byte-level alphabet; `special` marks ids
// (control tokens) that decode() skips. Throws Error naming `source` for a pattern that does
// not compile or a merge outside the vocabulary; encode() throws for a byte with no piece.
class ByteLevelBpeTokenizer : public Tokenizer {
 public:
  struct Config {
    std::vector<std::string> pieces;
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<bool> special;           // per id; may be empty
    // Pre-tokenizer: each pattern splits the pieces left by the previous one (matches and the
    // text between them become pieces), as llama.cpp applies its `regex_exprs`.
    std::vector<std::string> split_patterns{std::string(kGpt2SplitPattern)};
    Token bos_id = -1;
    Token eos_id = -1;
    bool ignore_merges = false;
  };
  ByteLevelBpeTokenizer(Config config, const std::string& source);
  ~ByteLevelBpeTokenizer() override;

  std::int32_t vocab_size() const override { return model_.size(); }
  Token bos_id() const override { return bos_id_; }
  Token eos_id() const override { return eos_id_; }
  std::vector<Token> encode(std::string_view text, bool add_bos) const override;
  std::string decode_token(Token prev, Token token) const override;
  std::string decode(std::span<const Token> tokens) const override;

 private:
  BpeModel model_;
  std::vector<std::unique_ptr<Pcre2Regex>> splits_;
  std::vector<bool> special_;
  Token bos_id_, eos_id_;
  std::string source_;
};

}  // namespace speclab
