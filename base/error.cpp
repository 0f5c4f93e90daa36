#include "base/error.h"

#include <cstdio>
#include <cstdlib>

namespace speclab {

void assert_failed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "speclab: internal assertion failed: %s (%s:%d)\n", cond, file, line);
  std::abort();
}

}  // namespace speclab
