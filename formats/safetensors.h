// Reader for the Hugging Face safetensors format (huggingface/safetensors, "format" section):
//
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data section]
//   header = { "<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]},
//              ..., "__metadata__": {"<key>": "<string>", ...} (optional) }
//
// Offsets are relative to the start of the data section. The file is memory-mapped read-only;
// tensors are converted to fp32 on request (F32 copied, F16 / BF16 widened exactly with
// base/half.h).
//
// Validation (every failure throws speclab::Error naming the file and the offending part):
// file shorter than 8 bytes; N beyond the file or above 100 MB (the format's limit); header not
// a JSON object (the message gives the absolute byte position of a syntax error); entries
// missing dtype / shape / data_offsets or of the wrong JSON type; unknown dtype strings;
// negative dims or a shape whose byte size overflows; begin > end; end beyond the data section;
// shape product x dtype size != end - begin; overlapping tensors. Holes are errors too: like
// the reference implementation, the data section must be covered exactly (tensors sorted by
// offset tile [0, data size) with no gaps and no trailing bytes), which rules out polyglot
// files. Known dtypes that are not floating point (I64, U8, BOOL, ...) parse fine; reading
// them as fp32 throws.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/mapped_file.h"
#include "ops/weight_matrix.h"

namespace speclab {

enum class SafetensorsDtype {
  kF32, kF16, kBF16,  // convertible to fp32
  kF64, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8, kBool, kF8E4M3, kF8E5M2,
};

// "F32", "BF16", ... as spelled in the header.
std::string_view safetensors_dtype_name(SafetensorsDtype t);
// Bytes per element.
std::int64_t safetensors_dtype_size(SafetensorsDtype t);
// Parses a header dtype string; false when it is not a safetensors dtype.
bool parse_safetensors_dtype(std::string_view s, SafetensorsDtype& out);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<std::int64_t> shape;  // empty = scalar
  std::int64_t begin = 0;           // byte offsets into the data section, end exclusive
  std::int64_t end = 0;

  std::int64_t n_elements() const;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws Error as described at the top of this file.
  explicit SafetensorsFile(const std::string& path);
  // Move-only (MappedFile); tensors() keeps its heap buffer across moves.

  const std::string& path() const { return path_; }
  // All tensors, sorted by name.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsTensor* find(std::string_view name) const;
  // "__metadata__" entries (string to string).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's bytes inside the mapping (valid while this object lives).
  std::span<const std::byte> raw(const SafetensorsTensor& t) const;
  // The tensor converted to fp32, row-major as stored. Throws Error for non-float dtypes.
  std::vector<float> read_f32(const SafetensorsTensor& t) const;
  // A float tensor of rows * cols elements as a matrix in its stored type (F32, F16, BF16): a
  // view into the memory map, kept alive by the matrix. Throws Error for other dtypes.
  WeightMatrix read_matrix(const SafetensorsTensor& t, std::int64_t rows, std::int64_t cols) const;

 private:
  std::string path_;
  std::shared_ptr<const MappedFile> map_;
  std::int64_t data_start_ = 0;  // 8 + N
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: fp32 values, row-major, shape product == data.size().
struct SafetensorsOut {
  std::string name;
  std::vector<std::int64_t> shape;
  std::span<const float> data;
};

// Writes an F32 safetensors file (tensors in the given order, header padded with spaces to a
// multiple of 8 bytes, optional "__metadata__"). Throws Error naming the path when the file
// cannot be written or a shape does not match its data.
void write_safetensors_f32(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                           const std::map<std::string, std::string>& metadata = {});

}  // namespace speclab
