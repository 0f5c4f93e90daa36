// Where the real checkpoints live: $SPECLAB_MODELS_DIR, else ../shared/models beside the
// source tree. Tests that need them call SPECLAB_REQUIRE_MODEL(path) which skips with a clear
// message when the file is absent.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace speclab::testing {

inline std::string models_dir() {
  if (const char* e = std::getenv("SPECLAB_MODELS_DIR"); e && *e) return e;
  return std::string(SPECLAB_SOURCE_DIR) + "/../shared/models";
}

inline std::string model_path(const std::string& name) { return models_dir() + "/" + name; }

}  // namespace speclab::testing

#define SPECLAB_REQUIRE_MODEL(path)                                                        \
  do {                                                                                     \
    if (!std::filesystem::exists(path)) {                                                  \
      GTEST_SKIP() << "real model file not found: " << (path)                              \
                   << " (set SPECLAB_MODELS_DIR to the folder holding the shared models)"; \
    }                                                                                      \
  } while (0)
