#include "formats/gguf_container.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "base/error.h"
#include "base/half.h"

namespace speclab {

namespace {

constexpr int kMaxArrayDepth = 8;
constexpr std::uint32_t kMaxDims = 4;                   // GGML_MAX_DIMS
constexpr std::uint64_t kMaxElements = 1ull << 56;      // far beyond any model, keeps byte math exact
constexpr std::uint64_t kMaxAlignment = 1ull << 20;

bool is_valid_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GgufType::kFloat64); }

bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

bool is_signed_integer(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 ||
         t == GgufType::kInt64;
}

bool is_float(GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; }

// Smallest number of bytes one encoded value of type t can take (used to reject absurd counts).
std::uint64_t min_encoded_bytes(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    case GgufType::kString: return 8;   // length
    case GgufType::kArray: return 12;   // element type + count
  }
  return 1;
}

GgufType read_type(ByteReader& r, const std::string& field) {
  const std::uint64_t at = r.offset();
  const std::uint32_t t = r.read<std::uint32_t>(field);
  if (!is_valid_type(t)) {
    fail("{}: {} = {} at offset {}: unknown GGUF value type (valid: 0..12)", r.name(), field, t, at);
  }
  return static_cast<GgufType>(t);
}

std::string read_string(ByteReader& r, const std::string& field) {
  const std::uint64_t n = r.read<std::uint64_t>(field + " (string length)");
  const std::uint8_t* p = r.take(n, field + " (string bytes)");
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

// Reads a numeric or bool scalar of type t as the three scalar slots of a GgufValue.
void read_scalar(ByteReader& r, GgufType t, GgufValue& v, const std::string& field) {
  auto set_u = [&](std::uint64_t u) { v.uint_value = u; v.int_value = u > INT64_MAX ? INT64_MAX : std::int64_t(u); v.float_value = double(u); };
  auto set_i = [&](std::int64_t i) { v.int_value = i; v.uint_value = i < 0 ? 0 : std::uint64_t(i); v.float_value = double(i); };
  switch (t) {
    case GgufType::kUint8: set_u(r.read<std::uint8_t>(field)); break;
    case GgufType::kInt8: set_i(r.read<std::int8_t>(field)); break;
    case GgufType::kUint16: set_u(r.read<std::uint16_t>(field)); break;
    case GgufType::kInt16: set_i(r.read<std::int16_t>(field)); break;
    case GgufType::kUint32: set_u(r.read<std::uint32_t>(field)); break;
    case GgufType::kInt32: set_i(r.read<std::int32_t>(field)); break;
    case GgufType::kUint64: set_u(r.read<std::uint64_t>(field)); break;
    case GgufType::kInt64: set_i(r.read<std::int64_t>(field)); break;
    case GgufType::kFloat32: v.float_value = r.read<float>(field); break;
    case GgufType::kFloat64: v.float_value = r.read<double>(field); break;
    case GgufType::kBool: {
      const std::uint8_t b = r.read<std::uint8_t>(field);
      if (b > 1) fail("{}: {} = {}: a GGUF bool must be 0 or 1", r.name(), field, b);
      set_u(b);
      break;
    }
    default:
      SPECLAB_ASSERT(false && "not a scalar type");
  }
}

void read_value(ByteReader& r, GgufType t, GgufValue& v, const std::string& field, int depth) {
  v.type = t;
  if (t == GgufType::kString) {
    v.string_value = read_string(r, field);
    return;
  }
  if (t != GgufType::kArray) {
    read_scalar(r, t, v, field);
    return;
  }
  if (depth >= kMaxArrayDepth) {
    fail("{}: {}: arrays nested deeper than {} levels", r.name(), field, kMaxArrayDepth);
  }
  v.array_type = read_type(r, field + " (array element type)");
  const std::uint64_t n = r.read<std::uint64_t>(field + " (array count)");
  const std::uint64_t min_bytes = min_encoded_bytes(v.array_type);
  if (n > r.remaining() / min_bytes) {
    fail("{}: {}: array count {} of {} needs at least {} bytes per element but only {} bytes "
         "remain at offset {}",
         r.name(), field, n, gguf_type_name(v.array_type), min_bytes, r.remaining(), r.offset());
  }
  const std::size_t count = static_cast<std::size_t>(n);
  if (v.array_type == GgufType::kString) {
    v.strings.reserve(count);
    for (std::size_t i = 0; i < count; ++i) v.strings.push_back(read_string(r, field));
  } else if (v.array_type == GgufType::kArray) {
    v.arrays.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      read_value(r, GgufType::kArray, v.arrays[i], field + "[" + std::to_string(i) + "]", depth + 1);
    }
  } else {
    v.numbers.resize(count);
    GgufValue e;
    for (std::size_t i = 0; i < count; ++i) {
      read_scalar(r, v.array_type, e, field);
      v.numbers[i] = is_signed_integer(v.array_type) ? double(e.int_value)
                     : is_integer(v.array_type) || v.array_type == GgufType::kBool
                         ? double(e.uint_value)
                         : e.float_value;
    }
  }
}

