#include "formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/error.h"
#include "base/input_file.h"

namespace speclab {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  // Regular files only: a FIFO or a device would block or never end.
  const int fd = open_regular_file(path, size_);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      fail("{}: cannot map {} bytes: {}", path, size_, std::strerror(e));
    }
    data_ = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::release() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

ByteReader::ByteReader(std::string name, const std::uint8_t* data, std::uint64_t size)
    : name_(std::move(name)), data_(data), size_(size) {}

ByteReader::ByteReader(const MappedFile& file) : ByteReader(file.path(), file.data(), file.size()) {}

void ByteReader::fail_beyond(std::string_view field, std::uint64_t offset,
                             std::uint64_t n_bytes) const {
  fail("{}: {}: offset {} + {} bytes beyond file size {}", name_, field, offset, n_bytes, size_);
}

const std::uint8_t* ByteReader::take(std::uint64_t n_bytes, std::string_view field) {
  if (n_bytes > size_ - offset_) fail_beyond(field, offset_, n_bytes);
  const std::uint8_t* p = data_ + offset_;
  offset_ += n_bytes;
  return p;
}

void ByteReader::seek(std::uint64_t offset, std::string_view field) {
  if (offset > size_) fail_beyond(field, offset, 0);
  offset_ = offset;
}

void ByteReader::align_to(std::uint64_t alignment, std::string_view field) {
  SPECLAB_ASSERT(alignment > 0);
  const std::uint64_t rem = offset_ % alignment;
  if (rem != 0) skip(alignment - rem, field);
}

void ByteReader::expect_end(std::string_view after_field) const {
  if (offset_ != size_) {
    fail("{}: {} trailing bytes after {} (offset {}, file size {})", name_, size_ - offset_,
         after_field, offset_, size_);
  }
}

}  // namespace speclab
