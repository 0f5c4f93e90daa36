// Streaming GGUF v3 writer (format: ggml's docs/gguf.md). Metadata and tensor infos are
// declared first; write() then emits the header and asks the caller for each tensor's encoded
// rows block by block, so a file larger than memory (a 7B-shaped Q4_K model is 3.9 GB) is
// written with memory bounded by one block. Tensors are laid out in declaration order, each
// padded to the alignment (general.alignment, written as metadata).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/quant.h"

namespace speclab {

class GgufWriter {
 public:
  explicit GgufWriter(std::uint32_t alignment = 32);

  void set_u32(std::string_view key, std::uint32_t v);
  void set_f32(std::string_view key, float v);
  void set_string(std::string_view key, std::string_view v);
  void set_string_array(std::string_view key, const std::vector<std::string>& v);
  void set_f32_array(std::string_view key, const std::vector<float>& v);
  void set_i32_array(std::string_view key, const std::vector<std::int32_t>& v);

  // Declares a tensor of rows x cols values (rows == 0: a vector of cols) stored as `type`
  // (any GGUF type of ops/quant.h; not q8_0f). Returns its index. Throws Error naming the
  // tensor when the type cannot hold rows of `cols` values (e.g. q4_k needs cols % 256 == 0).
  std::size_t add_tensor(std::string name, std::int64_t rows, std::int64_t cols, DType type);

  std::size_t n_tensors() const { return tensors_.size(); }
  // Bytes of one encoded row of tensor i (dtype_row_bytes of its type and cols).
  std::size_t row_bytes(std::size_t i) const;
  std::int64_t rows(std::size_t i) const;  // 1 for a vector
  std::int64_t cols(std::size_t i) const { return tensors_.at(i).cols; }
  DType type(std::size_t i) const { return tensors_.at(i).type; }
  // Size of the file write() produces.
  std::uint64_t file_size() const;

  // fill(i, row0, n, dst): write the encoded bytes of rows [row0, row0 + n) of tensor i to dst
  // (n * row_bytes(i) bytes). Called in file order; n * row_bytes(i) <= max(block_bytes,
  // row_bytes(i)).
  using FillRows =
      std::function<void(std::size_t tensor, std::int64_t row0, std::int64_t n, std::uint8_t* dst)>;
  using Sink = std::function<void(const std::uint8_t* data, std::size_t n)>;
  void write(const Sink& sink, const FillRows& fill, std::size_t block_bytes = 32u << 20) const;
  // write() to a new file at `path`; on any failure (cannot create, disk full) the partial file
  // is removed and an Error names the path and the reason.
  void write_file(const std::string& path, const FillRows& fill,
                  std::size_t block_bytes = 32u << 20) const;

 private:
  struct Tensor {
    std::string name;
    std::int64_t rows, cols;
    DType type;
    std::uint64_t offset;  // from the start of the data section
  };
  void key(std::string_view k, std::uint32_t type);
  std::vector<std::uint8_t> header() const;

  std::uint32_t alignment_;
  std::vector<std::uint8_t> kv_;
  std::uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
  std::uint64_t data_bytes_ = 0;  // padded
};

}  // namespace speclab
