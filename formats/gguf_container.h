// GGUF (llama.cpp / ggml model container, versions 2 and 3) parser. Layout (little-endian):
//   "GGUF" magic, uint32 version, uint64 tensor_count, uint64 metadata_kv_count,
//   kv pairs (gguf string key = uint64 length + bytes, uint32 value type, value),
//   tensor infos (string name, uint32 n_dims, uint64 dims[n_dims] fastest-varying first,
//   uint32 ggml type, uint64 offset relative to the data section),
//   padding to `general.alignment` (default 32), data section.
// Arrays are uint32 element type + uint64 count + elements (arrays may nest).
//
// The whole file is memory-mapped; metadata is parsed eagerly, tensor data converted on demand.
// Every length, count, dimension and offset is checked against the file size before use
// (absurd counts are rejected before allocating). Bad input throws Error naming the file and
// the key / tensor / field.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/mapped_file.h"
#include "ops/weight_matrix.h"

namespace speclab {

enum class GgufType : std::uint32_t {
  kUint8 = 0, kInt8, kUint16, kInt16, kUint32, kInt32, kFloat32, kBool, kString, kArray,
  kUint64, kInt64, kFloat64
};

std::string_view gguf_type_name(GgufType t);

// ggml tensor type ids used here (ggml.h `enum ggml_type`).
inline constexpr std::uint32_t kGgmlF32 = 0;
inline constexpr std::uint32_t kGgmlF16 = 1;
inline constexpr std::uint32_t kGgmlQ4_0 = 2;
inline constexpr std::uint32_t kGgmlQ4_1 = 3;
inline constexpr std::uint32_t kGgmlQ8_0 = 8;
inline constexpr std::uint32_t kGgmlQ4_K = 12;
inline constexpr std::uint32_t kGgmlQ5_K = 13;
inline constexpr std::uint32_t kGgmlQ6_K = 14;
inline constexpr std::uint32_t kGgmlBF16 = 30;

// One metadata value. Scalars: integers in int_value (signed types) or uint_value (unsigned
// types and bool), floats in float_value, strings in string_value. Arrays (type == kArray):
// element type in array_type, elements in `strings` (string arrays), `numbers` (numeric and bool
// arrays, exact for |value| < 2^53) or `arrays` (nested arrays).
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType array_type = GgufType::kUint8;
  std::int64_t int_value = 0;
  std::uint64_t uint_value = 0;
  double float_value = 0.0;
  std::string string_value;
  std::vector<std::string> strings;
  std::vector<double> numbers;
  std::vector<GgufValue> arrays;

  std::uint64_t array_size() const;  // element count of an array value
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);  // parses header, all metadata, tensor infos

  const std::string& path() const { return file_->path(); }
  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // start of the data section

  bool has(std::string_view key) const { return find(key) != nullptr; }
  const GgufValue* find(std::string_view key) const;  // nullptr if absent
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return kv_; }

  // Typed getters: throw Error naming file + key (+ actual type) when absent or of wrong type.
  std::uint64_t get_uint(std::string_view key) const;  // any integer type, checked >= 0
  std::int64_t get_int(std::string_view key) const;    // any integer type, checked <= INT64_MAX
  double get_float(std::string_view key) const;        // f32 / f64, integers accepted
  std::string get_string(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;         // numeric arrays
  std::vector<std::int32_t> get_int_array(std::string_view key) const;    // integer arrays, int32 range

  struct TensorInfo {
    std::string name;
    std::vector<std::uint64_t> dims;  // fastest-varying first: ne[0] = columns (in_features)
    std::uint32_t type = 0;           // ggml type id
    std::uint64_t offset = 0;         // relative to data_offset()
  };
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent

  // The tensor converted to fp32 (any type of ops/quant.h with a ggml id; other types: Error
  // naming the tensor and the type), element count checked against `expected_elements`, bytes
  // checked against the file size.
  std::vector<float> read_tensor_f32(const TensorInfo& t, std::uint64_t expected_elements) const;
  // The tensor as a [rows, cols] matrix in its stored type: a view into the memory map (which
  // the matrix keeps alive), no copy. Same checks as read_tensor_f32, plus dims[0] (the row
  // length) a whole number of blocks.
  WeightMatrix read_matrix(const TensorInfo& t, std::int64_t rows, std::int64_t cols) const;

 private:
  const GgufValue& require(std::string_view key) const;
  const std::uint8_t* tensor_bytes(const TensorInfo& t, std::uint64_t expected_elements,
                                   DType& type) const;

  std::shared_ptr<const MappedFile> file_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue, std::less<>> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace speclab
