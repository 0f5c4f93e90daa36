#include "formats/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/error.h"

namespace speclab {

namespace {

// GGUF metadata value types.
enum : std::uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kStr = 8, kArr = 9 };

template <typename T>
void put(std::vector<std::uint8_t>& b, T v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}
void put_string(std::vector<std::uint8_t>& b, std::string_view s) {
  put<std::uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}
std::uint64_t round_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

GgufWriter::GgufWriter(std::uint32_t alignment) : alignment_(alignment) {
  SPECLAB_ASSERT(alignment > 0 && alignment % 8 == 0);
  set_u32("general.alignment", alignment);
}

void GgufWriter::key(std::string_view k, std::uint32_t type) {
  put_string(kv_, k);
  put<std::uint32_t>(kv_, type);
  ++n_kv_;
}

void GgufWriter::set_u32(std::string_view k, std::uint32_t v) { key(k, kU32); put(kv_, v); }
void GgufWriter::set_f32(std::string_view k, float v) { key(k, kF32); put(kv_, v); }
void GgufWriter::set_string(std::string_view k, std::string_view v) {
  key(k, kStr);
  put_string(kv_, v);
}
void GgufWriter::set_string_array(std::string_view k, const std::vector<std::string>& v) {
  key(k, kArr);
  put<std::uint32_t>(kv_, kStr);
  put<std::uint64_t>(kv_, v.size());
  for (const auto& s : v) put_string(kv_, s);
}
void GgufWriter::set_f32_array(std::string_view k, const std::vector<float>& v) {
  key(k, kArr);
  put<std::uint32_t>(kv_, kF32);
  put<std::uint64_t>(kv_, v.size());
  for (float x : v) put(kv_, x);
}
void GgufWriter::set_i32_array(std::string_view k, const std::vector<std::int32_t>& v) {
  key(k, kArr);
  put<std::uint32_t>(kv_, kI32);
  put<std::uint64_t>(kv_, v.size());
  for (std::int32_t x : v) put(kv_, x);
}

std::size_t GgufWriter::add_tensor(std::string name, std::int64_t rows, std::int64_t cols,
                                   DType type) {
  if (rows < 0 || cols <= 0) fail("GGUF writer: tensor {}: shape {} x {}: sizes must be positive", name, rows, cols);
  if (dtype_traits(type).ggml_id < 0) {
    fail("GGUF writer: tensor {}: type {} has no GGUF id", name, dtype_name(type));
  }
  if (!dtype_fits(type, cols)) {
    fail("GGUF writer: tensor {}: type {} needs rows of a multiple of {} values, got {}", name,
         dtype_name(type), dtype_traits(type).block_elems, cols);
  }
  const std::uint64_t bytes = dtype_row_bytes(type, cols) * std::uint64_t(rows == 0 ? 1 : rows);
  tensors_.push_back(Tensor{std::move(name), rows, cols, type, data_bytes_});
  data_bytes_ += round_up(bytes, alignment_);
  return tensors_.size() - 1;
}

std::size_t GgufWriter::row_bytes(std::size_t i) const {
  return dtype_row_bytes(tensors_.at(i).type, tensors_.at(i).cols);
}
std::int64_t GgufWriter::rows(std::size_t i) const {
  return tensors_.at(i).rows == 0 ? 1 : tensors_.at(i).rows;
}

std::vector<std::uint8_t> GgufWriter::header() const {
  std::vector<std::uint8_t> h;
  h.insert(h.end(), {'G', 'G', 'U', 'F'});
  put<std::uint32_t>(h, 3);
  put<std::uint64_t>(h, tensors_.size());
  put<std::uint64_t>(h, n_kv_);
  h.insert(h.end(), kv_.begin(), kv_.end());
  for (const Tensor& t : tensors_) {
    put_string(h, t.name);
    // GGUF dims run fastest first: a matrix is {cols, rows}.
    if (t.rows == 0) {
      put<std::uint32_t>(h, 1);
      put<std::uint64_t>(h, t.cols);
    } else {
      put<std::uint32_t>(h, 2);
      put<std::uint64_t>(h, t.cols);
      put<std::uint64_t>(h, t.rows);
    }
    put<std::uint32_t>(h, static_cast<std::uint32_t>(dtype_traits(t.type).ggml_id));
    put<std::uint64_t>(h, t.offset);
  }
  h.resize(round_up(h.size(), alignment_), 0);
  return h;
}

std::uint64_t GgufWriter::file_size() const { return header().size() + data_bytes_; }

void GgufWriter::write(const Sink& sink, const FillRows& fill, std::size_t block_bytes) const {
  const std::vector<std::uint8_t> h = header();
  sink(h.data(), h.size());
  std::vector<std::uint8_t> buf;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const std::size_t rb = row_bytes(i);
    const std::int64_t n_rows = rows(i);
    const std::int64_t per_block = std::max<std::int64_t>(1, std::int64_t(block_bytes / rb));
    std::uint64_t written = 0;
    for (std::int64_t r = 0; r < n_rows; r += per_block) {
      const std::int64_t n = std::min(per_block, n_rows - r);
      buf.assign(std::size_t(n) * rb, 0);
      fill(i, r, n, buf.data());
      sink(buf.data(), buf.size());
      written += buf.size();
    }
    const std::uint64_t pad = round_up(written, alignment_) - written;
    if (pad > 0) {
      buf.assign(pad, 0);
      sink(buf.data(), buf.size());
    }
  }
}

void GgufWriter::write_file(const std::string& path, const FillRows& fill,
                            std::size_t block_bytes) const {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) fail("{}: cannot create: {}", path, std::strerror(errno));
  try {
    write(
        [&](const std::uint8_t* data, std::size_t n) {
          if (std::fwrite(data, 1, n, f) != n) fail("{}: write failed: {}", path, std::strerror(errno));
        },
        fill, block_bytes);
    if (std::fclose(f) != 0) {
      f = nullptr;
      fail("{}: write failed: {}", path, std::strerror(errno));
    }
  } catch (...) {
    if (f != nullptr) std::fclose(f);
    std::remove(path.c_str());
    throw;
  }
}

}  // namespace speclab