// Block geometry of ggml tensor types (ggml.c type_traits): elements per block, bytes per block.
struct GgmlTypeInfo {
  const char* name;
  std::uint64_t block_elems;
  std::uint64_t block_bytes;
};

const GgmlTypeInfo* ggml_type_info(std::uint32_t type) {
  static constexpr struct { std::uint32_t id; GgmlTypeInfo info; } kTable[] = {
      {0, {"F32", 1, 4}},       {1, {"F16", 1, 2}},        {2, {"Q4_0", 32, 18}},
      {3, {"Q4_1", 32, 20}},    {6, {"Q5_0", 32, 22}},     {7, {"Q5_1", 32, 24}},
      {8, {"Q8_0", 32, 34}},    {9, {"Q8_1", 32, 36}},     {10, {"Q2_K", 256, 84}},
      {11, {"Q3_K", 256, 110}}, {12, {"Q4_K", 256, 144}},  {13, {"Q5_K", 256, 176}},
      {14, {"Q6_K", 256, 210}}, {15, {"Q8_K", 256, 292}},  {24, {"I8", 1, 1}},
      {25, {"I16", 1, 2}},      {26, {"I32", 1, 4}},       {27, {"I64", 1, 8}},
      {28, {"F64", 1, 8}},      {30, {"BF16", 1, 2}},
  };
  for (const auto& e : kTable) {
    if (e.id == type) return &e.info;
  }
  return nullptr;
}

