// llama2.c `tokenizer.bin` (Karpathy's llama2.c, `build_tokenizer` in run.c): int32
// max_token_length, then per token: float32 score, int32 length, `length` bytes (no NUL). Ids are
// the record order; BOS = 1, EOS = 2; pieces carry a real space (not U+2581) and byte pieces are
// "<0xXX>". Encoding and decoding follow run.c's `encode`/`decode` (see tokenizers/spm_tokenizer.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tokenizers/spm_tokenizer.h"

namespace speclab {

inline constexpr Token kLlama2cBos = 1;
inline constexpr Token kLlama2cEos = 2;

// Reads a tokenizer.bin. `vocab_size` is the number of records the model expects (-1: read
// records until the end of the file). Throws Error naming the file (and the token index) for
// a missing/unreadable file, a bad max_token_length, a truncated record, a negative or absurd
// length (over max_token_length or past the end), fewer records than `vocab_size`, or trailing
// bytes after `vocab_size` records.
std::unique_ptr<SpmTokenizer> load_llama2c_tokenizer(const std::string& path,
                                                     std::int32_t vocab_size = -1);

// llama2.c `safe_printf` rule for printing a decoded piece: false for an empty piece and for a
// single byte that is neither printable nor whitespace (stray control bytes); true otherwise.
// Printing belongs to the CLI; decode() itself never drops bytes.
bool is_printable_piece(std::string_view piece);

}  // namespace speclab
