// Errors. Bad input (files, specs, CLI values) throws speclab::Error whose message names the
// file or field, the offending value and the rule it breaks. UsageError marks command-line
// misuse (the CLI exits 2 for it, 1 for every other Error). Bugs hit SPECLAB_ASSERT, which is
// always on (also in Release) and aborts with the failed condition.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace speclab {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// Throws Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

[[noreturn]] void assert_failed(const char* cond, const char* file, int line);

}  // namespace speclab

#define SPECLAB_ASSERT(cond) \
  ((cond) ? (void)0 : ::speclab::assert_failed(#cond, __FILE__, __LINE__))
