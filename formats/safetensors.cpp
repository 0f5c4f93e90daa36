#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_input.h"
#include "base/half.h"

namespace speclab {

namespace {

struct DtypeEntry {
  SafetensorsDtype dtype;
  const char* name;
  std::int64_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {SafetensorsDtype::kF32, "F32", 4},     {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},   {SafetensorsDtype::kF64, "F64", 8},
    {SafetensorsDtype::kI64, "I64", 8},     {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kI16, "I16", 2},     {SafetensorsDtype::kI8, "I8", 1},
    {SafetensorsDtype::kU64, "U64", 8},     {SafetensorsDtype::kU32, "U32", 4},
    {SafetensorsDtype::kU16, "U16", 2},     {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kBool, "BOOL", 1},   {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1},
};

// The safetensors reference implementation refuses headers above 100 MB.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::string json_type(const nlohmann::json& j) {
  if (j.is_number_integer()) return "integer";
  if (j.is_number_float()) return "float";
  return j.type_name();
}

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDtype t) {
  for (const auto& e : kDtypes) {
    if (e.dtype == t) return e.name;
  }
  SPECLAB_ASSERT(false);
  return {};
}

std::int64_t safetensors_dtype_size(SafetensorsDtype t) {
  for (const auto& e : kDtypes) {
    if (e.dtype == t) return e.size;
  }
  SPECLAB_ASSERT(false);
  return 0;
}

bool parse_safetensors_dtype(std::string_view s, SafetensorsDtype& out) {
  for (const auto& e : kDtypes) {
    if (s == e.name) {
      out = e.dtype;
      return true;
    }
  }
  return false;
}

std::int64_t SafetensorsTensor::n_elements() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {

std::int64_t get_offset(const std::string& path, const std::string& name,
                        const nlohmann::json& v) {
  if (!v.is_number_unsigned()) {  // nlohmann parses non-negative integers as unsigned
    fail("{}: tensor {}: data_offsets = {}: must be two non-negative integers", path, quote_untrusted(name),
         json_excerpt(v));
  }
  const std::uint64_t u = v.get<std::uint64_t>();
  if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    fail("{}: tensor {}: data offset {} is out of range", path, quote_untrusted(name), u);
  }
  return static_cast<std::int64_t>(u);
}

SafetensorsTensor parse_entry(const std::string& path, const std::string& name,
                              const nlohmann::json& e) {
  if (!e.is_object()) {
    fail("{}: tensor {}: header entry is a JSON {}: must be an object with dtype, shape and "
         "data_offsets",
         path, quote_untrusted(name), json_type(e));
  }
  SafetensorsTensor t;
  t.name = name;
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!e.contains(key)) fail("{}: tensor {}: field {} is missing", path, quote_untrusted(name), key);
  }
  const auto& dt = e.at("dtype");
  if (!dt.is_string()) {
    fail("{}: tensor {}: dtype = {}: must be a string (found {})", path, quote_untrusted(name), json_excerpt(dt),
         json_type(dt));
  }
  if (!parse_safetensors_dtype(dt.get<std::string>(), t.dtype)) {
    fail("{}: tensor {}: dtype = {}: unknown safetensors dtype (known: F64, F32, F16, BF16, "
         "I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2)",
         path, quote_untrusted(name), dt.get<std::string>());
  }
  const auto& sh = e.at("shape");
  if (!sh.is_array()) {
    fail("{}: tensor {}: shape = {}: must be an array of non-negative integers (found {})", path,
         name, json_excerpt(sh), json_type(sh));
  }
  // Element count and byte size, checked against overflow at every step.
  const std::int64_t esize = safetensors_dtype_size(t.dtype);
  std::int64_t n_bytes = esize;
  for (const auto& d : sh) {
    if (!d.is_number_unsigned()) {
      fail("{}: tensor {}: shape = {}: must be an array of non-negative integers", path, quote_untrusted(name),
           json_excerpt(sh));
    }
    const std::uint64_t u = d.get<std::uint64_t>();
    if (u > (1ull << 40) || (u > 0 && n_bytes > std::numeric_limits<std::int64_t>::max() /
                                                    static_cast<std::int64_t>(u))) {
      fail("{}: tensor {}: shape = {}: byte size overflows", path, quote_untrusted(name), json_excerpt(sh));
    }
    t.shape.push_back(static_cast<std::int64_t>(u));
    n_bytes *= static_cast<std::int64_t>(u);
  }
  const auto& off = e.at("data_offsets");
  if (!off.is_array() || off.size() != 2) {
    fail("{}: tensor {}: data_offsets = {}: must be two non-negative integers [begin, end]",
         path, quote_untrusted(name), json_excerpt(off));
  }
  t.begin = get_offset(path, quote_untrusted(name), off[0]);
  t.end = get_offset(path, quote_untrusted(name), off[1]);
  if (t.begin > t.end) {
    fail("{}: tensor {}: data_offsets = [{}, {}]: begin must not exceed end", path, quote_untrusted(name), t.begin,
         t.end);
  }
  if (t.end - t.begin != n_bytes) {
    fail("{}: tensor {}: data_offsets = [{}, {}] span {} bytes: shape {} of {} needs {} bytes",
         path, quote_untrusted(name), t.begin, t.end, t.end - t.begin, json_excerpt(sh), dt.get<std::string>(), n_bytes);
  }
  return t;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path)
    : path_(path), map_(std::make_shared<const MappedFile>(path)) {
  const std::uint64_t file_size = map_->size();
  if (file_size < 8) {
    fail("{}: file is {} bytes: a safetensors file starts with an 8-byte header length", path,
         file_size);
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | map_->data()[i];
  if (n > file_size - 8) {
    fail("{}: header length = {}: beyond the end of the file ({} bytes)", path, n, file_size);
  }
  if (n > kMaxHeaderBytes) {
    fail("{}: header length = {}: above the 100 MB safetensors limit", path, n);
  }
  data_start_ = static_cast<std::int64_t>(8 + n);
  const std::int64_t data_size = static_cast<std::int64_t>(file_size) - data_start_;

  const char* text = reinterpret_cast<const char*>(map_->data() + 8);
  // The header text starts after the 8 length bytes: errors report file offsets.
  const nlohmann::json header = parse_json(std::string_view(text, n), path + ": safetensors header", 8);
  if (!header.is_object()) {
    fail("{}: safetensors header is a JSON {}: must be an object", path, json_type(header));
  }

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_null()) continue;
      if (!entry.is_object()) {
        fail("{}: __metadata__ is a JSON {}: must be an object of strings", path,
             json_type(entry));
      }
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) {
          fail("{}: __metadata__.{} = {}: must be a string (found {})", path, quote_untrusted(k), json_excerpt(v),
               json_type(v));
        }
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    SafetensorsTensor t = parse_entry(path, quote_untrusted(name), entry);
    if (t.end > data_size) {
      fail("{}: tensor {}: data_offsets = [{}, {}]: end is beyond the data section ({} bytes)",
           path, quote_untrusted(name), t.begin, t.end, data_size);
    }
    tensors_.push_back(std::move(t));
  }

  // Overlaps and holes: sorted by offset, tensors must tile the data section exactly.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::int64_t pos = 0;
  const SafetensorsTensor* prev = nullptr;
  for (const auto* t : by_offset) {
    if (t->begin < pos) {
      fail("{}: tensor {} [{}, {}] overlaps tensor {} [{}, {}]", path, t->name, t->begin, t->end,
           prev->name, prev->begin, prev->end);
    }
    if (t->begin > pos) {
      fail("{}: hole in the data section: bytes [{}, {}) before tensor {} belong to no tensor",
           path, pos, t->begin, t->name);
    }
    pos = t->end;
    prev = t;
  }
  if (pos != data_size) {
    fail("{}: hole in the data section: trailing bytes [{}, {}) belong to no tensor", path, pos,
         data_size);
  }
  std::sort(tensors_.begin(), tensors_.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const SafetensorsTensor& t, std::string_view n) {
                               return std::string_view(t.name) < n;
                             });
  return (it != tensors_.end() && it->name == name) ? &*it : nullptr;
}

