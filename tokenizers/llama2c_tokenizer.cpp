#include "tokenizers/llama2c_tokenizer.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "base/error.h"
#include "base/input_file.h"

namespace speclab {

namespace {

// Largest accepted max_token_length / piece length: real vocabularies stay far below this.
constexpr std::int32_t kMaxPieceBytes = 1 << 16;

// Whole file, regular files only (a tokenizer.bin of 32,000 pieces is ~0.5 MB; 1 GiB is the cap).
std::string read_file(const std::string& path) { return read_input_file(path, kMaxTextInputBytes, "a tokenizer file"); }

}  // namespace

std::unique_ptr<SpmTokenizer> load_llama2c_tokenizer(const std::string& path,
                                                     std::int32_t vocab_size) {
  if (vocab_size == 0 || vocab_size < -1) {
    fail("{}: vocab_size = {}: must be positive (or -1 to read the whole file)", path,
         vocab_size);
  }
  const std::string bytes = read_file(path);
  std::size_t pos = 0;
  auto read_i32 = [&](std::int32_t& v) {
    if (bytes.size() - pos < 4) return false;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return true;
  };
  auto read_f32 = [&](float& v) {
    if (bytes.size() - pos < 4) return false;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return true;
  };

  std::int32_t max_token_length = 0;
  if (!read_i32(max_token_length)) {
    fail("{}: file size = {} bytes: too short for the max_token_length header", path,
         bytes.size());
  }
  if (max_token_length <= 0 || max_token_length > kMaxPieceBytes) {
    fail("{}: max_token_length = {}: must be in [1, {}]", path, max_token_length, kMaxPieceBytes);
  }

  SpmVocab vocab;
  vocab.space_marker = " ";
  vocab.add_dummy_prefix = true;
  for (std::int32_t i = 0; vocab_size < 0 || i < vocab_size; ++i) {
    if (pos == bytes.size()) {
      if (vocab_size < 0) break;
      fail("{}: token {}: file ends after {} of {} tokens", path, i, i, vocab_size);
    }
    float score = 0.0f;
    std::int32_t length = 0;
    if (!read_f32(score) || !read_i32(length)) {
      fail("{}: token {}: record truncated at byte {}", path, i, pos);
    }
    if (length < 0 || length > max_token_length) {
      fail("{}: token {}: length = {}: must be in [0, max_token_length = {}]", path, i, length,
           max_token_length);
    }
    if (bytes.size() - pos < static_cast<std::size_t>(length)) {
      fail("{}: token {}: length = {} runs past the end of the file ({} bytes left)", path, i,
           length, bytes.size() - pos);
    }
    vocab.pieces.emplace_back(bytes.data() + pos, static_cast<std::size_t>(length));
    vocab.scores.push_back(score);
    pos += static_cast<std::size_t>(length);
  }
  if (pos != bytes.size()) {
    fail("{}: {} trailing bytes after {} tokens: vocabulary size does not match the file", path,
         bytes.size() - pos, vocab.pieces.size());
  }
  const auto n = static_cast<Token>(vocab.pieces.size());
  if (n <= kLlama2cEos) fail("{}: vocabulary size = {}: must exceed 2 (BOS = 1, EOS = 2)", path, n);
  vocab.bos_id = kLlama2cBos;
  vocab.eos_id = kLlama2cEos;
  vocab.unk_id = 0;
  return std::make_unique<SpmTokenizer>(std::move(vocab), path);
}

bool is_printable_piece(std::string_view piece) {
  if (piece.empty()) return false;
  if (piece.size() == 1) {
    const auto c = static_cast<unsigned char>(piece[0]);
    return std::isprint(c) || std::isspace(c);
  }
  return true;
}

}  // namespace speclab
