// Opens any supported tokenizer by looking at the content, not the file name:
//   - a directory: a Hugging Face model folder; reads <dir>/tokenizer.json and takes BOS/EOS
//     from <dir>/config.json (bos_token_id / eos_token_id) when present;
//   - a file starting with the GGUF magic: the vocabulary embedded in a GGUF model
//     (tokenizer.ggml.model "llama" -> SentencePiece-style BPE by scores; "gpt2" -> byte-level
//     BPE with tokenizer.ggml.merges);
//   - a file whose first non-blank byte is '{': a Hugging Face tokenizer.json;
//   - anything else: a llama2.c tokenizer.bin.
// Throws Error naming the path for a missing path or a file that fails its format's checks.
#pragma once
#include <memory>
#include <string>

#include "tokenizers/tokenizer.h"

namespace speclab {

class GgufFile;

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The vocabulary embedded in a GGUF file (llama.cpp conventions): tokenizer.ggml.model,
// .tokens, .scores, .token_type, .merges, .bos_token_id, .eos_token_id, .unknown_token_id,
// .add_space_prefix (llama, default true) and .pre (gpt2 pre-tokenizer name: default / gpt2,
// llama-bpe / llama3, qwen2, smollm; others throw). Control tokens are skipped by decode() but
// are not matched in raw text by encode(). Throws Error naming the file and the key.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& gguf);

}  // namespace speclab
