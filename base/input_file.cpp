#include "base/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <cstring>

#include "base/error.h"

namespace speclab {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

int open_regular_file(const std::string& path, std::uint64_t& size) {
  // stat first: opening a FIFO or some devices can block or have side effects.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("{}: is {}, expected a regular file", path, kind_of(st.st_mode));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  // Checked again on the descriptor: the path may have been replaced in between.
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: is {}, expected a regular file", path, kind_of(st.st_mode));
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

std::string read_input_file(const std::string& path, std::uint64_t max_bytes, const char* what) {
  std::uint64_t size = 0;
  const int fd = open_regular_file(path, size);
  if (size > max_bytes) {
    ::close(fd);
    fail("{}: size {} bytes: larger than the limit of {} bytes for {}", path, size, max_bytes, what);
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  std::uint64_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, text.data() + got, static_cast<std::size_t>(size - got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      fail("{}: cannot read: {}", path, std::strerror(e));
    }
    if (n == 0) break;  // the file shrank: keep what was there
    got += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  text.resize(static_cast<std::size_t>(got));
  return text;
}

void create_output_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("{}: cannot create directory: {}", dir, ec.message());
  if (!std::filesystem::is_directory(dir, ec)) fail("{}: cannot create directory: exists and is not one", dir);
}

}  // namespace speclab