std::span<const std::byte> SafetensorsFile::raw(const SafetensorsTensor& t) const {
  return {reinterpret_cast<const std::byte*>(map_->data()) + data_start_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

std::vector<float> SafetensorsFile::read_f32(const SafetensorsTensor& t) const {
  const auto bytes = raw(t);
  const std::size_t n = static_cast<std::size_t>(t.n_elements());
  std::vector<float> out(n);
  switch (t.dtype) {
    case SafetensorsDtype::kF32:
      // safetensors stores little-endian; this reader targets little-endian hosts.
      if (n > 0) std::memcpy(out.data(), bytes.data(), n * 4);
      break;
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16: {
      const bool is_bf16 = t.dtype == SafetensorsDtype::kBF16;
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        out[i] = is_bf16 ? bf16_to_f32(h) : f16_to_f32(h);
      }
      break;
    }
    default:
      fail("{}: tensor {}: dtype {} cannot be read as floating point (supported: F32, F16, BF16)",
           path_, t.name, safetensors_dtype_name(t.dtype));
  }
  return out;
}

WeightMatrix SafetensorsFile::read_matrix(const SafetensorsTensor& t, std::int64_t rows,
                                         std::int64_t cols) const {
  SPECLAB_ASSERT(t.n_elements() == rows * cols);
  DType type = DType::kF32;
  switch (t.dtype) {
    case SafetensorsDtype::kF32: type = DType::kF32; break;
    case SafetensorsDtype::kF16: type = DType::kF16; break;
    case SafetensorsDtype::kBF16: type = DType::kBF16; break;
    default:
      fail("{}: tensor {}: dtype {} cannot be read as floating point (supported: F32, F16, BF16)",
           path_, t.name, safetensors_dtype_name(t.dtype));
  }
  const auto bytes = raw(t);
  return WeightMatrix::view(type, rows, cols, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                            map_);
}

void write_safetensors_f32(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::int64_t offset = 0;
  for (const auto& t : tensors) {
    std::int64_t n = 1;
    for (const auto d : t.shape) n *= d;
    if (n != static_cast<std::int64_t>(t.data.size())) {
      fail("{}: tensor {} has {} values for shape of {} elements", path, t.name, t.data.size(), n);
    }
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * n}}};
    offset += 4 * n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail("{}: cannot open for writing", path);
  const std::uint64_t len = text.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  f.write(len_bytes, 8);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : tensors) {
    f.write(reinterpret_cast<const char*>(t.data.data()),
            static_cast<std::streamsize>(t.data.size() * sizeof(float)));
  }
  f.close();
  if (!f) fail("{}: write failed", path);
}

}  // namespace speclab