std::uint64_t element_count(const GgufFile::TensorInfo& t) {
  std::uint64_t n = 1;
  for (std::uint64_t d : t.dims) n *= d;  // bounded by the checks at parse time
  return n;
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

std::uint64_t GgufValue::array_size() const {
  if (type != GgufType::kArray) return 0;
  if (array_type == GgufType::kString) return strings.size();
  if (array_type == GgufType::kArray) return arrays.size();
  return numbers.size();
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<const MappedFile>(path)) {
  ByteReader r(*file_);
  const std::uint8_t* magic = r.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    fail("{}: magic = {:02x} {:02x} {:02x} {:02x}: not a GGUF file (expected \"GGUF\")", path,
         magic[0], magic[1], magic[2], magic[3]);
  }
  version_ = r.read<std::uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    fail("{}: version = {}: unsupported (GGUF versions 2 and 3 are supported)", path, version_);
  }
  const std::uint64_t n_tensors = r.read<std::uint64_t>("tensor_count");
  const std::uint64_t n_kv = r.read<std::uint64_t>("metadata_kv_count");
  if (n_kv > r.remaining() / 13) {  // key length (8) + type (4) + smallest value (1)
    fail("{}: metadata_kv_count = {}: more pairs than the {} remaining bytes can hold", path, n_kv,
         r.remaining());
  }
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::string where = "metadata[" + std::to_string(i) + "]";
    std::string key = read_string(r, where + ".key");
    const GgufType t = read_type(r, "key " + key + " (value type)");
    GgufValue v;
    read_value(r, t, v, "key " + key, 0);
    if (!kv_.emplace(key, std::move(v)).second) fail("{}: key {}: duplicate key", path, key);
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (!is_integer(a->type) || a->uint_value == 0 || a->uint_value > kMaxAlignment ||
        (a->uint_value & (a->uint_value - 1)) != 0) {
      fail("{}: key general.alignment = {}: must be an integer power of two in [1, {}]", path,
           a->uint_value, kMaxAlignment);
    }
    alignment_ = a->uint_value;
  }
  if (n_tensors > r.remaining() / 24) {  // name length (8) + n_dims (4) + type (4) + offset (8)
    fail("{}: tensor_count = {}: more tensor infos than the {} remaining bytes can hold", path,
         n_tensors, r.remaining());
  }
  tensors_.resize(static_cast<std::size_t>(n_tensors));
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    TensorInfo& t = tensors_[i];
    t.name = read_string(r, "tensor_info[" + std::to_string(i) + "].name");
    const std::string field = "tensor " + t.name;
    const std::uint32_t n_dims = r.read<std::uint32_t>(field + " n_dims");
    if (n_dims == 0 || n_dims > kMaxDims) {
      fail("{}: {}: n_dims = {}: must be in [1, {}]", path, field, n_dims, kMaxDims);
    }
    t.dims.resize(n_dims);
    std::uint64_t n = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      t.dims[d] = r.read<std::uint64_t>(field + " dims");
      if (t.dims[d] == 0 || t.dims[d] > kMaxElements || n > kMaxElements / t.dims[d]) {
        fail("{}: {}: dims[{}] = {}: must be positive with fewer than 2^56 elements in total",
             path, field, d, t.dims[d]);
      }
      n *= t.dims[d];
    }
    t.type = r.read<std::uint32_t>(field + " type");
    t.offset = r.read<std::uint64_t>(field + " offset");
    if (t.offset % alignment_ != 0) {
      fail("{}: {}: offset = {}: must be a multiple of general.alignment = {}", path, field,
           t.offset, alignment_);
    }
    if (!tensor_index_.emplace(t.name, i).second) fail("{}: {}: duplicate tensor name", path, field);
  }
  data_offset_ = (r.offset() + alignment_ - 1) / alignment_ * alignment_;
  // Check the extent of every tensor whose type we know (unknown types fail when read).
  for (const TensorInfo& t : tensors_) {
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    if (ti == nullptr) continue;
    const std::uint64_t n = element_count(t);
    const std::uint64_t n_bytes = (n + ti->block_elems - 1) / ti->block_elems * ti->block_bytes;
    if (t.offset > file_->size() || data_offset_ > file_->size() - t.offset ||
        n_bytes > file_->size() - t.offset - data_offset_) {
      fail("{}: tensor {} data: offset {} + {} bytes beyond file size {}", path, t.name,
           data_offset_ + std::min<std::uint64_t>(t.offset, file_->size()), n_bytes, file_->size());
    }
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) fail("{}: key {}: missing", path(), key);
  return *v;
}

std::uint64_t GgufFile::get_uint(std::string_view key) const {
  const GgufValue& v = require(key);
  if (!is_integer(v.type)) {
    fail("{}: key {}: has type {}, expected an integer", path(), key, gguf_type_name(v.type));
  }
  if (is_signed_integer(v.type) && v.int_value < 0) {
    fail("{}: key {} = {}: must not be negative", path(), key, v.int_value);
  }
  return v.uint_value;
}

std::int64_t GgufFile::get_int(std::string_view key) const {
  const GgufValue& v = require(key);
  if (!is_integer(v.type)) {
    fail("{}: key {}: has type {}, expected an integer", path(), key, gguf_type_name(v.type));
  }
  if (!is_signed_integer(v.type) && v.uint_value > static_cast<std::uint64_t>(INT64_MAX)) {
    fail("{}: key {} = {}: exceeds the int64 range", path(), key, v.uint_value);
  }
  return v.int_value;
}

