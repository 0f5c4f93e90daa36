// Runs the built speclab binary from tests (stdout captured, stderr to a per-call file) and
// reads the llama2.c golden text from the shared models README.
#pragma once
#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/testing/models_dir.h"

namespace speclab::testing {

struct RunResult {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// `prefix` goes before the binary (e.g. "timeout 60 ").
inline RunResult run_with_prefix(const std::string& prefix, const std::string& args) {
  // One file per call and process: ctest runs the tests of this file in parallel processes.
  static int n_calls = 0;
  const std::string err_file = ::testing::TempDir() + "/speclab_cli_stderr_" +
                               std::to_string(getpid()) + "_" + std::to_string(n_calls++) + ".txt";
  const std::string cmd =
      prefix + std::string(SPECLAB_BINARY_DIR) + "/speclab " + args + " 2>" + err_file;
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(err_file);
  r.err.assign(std::istreambuf_iterator<char>(f), {});
  std::remove(err_file.c_str());
  return r;
}

inline RunResult run(const std::string& args) { return run_with_prefix("", args); }

// Runs under coreutils timeout: a hang ends as exit code 124 instead of blocking the test.
inline RunResult run_under_timeout(int seconds, const std::string& args) {
  return run_with_prefix("timeout " + std::to_string(seconds) + " ", args);
}

inline std::string golden_text() {
  std::ifstream f(speclab::testing::model_path("README.md"));
  std::string all((std::istreambuf_iterator<char>(f)), {});
  const std::string fence = "```\n";
  const auto a = all.find(fence);
  const auto b = all.find(fence, a + fence.size());
  return all.substr(a + fence.size(), b - a - fence.size());  // ends with "\n"
}

inline std::string q(const std::string& s) { return "'" + s + "'"; }

}  // namespace speclab::testing
