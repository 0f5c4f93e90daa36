// Untrusted input files. Everything speclab reads from a path goes through here, so that a FIFO,
// a character device (/dev/zero), a socket or a directory given where a file is expected is
// refused before anything blocks, and no read goes beyond the size the file had when it was
// opened (a file that grows while being read is not followed).
#pragma once
#include <cstdint>
#include <string>

namespace speclab {

// Largest text input (JSON, JSONL, CSV, templates) read into memory: 1 GiB.
inline constexpr std::uint64_t kMaxTextInputBytes = std::uint64_t{1} << 30;

// Opens `path` read-only without blocking (O_NONBLOCK: opening a FIFO must not wait for a
// writer), checks with fstat that it is a regular file and returns the descriptor (the caller
// closes it) and its size. Throws Error "<path>: <why>" otherwise ("is a FIFO, expected a
// regular file", "is a directory, expected a file", "cannot open: No such file or directory").
int open_regular_file(const std::string& path, std::uint64_t& size);

// Reads a whole regular file. Throws Error naming the path when it is not a regular file, cannot
// be read, or is larger than max_bytes ("<path>: size S bytes: larger than the limit of M bytes
// for <what>").
std::string read_input_file(const std::string& path, std::uint64_t max_bytes = kMaxTextInputBytes,
                            const char* what = "a text file");

// Creates `dir` and its parents (an output directory); Error "<dir>: cannot create directory:
// <why>" instead of std::filesystem's exception (a name too long, a parent that is a file).
void create_output_directory(const std::string& dir);

}  // namespace speclab
