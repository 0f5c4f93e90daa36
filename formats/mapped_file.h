// Read-only memory-mapped files and a bounds-checked cursor over their bytes. Every model file
// reader goes through ByteReader so that no count, size or offset read from a file is trusted:
// each read is checked against the file size first and a short file throws
//   Error("<file>: <field>: offset X + N bytes beyond file size S").
// Multi-byte values are little-endian (the only byte order the formats we read use).
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace speclab {

static_assert(std::endian::native == std::endian::little,
              "model file readers assume a little-endian host");

// RAII read-only mapping of a whole file. An empty file is fine (data() == nullptr,
// size() == 0). Throws Error naming the path when the file cannot be opened, is a directory or
// cannot be mapped. Move-only.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const std::string& path() const { return path_; }
  const std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  void release() noexcept;

  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
};

// Cursor over [data, data + size) named `name` (the file path) for error messages. Does not own
// the bytes. All reads are checked; the cursor never moves past size().
class ByteReader {
 public:
  ByteReader(std::string name, const std::uint8_t* data, std::uint64_t size);
  explicit ByteReader(const MappedFile& file);

  const std::string& name() const { return name_; }
  std::uint64_t offset() const { return offset_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t remaining() const { return size_ - offset_; }

  // Returns a pointer to the next n_bytes and advances; throws Error naming `field` when fewer
  // than n_bytes remain. The pointer may be unaligned: copy out with memcpy.
  const std::uint8_t* take(std::uint64_t n_bytes, std::string_view field);
  void skip(std::uint64_t n_bytes, std::string_view field) { take(n_bytes, field); }
  // Moves to an absolute offset <= size().
  void seek(std::uint64_t offset, std::string_view field);
  // Advances to the next multiple of `alignment` (> 0); the padding must lie inside the file.
  void align_to(std::uint64_t alignment, std::string_view field);

  template <typename T>
  T read(std::string_view field) {
    T v;
    std::memcpy(&v, take(sizeof(T), field), sizeof(T));
    return v;
  }

  // Throws Error if bytes remain after the last expected field ("... trailing bytes").
  void expect_end(std::string_view after_field) const;

  // Throws the standard out-of-bounds Error for reading n_bytes of `field` at `offset`.
  [[noreturn]] void fail_beyond(std::string_view field, std::uint64_t offset,
                                std::uint64_t n_bytes) const;

 private:
  std::string name_;
  const std::uint8_t* data_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
};

}  // namespace speclab