double GgufFile::get_float(std::string_view key) const {
  const GgufValue& v = require(key);
  if (!is_float(v.type) && !is_integer(v.type)) {
    fail("{}: key {}: has type {}, expected a number", path(), key, gguf_type_name(v.type));
  }
  return v.float_value;
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::kString) {
    fail("{}: key {}: has type {}, expected string", path(), key, gguf_type_name(v.type));
  }
  return v.string_value;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::kArray || v.array_type != GgufType::kString) {
    fail("{}: key {}: has type {}{}, expected array of string", path(), key,
         gguf_type_name(v.type),
         v.type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v.array_type)) : "");
  }
  return v.strings;
}

std::vector<float> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::kArray ||
      !(is_float(v.array_type) || is_integer(v.array_type))) {
    fail("{}: key {}: has type {}{}, expected array of numbers", path(), key,
         gguf_type_name(v.type),
         v.type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v.array_type)) : "");
  }
  return std::vector<float>(v.numbers.begin(), v.numbers.end());
}

std::vector<std::int32_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::kArray || !is_integer(v.array_type)) {
    fail("{}: key {}: has type {}{}, expected array of integers", path(), key,
         gguf_type_name(v.type),
         v.type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v.array_type)) : "");
  }
  std::vector<std::int32_t> out(v.numbers.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double x = v.numbers[i];
    if (x < INT32_MIN || x > INT32_MAX) {
      fail("{}: key {}[{}] = {}: outside the int32 range", path(), key, i, x);
    }
    out[i] = static_cast<std::int32_t>(x);
  }
  return out;
}

const GgufFile::TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// Bytes of tensor t (of a supported type, checked: element count, row length) inside the file.
const std::uint8_t* GgufFile::tensor_bytes(const TensorInfo& t, std::uint64_t expected_elements,
                                           DType& type) const {
  const std::uint64_t n = element_count(t);
  if (n != expected_elements) {
    fail("{}: tensor {} has {} elements: expected {}", path(), t.name, n, expected_elements);
  }
  const GgmlTypeInfo* ti = ggml_type_info(t.type);
  const std::optional<DType> dt = dtype_from_ggml(t.type);
  if (!dt) {
    fail("{}: tensor {}: ggml type id {} ({}): unsupported (supported: {})", path(), t.name,
         t.type, ti ? ti->name : "unknown", "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K");
  }
  type = *dt;
  const std::uint64_t block = static_cast<std::uint64_t>(dtype_traits(type).block_elems);
  if (t.dims[0] % block != 0) {
    fail("{}: tensor {}: dims[0] = {}: must be a multiple of the {} block size {}", path(), t.name,
         t.dims[0], ti->name, block);
  }
  const std::uint64_t n_bytes = n / block * static_cast<std::uint64_t>(dtype_traits(type).block_bytes);
  ByteReader r(*file_);
  if (t.offset > file_->size() - std::min(data_offset_, file_->size())) {
    r.fail_beyond("tensor " + t.name + " data", data_offset_ + t.offset, n_bytes);
  }
  r.seek(data_offset_ + t.offset, "tensor " + t.name + " data");
  return r.take(n_bytes, "tensor " + t.name + " data");
}

std::vector<float> GgufFile::read_tensor_f32(const TensorInfo& t,
                                             std::uint64_t expected_elements) const {
  DType type = DType::kF32;
  const std::uint8_t* p = tensor_bytes(t, expected_elements, type);
  std::vector<float> out(static_cast<std::size_t>(expected_elements));
  dequantize_row(type, p, out.data(), static_cast<std::int64_t>(expected_elements));
  return out;
}

WeightMatrix GgufFile::read_matrix(const TensorInfo& t, std::int64_t rows, std::int64_t cols) const {
  DType type = DType::kF32;
  const std::uint8_t* p =
      tensor_bytes(t, static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols), type);
  return WeightMatrix::view(type, rows, cols, p, file_);
}

}  // namespace speclab
