// Fixture writers for the model file readers: llama2.c checkpoints (v0/v1/v2) and GGUF v3
// files built from in-memory LlamaWeights (e.g. random_llama_weights), plus raw byte helpers so
// tests can truncate or corrupt files. Test-only code: failures to write abort the test via
// Error.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama_weights.h"

namespace speclab::testing {

// Little-endian byte buffer builder (also used by tests to hand-craft malformed files).
class ByteWriter {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  void put_f32s(const std::vector<float>& v) { put_bytes(v.data(), v.size() * sizeof(float)); }
  // GGUF string: uint64 length + bytes.
  void put_gguf_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    put_bytes(s.data(), s.size());
  }
  void pad_to(std::size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
  }
  std::size_t size() const { return bytes_.size(); }
  std::vector<std::uint8_t>& bytes() { return bytes_; }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

// Every array of `w` with a stable name ("token_embedding", "layers.0.wq", ..., "classifier";
// the classifier is empty when tied), in a fixed order: lets tests compare two models tensor
// by tensor.
struct NamedTensor {
  std::string name;
  std::vector<float> values;  // fp32 (matrices dequantised)
};
std::vector<NamedTensor> named_tensors(const LlamaWeights& w);

// A fresh directory under the system temp dir (unique per process and instance), removed with
// its contents on destruction. path("x.bin") names a file inside it.
class ScopedTempDir {
 public:
  ScopedTempDir();
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> read_bytes(const std::string& path);

// llama2.c checkpoint of `w` (version 0, 1 or 2; see formats/llama2c_weights.h). Version 2
// quantizes matrices like llama2.c's export.py: per group of group_size values,
// scale = max|x| / 127 (fp32), q = round(x / scale). group_size must divide every matrix size.
std::vector<std::uint8_t> llama2c_bytes(const LlamaWeights& w, int version, int group_size = 64);
void write_llama2c(const LlamaWeights& w, const std::string& path, int version,
                   int group_size = 64);

enum class GgufTensorType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ4_K, kQ5_K, kQ6_K };

// The ops/quant.h type of a GGUF fixture type.
DType gguf_fixture_dtype(GgufTensorType t);

// Tokenizer metadata embedded as tokenizer.ggml.* keys.
struct GgufVocab {
  std::string model = "llama";  // "llama" (sentencepiece) or "gpt2" (byte-level BPE)
  std::vector<std::string> tokens;
  std::vector<float> scores;            // may be empty
  std::vector<std::int32_t> token_types;  // may be empty
  std::vector<std::string> merges;      // may be empty
  int bos = 1;
  int eos = 2;
};

// GGUF v3 file of `w` (architecture "llama", alignment 32). Matrices and the embedding are
// stored as `type`; norms always F32 (as llama.cpp does). Q8_0 follows ggml's reference
// quantizer: per block of 32, d = max|x| / 127 stored as f16, q = round(x / d); the other
// block types use our quantisers (ops/quant.h quantize_row). A matrix already held in `type`
// is written byte for byte. Without a vocab
// the file carries llama.vocab_size; with one, the tokenizer.ggml.* keys instead.
// bos/eos: info.bos_id / info.eos_ids[0] unless a vocab gives them.
std::vector<std::uint8_t> gguf_bytes(const LlamaWeights& w, GgufTensorType type,
                                     const GgufVocab* vocab = nullptr);
void write_gguf(const LlamaWeights& w, const std::string& path, GgufTensorType type,
                const GgufVocab* vocab = nullptr);

}  // namespace speclab::testing
