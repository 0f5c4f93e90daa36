// Where the shared benchmark data lives (chat templates, Spec-Bench questions):
// $SPECLAB_DATA_DIR, else ../shared/data beside the source tree. Tests that need a file call
// SPECLAB_REQUIRE_DATA(path), which skips with a clear message when it is absent.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace speclab::testing {

inline std::string data_dir() {
  if (const char* e = std::getenv("SPECLAB_DATA_DIR"); e && *e) return e;
  return std::string(SPECLAB_SOURCE_DIR) + "/../shared/data";
}

inline std::string data_path(const std::string& name) { return data_dir() + "/" + name; }

}  // namespace speclab::testing

#define SPECLAB_REQUIRE_DATA(path)                                                         \
  do {                                                                                     \
    if (!std::filesystem::exists(path)) {                                                  \
      GTEST_SKIP() << "shared data file not found: " << (path)                             \
                   << " (set SPECLAB_DATA_DIR to the folder holding the shared data)";     \
    }                                                                                      \
  } while (0)
